#include "routing/internal/fake_message_service.h"

#include <grpcpp/health_check_service_interface.h>

#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ds::routing::testing {
namespace {

namespace v1 = ::dataservice::v1;

class FakeService final : public v1::MessageService::CallbackService {
 public:
  explicit FakeService(FakeDataNode* node) : node_(node) {}

  grpc::ServerUnaryReactor* GetMessages(grpc::CallbackServerContext* ctx,
                                        const v1::GetMessagesRequest* req,
                                        v1::GetMessagesResponse* resp) override {
    const uint64_t channel = req->channel_id();
    return Answer(ctx, channel, [resp, channel] {
      auto* m = resp->add_messages();
      m->set_channel_id(channel);
      m->set_message_id(1);
      m->set_content("hello");
    });
  }

  grpc::ServerUnaryReactor* GetMessage(grpc::CallbackServerContext* ctx,
                                       const v1::GetMessageRequest* req,
                                       v1::GetMessageResponse* resp) override {
    return Answer(ctx, req->channel_id(), [req, resp] {
      resp->mutable_message()->set_channel_id(req->channel_id());
      resp->mutable_message()->set_message_id(req->message_id());
    });
  }

  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* ctx,
                                        const v1::SendMessageRequest* req,
                                        v1::SendMessageResponse* resp) override {
    FakeDataNode* node = node_;
    return Answer(ctx, req->channel_id(), [node, req, resp] {
      v1::Message fresh;
      fresh.set_channel_id(req->channel_id());
      fresh.set_message_id(req->nonce() + 1000);
      fresh.set_author_id(req->author_id());
      fresh.set_content(req->content());
      auto [message, duplicate] = node->StoreOnce(req->channel_id(), req->nonce(), fresh);
      *resp->mutable_message() = message;
      resp->set_duplicate(duplicate);
    });
  }

 private:
  // Serves one call of `channel` as the node is told to (FakeDataNode::Serve):
  // `fill` writes the answer of a call that succeeds.
  template <typename Fill>
  grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, uint64_t channel, Fill fill) {
    auto* reactor = ctx->DefaultReactor();
    node_->Serve(ctx, channel, [reactor, fill](grpc::Status status) {
      if (status.ok()) fill();
      reactor->Finish(status);
    });
    return reactor;
  }

  FakeDataNode* const node_;
};

}  // namespace

FakeDataNode::~FakeDataNode() { Stop(); }

absl::Status FakeDataNode::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (server_ != nullptr) return absl::FailedPreconditionError("already running");
  grpc::EnableDefaultHealthCheckService(true);
  service_ = std::make_unique<FakeService>(this);
  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port_), grpc::InsecureServerCredentials(),
                           &selected);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || selected == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on 127.0.0.1:", port_));
  }
  port_ = selected;
  return absl::OkStatus();
}

void FakeDataNode::Stop() {
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<grpc::Service> service;
  {
    std::lock_guard<std::mutex> lock(mu_);
    server = std::move(server_);
    service = std::move(service_);
  }
  if (server == nullptr) return;
  // Shutdown waits for every reactor to finish, parked ones included.
  Thaw();
  // Outside mu_: handlers still running call Serve(), which locks it.
  server->Shutdown(std::chrono::system_clock::now());
  server->Wait();
}

std::string FakeDataNode::address() const {
  std::lock_guard<std::mutex> lock(mu_);
  return absl::StrCat("127.0.0.1:", port_);
}

void FakeDataNode::FailNext(grpc::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_next_.emplace(std::move(status), false);
}

void FakeDataNode::FailNextFromStore(grpc::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_next_.emplace(std::move(status), true);
}

void FakeDataNode::SetServing(bool serving) {
  std::lock_guard<std::mutex> lock(mu_);
  if (server_ != nullptr) server_->GetHealthCheckService()->SetServingStatus(serving);
}

std::map<uint64_t, int> FakeDataNode::served() const {
  std::lock_guard<std::mutex> lock(mu_);
  return served_;
}

int FakeDataNode::total_served() const {
  std::lock_guard<std::mutex> lock(mu_);
  int total = 0;
  for (const auto& [_, n] : served_) total += n;
  return total;
}

std::vector<FakeDataNode::SeenMetadata> FakeDataNode::seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

void FakeDataNode::ClearServed() {
  std::lock_guard<std::mutex> lock(mu_);
  served_.clear();
}

void FakeDataNode::Serve(grpc::CallbackServerContext* ctx, uint64_t channel_id,
                         std::function<void(grpc::Status)> finish) {
  const auto& client = ctx->client_metadata();
  SeenMetadata seen;
  if (auto it = client.find("x-ds-consistency-token"); it != client.end()) {
    seen.consistency_token.assign(it->second.data(), it->second.size());
  }
  if (auto it = client.find("x-request-id"); it != client.end()) {
    seen.request_id.assign(it->second.data(), it->second.size());
  }
  grpc::Status status = grpc::Status::OK;
  bool from_store = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(std::move(seen));
    ++served_[channel_id];
    if (fail_next_.has_value()) {
      status = std::move(fail_next_->first);
      from_store = fail_next_->second;
      fail_next_.reset();
    }
  }
  // Like a real node: its own answers carry the coalescing marker; a bare
  // status stands for a transport-level failure.
  if (from_store) ctx->AddTrailingMetadata("x-ds-coalesced", "leader");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (frozen_) {
      parked_.push_back([finish = std::move(finish), status] { finish(status); });
      return;
    }
  }
  finish(std::move(status));
}

void FakeDataNode::Freeze() {
  std::lock_guard<std::mutex> lock(mu_);
  frozen_ = true;
}

void FakeDataNode::Thaw() {
  std::vector<std::function<void()>> parked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    frozen_ = false;
    parked.swap(parked_);
  }
  for (auto& finish : parked) finish();
}

int FakeDataNode::parked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(parked_.size());
}

std::pair<v1::Message, bool> FakeDataNode::StoreOnce(uint64_t channel_id, uint64_t nonce,
                                                     v1::Message fresh) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = sent_.try_emplace({channel_id, nonce}, std::move(fresh));
  return {it->second, !inserted};
}

}  // namespace ds::routing::testing
