#include "routing/latency_window.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace ds::routing {
namespace {

constexpr int64_t kMaxMicros = (int64_t{1} << 31) - 1;

}  // namespace

LatencyWindow::LatencyWindow(int generation_size)
    : generation_size_(std::max(1, generation_size)) {}

int LatencyWindow::BucketOf(int64_t micros) {
  micros = std::clamp<int64_t>(micros, 0, kMaxMicros);
  if (micros < 16) return static_cast<int>(micros);
  const int exponent = std::bit_width(static_cast<uint64_t>(micros)) - 1;  // 4..30
  const int sub = static_cast<int>((micros >> (exponent - 3)) & 7);
  return 16 + (exponent - 4) * 8 + sub;
}

int64_t LatencyWindow::UpperBoundMicros(int bucket) {
  if (bucket < 16) return bucket;
  const int exponent = 4 + (bucket - 16) / 8;
  const int sub = (bucket - 16) % 8;
  // Bucket covers [(8 + sub) << (exponent - 3), (9 + sub) << (exponent - 3)).
  return ((int64_t{9} + sub) << (exponent - 3)) - 1;
}

void LatencyWindow::Record(absl::Duration latency) {
  const int bucket = BucketOf(absl::ToInt64Microseconds(latency));
  if (current_count_ >= generation_size_) {
    previous_ = current_;
    previous_count_ = current_count_;
    current_.fill(0);
    current_count_ = 0;
  }
  ++current_[bucket];
  ++current_count_;
}

absl::Duration LatencyWindow::Quantile(double q) const {
  const int total = count();
  if (total == 0) return absl::ZeroDuration();
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the sample sought, 1-based: at least one sample.
  const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * total)));
  int64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += current_[b] + previous_[b];
    if (seen >= rank) return absl::Microseconds(UpperBoundMicros(b));
  }
  return absl::Microseconds(UpperBoundMicros(kBuckets - 1));
}

void LatencyWindow::Clear() {
  current_.fill(0);
  previous_.fill(0);
  current_count_ = 0;
  previous_count_ = 0;
}

}  // namespace ds::routing
