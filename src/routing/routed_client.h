// RoutedClient: the client side of the data-service fleet, used by the gateway
// and the load generator. It owns gRPC channels to every node, health-checks
// them (grpc.health.v1), routes each request by the configured Policy (by
// default consistent hashing on channel_id, so one channel's requests meet on
// one node and coalesce there) and fails over to the next node of the channel's
// preference list when a node is unavailable, within the caller's deadline.
//
// Usage:
//   ds::routing::RoutedClientOptions opts;
//   opts.nodes = {"127.0.0.1:50051", "127.0.0.1:50052"};
//   auto client = ds::routing::RoutedClient::Create(opts);
//   if (!client.ok()) return client.status();
//   (void)(*client)->WaitForHealthy(absl::Seconds(5));  // optional, at startup
//   dataservice::v1::GetMessagesRequest req;
//   req.set_channel_id(42);
//   (*client)->GetMessages(req, absl::Now() + absl::Milliseconds(200),
//       [](grpc::Status s, dataservice::v1::GetMessagesResponse resp) { ... });
//   // With per-call options and the call's info (answering node, coalescing):
//   ds::routing::CallOptions call;
//   call.consistency_token = token_from_last_write;
//   call.request_id = "req-17";
//   (*client)->GetMessages(req, deadline, call,
//       [](grpc::Status s, dataservice::v1::GetMessagesResponse resp,
//          ds::routing::CallInfo info) { ... info.node, info.coalesced ... });
//
// Failover semantics (docs/routing.md and docs/reliability.md have the reasons):
// - A request is tried on the nodes of its failover list in order: for kHash
//   the channel's rendezvous preference list restricted to live nodes; for
//   kRoundRobin/kRandom the chosen node followed by the remaining live nodes
//   in ring order. A node is live while the health checker finds it healthy
//   and the outlier detector has not ejected it; if no node is live, all of
//   them are tried anyway (better than failing closed).
// - Per-attempt timeout: an attempt that has a next node to go to gets a
//   deadline derived from the fleet's recent latency (GrayFailureOptions), so
//   a node that accepts the request but never answers costs one attempt
//   timeout, not the caller's whole deadline. The last node's attempt gets the
//   caller's deadline.
// - Moving on to the next node: after UNAVAILABLE, after the per-attempt
//   timeout, and after a CANCELLED the node sent (a drain handing a call back).
//   Every other status (OK, INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED,
//   the caller's own DEADLINE_EXCEEDED, ...) is final.
// - Hedged reads: a read still unanswered after the fleet's recent p95 read
//   latency is also sent to the next node (at most one hedge per read, within
//   a budget of ~5 % of calls); the first answer wins and the other attempt is
//   cancelled. Writes are never hedged.
// - Writes (SendMessage) move on only when they carry a nonce: the service
//   makes SendMessage idempotent by (channel_id, nonce). A send without one is
//   tried once.
// - Every attempt (failovers and hedges too) carries the CallOptions metadata,
//   so the consistency token keeps read-your-writes on whichever node answers.
// - When every attempt failed, `done` gets the last UNAVAILABLE with a message
//   naming the nodes tried; a deadline already past gets DEADLINE_EXCEEDED
//   without any attempt.
// - Health: an UNAVAILABLE without trailing metadata (a transport failure: the
//   node did not answer) counts as a health failure of that node and triggers
//   an immediate probe. An UNAVAILABLE the node itself sent (its answers carry
//   trailing metadata such as `x-ds-coalesced`: a store error) is failed over
//   but does not count against the node. Slowness is the outlier detector's
//   business (outlier_detector.h): a node that stalls while others answer is
//   ejected for a while, then tried again.
//
// Threads: thread-safe; every method may be called from any thread. `done` runs
// exactly once and must not block. It usually runs on a gRPC callback thread,
// but it may run on the calling thread before the method returns (deadline
// already past, or gRPC failing every attempt at once), so do not call these
// methods while holding a lock that `done` takes. The client may be destroyed
// while calls are in flight: their callbacks still run, and the destructor
// waits for them (each call ends by its deadline), so that the gRPC channels
// are released on the destroying thread. Never destroy the client from inside
// one of its own callbacks (it would wait for itself).
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "routing/outlier_detector.h"
#include "routing/policy.h"

