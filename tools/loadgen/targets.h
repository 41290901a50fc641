// The concrete ds-loadgen targets and the reference API's metrics source.
//
//   MakeNodesTarget      dataservice.v1 over gRPC through ds::routing::RoutedClient
//                        (policy hash | round-robin | random, health checks, failover)
//   MakeReferenceTarget  messages.MessagesService/getMessage, each channel's
//                        requests to nodes[(channel - 1) % nodes.size()], like
//                        the reference Go client
//   MakeGatewayTarget    HTTP/1.1 JSON to the gateway over a pool of keep-alive
//                        connections on several I/O threads, optionally pipelined
//
// Usage:
//   absl::StatusOr<std::unique_ptr<Target>> t = MakeReferenceTarget({"127.0.0.1:50051"}, 1);
//   std::unique_ptr<MetricsSource> m = MakeReferenceMetricsSource({"127.0.0.1:50051"},
//                                                                 absl::Seconds(5));
//
// Threading: see Target (target.h). Every target is thread-safe for Issue()
// from one thread while completions run on its transport threads. Destroying
// a target with requests in flight is allowed; their callbacks may still run
// (gRPC) or never run (gateway: the I/O thread is stopped).
#pragma once

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/loadgen/node_metrics.h"
#include "tools/loadgen/target.h"

namespace ds::loadgen {

struct NodesTargetOptions {
  std::vector<std::string> nodes;
  std::string policy = "hash";  // hash | round-robin | random
  int channels_per_node = 1;
  uint64_t seed = 1;
  bool hedge_reads = true;
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // null = plaintext
};
// INVALID_ARGUMENT for a bad policy or node list (as the routing library says).
absl::StatusOr<std::unique_ptr<Target>> MakeNodesTarget(const NodesTargetOptions& options);

// INVALID_ARGUMENT for an empty node list. Only GetMessage requests are
// supported (the reference API has nothing else); others fail UNIMPLEMENTED.
// `credentials` null = plaintext (also for MakeReferenceMetricsSource).
absl::StatusOr<std::unique_ptr<Target>> MakeReferenceTarget(
    const std::vector<std::string>& nodes, int channels_per_node,
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

// getAndResetMetrics on every node: Begin() resets the counters, End() reads
// the counts since then (requests = total_requests, store queries =
// queries_executed). Fails if any node cannot be asked.
std::unique_ptr<MetricsSource> MakeReferenceMetricsSource(
    const std::vector<std::string>& nodes, absl::Duration timeout,
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

struct GatewayTargetOptions {
  std::string address;  // host:port
  int connections = 16;
  int threads = 2;   // I/O threads; the connections are split between them
  int pipeline = 1;  // requests in flight per connection (1 = no pipelining)
  // Ask the gateway when it received each read (`x-ds-timing`), reported as
  // Outcome::node_arrived_us, so that the ideal-coalescing figures use the
  // arrivals the gateway saw.
  bool timing = false;
};
// INVALID_ARGUMENT for a malformed address, UNAVAILABLE if it does not resolve.
absl::StatusOr<std::unique_ptr<Target>> MakeGatewayTarget(const GatewayTargetOptions& options);

}  // namespace ds::loadgen
