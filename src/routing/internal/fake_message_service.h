// FakeDataNode (test only): an in-process dataservice.v1.MessageService on
// 127.0.0.1 with the standard grpc.health.v1 service, which records the
// channels it served and can be stopped and restarted on the same port.
//
// Usage:
//   FakeDataNode node;
//   ASSERT_TRUE(node.Start().ok());          // port 0 the first time
//   ... route requests to node.address() ...
//   node.Stop();  node.Start();              // same port again
//   node.FailNext(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad"));
//   node.Freeze();  ... requests hang (health probes still pass) ...  node.Thaw();
//
// Threads: thread-safe; RPCs are served on gRPC's callback threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "dataservice/v1/messages.grpc.pb.h"

namespace ds::routing::testing {

class FakeDataNode {
 public:
  FakeDataNode() = default;
  ~FakeDataNode();

  // Starts serving; the first start picks a free port, later ones reuse it.
  absl::Status Start();
  // Stops at once (in-flight calls are cancelled) and waits. Idempotent.
  void Stop();

  std::string address() const;

  // Fault hook: the next request (any method) is answered with `status` and
  // no trailing metadata, the way a transport failure looks to a client.
  void FailNext(grpc::Status status);
  // Fault hook: the next request is answered with `status` as a store error:
  // with the `x-ds-coalesced` trailing metadata a real node's answers carry.
  void FailNextFromStore(grpc::Status status);
  // Fault hook for gray failures: while frozen, requests are accepted and
  // recorded but not answered (like a SIGSTOPped process whose kernel still
  // accepts connections — except that health probes keep passing, which is
  // the harder case for the client). Thaw() answers them all; so does Stop().
  void Freeze();
  void Thaw();
  int parked() const;  // requests waiting for Thaw()
  // Sets the grpc.health.v1 status of the whole server (must be running).
  void SetServing(bool serving);

  // Requests served (answered OK or with an injected status), by channel id.
  std::map<uint64_t, int> served() const;
  int total_served() const;
  void ClearServed();

  // The routing metadata of every request served, in arrival order.
  struct SeenMetadata {
    std::string consistency_token;  // x-ds-consistency-token, "" if absent
    std::string request_id;         // x-request-id, "" if absent
  };
  std::vector<SeenMetadata> seen() const;

  // Called by the service for every request: records it and its metadata,
  // adds the trailing `x-ds-coalesced: leader` a real node sends (not to a
  // FailNext answer), and calls `finish` with the status to answer — at once,
  // or at Thaw() when frozen.
  void Serve(grpc::CallbackServerContext* ctx, uint64_t channel_id,
             std::function<void(grpc::Status)> finish);
  // The stored message for (channel, nonce) if any, else stores `fresh`.
  std::pair<dataservice::v1::Message, bool> StoreOnce(uint64_t channel_id, uint64_t nonce,
                                                      dataservice::v1::Message fresh);

 private:
  mutable std::mutex mu_;  // std::mutex: see membership.h
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<grpc::Service> service_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
  std::optional<std::pair<grpc::Status, bool>> fail_next_ ABSL_GUARDED_BY(mu_);  // bool: from store
  bool frozen_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> parked_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, int> served_ ABSL_GUARDED_BY(mu_);
  std::vector<SeenMetadata> seen_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint64_t, uint64_t>, dataservice::v1::Message> sent_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ds::routing::testing
