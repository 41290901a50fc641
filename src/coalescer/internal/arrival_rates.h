// ArrivalRates: how often each key is requested, for the hot-key linger. An
// exponential average of the gap between consecutive requests for a key.
//
// Bounded: at most `capacity` keys; when full, the map is cleared (the keys
// that matter are back after two requests). Not thread-safe: the flight table
// keeps one per shard and uses it under the shard's mutex.
#pragma once

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ds::coalescer::internal {

class ArrivalRates {
 public:
  explicit ArrivalRates(size_t capacity) : capacity_(capacity) {}

  // Records a request for `key` at `now`. Returns the key's arrival rate in
  // requests per second including this one, or 0 when it is unknown (the
  // first request seen for the key).
  double OnArrival(absl::string_view key, absl::Time now);

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    absl::Time last;
    double mean_gap_seconds = -1;  // < 0: one arrival seen so far
  };

  const size_t capacity_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace ds::coalescer::internal
