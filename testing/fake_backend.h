// Test-only: an in-memory gateway MessageBackend (the gateway's seam below
// its read flights, in-process; tests through gRPC use FakeDataNode). It answers inline with canned
// data (or the status set by SetStatus), or — with Park(true) — keeps each call until the test
// releases it, so tests can hold a flight open. Records every call.
//
// Usage:
//   auto backend = std::make_shared<ds::testing::FakeBackend>();
//   backend->Park(true);
//   ...requests...; backend->WaitForParked(1); backend->ReleaseAll();
//
// Thread-safe: calls come from HTTP I/O threads, releases from the test.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/message_backend.h"

namespace ds::testing {

class FakeBackend : public gateway::MessageBackend {
 public:
  void GetMessages(const dataservice::v1::GetMessagesRequest& req, absl::Time deadline,
                   const gateway::BackendCall& call,
                   gateway::BackendCallback<dataservice::v1::GetMessagesResponse> done) override {
    dataservice::v1::GetMessagesResponse resp;
    *resp.add_messages() = Canned(req.channel_id(), 3);
    *resp.add_messages() = Canned(req.channel_id(), 2);
    Record(deadline, call, [&] { lists_.push_back(req); });
    Finish(std::move(done), std::move(resp));
  }
  void GetMessage(const dataservice::v1::GetMessageRequest& req, absl::Time deadline,
                  const gateway::BackendCall& call,
                  gateway::BackendCallback<dataservice::v1::GetMessageResponse> done) override {
    dataservice::v1::GetMessageResponse resp;
    *resp.mutable_message() = Canned(req.channel_id(), req.message_id());
    Record(deadline, call, [&] { gets_.push_back(req); });
    Finish(std::move(done), std::move(resp));
  }
  void SendMessage(const dataservice::v1::SendMessageRequest& req, absl::Time deadline,
                   const gateway::BackendCall& call,
                   gateway::BackendCallback<dataservice::v1::SendMessageResponse> done) override {
    dataservice::v1::SendMessageResponse resp;
    *resp.mutable_message() = Canned(req.channel_id(), 99);
    resp.mutable_message()->set_content(req.content());
    resp.set_duplicate(true);
    Record(deadline, call, [&] { sends_.push_back(req); });
    // Writes are never parked.
    done(grpc::Status::OK, std::move(resp), gateway::BackendInfo{.node = "fake", .coalesced = ""});
  }
  bool Healthy() const override { return healthy.load(); }

  static dataservice::v1::Message Canned(uint64_t channel, uint64_t id) {
    dataservice::v1::Message m;
    m.set_channel_id(channel);
    m.set_message_id(id);
    m.set_author_id(5);
    m.set_content("m" + std::to_string(id));
    m.set_created_at_ms(1000 + static_cast<int64_t>(id));
    return m;
  }

  void SetStatus(grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = std::move(s);
  }
  // What the node reports as x-ds-coalesced.
  void SetCoalesced(std::string marker) {
    std::lock_guard<std::mutex> lock(mu_);
    coalesced_ = std::move(marker);
  }
  void Park(bool park) {
    std::lock_guard<std::mutex> lock(mu_);
    park_ = park;
  }
  bool WaitForParked(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return parked_.size() >= n; });
  }
  // Answers every parked call (on this thread), oldest first.
  void ReleaseAll() {
    std::vector<std::function<void()>> parked;
    {
      std::lock_guard<std::mutex> lock(mu_);
      parked.swap(parked_);
    }
    for (auto& run : parked) run();
  }

  std::vector<dataservice::v1::GetMessagesRequest> lists() const { return Copy(lists_); }
  std::vector<dataservice::v1::GetMessageRequest> gets() const { return Copy(gets_); }
  std::vector<dataservice::v1::SendMessageRequest> sends() const { return Copy(sends_); }
  std::vector<gateway::BackendCall> calls() const { return Copy(calls_); }
  std::vector<absl::Time> deadlines() const { return Copy(deadlines_); }
  size_t call_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.size();
  }

  std::atomic<bool> healthy{true};

 private:
  template <typename T>
  std::vector<T> Copy(const std::vector<T>& v) const {
    std::lock_guard<std::mutex> lock(mu_);
    return v;
  }
  template <typename Fn>
  void Record(absl::Time deadline, const gateway::BackendCall& call, Fn fn) {
    std::lock_guard<std::mutex> lock(mu_);
    deadlines_.push_back(deadline);
    calls_.push_back(call);
    fn();
  }
  template <typename Resp>
  void Finish(gateway::BackendCallback<Resp> done, Resp resp) {
    std::unique_lock<std::mutex> lock(mu_);
    auto run = [done = std::move(done), resp = std::move(resp), s = status_,
                info = gateway::BackendInfo{.node = "fake", .coalesced = coalesced_}] {
      done(s, resp, info);
    };
    if (park_) {
      parked_.push_back(std::move(run));
      lock.unlock();
      changed_.notify_all();
      return;
    }
    lock.unlock();
    run();
  }

  mutable std::mutex mu_;  // std::mutex: visible to ThreadSanitizer
  std::condition_variable changed_;
  grpc::Status status_ = grpc::Status::OK;
  std::string coalesced_ = "leader";
  bool park_ = false;
  std::vector<std::function<void()>> parked_;
  std::vector<dataservice::v1::GetMessagesRequest> lists_;
  std::vector<dataservice::v1::GetMessageRequest> gets_;
  std::vector<dataservice::v1::SendMessageRequest> sends_;
  std::vector<gateway::BackendCall> calls_;
  std::vector<absl::Time> deadlines_;
};

}  // namespace ds::testing
