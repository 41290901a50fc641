#include "live/gateway/routed_upstream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "dataservice/v1/live.grpc.pb.h"

namespace ds::live {

namespace v1 = ::dataservice::v1;

namespace {

absl::Status ToAbsl(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// What a stream's handle and its reactor share: the context, while the call
// lives.
struct CallState {
  std::mutex mu;
  grpc::ClientContext* ctx ABSL_GUARDED_BY(mu) = nullptr;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
};

class StreamHandle final : public UpstreamStream {
 public:
  StreamHandle(std::shared_ptr<CallState> state, std::string node)
      : state_(std::move(state)), node_(std::move(node)) {}
  ~StreamHandle() override { Cancel(); }
  void Cancel() override {
    std::lock_guard lock(state_->mu);
    state_->cancelled = true;
    if (state_->ctx != nullptr) state_->ctx->TryCancel();
  }
  std::string node() const override { return node_; }

 private:
  std::shared_ptr<CallState> state_;
  const std::string node_;
};

// One Subscribe call; deletes itself when it is done.
class SubscribeCall final : public grpc::ClientReadReactor<v1::SubscribeEvent> {
 public:
  SubscribeCall(std::shared_ptr<CallState> state, UpstreamEvents events,
                std::function<void()> ended)
      : state_(std::move(state)), events_(std::move(events)), ended_(std::move(ended)) {}

  void Start(v1::LiveService::Stub* stub, const v1::SubscribeRequest& request) {
    request_ = request;
    {
      std::lock_guard lock(state_->mu);
      state_->ctx = &ctx_;
      if (state_->cancelled) ctx_.TryCancel();
    }
    stub->async()->Subscribe(&ctx_, &request_, this);
    StartRead(&event_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    if (event_.has_message()) {
      events_.on_message(event_.message(), event_.late());
    } else if (event_.has_heartbeat()) {
      events_.on_heartbeat(event_.heartbeat().position(), event_.heartbeat().live());
    }
    StartRead(&event_);
  }

  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard lock(state_->mu);
      state_->ctx = nullptr;
    }
    events_.on_end(status.ok() ? absl::UnavailableError("live stream ended by the node")
                               : ToAbsl(status));
    std::function<void()> ended = std::move(ended_);
    delete this;
    ended();
  }

 private:
  std::shared_ptr<CallState> state_;
  UpstreamEvents events_;
  std::function<void()> ended_;
  grpc::ClientContext ctx_;
  v1::SubscribeRequest request_;
  v1::SubscribeEvent event_;
};

// A stream that could not start (its on_end already ran).
class FailedStream final : public UpstreamStream {
 public:
  void Cancel() override {}
  std::string node() const override { return ""; }
};

}  // namespace

RoutedUpstream::RoutedUpstream(std::shared_ptr<routing::RoutedClient> client)
    : client_(std::move(client)) {}

RoutedUpstream::~RoutedUpstream() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return streams_ == 0; });
}

std::shared_ptr<grpc::Channel> RoutedUpstream::ChannelTo(const std::string& address) {
  std::lock_guard lock(mu_);
  auto& ch = channels_[address];
  // The routed client's credentials: Subscribe streams are as secure as reads.
  if (ch == nullptr) ch = grpc::CreateChannel(address, client_->channel_credentials());
  return ch;
}

void RoutedUpstream::StreamEnded() {
  std::lock_guard lock(mu_);
  if (--streams_ == 0) idle_.notify_all();
}

std::unique_ptr<UpstreamStream> RoutedUpstream::Subscribe(uint64_t channel,
                                                          std::optional<uint64_t> after,
                                                          UpstreamEvents events,
                                                          const std::string& avoid) {
  std::string node;
  for (const std::string& n : client_->PreferenceFor(channel, 2)) {
    if (n != avoid || node.empty()) node = n;
    if (n != avoid) break;
  }
  if (node.empty()) node = client_->NodeFor(channel);
  if (node.empty()) {
    // No healthy node: the stream ends at once (the caller retries later).
    events.on_end(absl::UnavailableError("no healthy node for the live stream"));
    return std::make_unique<FailedStream>();
  }
  v1::SubscribeRequest request;
  request.set_channel_id(channel);
  if (after.has_value()) request.set_after_message_id(*after);
  auto state = std::make_shared<CallState>();
  {
    std::lock_guard lock(mu_);
    ++streams_;
  }
  auto stub = v1::LiveService::NewStub(ChannelTo(node));
  auto* call = new SubscribeCall(state, std::move(events), [this] { StreamEnded(); });
  call->Start(stub.get(), request);  // the stub is only needed to start the call
  return std::make_unique<StreamHandle>(std::move(state), node);
}

void RoutedUpstream::ReadAfter(uint64_t channel, uint64_t after, uint32_t limit,
                               absl::Time deadline,
                               std::function<void(absl::StatusOr<std::vector<v1::Message>>)> done) {
  v1::GetMessagesRequest req;
  req.set_channel_id(channel);
  req.set_limit(limit);
  req.set_after(after);
  client_->GetMessages(
      req, deadline, [done = std::move(done)](grpc::Status s, v1::GetMessagesResponse resp) {
        if (!s.ok()) return done(ToAbsl(s));
        std::vector<v1::Message> page(std::make_move_iterator(resp.mutable_messages()->begin()),
                                      std::make_move_iterator(resp.mutable_messages()->end()));
        done(std::move(page));
      });
}

void RoutedUpstream::Send(const v1::SendMessageRequest& request, absl::Time deadline,
                          std::function<void(absl::StatusOr<v1::SendMessageResponse>)> done) {
  client_->SendMessage(request, deadline,
                       [done = std::move(done)](grpc::Status s, v1::SendMessageResponse resp) {
                         if (!s.ok()) return done(ToAbsl(s));
                         done(std::move(resp));
                       });
}

std::string RoutedUpstream::OwnerOf(uint64_t channel) const { return client_->NodeFor(channel); }

}  // namespace ds::live
