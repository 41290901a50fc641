// CoalescerProbe: the coalescer's named events, for metrics and tests.
// Business code calls these; registration of real metrics lives in the
// implementation (node/node_metrics.h). Every method has an empty default.
//
// Threads: called from any thread, with no coalescer lock held, concurrently;
// implementations must be thread-safe and cheap (no I/O).
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ds::coalescer {

enum class Role { kLeader, kJoiner };
enum class RejectReason { kFlightFull, kTotalWaiters, kConcurrentQueries };

inline const char* RoleName(Role r) { return r == Role::kLeader ? "leader" : "joiner"; }
inline const char* RejectReasonName(RejectReason r) {
  switch (r) {
    case RejectReason::kFlightFull:
      return "flight_full";
    case RejectReason::kTotalWaiters:
      return "total_waiters";
    case RejectReason::kConcurrentQueries:
      return "concurrent_queries";
  }
  return "unknown";
}

class CoalescerProbe {
 public:
  virtual ~CoalescerProbe() = default;
  // A request started a new flight.
  virtual void OnLeader(int method) {}
  // A request joined a running flight (a coalesced request).
  virtual void OnJoin(int method) {}
  virtual void OnRejected(int method, RejectReason reason) {}
  // A store call is about to be issued (attempt 0 is the first).
  virtual void OnStoreAttempt(int method, int attempt) {}
  virtual void OnStoreResult(int method, absl::Duration took, const absl::Status& status) {}
  virtual void OnRetry(int method) {}
  // A waiter left before its answer (deadline or cancellation).
  virtual void OnLeft(int method, Role role) {}
  virtual void OnDelivered(int method, Role role, absl::Duration waited) {}
  // A flight ended; `delivered` waiters received its result.
  virtual void OnFlightDone(int method, size_t delivered, const absl::Status& status) {}
};

}  // namespace ds::coalescer
