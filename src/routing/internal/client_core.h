// ClientCore (routing-internal): everything a RoutedClient's calls share —
// channels and stubs per node, membership, the health checker, and the
// gray-failure state (recent latency, the hedge budget, the outlier detector
// and the timer that fires hedges and sweeps for outliers). The RoutedClient
// and every call in flight hold it by shared_ptr.
//
// Threads: thread-safe. Calls read the membership snapshot once, at their
// start, and report attempt outcomes from gRPC callback threads. The latency
// windows and the outlier detector sit under one mutex (`gray_mu_`), taken once
// when an attempt starts and once when it ends; the values calls read on every
// attempt (hedge delay, attempt timeouts) are recomputed every few answers and
// published through atomics, so reading them takes no lock.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "routing/health_checker.h"
#include "routing/internal/routing_timer.h"
#include "routing/latency_window.h"
#include "routing/membership.h"
#include "routing/outlier_detector.h"
#include "routing/routed_client.h"

namespace ds::routing::internal {

enum class CallKind { kRead, kWrite };

// How an attempt ended, as far as the node's health is concerned.
enum class AttemptOutcome {
  kAnswered,          // the node answered (OK or a status of its own)
  kTransportFailure,  // UNAVAILABLE from the transport: no answer from the node
  kTimedOut,          // the per-attempt timeout passed (the caller still had time)
  kAbandoned,         // cancelled by us (another attempt won) or the caller's deadline
};

class ClientCore {
 public:
  struct Node {
    std::string address;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    std::vector<std::unique_ptr<dataservice::v1::MessageService::Stub>> stubs;  // per channel
    std::atomic<uint64_t> next_stub{0};
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> failures{0};
    std::atomic<uint64_t> timeouts{0};
    std::atomic<bool> outlier{false};
  };

  ClientCore(RoutedClientOptions options, std::vector<std::unique_ptr<Node>> nodes);
  ~ClientCore();

  void Start();
  // Stops health checking, hedge timers and outlier sweeps. Calls in flight
  // still finish (without further hedges). Not from a callback thread of ours.
  void Shutdown();

  // Node ids in the order a request for `channel_id` tries them.
  std::vector<int> FailoverOrder(uint64_t channel_id);
  // Counts the attempt and picks one of the node's channels.
  dataservice::v1::MessageService::Stub* StubFor(int node);

  // --- gray failure ---
  // Counts a new call and credits the hedge budget.
  void OnCallStart();
  // The deadline for an attempt of `kind` started at `now` that has another
  // node to fail over to: the caller's deadline if shorter or if per-attempt
  // timeouts are off.
  absl::Time AttemptDeadline(CallKind kind, absl::Time now, absl::Time caller_deadline) const;
  // The delay after which a read's attempt is hedged; InfiniteDuration() when
  // hedging is off or too few answers have been seen to know the latency.
  absl::Duration HedgeDelay() const;
  // Takes one hedge from the budget; false if the budget is spent.
  bool TryTakeHedge();
  void OnAttemptStart(int node, absl::Time now);
  void OnAttemptEnd(int node, CallKind kind, absl::Time start, absl::Time now,
                    AttemptOutcome outcome);
  void CountHedgeWin() { hedge_wins_.fetch_add(1, std::memory_order_relaxed); }
  void CountFailover() { failovers_.fetch_add(1, std::memory_order_relaxed); }
  RoutingTimer& timer() { return *timer_; }

  RoutedClientStats Stats() const;

  const RoutedClientOptions& options() const { return options_; }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  Membership& membership() { return membership_; }
  HealthChecker& health() { return *health_; }

 private:
  // Recomputes the published latency-derived values. Requires gray_mu_.
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(gray_mu_);
  // The periodic outlier sweep (timer thread).
  void Sweep();

  const RoutedClientOptions options_;
  const std::vector<std::unique_ptr<Node>> nodes_;
  Membership membership_;
  std::unique_ptr<HealthChecker> health_;
  std::atomic<uint64_t> round_robin_{0};
  std::atomic<uint64_t> random_state_;

  mutable std::mutex gray_mu_;
  LatencyWindow read_latency_ ABSL_GUARDED_BY(gray_mu_);
  LatencyWindow write_latency_ ABSL_GUARDED_BY(gray_mu_);
  OutlierDetector detector_ ABSL_GUARDED_BY(gray_mu_);
  int answers_since_publish_ ABSL_GUARDED_BY(gray_mu_) = 0;

  // Published values, in microseconds; 0 = not known yet.
  std::atomic<int64_t> hedge_delay_us_{0};
  std::atomic<int64_t> read_timeout_us_{0};
  std::atomic<int64_t> write_timeout_us_{0};
  std::atomic<int64_t> stall_after_us_{0};

  // The hedge budget in thousandths of a hedge.
  std::atomic<int64_t> hedge_tokens_milli_;
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> attempts_{0};
  std::atomic<uint64_t> hedges_{0};
  std::atomic<uint64_t> hedge_wins_{0};
  std::atomic<uint64_t> failovers_{0};
  std::atomic<uint64_t> attempt_timeouts_{0};
  std::atomic<uint64_t> outlier_ejections_{0};

  // Last: its thread calls Sweep(), which uses everything above.
  std::unique_ptr<RoutingTimer> timer_;
};

}  // namespace ds::routing::internal
