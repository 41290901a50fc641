// FakeUpstream: a LiveUpstream the test drives by hand — it records each
// Subscribe and ReadAfter, and the test delivers the events and answers.
// For tests of the gateway's fan-out only (the real one is RoutedUpstream).
//
// Threads: thread-safe; events are delivered on the calling thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "live/gateway/upstream.h"

namespace ds::live {

class FakeUpstream final : public LiveUpstream {
 public:
  struct Stream {
    uint64_t channel = 0;
    std::optional<uint64_t> after;
    std::string node;
    std::string avoid;
    UpstreamEvents events;
    bool ended = false;
  };
  struct Read {
    uint64_t channel = 0;
    uint64_t after = 0;
    uint32_t limit = 0;
    std::function<void(absl::StatusOr<std::vector<dataservice::v1::Message>>)> done;
  };

  std::unique_ptr<UpstreamStream> Subscribe(uint64_t channel, std::optional<uint64_t> after,
                                            UpstreamEvents events,
                                            const std::string& avoid) override {
    auto s = std::make_shared<Stream>();
    s->channel = channel;
    s->after = after;
    s->avoid = avoid;
    s->events = std::move(events);
    {
      std::lock_guard lock(mu_);
      s->node = owner_ != avoid || avoid.empty() ? owner_ : "other";
      streams_.push_back(s);
    }
    return std::make_unique<Handle>(this, s);
  }
  void ReadAfter(
      uint64_t channel, uint64_t after, uint32_t limit, absl::Time,
      std::function<void(absl::StatusOr<std::vector<dataservice::v1::Message>>)> done) override {
    std::lock_guard lock(mu_);
    reads_.push_back({channel, after, limit, std::move(done)});
  }
  void Send(
      const dataservice::v1::SendMessageRequest& request, absl::Time,
      std::function<void(absl::StatusOr<dataservice::v1::SendMessageResponse>)> done) override {
    dataservice::v1::SendMessageResponse resp;
    auto* m = resp.mutable_message();
    m->set_channel_id(request.channel_id());
    m->set_message_id(request.nonce() + 1000);
    m->set_author_id(request.author_id());
    m->set_content(request.content());
    {
      std::lock_guard lock(mu_);
      sent_.push_back(request);
    }
    done(resp);
  }
  std::string OwnerOf(uint64_t) const override {
    std::lock_guard lock(mu_);
    return owner_;
  }

  void SetOwner(std::string owner) {
    std::lock_guard lock(mu_);
    owner_ = std::move(owner);
  }
  size_t streams() const {
    std::lock_guard lock(mu_);
    return streams_.size();
  }
  std::shared_ptr<Stream> stream(size_t i) const {
    std::lock_guard lock(mu_);
    return streams_.at(i);
  }
  std::shared_ptr<Stream> last() const {
    std::lock_guard lock(mu_);
    return streams_.back();
  }
  size_t reads() const {
    std::lock_guard lock(mu_);
    return reads_.size();
  }
  Read read(size_t i) const {
    std::lock_guard lock(mu_);
    return reads_.at(i);
  }
  std::vector<dataservice::v1::SendMessageRequest> sent() const {
    std::lock_guard lock(mu_);
    return sent_;
  }
  static void End(Stream& s, const absl::Status& status) {
    if (s.ended) return;
    s.ended = true;
    s.events.on_end(status);
  }

 private:
  class Handle final : public UpstreamStream {
   public:
    Handle(FakeUpstream* owner, std::shared_ptr<Stream> s) : owner_(owner), s_(std::move(s)) {}
    ~Handle() override { Cancel(); }
    void Cancel() override { End(*s_, absl::CancelledError("cancelled")); }
    std::string node() const override { return s_->node; }

   private:
    FakeUpstream* owner_;
    std::shared_ptr<Stream> s_;
  };

  mutable std::mutex mu_;
  std::string owner_ = "node-a";
  std::vector<std::shared_ptr<Stream>> streams_;
  std::vector<Read> reads_;
  std::vector<dataservice::v1::SendMessageRequest> sent_;
};

}  // namespace ds::live
