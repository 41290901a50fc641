// Node-side figures of a run: how many requests the data-service nodes saw
// and how many store queries they executed, taken from the nodes' own
// metrics — never computed by the client — as the difference between a
// snapshot before and after the run.
//
// Two sources:
//   * Prometheus: GET http://HOST:ADMIN/metrics on every node (metric names
//     below), scraped before and after; the report uses the deltas.
//   * Reference API: messages.MessagesService/getAndResetMetrics on every
//     node (see grpc_targets.h), reset before and read after the run.
//
// Usage:
//   std::unique_ptr<MetricsSource> m = MakePrometheusMetricsSource(urls, absl::Seconds(5));
//   if (absl::Status s = m->Begin(); !s.ok()) ...
//   ... run ...
//   absl::StatusOr<NodeCounters> delta = m->End();
//
// Thread-safety: a MetricsSource is used from one thread; the free functions
// are pure (HttpGet blocks its caller only).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/loadgen/prometheus_text.h"

namespace ds::loadgen {

// Metric names exported by a data-service node.
inline constexpr char kRequestsMetric[] = "ds_requests_total";             // {method}
inline constexpr char kStoreQueriesMetric[] = "ds_store_queries_total";    // {method}
inline constexpr char kCoalescedMetric[] = "ds_coalesced_requests_total";  // {method}
inline constexpr char kQuerySecondsSum[] = "ds_store_query_seconds_sum";   // {method}
inline constexpr char kQuerySecondsCount[] = "ds_store_query_seconds_count";
inline constexpr char kRejectedMetric[] = "ds_rejected_total";  // {reason}
// Exported by ds-gateway (scrape http://GATEWAY/metrics with the nodes).
inline constexpr char kGatewayUpstreamCalls[] = "ds_gateway_upstream_calls_total";  // {route}
inline constexpr char kGatewayCoalesced[] = "ds_gateway_coalesced_requests_total";  // {route,level}
inline constexpr char kGatewayUpstreamSecondsSum[] = "ds_gateway_upstream_seconds_sum";  // {route}
inline constexpr char kGatewayUpstreamSecondsCount[] = "ds_gateway_upstream_seconds_count";

struct NodeCounters {
  double requests = 0;            // every method
  double store_queries = 0;       // every method
  double read_store_queries = 0;  // methods that are not writes
  double coalesced = 0;
  // Store query time of reads (of every method if no read has any).
  double query_seconds_sum = 0;
  double query_seconds_count = 0;
  std::map<std::string, double> rejected_by_reason;
  bool has_query_time = false;  // false for the reference API (it has none)
  bool has_coalesced = false;   // coalesced/rejected known (not from the reference API)
  // Gateway level (when a gateway's metrics were scraped too).
  bool has_gateway = false;
  double gateway_read_calls = 0;        // upstream calls for reads: one per gateway flight
  double gateway_coalesced = 0;         // reads that joined a flight at the gateway
  double gateway_call_seconds_sum = 0;  // upstream call time of reads
  double gateway_call_seconds_count = 0;
};

// True for a `method` label value naming a write (SendMessage, any case).
bool IsWriteMethodLabel(const std::string& method);

// Totals of one scrape (one or several nodes' samples together).
NodeCounters CountersFromSamples(const MetricFamilySamples& samples);

// after - before, field by field (rejections by reason too).
NodeCounters SubtractCounters(const NodeCounters& after, const NodeCounters& before);

class MetricsSource {
 public:
  virtual ~MetricsSource() = default;
  // Before the run: takes the baseline (or resets the counters).
  virtual absl::Status Begin() = 0;
  // After the run: the node-side counters accumulated since Begin().
  virtual absl::StatusOr<NodeCounters> End() = 0;
};

// Scrapes each URL ("http://host:port/metrics", or "host:port", which means
// http://host:port/metrics). Fails (UNAVAILABLE / INVALID_ARGUMENT naming the
// URL) when any node cannot be scraped or parsed: partial sums would mislead.
std::unique_ptr<MetricsSource> MakePrometheusMetricsSource(std::vector<std::string> urls,
                                                           absl::Duration timeout);

// HTTP/1.1 GET of `url` (http only); returns the body of a 200 answer.
// INVALID_ARGUMENT for a malformed URL, UNAVAILABLE for connection errors and
// non-200 answers, DEADLINE_EXCEEDED after `timeout`.
absl::StatusOr<std::string> HttpGet(const std::string& url, absl::Duration timeout);

struct HttpUrl {
  std::string host;
  std::string port;
  std::string target;  // path and query, starts with '/'
};
// Parses "http://host:port/path", "host:port/path" or "host:port" (path
// defaults to /metrics). IPv6 hosts in brackets: "[::1]:9100".
absl::StatusOr<HttpUrl> ParseHttpUrl(const std::string& url);

}  // namespace ds::loadgen
