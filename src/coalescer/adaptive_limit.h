// AdaptiveConcurrencyLimit: how many store queries a node should run at once,
// learned from the queries' own latency (a latency gradient, in the spirit of
// Netflix's concurrency-limits "Gradient2"), plus the latency estimate that
// deadline-aware admission compares a caller's remaining time with.
//
// The idea: a store that is not overloaded answers in about its no-load time;
// once queries queue inside it, latency grows while throughput does not. Two
// exponential averages of attempt latency are kept, a long one (the baseline)
// and a short one (now). Their ratio is the gradient:
//   gradient  = clamp(tolerance * long / short, 0.5, 1)
//   new_limit = limit * gradient + sqrt(limit)       (headroom to probe upward)
//   limit     = (1 - smoothing) * limit + smoothing * new_limit, in [min, max]
// While latency stays within `tolerance` of the baseline the limit grows by
// about sqrt(limit) per sample; when queries start to queue it shrinks in
// proportion. The limit grows only while the node actually uses at least half
// of it (no growth from idle samples). A dropped attempt (the store timed out
// or refused: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE) cuts the
// limit by `drop_factor` at once. When the short average has been far above
// the baseline for a while, the baseline drifts up (a store that got slower
// for good is the new normal, not overload forever).
//
// Usage (the coalescer does this; the node reads limit() for a gauge):
//   AdaptiveConcurrencyLimit limit({.enabled = true});
//   if (active_queries >= limit.limit()) Refuse();
//   ... when the attempt answers:
//   limit.OnSample(took, /*inflight=*/active_queries_at_start, /*dropped=*/false);
//
// Thread-safe: OnSample takes a mutex (one per store attempt); limit() and
// expected_latency() are lock-free reads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace ds::coalescer {

struct AdaptiveLimitOptions {
  bool enabled = false;  // off: limit() is max_limit, only the fixed caps apply
  double initial_limit = 32;
  double min_limit = 4;
  double max_limit = 1'024;
  double smoothing = 0.2;
  double tolerance = 1.5;    // latency up to 1.5x the baseline is not overload
  double drop_factor = 0.9;  // a dropped attempt multiplies the limit by this
  int long_window = 600;     // samples in the baseline's average
  int short_window = 10;     // samples in the current average
};

class AdaptiveConcurrencyLimit {
 public:
  explicit AdaptiveConcurrencyLimit(AdaptiveLimitOptions options);

  // The current limit on concurrent store queries (max_limit when disabled).
  size_t limit() const { return limit_.load(std::memory_order_relaxed); }
  // Recent store latency (the short average; zero before the first sample).
  absl::Duration expected_latency() const {
    return absl::Nanoseconds(short_ns_.load(std::memory_order_relaxed));
  }

  // One store attempt answered after `took`; `inflight` queries were running
  // when it started (itself included); `dropped` if the store timed out or
  // refused it.
  void OnSample(absl::Duration took, size_t inflight, bool dropped);

 private:
  const AdaptiveLimitOptions options_;
  Mutex mu_;
  double estimate_ ABSL_GUARDED_BY(mu_);
  double long_rtt_ ABSL_GUARDED_BY(mu_) = 0;   // seconds
  double short_rtt_ ABSL_GUARDED_BY(mu_) = 0;  // seconds
  int64_t samples_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<size_t> limit_;
  std::atomic<int64_t> short_ns_{0};
};

}  // namespace ds::coalescer
