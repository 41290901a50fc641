#include "gateway/routed_backend.h"

#include <utility>
#include <vector>

namespace ds::gateway {
namespace {

namespace v1 = ::dataservice::v1;

routing::CallOptions ToRouting(const BackendCall& call) {
  return routing::CallOptions{.consistency_token = call.consistency_token,
                              .request_id = call.request_id};
}

template <typename Response>
routing::RoutedCallback<Response> FromRouting(BackendCallback<Response> done) {
  return [done = std::move(done)](grpc::Status s, Response r, routing::CallInfo info) {
    done(std::move(s), std::move(r),
         BackendInfo{.node = std::move(info.node), .coalesced = std::move(info.coalesced)});
  };
}

class RoutedBackend : public MessageBackend {
 public:
  explicit RoutedBackend(std::shared_ptr<routing::RoutedClient> client)
      : client_(std::move(client)) {}

  void GetMessages(const v1::GetMessagesRequest& req, absl::Time deadline, const BackendCall& call,
                   BackendCallback<v1::GetMessagesResponse> done) override {
    client_->GetMessages(req, deadline, ToRouting(call), FromRouting(std::move(done)));
  }
  void GetMessage(const v1::GetMessageRequest& req, absl::Time deadline, const BackendCall& call,
                  BackendCallback<v1::GetMessageResponse> done) override {
    client_->GetMessage(req, deadline, ToRouting(call), FromRouting(std::move(done)));
  }
  void SendMessage(const v1::SendMessageRequest& req, absl::Time deadline, const BackendCall& call,
                   BackendCallback<v1::SendMessageResponse> done) override {
    client_->SendMessage(req, deadline, ToRouting(call), FromRouting(std::move(done)));
  }
  bool Healthy() const override {
    for (const routing::NodeStatus& node : client_->Nodes()) {
      if (node.healthy) return true;
    }
    return false;
  }

 private:
  const std::shared_ptr<routing::RoutedClient> client_;
};

}  // namespace

std::shared_ptr<MessageBackend> MakeRoutedBackend(std::shared_ptr<routing::RoutedClient> client) {
  return std::make_shared<RoutedBackend>(std::move(client));
}

}  // namespace ds::gateway