namespace ds::routing {

namespace internal {
class ClientCore;
class CoreReleased;
}  // namespace internal

// Gray-failure tolerance: bounding each attempt, hedging slow reads and
// ejecting nodes that stall (docs/reliability.md has the measurements).
struct GrayFailureOptions {
  // Hedged reads: a read whose attempt has not answered after the
  // `hedge_quantile` of the fleet's recent read latency (at least
  // `min_hedge_delay`) is also sent to the next node of its failover list; the
  // first answer wins and the other attempt is cancelled. At most one hedge
  // per read.
  bool hedge_reads = true;
  double hedge_quantile = 0.95;
  absl::Duration min_hedge_delay = absl::Milliseconds(1);
  // Hedge budget (a token bucket): every call adds `hedge_budget_ratio` of a
  // hedge, up to `hedge_burst`; a hedge takes one. So hedges add at most
  // ratio × calls + burst requests.
  double hedge_budget_ratio = 0.05;
  int hedge_burst = 20;
  // Per-attempt timeout: an attempt that has another node to fail over to
  // ends after `attempt_timeout_multiplier` × the fleet's recent p99 of its
  // kind (reads, writes), at least `min_attempt_timeout`, and the call moves
  // on to the next node. Before `min_samples` answers are known the timeout is
  // `cold_attempt_timeout`. 0 disables the per-attempt timeout.
  double attempt_timeout_multiplier = 5.0;
  absl::Duration min_attempt_timeout = absl::Milliseconds(50);
  absl::Duration cold_attempt_timeout = absl::Milliseconds(500);
  int min_samples = 50;
  int latency_generation = 512;  // LatencyWindow generation size (fleet-wide)
  // Outlier ejection (see outlier_detector.h). A node stalls when it answers
  // nothing for `stall_multiplier` × the fleet's read p99, clamped to
  // [min_stall_after, max_stall_after], while other nodes answer.
  double stall_multiplier = 5.0;
  absl::Duration min_stall_after = absl::Milliseconds(25);
  absl::Duration max_stall_after = absl::Seconds(1);
  OutlierOptions outlier;
  absl::Duration sweep_interval = absl::Milliseconds(10);
  absl::Duration timer_resolution = absl::Milliseconds(1);
};

struct RoutedClientOptions {
  std::vector<std::string> nodes;  // host:port, at least one, no duplicates
  Policy policy = Policy::kHash;
  absl::Duration health_interval = absl::Milliseconds(500);
  absl::Duration health_timeout = absl::Milliseconds(300);
  int eject_after = 2;        // consecutive failures (probes or UNAVAILABLE answers)
  int readmit_after = 1;      // consecutive successful probes
  int channels_per_node = 2;  // gRPC channels (connections) per node
  uint64_t seed = 1;          // for kRandom
  GrayFailureOptions gray;
  // Transport security of every channel to the nodes (calls and health
  // probes alike); null = plaintext. See auth/grpc_tls.h for TLS from files.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

// Per-call options (all optional). Every attempt of the call — failovers and
// hedges included — carries them, so a read that lands on another node still
// presents the caller's consistency token.
struct CallOptions {
  // Sent as gRPC metadata `x-ds-consistency-token` when not empty. Opaque to
  // the routing client; the node uses it to keep read-your-writes.
  std::string consistency_token;
  // Sent as gRPC metadata `x-request-id` when not empty (log correlation).
  std::string request_id;
};

// What happened to one routed call; passed to the callback of the overloads
// that take CallOptions.
struct CallInfo {
  // The node whose answer the callback got ("" when no attempt answered: the
  // deadline passed first, or every attempt failed at the transport).
  std::string node;
  // That answer's trailing metadata `x-ds-coalesced` ("leader" or "joiner"),
  // "" when the node sent none.
  std::string coalesced;
  // Every trailing metadata entry of that answer, in the order received.
  std::vector<std::pair<std::string, std::string>> trailing_metadata;
  int attempts = 0;        // attempts sent: the first, failovers and hedges
  bool hedged = false;     // a hedge attempt was sent
  bool hedge_won = false;  // the answer came from a hedge attempt
};

// Metadata keys the client sends and reads.
inline constexpr char kConsistencyTokenKey[] = "x-ds-consistency-token";
inline constexpr char kRequestIdKey[] = "x-request-id";
inline constexpr char kCoalescedKey[] = "x-ds-coalesced";

template <typename Response>
using RoutedCallback = std::function<void(grpc::Status, Response, CallInfo)>;

struct NodeStatus {
  std::string address;
  bool healthy;           // in the routing set now
  uint64_t requests;      // attempts sent to this node
  uint64_t failures;      // attempts that ended UNAVAILABLE (each one failed over)
  uint64_t timeouts = 0;  // attempts ended by the per-attempt timeout
  bool outlier = false;   // ejected by the outlier detector now
};

// Client-wide counters since Create, and the latency-derived values in use.
struct RoutedClientStats {
  uint64_t calls = 0;
  uint64_t attempts = 0;           // every attempt: first, failovers, hedges
  uint64_t failovers = 0;          // attempts after an UNAVAILABLE or a timed-out attempt
  uint64_t hedges = 0;             // hedge attempts sent
  uint64_t hedge_wins = 0;         // calls answered by their hedge
  uint64_t attempt_timeouts = 0;   // attempts ended by the per-attempt timeout
  uint64_t outlier_ejections = 0;  // ejections by the outlier detector
  absl::Duration hedge_delay = absl::InfiniteDuration();       // Infinite: not hedging now
  absl::Duration read_attempt_timeout = absl::ZeroDuration();  // Zero: not known yet
  absl::Duration write_attempt_timeout = absl::ZeroDuration();
};

class RoutedClient {
 public:
  // INVALID_ARGUMENT if `options.nodes` is empty, has a malformed or duplicate
  // address, or a numeric option is out of range. Starts health checking.
  static absl::StatusOr<std::unique_ptr<RoutedClient>> Create(RoutedClientOptions options);

