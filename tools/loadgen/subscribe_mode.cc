#include "tools/loadgen/subscribe_mode.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/api_rules.h"
#include "tools/loadgen/node_metrics.h"
#include "tools/loadgen/prometheus_text.h"
#include "tools/loadgen/stats.h"
#include "tools/loadgen/subscribers.h"

namespace ds::loadgen {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::json;

namespace {

// The smallest snowflake id at Unix millisecond `ms`.
uint64_t IdFloor(int64_t ms) { return static_cast<uint64_t>(ms - 1420070400000LL) << 22; }

// Writers: `connections` threads, each with a keep-alive connection, sending
// an open-loop schedule of POSTs (message k at start + k / rate).
class Writers {
 public:
  Writers(const SubscribeConfig& c, api::HostPort gateway) : c_(c), gateway_(std::move(gateway)) {}
  void Run(absl::Time start, absl::Time end) {
    if (c_.rate <= 0) return;
    std::vector<std::thread> threads;
    for (int w = 0; w < std::max(1, c_.writers); ++w) {
      threads.emplace_back([this, w, start, end] { Loop(w, start, end); });
    }
    for (auto& t : threads) t.join();
  }
  int64_t sent() const { return sent_.load(); }
  int64_t acked() const { return acked_.load(); }
  int64_t errors() const { return errors_.load(); }

 private:
  void Loop(int w, absl::Time start, absl::Time end) {
    const std::string& host = gateway_.host;
    const std::string port = std::to_string(gateway_.port);
    boost::asio::io_context ioc;
    std::unique_ptr<beast::tcp_stream> stream;
    const int n = std::max(1, c_.writers);
    for (int64_t k = w;; k += n) {
      const absl::Time due = start + absl::Seconds(static_cast<double>(k) / c_.rate);
      if (due >= end) break;
      absl::SleepFor(due - absl::Now());  // the schedule, not synchronisation
      const int64_t channel = c_.first_channel + k % c_.channels;
      const uint64_t nonce = c_.seed * 1'000'000'007ULL +
                             static_cast<uint64_t>(absl::ToUnixNanos(start)) / 1000 +
                             static_cast<uint64_t>(k) + 1;
      http::request<http::string_body> req{http::verb::post,
                                           absl::StrCat("/v1/channels/", channel, "/messages"), 11};
      req.set(http::field::host, host);
      req.set(http::field::content_type, "application/json");
      req.body() = absl::StrCat(R"({"author_id":")", 1000 + w, R"(","content":"loadgen )", k,
                                R"(","nonce":")", nonce, "\"}");
      req.prepare_payload();
      ++sent_;
      for (int attempt = 0; attempt < 3; ++attempt) {
        try {
          if (!stream) {
            stream = std::make_unique<beast::tcp_stream>(ioc);
            tcp::resolver resolver(ioc);
            stream->expires_after(std::chrono::seconds(5));
            stream->connect(resolver.resolve(host, port));
          }
          stream->expires_after(std::chrono::seconds(5));
          http::write(*stream, req);
          beast::flat_buffer buf;
          http::response<http::string_body> res;
          http::read(*stream, buf, res);
          if (res.result_int() == 200) {
            ++acked_;
          } else {
            ++errors_;
          }
          break;  // same nonce on a retry: idempotent
        } catch (const std::exception&) {
          stream.reset();
          if (attempt == 2) ++errors_;
        }
      }
    }
  }

