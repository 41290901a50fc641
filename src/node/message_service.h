// The node's gRPC services: dataservice.v1.MessageService and the reference
// API messages.MessagesService, both on gRPC's callback API.
//
// Reads (GetMessages, GetMessage, getMessage) are raw callback methods: the
// request bytes are parsed here, the flight's response is serialized once into
// one refcounted grpc::Slice, and every waiter's response ByteBuffer references
// that slice (coalescing contract point 8: per-waiter cost is a reference).
// Writes (SendMessage) are typed callback methods and never coalesced; each
// acknowledged write fences its channel for read-your-writes before answering.
//
// Every response carries trailing metadata `x-ds-coalesced: leader|joiner`
// (reads) so a client can see whether it shared a query.
//
// Usage:
//   MessageServices services(store, coalescer, metrics, options);
//   builder.RegisterService(services.v1());
//   builder.RegisterService(services.reference());
//
// Threads: gRPC calls the handlers on its callback threads; handlers never
// block. Completions run on store threads. The services must outlive the
// grpc::Server (destroy the server first).
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "coalescer/coalescer.h"
#include "common/api_rules.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "messages/messages.grpc.pb.h"
#include "node/node_metrics.h"
#include "storage/message_store.h"

namespace ds::node {

// An encoded response shared by all waiters of one flight.
using EncodedResponse = std::shared_ptr<const grpc::Slice>;
using ReadCoalescer = coalescer::Coalescer<EncodedResponse>;

struct MessageServiceOptions {
  size_t max_content_bytes = api::kMaxContentBytes;
  // Used when the client sent no deadline: reads must still end.
  absl::Duration default_deadline = absl::Seconds(10);
};

class MessageServices {
 public:
  MessageServices(storage::MessageStore* store, ReadCoalescer* coalescer, NodeMetrics* metrics,
                  MessageServiceOptions options);
  ~MessageServices();

  grpc::Service* v1();
  grpc::Service* reference();

 private:
  class V1Service;
  class ReferenceService;
  std::unique_ptr<V1Service> v1_;
  std::unique_ptr<ReferenceService> reference_;
};

// gRPC status from an absl::Status (the codes are the same numbers).
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace ds::node
