// LatencyWindow: the recent latency distribution of one stream of calls, for
// decisions that follow observed latency (hedge delay, per-attempt timeout,
// outlier detection).
//
// Samples go into a log-linear histogram (microseconds; 8 sub-buckets per
// power of two, so a quantile is over-estimated by at most 12.5 %). The window
// slides by whole generations: samples go into the current generation; when it
// holds `generation_size` samples it becomes the previous one and the old
// previous one is dropped. Quantiles are taken over both, i.e. over the last
// `generation_size` to `2 * generation_size` samples — recent enough to follow
// a change within a few hundred calls, long enough for a stable p99.
//
// Usage:
//   LatencyWindow window(/*generation_size=*/512);
//   window.Record(absl::Microseconds(850));
//   if (window.count() >= 50) hedge_after = window.Quantile(0.95);
//
// Threads: not thread-safe (callers guard it). Knows no clock: time enters
// only as the recorded durations, so tests are exact.
#pragma once

#include <array>
#include <cstdint>

#include "absl/time/time.h"

namespace ds::routing {

class LatencyWindow {
 public:
  // A generation size below 1 is treated as 1.
  explicit LatencyWindow(int generation_size = 512);

  // Negative durations count as zero; durations beyond ~18 minutes as ~18
  // minutes.
  void Record(absl::Duration latency);

  // Samples in the window (previous + current generation).
  int count() const { return previous_count_ + current_count_; }

  // The smallest bucket upper bound at or below which at least a fraction `q`
  // (clamped to [0, 1]) of the window's samples lie; ZeroDuration() if the
  // window is empty.
  absl::Duration Quantile(double q) const;

  // Forgets every sample (e.g. after a node was ejected).
  void Clear();

  // Bucket helpers, public for tests.
  static int BucketOf(int64_t micros);
  static int64_t UpperBoundMicros(int bucket);
  static constexpr int kBuckets = 16 + 27 * 8;  // exact below 16 µs, then 2^4..2^30 µs

 private:
  int generation_size_;
  std::array<uint32_t, kBuckets> current_{};
  std::array<uint32_t, kBuckets> previous_{};
  int current_count_ = 0;
  int previous_count_ = 0;
};

}  // namespace ds::routing
