// A small parser for the Prometheus text exposition format (0.0.4), enough to
// read the counters a Data Services node exports on GET /metrics and sum them
// over label sets. ds-loadgen scrapes every node before and after a run and
// reports the differences; tests read metrics through it too (SumMetric in
// testing/process.h). Its own library, ds_prometheus_text.
//
// Usage:
//   absl::StatusOr<MetricFamilySamples> samples = ParsePrometheusText(body);
//   double reads = SumMetric(*samples, "ds_store_queries_total",
//                            {{"method", "GetMessages"}});
//   double all = SumMetric(*samples, "ds_requests_total");  // every label set
//
// Supported: comments (# HELP / # TYPE / others, ignored), samples with or
// without labels, escaped label values (\\, \", \n), optional timestamps,
// NaN / +Inf / -Inf values, blank lines, CRLF line ends.
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ds::loadgen {

struct PrometheusSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

using MetricFamilySamples = std::vector<PrometheusSample>;

// Parses one sample line (not blank, not a comment; surrounding white space
// already stripped). INVALID_ARGUMENT quoting the line when it is malformed.
absl::StatusOr<PrometheusSample> ParsePrometheusSample(absl::string_view line);

// Parses a whole exposition. Returns INVALID_ARGUMENT naming the line number
// for a malformed sample line (bad name, unterminated label value, missing or
// non-numeric value).
absl::StatusOr<MetricFamilySamples> ParsePrometheusText(absl::string_view text);

// Sum of `name`'s samples whose labels include every pair in `match` (an
// empty `match` sums every label set). 0 when nothing matches.
double SumMetric(const MetricFamilySamples& samples, absl::string_view name,
                 const std::map<std::string, std::string>& match = {});

// Sum of `name`'s samples whose value for label `label` satisfies `keep`.
// Samples without that label are passed to `keep` as "".
template <typename Pred>
double SumMetricIf(const MetricFamilySamples& samples, absl::string_view name,
                   absl::string_view label, Pred keep) {
  double sum = 0;
  for (const PrometheusSample& s : samples) {
    if (s.name != name) continue;
    auto it = s.labels.find(std::string(label));
    if (keep(it == s.labels.end() ? std::string() : it->second)) sum += s.value;
  }
  return sum;
}

// Sum of `name` per value of label `label` ("" for samples without it).
std::map<std::string, double> SumMetricByLabel(const MetricFamilySamples& samples,
                                               absl::string_view name, absl::string_view label);

}  // namespace ds::loadgen
