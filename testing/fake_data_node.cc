#include "testing/fake_data_node.h"

#include <grpcpp/health_check_service_interface.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ds::testing {

namespace v1 = ::dataservice::v1;

namespace {

// Finishes CANCELLED once the client is gone, never earlier (HoldNext).
class HeldReactor : public grpc::ServerUnaryReactor {
 public:
  void OnCancel() override { Finish(grpc::Status::CANCELLED); }
  void OnDone() override { delete this; }
};

std::string Metadata(const grpc::CallbackServerContext& ctx, const char* key) {
  const auto& client = ctx.client_metadata();
  auto it = client.find(key);
  return it == client.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace

// The gRPC face of a FakeDataNode: records each call and hands it to Serve
// with the answer of the test's handler or of the built-in store.
class FakeDataNode::Service final : public v1::MessageService::CallbackService {
 public:
  explicit Service(FakeDataNode* node) : node_(node) {}

  grpc::ServerUnaryReactor* GetMessages(grpc::CallbackServerContext* ctx,
                                        const v1::GetMessagesRequest* req,
                                        v1::GetMessagesResponse* resp) override {
    return Handle(ctx, "GetMessages", req, resp, node_->handlers_.get_messages,
                  &FakeDataNode::StoreGetMessages);
  }

  grpc::ServerUnaryReactor* GetMessage(grpc::CallbackServerContext* ctx,
                                       const v1::GetMessageRequest* req,
                                       v1::GetMessageResponse* resp) override {
    return Handle(ctx, "GetMessage", req, resp, node_->handlers_.get_message,
                  &FakeDataNode::StoreGetMessage);
  }

  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* ctx,
                                        const v1::SendMessageRequest* req,
                                        v1::SendMessageResponse* resp) override {
    return Handle(ctx, "SendMessage", req, resp, node_->handlers_.send_message,
                  &FakeDataNode::StoreSendMessage);
  }

 private:
  // Records the call and serves it with `handler`, or with the store's
  // `method` when the test set no handler.
  template <typename Req, typename Resp>
  grpc::ServerUnaryReactor* Handle(grpc::CallbackServerContext* ctx, const char* name,
                                   const Req* req, Resp* resp,
                                   const FakeDataNode::Handler<Req, Resp>& handler,
                                   grpc::Status (FakeDataNode::*method)(const Req&, Resp*)) {
    FakeDataNode* node = node_;
    node->Record(*req);
    return node->Serve(ctx, name, req->channel_id(), [node, req, resp, &handler, method] {
      return handler ? handler(*req, resp) : (node->*method)(*req, resp);
    });
  }

  FakeDataNode* const node_;
};

FakeDataNode::FakeDataNode(Handlers handlers, std::vector<grpc::Service*> extra_services)
    : handlers_(std::move(handlers)), extra_services_(std::move(extra_services)) {}

FakeDataNode::~FakeDataNode() { Stop(); }

absl::Status FakeDataNode::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (server_ != nullptr) return absl::FailedPreconditionError("already running");
  grpc::EnableDefaultHealthCheckService(true);
  service_ = std::make_unique<Service>(this);
  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port_), grpc::InsecureServerCredentials(),
                           &selected);
  builder.RegisterService(service_.get());
  for (grpc::Service* extra : extra_services_) builder.RegisterService(extra);
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
  // Shutdown waits for every reactor to finish, parked ones included; held
  // ones finish when Shutdown cancels them.
  Thaw();
  // Outside mu_: handlers still running call Serve(), which locks it.
  server->Shutdown(std::chrono::system_clock::now());
  server->Wait();
}

std::string FakeDataNode::address() const { return absl::StrCat("127.0.0.1:", port()); }

int FakeDataNode::port() const {
  std::lock_guard<std::mutex> lock(mu_);
  return port_;
}

void FakeDataNode::FailNext(grpc::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back(Fault{.status = std::move(status)});
}

void FakeDataNode::FailNextFromStore(grpc::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back(Fault{.status = std::move(status), .from_store = true});
}

