// The arithmetic of a ds-loadgen report: latency percentiles and the
// "ideal queries" simulation that says how many store queries perfect
// coalescing would have needed for the arrivals this run actually produced.
//
// Usage:
//   LatencySummary lat = SummarizeLatencies(latencies_ns);   // p50 ... p999
//   int64_t ideal = IdealQueries(arrivals_by_key, absl::Milliseconds(2));
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace ds::loadgen {

// Nearest-rank percentile of ascending `sorted` for p in [0, 1]: the smallest
// value v such that at least p of the samples are <= v, i.e.
// sorted[ceil(p * n) - 1] (sorted[0] for p == 0). 0 for an empty vector.
int64_t Percentile(const std::vector<int64_t>& sorted, double p);

struct LatencySummary {
  int64_t count = 0;
  absl::Duration min, mean, max;
  absl::Duration p50, p90, p99, p999;
};

// Sorts `latencies_ns` in place and summarises it.
LatencySummary SummarizeLatencies(std::vector<int64_t>& latencies_ns);

// The ideal number of store queries for one key, under the coalescing model
// where every request arriving while an identical query runs joins it.
// Greedy over ascending `arrivals` (any time unit, same as `query_time`): a
// query starts at the first arrival not yet covered, at t, and covers every
// arrival in [t, t + query_time). The starting arrival is always covered, so a
// zero query time gives one query per arrival. Sorts `arrivals` in place.
int64_t IdealQueriesForKey(std::vector<int64_t>& arrivals, int64_t query_time);

// Sum of IdealQueriesForKey over keys; arrivals and query time in nanoseconds.
int64_t IdealQueries(std::vector<std::vector<int64_t>>& arrivals_by_key, absl::Duration query_time);

// The start times of those ideal queries, per key (each key's arrivals sorted
// in place). Two coalescing levels chain: the ideal upstream calls of a
// gateway (window: one upstream call) are the arrivals of the node level
// (window: one store query).
std::vector<std::vector<int64_t>> IdealStarts(std::vector<std::vector<int64_t>>& arrivals_by_key,
                                              absl::Duration window);

}  // namespace ds::loadgen
