#include "gateway/routed_backend.h"

#include <utility>
#include <vector>

namespace ds::gateway {
namespace {

using dataservice::v1::GetMessageRequest;
using dataservice::v1::GetMessageResponse;
using dataservice::v1::GetMessagesRequest;
using dataservice::v1::GetMessagesResponse;
using dataservice::v1::SendMessageRequest;
using dataservice::v1::SendMessageResponse;

class RoutedBackend : public MessageBackend {
 public:
  explicit RoutedBackend(std::shared_ptr<routing::RoutedClient> client)
      : client_(std::move(client)) {}

  void GetMessages(const GetMessagesRequest& req, absl::Time deadline,
                   BackendCallback<GetMessagesResponse> done) override {
    client_->GetMessages(req, deadline, std::move(done));
  }
  void GetMessage(const GetMessageRequest& req, absl::Time deadline,
                  BackendCallback<GetMessageResponse> done) override {
    client_->GetMessage(req, deadline, std::move(done));
  }
  void SendMessage(const SendMessageRequest& req, absl::Time deadline,
                   BackendCallback<SendMessageResponse> done) override {
    client_->SendMessage(req, deadline, std::move(done));
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