void FakeDataNode::HoldNext() {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back(Fault{.hold = true});
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

void FakeDataNode::SetServing(bool serving) {
  std::lock_guard<std::mutex> lock(mu_);
  if (server_ != nullptr) server_->GetHealthCheckService()->SetServingStatus(serving);
}

bool FakeDataNode::WaitForCalls(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return call_arrived_.wait_for(lock, timeout, [&] { return calls_ >= n; });
}

size_t FakeDataNode::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
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

void FakeDataNode::ClearServed() {
  std::lock_guard<std::mutex> lock(mu_);
  served_.clear();
}

std::vector<FakeDataNode::SeenMetadata> FakeDataNode::seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

std::vector<std::string> FakeDataNode::list_tokens() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> tokens;
  for (const SeenMetadata& s : seen_) {
    if (s.method == "GetMessages") tokens.push_back(s.consistency_token);
  }
  return tokens;
}

std::vector<v1::GetMessagesRequest> FakeDataNode::lists() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lists_;
}

std::vector<v1::GetMessageRequest> FakeDataNode::gets() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gets_;
}

std::vector<v1::SendMessageRequest> FakeDataNode::sends() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sends_;
}

void FakeDataNode::Record(const v1::GetMessagesRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  lists_.push_back(req);
}

void FakeDataNode::Record(const v1::GetMessageRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  gets_.push_back(req);
}

void FakeDataNode::Record(const v1::SendMessageRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  sends_.push_back(req);
}

grpc::ServerUnaryReactor* FakeDataNode::Serve(grpc::CallbackServerContext* ctx, std::string method,
                                              uint64_t channel_id,
                                              std::function<grpc::Status()> answer) {
  SeenMetadata seen{.method = std::move(method),
                    .consistency_token = Metadata(*ctx, "x-ds-consistency-token"),
                    .request_id = Metadata(*ctx, "x-request-id")};
  std::optional<Fault> fault;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(std::move(seen));
    ++served_[channel_id];
    ++calls_;
    if (!faults_.empty()) {
      fault = std::move(faults_.front());
      faults_.pop_front();
    }
  }
  call_arrived_.notify_all();
  if (fault.has_value() && fault->hold) return new HeldReactor();
  // Like a real node: its own answers carry the coalescing marker; a bare
  // status stands for a transport-level failure.
  if (!fault.has_value() || fault->from_store) {
    ctx->AddTrailingMetadata("x-ds-coalesced", "leader");
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto finish = [reactor, fault = std::move(fault), answer = std::move(answer)] {
    reactor->Finish(fault.has_value() ? fault->status : answer());
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (frozen_) {
      parked_.push_back(std::move(finish));
      return reactor;
    }
  }
  finish();
  return reactor;
}

grpc::Status FakeDataNode::StoreGetMessages(const v1::GetMessagesRequest& req,
                                            v1::GetMessagesResponse* resp) {
  std::lock_guard<std::mutex> lock(mu_);
  auto channel = messages_.find(req.channel_id());
  if (channel == messages_.end()) return grpc::Status::OK;
  const int limit = static_cast<int>(req.limit() == 0 ? 50 : req.limit());
  for (auto it = channel->second.rbegin(); it != channel->second.rend(); ++it) {
    if (req.has_before() && it->first >= req.before()) continue;
    if (req.has_after() && it->first <= req.after()) continue;
    if (resp->messages_size() >= limit) break;
    *resp->add_messages() = it->second;
  }
  return grpc::Status::OK;
}

grpc::Status FakeDataNode::StoreGetMessage(const v1::GetMessageRequest& req,
                                           v1::GetMessageResponse* resp) {
  std::lock_guard<std::mutex> lock(mu_);
  auto channel = messages_.find(req.channel_id());
  if (channel == messages_.end() || !channel->second.contains(req.message_id())) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "message not found");
  }
  *resp->mutable_message() = channel->second.at(req.message_id());
  return grpc::Status::OK;
}

grpc::Status FakeDataNode::StoreSendMessage(const v1::SendMessageRequest& req,
                                            v1::SendMessageResponse* resp) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::pair<uint64_t, uint64_t> key(req.channel_id(), req.nonce());
  if (auto stored = by_nonce_.find(key); stored != by_nonce_.end()) {
    *resp->mutable_message() = stored->second;
    resp->set_duplicate(true);
    return grpc::Status::OK;
  }
  v1::Message m;
  m.set_channel_id(req.channel_id());
  m.set_message_id(next_id_++);
  m.set_author_id(req.author_id());
  m.set_content(req.content());
  m.set_created_at_ms(1700000000000 + static_cast<int64_t>(m.message_id()));
  messages_[m.channel_id()][m.message_id()] = m;
  by_nonce_[key] = m;
  *resp->mutable_message() = m;
  return grpc::Status::OK;
}

}  // namespace ds::testing
