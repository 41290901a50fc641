// The node's gRPC services: dataservice.v1.MessageService and the reference
// API messages.MessagesService, served on completion queues (CqServer).
//
// Every method is a raw unary method: the request bytes are parsed here, and a
// read flight's response is serialized once into one refcounted grpc::Slice
// that every waiter's response ByteBuffer references (coalescing contract
// point 8: per-waiter cost is a reference). Writes (SendMessage) are never
// coalesced; each acknowledged write fences its channel for read-your-writes
// before answering.
//
// Every read response carries trailing metadata `x-ds-coalesced:
// leader|joiner` so a client can see whether it shared a query.
//
// Usage:
//   MessageServices services(store, coalescer, metrics, options);
//   builder.RegisterService(services.v1());
//   builder.RegisterService(services.reference());
//   services.AddMethods(&cq_server);   // before cq_server.Start()
//
// Threads: handlers run on the CqServer's polling threads and never block;
// completions run on store threads. The services must outlive the CqServer's
// Stop() (every call answered).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "coalescer/coalescer.h"
#include "common/api_rules.h"
#include "node/cq_server.h"
#include "node/node_metrics.h"
#include "node/request_log.h"
#include "storage/message_store.h"

namespace ds::node {

// An encoded response shared by all waiters of one flight.
using EncodedResponse = std::shared_ptr<const grpc::Slice>;
using ReadCoalescer = coalescer::Coalescer<EncodedResponse>;

struct MessageServiceOptions {
  size_t max_content_bytes = api::kMaxContentBytes;
  // Used when the client sent no deadline: reads must still end.
  absl::Duration default_deadline = absl::Seconds(10);
  // Failed, slow and sampled requests' log lines, with the caller's
  // `x-request-id` (request_log.h).
  RequestLogOptions request_log;
};

class MessageServices {
 public:
  // With `handoff` (may be null), store results are handed to the polling
  // thread of the call that issued the store call (CqServer::RunOn) and
  // flights fan out there; without it they fan out on the store thread.
  MessageServices(storage::MessageStore* store, ReadCoalescer* coalescer, NodeMetrics* metrics,
                  MessageServiceOptions options, CqServer* handoff = nullptr);
  ~MessageServices();  // waits for write callbacks still running

  grpc::Service* v1();
  grpc::Service* reference();
  // Registers every method's handler; before `server` starts.
  void AddMethods(CqServer* server);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// gRPC status from an absl::Status (the codes are the same numbers).
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace ds::node
