#include "coalescer/adaptive_limit.h"

#include <algorithm>
#include <cmath>

namespace ds::coalescer {

AdaptiveConcurrencyLimit::AdaptiveConcurrencyLimit(AdaptiveLimitOptions options)
    : options_(options),
      estimate_(std::clamp(options.initial_limit, options.min_limit, options.max_limit)),
      limit_(static_cast<size_t>(options.enabled ? estimate_ : options.max_limit)) {}

void AdaptiveConcurrencyLimit::OnSample(absl::Duration took, size_t inflight, bool dropped) {
  const double rtt = std::max(absl::ToDoubleSeconds(took), 1e-6);
  MutexLock lock(mu_);
  ++samples_;
  if (samples_ == 1) {
    long_rtt_ = short_rtt_ = rtt;
  } else {
    // Until the long window has filled, the baseline is the plain mean.
    const double long_alpha =
        std::max(2.0 / (options_.long_window + 1), 1.0 / static_cast<double>(samples_));
    long_rtt_ += long_alpha * (rtt - long_rtt_);
    short_rtt_ += 2.0 / (options_.short_window + 1) * (rtt - short_rtt_);
  }
  // Latency fell far below the baseline: the baseline is stale, let it go.
  if (long_rtt_ > 2 * short_rtt_) long_rtt_ *= 0.95;
  short_ns_.store(static_cast<int64_t>(short_rtt_ * 1e9), std::memory_order_relaxed);
  if (!options_.enabled) return;

  double limit = estimate_;
  if (dropped) {
    limit *= options_.drop_factor;
  } else if (static_cast<double>(inflight) * 2 >= limit) {
    const double gradient = std::clamp(options_.tolerance * long_rtt_ / short_rtt_, 0.5, 1.0);
    const double target = limit * gradient + std::sqrt(limit);
    limit = (1 - options_.smoothing) * limit + options_.smoothing * target;
  }
  estimate_ = std::clamp(limit, options_.min_limit, options_.max_limit);
  limit_.store(static_cast<size_t>(estimate_), std::memory_order_relaxed);
}

}  // namespace ds::coalescer