  const SubscribeConfig& c_;
  const api::HostPort gateway_;
  std::atomic<int64_t> sent_{0}, acked_{0}, errors_{0};
};

// Sum of the live counters over every --metrics endpoint.
struct LiveCounters {
  std::map<std::string, double> node_live_queries;  // purpose -> store queries
  double node_store_queries = 0;                    // every store query of the nodes
  std::map<std::string, double> gateway_catchup;    // source -> pages
  bool ok = true;
  std::string error;
};

LiveCounters Scrape(const std::vector<std::string>& urls) {
  LiveCounters c;
  for (const std::string& u : urls) {
    const std::string url = u.rfind("http", 0) == 0 ? u : absl::StrCat("http://", u, "/metrics");
    absl::StatusOr<std::string> body = HttpGet(url, absl::Seconds(5));
    if (!body.ok()) {
      c.ok = false;
      c.error = std::string(body.status().message());
      continue;
    }
    absl::StatusOr<MetricFamilySamples> samples = ParsePrometheusText(*body);
    if (!samples.ok()) continue;
    for (auto& [k, v] : SumMetricByLabel(*samples, "ds_live_store_queries_total", "purpose")) {
      c.node_live_queries[k] += v;
    }
    c.node_store_queries += SumMetric(*samples, "ds_store_queries_total");
    for (auto& [k, v] :
         SumMetricByLabel(*samples, "ds_gateway_live_catchup_reads_total", "source")) {
      c.gateway_catchup[k] += v;
    }
  }
  return c;
}

// Every message id of `channel` above `after` (and below `before`), read
// back through the gateway's REST API.
absl::StatusOr<std::vector<uint64_t>> ChannelIds(const std::string& gateway, uint64_t channel,
                                                 uint64_t after, uint64_t before) {
  std::vector<uint64_t> ids;
  for (uint64_t cursor = after;;) {
    absl::StatusOr<std::string> body =
        HttpGet(absl::StrCat("http://", gateway, "/v1/channels/", channel,
                             "/messages?limit=100&after=", cursor),
                absl::Seconds(10));
    if (!body.ok()) return body.status();
    json page = json::parse(*body, nullptr, false);
    if (!page.is_object() || !page.contains("messages")) {
      return absl::UnavailableError(absl::StrCat("bad page for channel ", channel));
    }
    size_t n = 0;
    for (const json& m : page["messages"]) {
      uint64_t id = 0;
      if (!absl::SimpleAtoi(m.value("message_id", std::string()), &id)) continue;
      ++n;
      cursor = std::max(cursor, id);
      if (id < before) ids.push_back(id);
    }
    if (n < 100 || cursor >= before) break;
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

struct Verdict {
  int64_t expected = 0, delivered = 0, missing = 0, duplicates = 0, late_resends = 0,
          out_of_order = 0, reconnects = 0, reloads = 0, refused = 0, joined = 0;
};

Verdict Verify(const std::vector<SubscriberRecord>& records,
               const std::map<uint64_t, std::vector<uint64_t>>& truth) {
  Verdict v;
  for (const SubscriberRecord& r : records) {
    v.reconnects += r.reconnects;
    v.reloads += r.reloads;
    v.refused += r.refused;
    if (!r.joined) continue;
    ++v.joined;
    std::set<uint64_t> held;
    uint64_t last = 0;
    for (uint64_t id : r.in_order) {
      if (!held.insert(id).second) ++v.duplicates;  // an unmarked id twice: a bug
      if (id <= last) ++v.out_of_order;
      last = std::max(last, id);
    }
    for (uint64_t id : r.late) {
      if (!held.insert(id).second) ++v.late_resends;  // marked late: the client drops it
    }
    auto it = truth.find(r.channel);
    if (it == truth.end()) continue;
    for (uint64_t id : it->second) {
      if (id <= r.start) continue;
      ++v.expected;
      held.contains(id) ? ++v.delivered : ++v.missing;
    }
  }
  return v;
}

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.1fms", absl::ToDoubleMilliseconds(d));
}

// Reads back each joined channel's ids above its subscribers' lowest start
// and older than --settle before `stop` into `truth`; false if a read failed.
bool ReadBack(const SubscribeConfig& c, const std::vector<SubscriberRecord>& records,
              absl::Time stop, const std::function<void(const std::string&)>& warn,
              std::map<uint64_t, std::vector<uint64_t>>& truth) {
  const uint64_t cutoff = IdFloor(absl::ToUnixMillis(stop - c.settle));
  std::map<uint64_t, uint64_t> lowest_start;
  for (const SubscriberRecord& r : records) {
    if (!r.joined) continue;
    auto [it, fresh] = lowest_start.emplace(r.channel, r.start);
    if (!fresh) it->second = std::min(it->second, r.start);
  }
  bool truth_ok = true;
  for (const auto& [channel, start] : lowest_start) {
    absl::StatusOr<std::vector<uint64_t>> ids = ChannelIds(c.gateway, channel, start, cutoff);
    if (!ids.ok()) {
      truth_ok = false;
      warn(absl::StrCat("cannot read channel ", channel, " back: ", ids.status().message()));
      continue;
    }
    truth[channel] = std::move(*ids);
  }
  return truth_ok;
}

// What one subscribe run measured.
struct Outcome {
  absl::Duration connect_time;
  int64_t written = 0;
  int64_t write_errors = 0;
  Verdict verdict;
  bool verified = false;
  LatencySummary latency;
  LiveCounters before, after_connect, after;
};

// a[k] - b[k], a missing key counting 0.
double Delta(const std::map<std::string, double>& a, const std::map<std::string, double>& b,
             const std::string& k) {
  auto x = a.find(k), y = b.find(k);
  return (x == a.end() ? 0 : x->second) - (y == b.end() ? 0 : y->second);
}

void PrintJson(const SubscribeConfig& c, const Outcome& o) {
  json out = {
      {"mode", "subscribe"},
      {"transport", c.websocket ? "websocket" : "sse"},
      {"subscribers", c.subscribers},
      {"joined", o.verdict.joined},
      {"channels", c.channels},
      {"connect_seconds", absl::ToDoubleSeconds(o.connect_time)},
      {"rate", c.rate},
      {"duration_seconds", absl::ToDoubleSeconds(c.duration)},
      {"written", o.written},
      {"write_errors", o.write_errors},
      {"expected", o.verdict.expected},
      {"delivered", o.verdict.delivered},
      {"missing", o.verdict.missing},
      {"duplicates", o.verdict.duplicates},
      {"late_resends", o.verdict.late_resends},
      {"out_of_order", o.verdict.out_of_order},
      {"reconnects", o.verdict.reconnects},
      {"reloads", o.verdict.reloads},
      {"refused", o.verdict.refused},
      {"verified", o.verified},
      {"latency_ms",
       {{"count", o.latency.count},
        {"p50", absl::ToDoubleMilliseconds(o.latency.p50)},
        {"p90", absl::ToDoubleMilliseconds(o.latency.p90)},
        {"p99", absl::ToDoubleMilliseconds(o.latency.p99)},
        {"p999", absl::ToDoubleMilliseconds(o.latency.p999)},
        {"max", absl::ToDoubleMilliseconds(o.latency.max)}}},
  };
  if (!c.metrics_urls.empty()) {
    json m;
    for (const char* p : {"catchup", "tail", "head"}) {
      m["node_live_store_queries"][p] =
          Delta(o.after.node_live_queries, o.before.node_live_queries, p);
      m["node_live_store_queries_while_connecting"][p] =
          Delta(o.after_connect.node_live_queries, o.before.node_live_queries, p);
    }
    m["node_store_queries"] = o.after.node_store_queries - o.before.node_store_queries;
    m["node_store_queries_while_connecting"] =
        o.after_connect.node_store_queries - o.before.node_store_queries;
    for (const char* s : {"upstream", "joined", "cached"}) {
      m["gateway_catchup_pages"][s] = Delta(o.after.gateway_catchup, o.before.gateway_catchup, s);
    }
    out["metrics"] = m;
  }
  std::cout << out.dump() << std::endl;
}

void PrintText(const SubscribeConfig& c, const Outcome& o) {
  std::cout << absl::StrFormat(
      "subscribe: %d %s subscribers on %d channel(s) via %s; %d joined in %.1fs\n", c.subscribers,
      c.websocket ? "WebSocket" : "SSE", c.channels, c.gateway, o.verdict.joined,
      absl::ToDoubleSeconds(o.connect_time));
  std::cout << absl::StrFormat("writes: %d acknowledged, %d errors (%.1f/s for %s)\n", o.written,
                               o.write_errors, c.rate, absl::FormatDuration(c.duration));
  std::cout << absl::StrFormat(
      "delivered: %d of %d expected, missing %d, duplicates %d, late re-sends %d, "
      "out-of-order %d, reconnects %d, reloads %d, refused %d%s\n",
      o.verdict.delivered, o.verdict.expected, o.verdict.missing, o.verdict.duplicates,
      o.verdict.late_resends, o.verdict.out_of_order, o.verdict.reconnects, o.verdict.reloads,
      o.verdict.refused, o.verified ? "" : " (not verified: read-back failed)");
  std::cout << "delivery latency (id timestamp -> received): p50 " << Ms(o.latency.p50) << "  p90 "
            << Ms(o.latency.p90) << "  p99 " << Ms(o.latency.p99) << "  p999 " << Ms(o.latency.p999)
            << "  max " << Ms(o.latency.max) << "  (" << o.latency.count << " messages)\n";
  if (!c.metrics_urls.empty()) {
    std::cout << absl::StrFormat(
        "node live store queries: catch-up %.0f (%.0f while connecting), tail %.0f, head %.0f; "
        "all store queries %.0f (%.0f while connecting)\n",
        Delta(o.after.node_live_queries, o.before.node_live_queries, "catchup"),
        Delta(o.after_connect.node_live_queries, o.before.node_live_queries, "catchup"),
        Delta(o.after.node_live_queries, o.before.node_live_queries, "tail"),
        Delta(o.after.node_live_queries, o.before.node_live_queries, "head"),
        o.after.node_store_queries - o.before.node_store_queries,
        o.after_connect.node_store_queries - o.before.node_store_queries);
    std::cout << absl::StrFormat(
        "gateway catch-up pages: upstream %.0f, joined %.0f, cached %.0f\n",
        Delta(o.after.gateway_catchup, o.before.gateway_catchup, "upstream"),
        Delta(o.after.gateway_catchup, o.before.gateway_catchup, "joined"),
        Delta(o.after.gateway_catchup, o.before.gateway_catchup, "cached"));
  }
}

SubscriberOptions PoolOptions(const SubscribeConfig& c, const api::HostPort& gateway) {
  SubscriberOptions o;
  o.host = gateway.host;
  o.port = gateway.port;
  o.source_addresses = c.source_addresses;
  o.subscribers = c.subscribers;
  o.channels = c.channels;
  o.first_channel = c.first_channel;
  o.websocket = c.websocket;
  o.after = c.after;
  o.connect_rate = c.connect_rate;
  o.threads = c.io_threads;
  return o;
}

// The gateway's address, once the configuration is known to be usable.
absl::StatusOr<api::HostPort> CheckConfig(const SubscribeConfig& c) {
  if (c.subscribers < 0 || c.channels < 1 || c.rate < 0 || c.io_threads < 1) {
    return absl::InvalidArgumentError(
        "--subscribers >= 0, --channels >= 1, --rate >= 0, --io-threads >= 1");
  }
  return api::ParseHostPort("--gateway", c.gateway, api::PortZero::kRejected);
}

}  // namespace

int RunSubscribe(const SubscribeConfig& c) {
  auto warn = [&](const std::string& m) {
    if (!c.quiet) std::fprintf(stderr, "ds-loadgen: %s\n", m.c_str());
  };
  const absl::StatusOr<api::HostPort> gateway = CheckConfig(c);
  if (!gateway.ok()) {
    std::fprintf(stderr, "ds-loadgen: subscribe mode: %s\n",
                 std::string(gateway.status().message()).c_str());
    return 2;
  }
  const LiveCounters before = Scrape(c.metrics_urls);
  if (!before.ok) warn(absl::StrCat("metrics unavailable: ", before.error));

  SubscriberPool pool(PoolOptions(c, *gateway));
  const bool bar = c.progress && !c.quiet && !c.json && isatty(STDERR_FILENO);
  const absl::Time t0 = absl::Now();
  pool.Start();
  while (pool.connected() < c.subscribers && absl::Now() - t0 < c.connect_timeout) {
    if (bar) {
      std::fprintf(stderr, "\r[connecting] %lld/%d joined  %lld delivered  %lld reconnects   ",
                   static_cast<long long>(pool.connected()), c.subscribers,
                   static_cast<long long>(pool.delivered()),
                   static_cast<long long>(pool.reconnects()));
    }
    absl::SleepFor(absl::Milliseconds(100));  // progress polling
  }
  const absl::Duration connect_time = absl::Now() - t0;
  const int64_t joined_at_start = pool.connected();
  const LiveCounters after_connect = Scrape(c.metrics_urls);
  if (joined_at_start < c.subscribers) {
    warn(absl::StrCat(joined_at_start, " of ", c.subscribers, " subscribers joined within ",
                      absl::FormatDuration(c.connect_timeout)));
  }

  Writers writers(c, *gateway);
  const absl::Time w0 = absl::Now();
  std::thread writer([&] { writers.Run(w0, w0 + c.duration); });
  while (absl::Now() < w0 + c.duration + c.settle) {
    if (bar) {
      const double done =
          std::min(1.0, absl::FDivDuration(absl::Now() - w0, c.duration + c.settle));
      std::fprintf(
          stderr, "\r[%3.0f%%] %lld/%d live  %lld written  %lld delivered  %lld reconnects   ",
          done * 100, static_cast<long long>(pool.connected()), c.subscribers,
          static_cast<long long>(writers.acked()), static_cast<long long>(pool.delivered()),
          static_cast<long long>(pool.reconnects()));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  writer.join();
  const absl::Time stop = absl::Now();
  pool.Stop();
  if (bar) std::fprintf(stderr, "\r%*s\r", 100, "");
  const LiveCounters after = Scrape(c.metrics_urls);

  // Truth: every id of each channel above the lowest start, older than settle.
  std::map<uint64_t, std::vector<uint64_t>> truth;
  const bool truth_ok = ReadBack(c, pool.records(), stop, warn, truth);
  const Verdict v = Verify(pool.records(), truth);
  std::vector<int64_t> lat = pool.latencies();
  const LatencySummary l = SummarizeLatencies(lat);
  const Outcome outcome{.connect_time = connect_time,
                        .written = writers.acked(),
                        .write_errors = writers.errors(),
                        .verdict = v,
                        .verified = truth_ok,
                        .latency = l,
                        .before = before,
                        .after_connect = after_connect,
                        .after = after};
  if (c.json) {
    PrintJson(c, outcome);
  } else {
    PrintText(c, outcome);
  }
  return joined_at_start < c.subscribers ? 1 : 0;
}

}  // namespace ds::loadgen
