#include "live/node/live_service.h"

#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "common/snowflake.h"

namespace ds::live {

namespace v1 = ::dataservice::v1;

namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// One Subscribe call: the hub's sink and the gRPC reactor in one object,
// owned by gRPC (deleted in OnDone). The hub holds it through a non-owning
// shared_ptr; OnDone unsubscribes before deleting, and the hub never calls a
// sink after Unsubscribe returned.
class SubscribeReactor final : public grpc::ServerWriteReactor<v1::SubscribeEvent>,
                               public StreamSink {
 public:
  SubscribeReactor(LiveHub* hub, size_t max_queued) : hub_(hub), max_queued_(max_queued) {}

  void Start(const v1::SubscribeRequest& req) {
    if (req.channel_id() == 0) {
      FinishNow(absl::InvalidArgumentError("channel_id: required, must be non-zero"));
      return;
    }
    std::optional<uint64_t> after;
    if (req.has_after_message_id()) after = req.after_message_id();
    // Non-owning: gRPC owns this reactor (see the class comment).
    std::shared_ptr<StreamSink> self(std::shared_ptr<StreamSink>(), this);
    auto id = hub_->Subscribe(req.channel_id(), after, self);
    std::lock_guard lock(mu_);
    if (!id.ok()) {
      EndLocked(id.status());
      return;
    }
    id_ = *id;
  }

  bool OnMessage(const storage::Message& m, bool late) override {
    std::lock_guard lock(mu_);
    if (end_.has_value()) return true;
    if (queue_.size() >= max_queued_) return false;
    v1::SubscribeEvent& e = queue_.emplace_back();
    v1::Message* out = e.mutable_message();
    out->set_channel_id(m.channel_id);
    out->set_message_id(m.message_id);
    out->set_author_id(m.author_id);
    out->set_content(m.content);
    out->set_created_at_ms(SnowflakeTimestampMs(m.message_id));
    e.set_late(late);
    WriteNextLocked();
    return true;
  }

  void OnHeartbeat(uint64_t position, bool live) override {
    std::lock_guard lock(mu_);
    if (end_.has_value()) return;
    // A heartbeat waiting behind another one replaces it.
    if (!queue_.empty() && queue_.back().has_heartbeat() && !(writing_ && queue_.size() == 1)) {
      queue_.back().mutable_heartbeat()->set_position(position);
      queue_.back().mutable_heartbeat()->set_live(live);
    } else {
      v1::Heartbeat* hb = queue_.emplace_back().mutable_heartbeat();
      hb->set_position(position);
      hb->set_live(live);
    }
    WriteNextLocked();
  }

  void OnEnd(const absl::Status& status) override {
    std::lock_guard lock(mu_);
    // A too-slow receiver gets no more of its backlog: it resubscribes.
    if (status.code() == absl::StatusCode::kResourceExhausted) {
      while (queue_.size() > (writing_ ? 1u : 0u)) queue_.pop_back();
    }
    EndLocked(status);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!queue_.empty()) queue_.pop_front();
    if (!ok) {
      // The client is gone; OnDone follows.
      queue_.clear();
      return;
    }
    WriteNextLocked();
  }

  void OnDone() override {
    std::optional<LiveHub::SubscriptionId> id;
    {
      std::lock_guard lock(mu_);
      id = id_;
    }
    if (id) hub_->Unsubscribe(*id);
    delete this;
  }

  void OnCancel() override {
    std::optional<LiveHub::SubscriptionId> id;
    {
      std::lock_guard lock(mu_);
      id = id_;
    }
    if (id) hub_->Unsubscribe(*id);
    std::lock_guard lock(mu_);
    queue_.clear();
    if (!finished_) {
      finished_ = true;
      Finish(grpc::Status::CANCELLED);
    }
  }

 private:
  void FinishNow(const absl::Status& s) {
    std::lock_guard lock(mu_);
    EndLocked(s);
  }

  void EndLocked(const absl::Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (end_.has_value()) return;
    end_ = s;
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (!queue_.empty()) {
      writing_ = true;
      StartWrite(&queue_.front());
      return;
    }
    if (end_.has_value()) {
      finished_ = true;
      Finish(ToGrpc(*end_));
    }
  }

  LiveHub* const hub_;
  const size_t max_queued_;
  std::mutex mu_;
  std::deque<v1::SubscribeEvent> queue_ ABSL_GUARDED_BY(mu_);  // front: being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
  std::optional<LiveHub::SubscriptionId> id_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerWriteReactor<v1::SubscribeEvent>* LiveService::Subscribe(
    grpc::CallbackServerContext* ctx, const v1::SubscribeRequest* request) {
  auto* reactor = new SubscribeReactor(hub_, options_.max_queued_events);
  reactor->Start(*request);
  return reactor;
}

grpc::ServerUnaryReactor* LiveService::Poke(grpc::CallbackServerContext* ctx,
                                            const v1::PokeRequest* request,
                                            v1::PokeResponse* response) {
  if (request->channel_id() != 0) hub_->Poke(request->channel_id());
  if (probe_) probe_->OnPokeReceived();
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace ds::live
