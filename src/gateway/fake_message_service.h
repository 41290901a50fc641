// Test-only: an in-process dataservice.v1.MessageService on 127.0.0.1:<port 0>
// with grpc.health.v1 (so a RoutedClient considers it healthy), for gateway
// tests. It keeps messages in memory, honours SendMessage idempotency by
// (channel_id, nonce), records every request, and has fault hooks.
//
// Usage:
//   FakeMessageServer fake;                     // serving once constructed
//   fake.service().FailNext(grpc::Status(grpc::StatusCode::NOT_FOUND, "gone"));
//   fake.service().HoldNext();                  // next call answers only when cancelled
//   ... point a RoutedClient at fake.address() ...
//   fake.service().sends();                     // requests seen
//
// Threads: thread-safe; RPCs run on gRPC callback threads.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "dataservice/v1/messages.grpc.pb.h"

namespace ds::gateway {

class FakeMessageService final : public dataservice::v1::MessageService::CallbackService {
 public:
  // The next call (any method) answers `status` instead of its normal result.
  void FailNext(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back(std::move(status));
  }
  // The next call never answers by itself: it finishes CANCELLED when the
  // client gives up (deadline or cancellation).
  void HoldNext() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_next_ = true;
  }

  // Blocks until `n` calls (any method, since construction) have arrived, or
  // `timeout` passes; returns whether they did.
  bool WaitForCalls(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return call_arrived_.wait_for(lock, timeout, [&] { return calls_ >= n; });
  }

  std::vector<dataservice::v1::GetMessagesRequest> lists() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lists_;
  }
  std::vector<dataservice::v1::GetMessageRequest> gets() const {
    std::lock_guard<std::mutex> lock(mu_);
    return gets_;
  }
  std::vector<dataservice::v1::SendMessageRequest> sends() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sends_;
  }
  size_t calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // The `x-ds-consistency-token` metadata of every GetMessages ("" if none).
  std::vector<std::string> list_tokens() const {
    std::lock_guard<std::mutex> lock(mu_);
    return list_tokens_;
  }

  grpc::ServerUnaryReactor* GetMessages(grpc::CallbackServerContext* ctx,
                                        const dataservice::v1::GetMessagesRequest* req,
                                        dataservice::v1::GetMessagesResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu_);
    lists_.push_back(*req);
    auto token = ctx->client_metadata().find("x-ds-consistency-token");
    list_tokens_.push_back(token == ctx->client_metadata().end()
                               ? std::string()
                               : std::string(token->second.data(), token->second.size()));
    if (grpc::ServerUnaryReactor* r = Fault(ctx)) return r;
    const auto& channel = messages_[req->channel_id()];  // id -> message, ascending
    for (auto it = channel.rbegin(); it != channel.rend(); ++it) {
      if (req->has_before() && it->first >= req->before()) continue;
      if (req->has_after() && it->first <= req->after()) continue;
      if (resp->messages_size() >= static_cast<int>(req->limit() == 0 ? 50 : req->limit())) break;
      *resp->add_messages() = it->second;
    }
    return Finish(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* GetMessage(grpc::CallbackServerContext* ctx,
                                       const dataservice::v1::GetMessageRequest* req,
                                       dataservice::v1::GetMessageResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu_);
    gets_.push_back(*req);
    if (grpc::ServerUnaryReactor* r = Fault(ctx)) return r;
    const auto& channel = messages_[req->channel_id()];
    auto it = channel.find(req->message_id());
    if (it == channel.end()) {
      return Finish(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND, "message not found"));
    }
    *resp->mutable_message() = it->second;
    return Finish(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* ctx,
                                        const dataservice::v1::SendMessageRequest* req,
                                        dataservice::v1::SendMessageResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu_);
    sends_.push_back(*req);
    if (grpc::ServerUnaryReactor* r = Fault(ctx)) return r;
    const std::pair<uint64_t, uint64_t> key(req->channel_id(), req->nonce());
    auto stored = by_nonce_.find(key);
    if (stored != by_nonce_.end()) {
      *resp->mutable_message() = stored->second;
      resp->set_duplicate(true);
      return Finish(ctx, grpc::Status::OK);
    }
    dataservice::v1::Message m;
    m.set_channel_id(req->channel_id());
    m.set_message_id(next_id_++);
    m.set_author_id(req->author_id());
    m.set_content(req->content());
    m.set_created_at_ms(1700000000000 + static_cast<int64_t>(m.message_id()));
    messages_[m.channel_id()][m.message_id()] = m;
    by_nonce_[key] = m;
    *resp->mutable_message() = m;
    return Finish(ctx, grpc::Status::OK);
  }

 private:
  // Finishes CANCELLED once the client is gone, never earlier.
  class HeldReactor : public grpc::ServerUnaryReactor {
   public:
    void OnCancel() override { Finish(grpc::Status::CANCELLED); }
    void OnDone() override { delete this; }
  };

  static grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, grpc::Status status) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(std::move(status));
    return reactor;
  }

  // The reactor for an injected fault, or nullptr to answer normally.
  grpc::ServerUnaryReactor* Fault(grpc::CallbackServerContext* ctx) {
    ++calls_;
    call_arrived_.notify_all();
    if (hold_next_) {
      hold_next_ = false;
      return new HeldReactor();
    }
    if (failures_.empty()) return nullptr;
    grpc::Status status = std::move(failures_.front());
    failures_.pop_front();
    return Finish(ctx, std::move(status));
  }

  mutable std::mutex mu_;
  std::condition_variable call_arrived_;
  size_t calls_ = 0;
  std::deque<grpc::Status> failures_;
  bool hold_next_ = false;
  uint64_t next_id_ = 1000;
  std::map<uint64_t, std::map<uint64_t, dataservice::v1::Message>> messages_;
  std::map<std::pair<uint64_t, uint64_t>, dataservice::v1::Message> by_nonce_;
  std::vector<dataservice::v1::GetMessagesRequest> lists_;
  std::vector<std::string> list_tokens_;
  std::vector<dataservice::v1::GetMessageRequest> gets_;
  std::vector<dataservice::v1::SendMessageRequest> sends_;
};

// The service behind a real gRPC server on 127.0.0.1, port chosen by the OS.
class FakeMessageServer {
 public:
  FakeMessageServer() {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeMessageServer() { server_->Shutdown(std::chrono::system_clock::now()); }

  bool ok() const { return server_ != nullptr && port_ > 0; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  FakeMessageService& service() { return service_; }

 private:
  FakeMessageService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace ds::gateway