  ~RoutedClient();
  RoutedClient(const RoutedClient&) = delete;
  RoutedClient& operator=(const RoutedClient&) = delete;

  // Reads: fail over along the channel's preference list on UNAVAILABLE
  // (transport errors) within `deadline`.
  void GetMessages(const dataservice::v1::GetMessagesRequest& req, absl::Time deadline,
                   const CallOptions& options,
                   RoutedCallback<dataservice::v1::GetMessagesResponse> done);
  void GetMessage(const dataservice::v1::GetMessageRequest& req, absl::Time deadline,
                  const CallOptions& options,
                  RoutedCallback<dataservice::v1::GetMessageResponse> done);
  // Writes: also fail over on UNAVAILABLE, safe because SendMessage is
  // idempotent by nonce.
  void SendMessage(const dataservice::v1::SendMessageRequest& req, absl::Time deadline,
                   const CallOptions& options,
                   RoutedCallback<dataservice::v1::SendMessageResponse> done);

  // The same without per-call options or call info.
  void GetMessages(const dataservice::v1::GetMessagesRequest& req, absl::Time deadline,
                   std::function<void(grpc::Status, dataservice::v1::GetMessagesResponse)> done);
  void GetMessage(const dataservice::v1::GetMessageRequest& req, absl::Time deadline,
                  std::function<void(grpc::Status, dataservice::v1::GetMessageResponse)> done);
  void SendMessage(const dataservice::v1::SendMessageRequest& req, absl::Time deadline,
                   std::function<void(grpc::Status, dataservice::v1::SendMessageResponse)> done);

  // The node a channel's requests go to first now (for tests and metrics); ""
  // if none is healthy. Under kRoundRobin/kRandom it is the kHash answer (the
  // channel's home node), since those policies have no per-channel node.
  std::string NodeFor(uint64_t channel_id) const;

  // The first `k` distinct healthy nodes of the channel's preference list, in
  // failover order (fewer if fewer are healthy). For spreading a hot channel
  // over k nodes (bounded loads) while each node still coalesces its share.
  std::vector<std::string> PreferenceFor(uint64_t channel_id, int k) const;

  // One entry per configured node, in configuration order.
  std::vector<NodeStatus> Nodes() const;

  RoutedClientStats Stats() const;

  // The credentials the client dials the nodes with (plaintext when none
  // were configured), for other channels to the same nodes (live Subscribe).
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials() const;

  // Blocks until every node has passed a health probe and is healthy, or the
  // timeout passes (DEADLINE_EXCEEDED naming the unhealthy nodes). For startup.
  absl::Status WaitForHealthy(absl::Duration timeout);

  // Blocks until node `address` is healthy (or ejected, when `healthy` is
  // false) or the timeout passes. NOT_FOUND for an unknown address.
  absl::Status WaitForNodeState(std::string_view address, bool healthy, absl::Duration timeout);

 private:
  RoutedClient(std::unique_ptr<internal::ClientCore> owned,
               std::shared_ptr<internal::CoreReleased> released);

  // The core is deleted by ~RoutedClient, on the thread that destroys the
  // client, never by whichever thread drops the last reference: that is
  // usually a gRPC callback thread, and deleting the channels there can
  // release gRPC 1.51's process-wide callback completion queue from one of
  // its own threads, which then joins itself and reads the freed queue
  // (`ref_counted.h:183 assertion failed: prior > 0`, node_tls_test).
  std::unique_ptr<internal::ClientCore> owned_;
  // Signalled when the last reference in `core_` (ours and the in-flight
  // calls') is gone.
  std::shared_ptr<internal::CoreReleased> released_;
  // Shared with in-flight calls, which keep it until their callbacks ran.
  // Does not own the core (its deleter signals `released_`).
  std::shared_ptr<internal::ClientCore> core_;
};

}  // namespace ds::routing
