// MessageBackend: what the gateway forwards API calls to. The production
// implementation is the routing library's RoutedClient (routed_backend.h);
// tests may substitute their own.
//
// Usage:
//   std::shared_ptr<ds::gateway::MessageBackend> backend =
//       ds::gateway::MakeRoutedBackend(std::move(routed_client));
//   backend->GetMessage(req, absl::Now() + absl::Seconds(2),
//                       [](grpc::Status s, dataservice::v1::GetMessageResponse r) { ... });
#pragma once

#include <functional>

#include <grpcpp/support/status.h>

#include "absl/time/time.h"
#include "dataservice/v1/messages.pb.h"

namespace ds::gateway {

template <typename Response>
using BackendCallback = std::function<void(grpc::Status, Response)>;

// Implementations are thread-safe. Every call runs `done` exactly once, on any
// thread (possibly inline), with a status that respects `deadline`; `done` must
// not block.
class MessageBackend {
 public:
  virtual ~MessageBackend() = default;
  virtual void GetMessages(const dataservice::v1::GetMessagesRequest& req, absl::Time deadline,
                           BackendCallback<dataservice::v1::GetMessagesResponse> done) = 0;
  virtual void GetMessage(const dataservice::v1::GetMessageRequest& req, absl::Time deadline,
                          BackendCallback<dataservice::v1::GetMessageResponse> done) = 0;
  virtual void SendMessage(const dataservice::v1::SendMessageRequest& req, absl::Time deadline,
                           BackendCallback<dataservice::v1::SendMessageResponse> done) = 0;
  // True while at least one backend node can take requests (for /healthz).
  virtual bool Healthy() const = 0;
};

}  // namespace ds::gateway
