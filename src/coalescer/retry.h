// Retry policy for store queries inside a flight: which statuses are worth
// another attempt, how long to back off (exponential with jitter), and a
// node-wide retry budget so that a struggling database is not hit with a
// multiple of its normal load.
//
// Usage:
//   RetryBudget budget(RetryOptions{});
//   if (IsRetryable(status) && attempt + 1 < opts.max_attempts && budget.TryWithdraw()) {
//     timer.RunAfter(BackoffFor(opts, attempt, rand01()), retry);
//   }
//
// RetryBudget is thread-safe.
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace ds::coalescer {

struct RetryOptions {
  int max_attempts = 3;  // including the first; 1 disables retries
  absl::Duration initial_backoff = absl::Milliseconds(2);
  absl::Duration max_backoff = absl::Milliseconds(100);
  double multiplier = 2.0;
  double jitter = 0.2;  // +-20% of the backoff, uniformly
  // Token bucket: each retry costs one token; each successful flight refunds
  // `budget_refund`. Starting and maximum balance: `budget_tokens`. With the
  // defaults, sustained retries are capped at ~10% of successful queries.
  double budget_tokens = 100;
  double budget_refund = 0.1;
};

// Transient store outcomes worth another attempt: UNAVAILABLE and ABORTED.
// DEADLINE_EXCEEDED is not among them: a retry cannot make a slow store fast.
// The coalescer re-issues a timed-out attempt only for a waiter whose own
// deadline is later than the attempt's (coalescer.h, points 3 and 5).
bool IsRetryable(const absl::Status& status);

// Backoff before attempt `attempt + 1` (attempt counts from 0); `uniform01`
// is a random number in [0, 1) supplied by the caller (injectable).
absl::Duration BackoffFor(const RetryOptions& options, int attempt, double uniform01);

class RetryBudget {
 public:
  explicit RetryBudget(const RetryOptions& options);
  // Takes one token; false (and no change) if fewer than one is left.
  bool TryWithdraw();
  void OnSuccess();
  double balance() const;

 private:
  const double max_;
  const double refund_;
  mutable Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ds::coalescer
