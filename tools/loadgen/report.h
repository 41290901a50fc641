// Report: every figure of a ds-loadgen run, computed once from the client's
// records and the nodes' own counters, then rendered either as the reference
// client's log lines (plus ours) or as one JSON object.
//
// Usage:
//   Report r = BuildReport(config, result, metrics);   // metrics: the nodes' deltas
//   std::cout << RenderText(r, absl::Now(), absl::LocalTimeZone(), config.quiet);
//   std::cout << RenderJson(r) << "\n";
//
// Rules: "Total requests" and "Total queries executed" are the nodes' numbers
// (metrics deltas or getAndResetMetrics), never the client's arithmetic; when
// no node metrics are available "Total requests" falls back to the client's
// issued count and the query figures print "n/a".
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/loadgen/config.h"
#include "tools/loadgen/node_metrics.h"
#include "tools/loadgen/runner.h"
#include "tools/loadgen/stats.h"

namespace ds::loadgen {

// Where the node-side figures came from.
enum class MetricsOrigin { kPrometheus, kReferenceApi, kDisabled, kFailed };

struct NodeMetricsResult {
  MetricsOrigin origin = MetricsOrigin::kDisabled;
  NodeCounters counters;  // valid for kPrometheus and kReferenceApi
  std::string error;      // kFailed: why
};

struct Report {
  // Configuration echo.
  std::string mode, target, keys, read_method, policy;
  int64_t channels = 0;
  double write_ratio = 0;
  uint64_t seed = 0;

  // The reference client's four lines.
  int64_t unique_requests = 0;  // distinct read keys issued
  bool have_node_counts = false;
  int64_t total_requests = 0;    // the nodes' count (client's issued if !have_node_counts)
  int64_t queries_executed = 0;  // the nodes' store queries; valid if have_node_counts
  double average_queries_per_request = 0;
  int64_t saved_queries = 0;
  absl::Duration total_time;

  // Client side.
  int64_t issued = 0, completed = 0, ok = 0, failed = 0, unfinished = 0;
  int64_t reads = 0, writes = 0;
  LatencySummary latency;
  double throughput_rps = 0;                          // completed / total_time
  std::map<std::string, int64_t> errors;              // by status code
  std::map<std::string, std::string> error_examples;  // first message per code
  absl::Duration arrival_window;
  // "node" when every read reported its node arrival time (x-ds-arrived-us),
  // else "client" (send times). The ideal-queries figure uses the same source.
  std::string arrival_source = "client";

  // Node side.
  std::string metrics_origin;  // "prometheus", "reference", "disabled", "failed"
  std::string metrics_error;
  int64_t node_requests = 0;  // requests the nodes saw (through a gateway: its calls)
  int64_t node_read_queries = 0;
  std::optional<int64_t> node_coalesced;  // unknown from the reference API alone
  std::map<std::string, int64_t> node_rejected;
  std::optional<absl::Duration> mean_query_time;
  std::string query_time_source;  // "nodes" or "flag"
  std::optional<int64_t> ideal_queries;
  std::optional<double> measured_ideal_ratio;  // node read queries / ideal

  // Gateway level (a gateway's metrics were scraped with the nodes'). Then
  // "Total requests" counts the client's requests, and the ideal has two
  // levels: the gateway's upstream calls over the arrivals it saw, then the
  // nodes' store queries over those calls.
  bool have_gateway = false;
  int64_t gateway_upstream_calls = 0;  // for reads: one per gateway flight
  int64_t gateway_coalesced = 0;       // reads that joined a gateway flight
  std::optional<absl::Duration> mean_upstream_time;
  std::optional<int64_t> ideal_upstream_calls;
  std::optional<double> gateway_ideal_ratio;  // upstream calls / ideal
};

// config.query_time_ms (when >= 0) replaces the nodes' mean store query time
// in the ideal simulation, which replays the issue times of every completed
// read, per key.
Report BuildReport(const LoadgenConfig& config, const RunResult& result,
                   const NodeMetricsResult& metrics);

// The reference's four lines, then ours (unless `quiet`), each with Go's log
// prefix for time `now` in `tz`; every line ends with '\n'.
std::string RenderText(const Report& report, absl::Time now, absl::TimeZone tz, bool quiet);

// One JSON object (single line, no trailing newline) with every figure;
// durations in milliseconds (fields ending _ms), unavailable figures null.
std::string RenderJson(const Report& report);

}  // namespace ds::loadgen
