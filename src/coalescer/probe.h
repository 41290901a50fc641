// CoalescerProbe: the coalescer's named events, for metrics and tests.
// Business code calls these; registration of real metrics lives in the
// implementation (node/node_metrics.h). Every method has an empty default.
//
// Threads: called from any thread, with no coalescer lock held, concurrently;
// implementations must be thread-safe and cheap (no I/O).
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ds::coalescer {

// Which API method a request belongs to, as a label for the probe. The
// coalescer only passes it through (the coalescing key already separates
// methods); the node defines the values (node/node_metrics.h), densely from 0.
enum class MethodId : uint8_t {};

enum class Role { kLeader, kJoiner };
enum class RejectReason {
  kFlightFull,
  kTotalWaiters,
  kConcurrentQueries,
  kAdaptiveLimit,     // the adaptive concurrency limit, below max_concurrent_queries
  kDeadlineTooShort,  // deadline-aware admission: less time left than a query takes
};
inline constexpr int kRejectReasonCount = 5;

inline const char* RoleName(Role r) { return r == Role::kLeader ? "leader" : "joiner"; }
inline const char* RejectReasonName(RejectReason r) {
  switch (r) {
    case RejectReason::kFlightFull:
      return "flight_full";
    case RejectReason::kTotalWaiters:
      return "total_waiters";
    case RejectReason::kConcurrentQueries:
      return "concurrent_queries";
    case RejectReason::kAdaptiveLimit:
      return "adaptive_limit";
    case RejectReason::kDeadlineTooShort:
      return "deadline_too_short";
  }
  return "unknown";
}

class CoalescerProbe {
 public:
  virtual ~CoalescerProbe() = default;
  // A request started a new flight.
  virtual void OnLeader(MethodId method) {}
  // A request joined a running flight (a coalesced request).
  virtual void OnJoin(MethodId method) {}
  virtual void OnRejected(MethodId method, RejectReason reason) {}
  // A store call is about to be issued (attempt 0 is the first).
  virtual void OnStoreAttempt(MethodId method, int attempt) {}
  virtual void OnStoreResult(MethodId method, absl::Duration took, const absl::Status& status) {}
  virtual void OnRetry(MethodId method) {}
  // An attempt sized for a waiter that has left timed out, and was issued
  // again for a waiter with a later deadline: not a failed attempt, no retry.
  virtual void OnReissue(MethodId method) {}
  // A new flight waits `linger` for joiners before its first query.
  virtual void OnLinger(MethodId method, absl::Duration linger) {}
  // A waiter left before its answer (deadline or cancellation).
  virtual void OnLeft(MethodId method, Role role) {}
  virtual void OnDelivered(MethodId method, Role role, absl::Duration waited) {}
  // A flight ended; `delivered` waiters received its result.
  virtual void OnFlightDone(MethodId method, size_t delivered, const absl::Status& status) {}
};

}  // namespace ds::coalescer
