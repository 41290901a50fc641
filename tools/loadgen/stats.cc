#include "tools/loadgen/stats.h"

#include <algorithm>
#include <cmath>

namespace ds::loadgen {

int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  p = std::clamp(p, 0.0, 1.0);
  // Ceil with a small tolerance: 0.99 * 100 is 98.99999999999999 in binary.
  double rank = std::ceil(p * static_cast<double>(sorted.size()) - 1e-9);
  size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

LatencySummary SummarizeLatencies(std::vector<int64_t>& latencies_ns) {
  LatencySummary s;
  s.count = static_cast<int64_t>(latencies_ns.size());
  if (latencies_ns.empty()) return s;
  std::sort(latencies_ns.begin(), latencies_ns.end());
  long double total = 0;
  for (int64_t v : latencies_ns) total += v;
  s.min = absl::Nanoseconds(latencies_ns.front());
  s.max = absl::Nanoseconds(latencies_ns.back());
  s.mean = absl::Nanoseconds(static_cast<int64_t>(total / latencies_ns.size()));
  s.p50 = absl::Nanoseconds(Percentile(latencies_ns, 0.50));
  s.p90 = absl::Nanoseconds(Percentile(latencies_ns, 0.90));
  s.p99 = absl::Nanoseconds(Percentile(latencies_ns, 0.99));
  s.p999 = absl::Nanoseconds(Percentile(latencies_ns, 0.999));
  return s;
}

int64_t IdealQueriesForKey(std::vector<int64_t>& arrivals, int64_t query_time) {
  std::sort(arrivals.begin(), arrivals.end());
  int64_t queries = 0;
  size_t i = 0;
  while (i < arrivals.size()) {
    const int64_t start = arrivals[i];
    ++queries;
    ++i;  // the arrival that starts the query is always covered
    while (i < arrivals.size() && arrivals[i] - start < query_time) ++i;
  }
  return queries;
}

std::vector<std::vector<int64_t>> IdealStarts(std::vector<std::vector<int64_t>>& arrivals_by_key,
                                              absl::Duration window) {
  const int64_t w = absl::ToInt64Nanoseconds(window);
  std::vector<std::vector<int64_t>> starts(arrivals_by_key.size());
  for (size_t k = 0; k < arrivals_by_key.size(); ++k) {
    std::vector<int64_t>& arrivals = arrivals_by_key[k];
    std::sort(arrivals.begin(), arrivals.end());
    size_t i = 0;
    while (i < arrivals.size()) {
      const int64_t start = arrivals[i];
      starts[k].push_back(start);
      ++i;
      while (i < arrivals.size() && arrivals[i] - start < w) ++i;
    }
  }
  return starts;
}

int64_t IdealQueries(std::vector<std::vector<int64_t>>& arrivals_by_key,
                     absl::Duration query_time) {
  const int64_t q = absl::ToInt64Nanoseconds(query_time);
  int64_t total = 0;
  for (auto& arrivals : arrivals_by_key) total += IdealQueriesForKey(arrivals, q);
  return total;
}

}  // namespace ds::loadgen
