#include "tools/loadgen/report.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tools/loadgen/go_format.h"

namespace ds::loadgen {
namespace {

int64_t Round(double v) { return static_cast<int64_t>(std::llround(v)); }

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

std::string FormatMs(absl::Duration d) { return absl::StrFormat("%.3fms", Ms(d)); }

std::string OriginName(MetricsOrigin o) {
  switch (o) {
    case MetricsOrigin::kPrometheus:
      return "prometheus";
    case MetricsOrigin::kReferenceApi:
      return "reference";
    case MetricsOrigin::kDisabled:
      return "disabled";
    case MetricsOrigin::kFailed:
      return "failed";
  }
  return "?";
}

// The client side of the report; returns each read key's arrival times (ns
// from the first), as the nodes saw them where they say.
std::vector<std::vector<int64_t>> AddClientSide(const LoadgenConfig& config,
                                                const RunResult& result, Report& r) {
  r.issued = result.issued;
  r.completed = static_cast<int64_t>(result.records.size());
  r.unfinished = result.unfinished;
  r.total_time = result.elapsed;
  r.arrival_window = result.arrival_window;
  std::vector<int64_t> latencies;
  latencies.reserve(result.records.size());
  std::vector<std::vector<int64_t>> arrivals(result.read_keys.size());
  for (const RequestRecord& rec : result.records) {
    latencies.push_back(rec.latency_ns);
    if (rec.code == 0) {
      ++r.ok;
    } else {
      ++r.failed;
      ++r.errors[result.codes[rec.code]];
    }
    if (rec.key >= 0) {
      ++r.reads;
      arrivals[static_cast<size_t>(rec.key)].push_back(rec.issue_ns);
    } else {
      ++r.writes;
    }
  }
  if (r.unfinished > 0) r.errors["UNFINISHED"] += r.unfinished;
  // Prefer the arrivals the nodes saw: requests queue between our send and the
  // coalescer, so send times misstate which requests overlapped a query.
  bool node_times = r.reads > 0;
  int64_t first_us = 0, last_us = 0;
  for (const RequestRecord& rec : result.records) {
    if (rec.key < 0) continue;
    if (rec.node_arrived_us <= 0) {
      node_times = false;
      break;
    }
    first_us = first_us == 0 ? rec.node_arrived_us : std::min(first_us, rec.node_arrived_us);
    last_us = std::max(last_us, rec.node_arrived_us);
  }
  if (node_times) {
    r.arrival_source = config.target == TargetKind::kGateway ? "gateway" : "node";
    r.arrival_window = absl::Microseconds(last_us - first_us);
    for (auto& key_arrivals : arrivals) key_arrivals.clear();
    for (const RequestRecord& rec : result.records) {
      if (rec.key >= 0) {
        arrivals[static_cast<size_t>(rec.key)].push_back((rec.node_arrived_us - first_us) * 1000);
      }
    }
  }
  for (const auto& [code, count] : r.errors) {
    auto it = result.first_error_message.find(code);
    if (it != result.first_error_message.end()) r.error_examples[code] = it->second;
  }
  r.latency = SummarizeLatencies(latencies);
  const double seconds = absl::ToDoubleSeconds(result.elapsed);
  r.throughput_rps = seconds > 0 ? static_cast<double>(r.completed) / seconds : 0;
  r.unique_requests = static_cast<int64_t>(result.read_keys.size());

  return arrivals;
}

// The node side: counts from the nodes' metrics (and the gateway's).
void AddNodeSide(const LoadgenConfig& config, const NodeMetricsResult& metrics, Report& r) {
  r.metrics_origin = OriginName(metrics.origin);
  r.metrics_error = metrics.error;
  r.have_node_counts = metrics.origin == MetricsOrigin::kPrometheus ||
                       metrics.origin == MetricsOrigin::kReferenceApi;
  const NodeCounters& c = metrics.counters;
  if (r.have_node_counts) {
    r.total_requests = Round(c.requests);
    r.queries_executed = Round(c.store_queries);
    r.node_read_queries = Round(c.read_store_queries);
    r.node_requests = Round(c.requests);
    if (c.has_coalesced) r.node_coalesced = Round(c.coalesced);
    for (const auto& [reason, v] : c.rejected_by_reason) r.node_rejected[reason] = Round(v);
    // Go divides floats: 0/0 is NaN and prints "NaN", as the reference would.
    r.average_queries_per_request =
        static_cast<double>(r.queries_executed) / static_cast<double>(r.total_requests);
    r.saved_queries = r.total_requests - r.queries_executed;
  } else {
    r.total_requests = r.issued;
  }
  if (config.query_time_ms >= 0) {
    r.mean_query_time = absl::Microseconds(std::llround(config.query_time_ms * 1000));
    r.query_time_source = "flag";
  } else if (r.have_node_counts && c.has_query_time && c.query_seconds_count > 0) {
    r.mean_query_time = absl::Seconds(c.query_seconds_sum / c.query_seconds_count);
    r.query_time_source = "nodes";
  }
  if (r.have_node_counts && c.has_gateway) {
    // Through a gateway the nodes only see its upstream calls: the requests
    // that count are the client's, and coalescing happened at two levels.
    r.have_gateway = true;
    r.total_requests = r.issued;
    r.saved_queries = r.total_requests - r.queries_executed;
    r.average_queries_per_request =
        static_cast<double>(r.queries_executed) / static_cast<double>(r.total_requests);
    r.gateway_upstream_calls = Round(c.gateway_read_calls);
    r.gateway_coalesced = Round(c.gateway_coalesced);
    if (c.gateway_call_seconds_count > 0) {
      r.mean_upstream_time =
          absl::Seconds(c.gateway_call_seconds_sum / c.gateway_call_seconds_count);
    }
  }
}

// The ideal number of upstream calls and store queries for these arrivals.
void AddIdeal(std::vector<std::vector<int64_t>> arrivals, Report& r) {
  if (r.mean_upstream_time.has_value()) {
    std::vector<std::vector<int64_t>> calls = IdealStarts(arrivals, *r.mean_upstream_time);
    int64_t n = 0;
    for (const auto& key_calls : calls) n += static_cast<int64_t>(key_calls.size());
    r.ideal_upstream_calls = n;
    if (n > 0) {
      r.gateway_ideal_ratio =
          static_cast<double>(r.gateway_upstream_calls) / static_cast<double>(n);
    }
    arrivals = std::move(calls);  // the node level sees the gateway's calls
  }
  if (r.mean_query_time.has_value()) {
    r.ideal_queries = IdealQueries(arrivals, *r.mean_query_time);
    if (r.have_node_counts && *r.ideal_queries > 0) {
      r.measured_ideal_ratio =
          static_cast<double>(r.node_read_queries) / static_cast<double>(*r.ideal_queries);
    }
  }
}

}  // namespace

Report BuildReport(const LoadgenConfig& config, const RunResult& result,
                   const NodeMetricsResult& metrics) {
  Report r;
  r.mode = ModeName(config.mode);
  r.target = TargetKindName(config.target);
  r.keys = KeyDistributionName(config.keys);
  r.read_method =
      config.target == TargetKind::kReference ? "message" : ReadMethodName(config.read_method);
  r.policy = config.target == TargetKind::kNodes ? config.policy : "";
  r.channels = config.channels;
  r.write_ratio = config.write_ratio;
  r.seed = config.seed;

  std::vector<std::vector<int64_t>> arrivals = AddClientSide(config, result, r);
  AddNodeSide(config, metrics, r);
  AddIdeal(std::move(arrivals), r);
  return r;
}

std::string RenderText(const Report& r, absl::Time now, absl::TimeZone tz, bool quiet) {
  const std::string prefix = GoLogPrefix(now, tz);
  std::string out;
  auto line = [&](const std::string& text) { absl::StrAppend(&out, prefix, text, "\n"); };
  const std::string na = "n/a";
  line(absl::StrCat(
      "Unique requests: ", r.unique_requests, ", Total requests: ", r.total_requests,
      ", Total queries executed: ", r.have_node_counts ? absl::StrCat(r.queries_executed) : na));
  line(absl::StrCat("Average queries per request: ",
                    r.have_node_counts ? GoFormatFloat(r.average_queries_per_request) : na));
  line(absl::StrCat("Saved queries by coalescing: ",
                    r.have_node_counts ? absl::StrCat(r.saved_queries) : na));
  line(absl::StrCat("Total time taken: ", GoDurationString(r.total_time)));
  if (quiet) return out;

  const LatencySummary& l = r.latency;
  line(absl::StrCat("Latency: p50 ", FormatMs(l.p50), ", p90 ", FormatMs(l.p90), ", p99 ",
                    FormatMs(l.p99), ", p999 ", FormatMs(l.p999), " (min ", FormatMs(l.min),
                    ", mean ", FormatMs(l.mean), ", max ", FormatMs(l.max), ")"));
  line(absl::StrFormat("Throughput: %.1f req/s (%d completed in %s)", r.throughput_rps, r.completed,
                       FormatMs(r.total_time)));
  line(absl::StrCat("Requests: ", r.issued, " issued, ", r.ok, " ok, ", r.failed, " failed, ",
                    r.unfinished, " unfinished (", r.reads, " reads, ", r.writes, " writes)"));
  if (r.errors.empty()) {
    line("Errors by status: none");
  } else {
    std::vector<std::string> parts;
    for (const auto& [code, n] : r.errors) parts.push_back(absl::StrCat(code, "=", n));
    line(absl::StrCat("Errors by status: ", absl::StrJoin(parts, ", ")));
    for (const auto& [code, msg] : r.error_examples) {
      line(absl::StrCat("  first ", code, ": ", msg));
    }
  }
  if (r.have_node_counts) {
    std::vector<std::string> rejected;
    for (const auto& [reason, n] : r.node_rejected)
      rejected.push_back(absl::StrCat(reason, "=", n));
    line(absl::StrCat(
        "Node metrics (", r.metrics_origin, "): ", r.node_requests, " requests, ",
        r.queries_executed, " store queries (", r.node_read_queries, " for reads), ",
        r.node_coalesced ? absl::StrCat(*r.node_coalesced) : "n/a",
        " coalesced, rejected: ", rejected.empty() ? "none" : absl::StrJoin(rejected, ", ")));
  } else if (!r.metrics_error.empty()) {
    line(absl::StrCat("Node metrics: unavailable (", r.metrics_error, ")"));
  } else {
    line("Node metrics: disabled");
  }
  line(absl::StrCat(
      "Mean store query time: ",
      r.mean_query_time
          ? absl::StrCat(FormatMs(*r.mean_query_time),
                         r.query_time_source == "flag" ? " (from --query-time-ms)" : "")
          : na));
  line(absl::StrCat("Arrival window: ", FormatMs(r.arrival_window),
                    r.arrival_source == "node" ? " (first to last request arriving at the nodes)"
                    : r.arrival_source == "gateway"
                        ? " (first to last request arriving at the gateway)"
                        : " (first to last request issued)"));
  if (r.have_gateway) {
    line(absl::StrCat("Gateway metrics: ", r.gateway_upstream_calls,
                      " upstream calls for reads (one per gateway flight), ", r.gateway_coalesced,
                      " reads coalesced at the gateway, mean upstream call ",
                      r.mean_upstream_time ? FormatMs(*r.mean_upstream_time) : na));
  }
  if (r.ideal_upstream_calls) {
    line(absl::StrCat("Ideal upstream calls (gateway level): ", *r.ideal_upstream_calls,
                      " (measured/ideal ratio: ",
                      r.gateway_ideal_ratio ? absl::StrFormat("%.2f", *r.gateway_ideal_ratio) : na,
                      "); ideal store queries below are over those calls"));
  }
  if (r.ideal_queries) {
    line(absl::StrCat(
        "Ideal queries: ", *r.ideal_queries, " (measured/ideal ratio: ",
        r.measured_ideal_ratio ? absl::StrFormat("%.2f", *r.measured_ideal_ratio) : na, ")"));
  } else {
    line("Ideal queries: n/a (needs the mean store query time: node metrics or --query-time-ms)");
  }
  return out;
}

std::string RenderJson(const Report& r) {
  using nlohmann::json;
  auto opt_ms = [](const std::optional<absl::Duration>& d) -> json {
    return d ? json(Ms(*d)) : json(nullptr);
  };
  json j;
  j["mode"] = r.mode;
  j["target"] = r.target;
  j["keys"] = r.keys;
  j["read_method"] = r.read_method;
  j["policy"] = r.policy.empty() ? json(nullptr) : json(r.policy);
  j["channels"] = r.channels;
  j["write_ratio"] = r.write_ratio;
  j["seed"] = r.seed;

  j["unique_requests"] = r.unique_requests;
  j["total_requests"] = r.total_requests;
  j["total_queries_executed"] = r.have_node_counts ? json(r.queries_executed) : json(nullptr);
  j["average_queries_per_request"] =
      r.have_node_counts && std::isfinite(r.average_queries_per_request)
          ? json(r.average_queries_per_request)
          : json(nullptr);
  j["saved_queries"] = r.have_node_counts ? json(r.saved_queries) : json(nullptr);
  j["total_time_ms"] = Ms(r.total_time);

  j["issued"] = r.issued;
  j["completed"] = r.completed;
  j["ok"] = r.ok;
  j["failed"] = r.failed;
  j["unfinished"] = r.unfinished;
  j["reads"] = r.reads;
  j["writes"] = r.writes;
  const LatencySummary& l = r.latency;
  j["latency_ms"] = {{"p50", Ms(l.p50)},   {"p90", Ms(l.p90)}, {"p99", Ms(l.p99)},
                     {"p999", Ms(l.p999)}, {"min", Ms(l.min)}, {"mean", Ms(l.mean)},
                     {"max", Ms(l.max)}};
  j["throughput_rps"] = r.throughput_rps;
  j["errors"] = json::object();
  for (const auto& [code, n] : r.errors) j["errors"][code] = n;
  j["error_examples"] = json::object();
  for (const auto& [code, msg] : r.error_examples) j["error_examples"][code] = msg;
  j["arrival_window_ms"] = Ms(r.arrival_window);
  j["arrival_source"] = r.arrival_source;

  j["metrics_origin"] = r.metrics_origin;
  j["metrics_error"] = r.metrics_error.empty() ? json(nullptr) : json(r.metrics_error);
  if (r.have_node_counts) {
    json rejected = json::object();
    for (const auto& [reason, n] : r.node_rejected) rejected[reason] = n;
    j["node"] = {{"requests", r.total_requests},
                 {"store_queries", r.queries_executed},
                 {"read_store_queries", r.node_read_queries},
                 {"coalesced", r.node_coalesced ? json(*r.node_coalesced) : json(nullptr)},
                 {"rejected", rejected}};
  } else {
    j["node"] = nullptr;
  }
  j["mean_store_query_time_ms"] = opt_ms(r.mean_query_time);
  j["query_time_source"] = r.query_time_source.empty() ? json(nullptr) : json(r.query_time_source);
  j["ideal_queries"] = r.ideal_queries ? json(*r.ideal_queries) : json(nullptr);
  j["gateway_upstream_calls"] = r.have_gateway ? json(r.gateway_upstream_calls) : json(nullptr);
  j["gateway_coalesced"] = r.have_gateway ? json(r.gateway_coalesced) : json(nullptr);
  j["mean_upstream_call_ms"] = opt_ms(r.mean_upstream_time);
  j["ideal_upstream_calls"] =
      r.ideal_upstream_calls ? json(*r.ideal_upstream_calls) : json(nullptr);
  j["gateway_ideal_ratio"] = r.gateway_ideal_ratio ? json(*r.gateway_ideal_ratio) : json(nullptr);
  j["measured_ideal_ratio"] =
      r.measured_ideal_ratio ? json(*r.measured_ideal_ratio) : json(nullptr);
  return j.dump();
}

}  // namespace ds::loadgen
