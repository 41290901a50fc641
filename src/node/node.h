// DataServiceNode: one data-service node — the gRPC server with the
// coalescing read path, the pass-through write path, health and reflection.
// Storage and the admin HTTP server are composed around it by the binary
// (src/cmd/data_service_node/main.cc) or by tests.
//
// Usage:
//   auto registry = std::make_shared<prometheus::Registry>();
//   auto node = DataServiceNode::Start({.listen_address = "127.0.0.1:0"}, store.get(), registry);
//   int port = (*node)->port();
//   ...
//   (*node)->Shutdown(absl::Seconds(5));   // stop accepting, drain, stop
//
// Thread-safe. The store must outlive the node. Members are destroyed in the
// order server → services → coalescer (waits for running flights) →
// completion queues → health → metrics → timer, the reverse of construction.
#pragma once

#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "coalescer/coalescer.h"
#include "coalescer/timer.h"
#include "node/cq_server.h"
#include "node/health_service.h"
#include "node/message_service.h"
#include "node/node_metrics.h"
#include "node/server_tuning.h"
#include "storage/message_store.h"

namespace ds::node {

struct NodeOptions {
  std::string listen_address = "127.0.0.1:50051";  // port 0 picks a free port
  coalescer::CoalescerOptions coalescer;
  MessageServiceOptions service;
  // Larger requests are refused by gRPC itself (RESOURCE_EXHAUSTED) before
  // any of our code parses them.
  int max_receive_message_bytes = 64 * 1024;
  // Where a flight's result is fanned out to its waiters: on the polling
  // thread that took the leader's call (the store thread hands it over, one
  // wake-up per flight), or on the store thread that completed the query.
  // Measured in docs/benchmarks.md ("CPU per request").
  bool fan_out_on_polling_thread = true;
  // Completion queues, one polling thread each, that read requests and run
  // the handlers inline (CqServer); 0 = one per core.
  int server_threads = 0;
  // At most 1,024 calls in flight per client connection: past it the client
  // queues them on its side. Without a cap gRPC accepts every call of an
  // overload and holds it until its deadline (one node at 2x capacity grew
  // to 2.2 GB RSS and kept it; with 1,024: 96 MB, docs/benchmarks.md §10).
  // 1,024 keeps a thousand identical reads on one connection coalescable.
  ServerTuning server_tuning{.max_concurrent_streams_per_connection = 1024};
  // Registers more services on the node's gRPC server (live channels:
  // src/live/node/live_node.cc). Called once in Start, before the server
  // starts and after the coalescer exists; what it registers must outlive
  // the node.
  std::function<void(grpc::ServerBuilder&, ReadCoalescer&)> extra_services;
  // Transport security of the listening port; null = plaintext. TLS and
  // mutual TLS from files: auth/grpc_tls.h.
  std::shared_ptr<grpc::ServerCredentials> credentials;
};

class DataServiceNode {
 public:
  static absl::StatusOr<std::unique_ptr<DataServiceNode>> Start(
      NodeOptions options, storage::MessageStore* store,
      std::shared_ptr<prometheus::Registry> registry);
  ~DataServiceNode();

  int port() const { return port_; }
  std::string address() const;
  NodeMetrics& metrics() { return *metrics_; }
  ReadCoalescer& coalescer() { return *coalescer_; }
  // grpc.health.v1 status of the whole server and of each service.
  void SetServing(bool serving);
  bool serving() const;

  // Graceful stop: health turns NOT_SERVING, no new calls are accepted,
  // calls in progress (and their flights) get up to `drain` to finish, then
  // the rest are cancelled. Idempotent.
  void Shutdown(absl::Duration drain);

 private:
  DataServiceNode() = default;

  std::string host_;
  int port_ = 0;
  std::atomic<bool> shut_down_{false};
  std::unique_ptr<coalescer::ThreadTimer> timer_;
  std::unique_ptr<NodeMetrics> metrics_;
  std::unique_ptr<HealthService> health_;
  // Outlives the coalescer: flights still ending hand their results to it
  // (run inline once its queues are shut down).
  std::unique_ptr<CqServer> cq_server_;
  std::unique_ptr<ReadCoalescer> coalescer_;
  std::unique_ptr<MessageServices> services_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace ds::node
