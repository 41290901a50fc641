// HealthService: grpc.health.v1.Health/Check served on the node's completion
// queues (CqServer), in place of gRPC's default health service.
//
// Why not gRPC's own: it is a callback service, and a server with any
// callback method runs a second set of polling threads that take turns with
// ours on every socket event (measured: a quarter of a node's CPU in the
// seed burst went to those threads). docs/architecture.md, "Server model".
//
// Check answers SERVING or NOT_SERVING for the whole server ("") and for each
// name given to the constructor, and NOT_FOUND for any other name, as gRPC's
// default service does. Watch is not served: a client gets UNIMPLEMENTED,
// which gRPC's client-side health checking treats as "no health checking".
//
// Usage:
//   HealthService health({"dataservice.v1.MessageService"});
//   builder.RegisterService(health.service());
//   health.AddMethods(&cq_server);       // before cq_server.Start()
//   health.SetServing(false);            // e.g. when draining
//
// Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "node/cq_server.h"

namespace ds::node {

class HealthService {
 public:
  explicit HealthService(std::vector<std::string> service_names);
  ~HealthService();

  grpc::Service* service();
  void AddMethods(CqServer* server);

  void SetServing(bool serving) { serving_.store(serving, std::memory_order_release); }
  bool serving() const { return serving_.load(std::memory_order_acquire); }

 private:
  class RawService;
  void Check(UnaryCall* call);

  const std::vector<std::string> names_;
  std::unique_ptr<RawService> service_;
  std::atomic<bool> serving_{false};
};

}  // namespace ds::node
