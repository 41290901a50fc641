// The node's five unary methods (dataservice.v1.MessageService and the
// reference messages.MessagesService) as raw byte methods of a CqServer: the
// generated service types with every method raw, and one call that registers
// a handler for each. ds-node (MessageServices) and the no-op floor server
// (tools/noop_server) register them the same way.
//
// Usage:
//   RawV1Service v1;  RawReferenceService ref;   // registered with the builder
//   AddRawMethods(&cq_server, &v1, &ref, {.get_messages = ..., ...});
#pragma once

#include "dataservice/v1/messages.grpc.pb.h"
#include "messages/messages.grpc.pb.h"
#include "node/cq_server.h"

namespace ds::node {

using RawV1Service = dataservice::v1::MessageService::WithRawMethod_GetMessages<
    dataservice::v1::MessageService::WithRawMethod_GetMessage<
        dataservice::v1::MessageService::WithRawMethod_SendMessage<
            dataservice::v1::MessageService::Service>>>;
using RawReferenceService = messages::MessagesService::WithRawMethod_getMessage<
    messages::MessagesService::WithRawMethod_getAndResetMetrics<
        messages::MessagesService::Service>>;

// One handler per method; each must make sure its call is finished.
struct RawHandlers {
  CqServer::HandleFn get_messages;
  CqServer::HandleFn get_message;
  CqServer::HandleFn send_message;
  CqServer::HandleFn reference_get_message;
  CqServer::HandleFn reference_get_and_reset_metrics;
};

// Registers the five methods of `v1` and `ref` with `server` (before
// CqServer::Start). The services must outlive the server.
void AddRawMethods(CqServer* server, RawV1Service* v1, RawReferenceService* ref,
                   RawHandlers handlers);

}  // namespace ds::node
