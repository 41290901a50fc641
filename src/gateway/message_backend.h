// MessageBackend: what the gateway forwards API calls to. The production
// implementation is the routing library's RoutedClient (routed_backend.h);
// tests may substitute their own.
//
// Usage:
//   std::shared_ptr<ds::gateway::MessageBackend> backend =
//       ds::gateway::MakeRoutedBackend(std::move(routed_client));
//   backend->GetMessage(req, absl::Now() + absl::Seconds(2), {.consistency_token = "123"},
//                       [](grpc::Status s, dataservice::v1::GetMessageResponse r,
//                          ds::gateway::BackendInfo info) { ... info.coalesced ... });
#pragma once

#include <grpcpp/support/status.h>

#include <functional>
#include <string>

#include "absl/time/time.h"
#include "dataservice/v1/messages.pb.h"

namespace ds::gateway {

// Per-call options, passed on to the node as gRPC metadata.
struct BackendCall {
  std::string consistency_token;  // `x-ds-consistency-token`, when not empty
  std::string request_id;         // `x-request-id`, when not empty
};

// How the node answered.
struct BackendInfo {
  std::string node;       // the node that answered ("" if none did)
  std::string coalesced;  // its trailing `x-ds-coalesced`: "leader", "joiner" or ""
};

template <typename Response>
using BackendCallback = std::function<void(grpc::Status, Response, BackendInfo)>;

// Implementations are thread-safe. Every call runs `done` exactly once, on any
// thread (possibly inline), with a status that respects `deadline`; `done` must
// not block.
class MessageBackend {
 public:
  virtual ~MessageBackend() = default;
  virtual void GetMessages(const dataservice::v1::GetMessagesRequest& req, absl::Time deadline,
                           const BackendCall& call,
                           BackendCallback<dataservice::v1::GetMessagesResponse> done) = 0;
  virtual void GetMessage(const dataservice::v1::GetMessageRequest& req, absl::Time deadline,
                          const BackendCall& call,
                          BackendCallback<dataservice::v1::GetMessageResponse> done) = 0;
  virtual void SendMessage(const dataservice::v1::SendMessageRequest& req, absl::Time deadline,
                           const BackendCall& call,
                           BackendCallback<dataservice::v1::SendMessageResponse> done) = 0;
  // True while at least one backend node can take requests (for /healthz).
  virtual bool Healthy() const = 0;
};

}  // namespace ds::gateway
