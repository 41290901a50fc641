#include "coalescer/internal/arrival_rates.h"

#include <algorithm>

namespace ds::coalescer::internal {
namespace {
// Weight of the newest gap: the estimate follows a change within a few requests.
constexpr double kAlpha = 0.25;
}  // namespace

double ArrivalRates::OnArrival(absl::string_view key, absl::Time now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= capacity_) entries_.clear();
    entries_.emplace(std::string(key), Entry{now});
    return 0;
  }
  Entry& e = it->second;
  // Simultaneous arrivals count as 1 µs apart: the rate stays finite.
  const double gap = std::max(absl::ToDoubleSeconds(now - e.last), 1e-6);
  e.last = std::max(e.last, now);
  e.mean_gap_seconds =
      e.mean_gap_seconds < 0 ? gap : e.mean_gap_seconds + kAlpha * (gap - e.mean_gap_seconds);
  return 1.0 / e.mean_gap_seconds;
}

}  // namespace ds::coalescer::internal
