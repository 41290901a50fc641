#include "tools/loadgen/node_metrics.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/api_rules.h"

namespace ds::loadgen {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

bool IsWriteMethodLabel(const std::string& method) {
  return absl::StrContains(absl::AsciiStrToLower(method), "send");
}

NodeCounters CountersFromSamples(const MetricFamilySamples& samples) {
  NodeCounters c;
  auto is_read = [](const std::string& m) { return !IsWriteMethodLabel(m); };
  c.requests = SumMetric(samples, kRequestsMetric);
  c.store_queries = SumMetric(samples, kStoreQueriesMetric);
  c.read_store_queries = SumMetricIf(samples, kStoreQueriesMetric, "method", is_read);
  c.coalesced = SumMetric(samples, kCoalescedMetric);
  c.query_seconds_sum = SumMetricIf(samples, kQuerySecondsSum, "method", is_read);
  c.query_seconds_count = SumMetricIf(samples, kQuerySecondsCount, "method", is_read);
  if (c.query_seconds_count == 0) {
    c.query_seconds_sum = SumMetric(samples, kQuerySecondsSum);
    c.query_seconds_count = SumMetric(samples, kQuerySecondsCount);
  }
  c.rejected_by_reason = SumMetricByLabel(samples, kRejectedMetric, "reason");
  auto is_read_route = [](const std::string& route) { return route.rfind("get_", 0) == 0; };
  c.gateway_read_calls = SumMetricIf(samples, kGatewayUpstreamCalls, "route", is_read_route);
  c.gateway_coalesced = SumMetric(samples, kGatewayCoalesced, {{"level", "gateway"}});
  c.gateway_call_seconds_sum =
      SumMetricIf(samples, kGatewayUpstreamSecondsSum, "route", is_read_route);
  c.gateway_call_seconds_count =
      SumMetricIf(samples, kGatewayUpstreamSecondsCount, "route", is_read_route);
  for (const PrometheusSample& s : samples) {
    if (s.name == kQuerySecondsCount) c.has_query_time = true;
    if (s.name == kCoalescedMetric) c.has_coalesced = true;
    if (s.name == kGatewayUpstreamCalls) c.has_gateway = true;
  }
  return c;
}

NodeCounters SubtractCounters(const NodeCounters& after, const NodeCounters& before) {
  NodeCounters d;
  d.requests = after.requests - before.requests;
  d.store_queries = after.store_queries - before.store_queries;
  d.read_store_queries = after.read_store_queries - before.read_store_queries;
  d.coalesced = after.coalesced - before.coalesced;
  d.query_seconds_sum = after.query_seconds_sum - before.query_seconds_sum;
  d.query_seconds_count = after.query_seconds_count - before.query_seconds_count;
  d.has_query_time = after.has_query_time;
  d.has_coalesced = after.has_coalesced;
  d.has_gateway = after.has_gateway;
  d.gateway_read_calls = after.gateway_read_calls - before.gateway_read_calls;
  d.gateway_coalesced = after.gateway_coalesced - before.gateway_coalesced;
  d.gateway_call_seconds_sum = after.gateway_call_seconds_sum - before.gateway_call_seconds_sum;
  d.gateway_call_seconds_count =
      after.gateway_call_seconds_count - before.gateway_call_seconds_count;
  for (const auto& [reason, v] : after.rejected_by_reason) {
    auto it = before.rejected_by_reason.find(reason);
    double delta = v - (it == before.rejected_by_reason.end() ? 0 : it->second);
    if (delta != 0) d.rejected_by_reason[reason] = delta;
  }
  return d;
}

absl::StatusOr<HttpUrl> ParseHttpUrl(const std::string& url) {
  absl::string_view rest = absl::StripAsciiWhitespace(url);
  if (absl::StartsWithIgnoreCase(rest, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "': https is not supported"));
  }
  if (absl::StartsWithIgnoreCase(rest, "http://")) rest.remove_prefix(7);
  HttpUrl out;
  size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  out.target = slash == absl::string_view::npos ? "/metrics" : std::string(rest.substr(slash));
  absl::StatusOr<api::HostPort> address = api::ParseHostPort(
      absl::StrCat("url '", url, "'"), std::string_view(authority.data(), authority.size()),
      api::PortZero::kRejected);
  if (!address.ok()) return address.status();
  out.host = address->host;
  out.port = std::to_string(address->port);
  return out;
}

absl::StatusOr<std::string> HttpGet(const std::string& url, absl::Duration timeout) {
  absl::StatusOr<HttpUrl> parsed = ParseHttpUrl(url);
  if (!parsed.ok()) return parsed.status();
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  tcp::resolver resolver(ioc);
  beast::flat_buffer buffer;
  http::request<http::empty_body> req{http::verb::get, parsed->target, 11};
  req.set(http::field::host, parsed->host);
  req.set(http::field::user_agent, "ds-loadgen");
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  beast::error_code result;
  const auto expiry = std::chrono::nanoseconds(absl::ToInt64Nanoseconds(timeout));
  bool done = false;
  auto finish = [&](beast::error_code ec) {
    result = ec;
    done = true;
  };
  // One chain of async steps, each under the stream's expiry, so the whole
  // exchange is bounded by `timeout` (sync Beast calls would ignore it).
  stream.expires_after(expiry);
  resolver.async_resolve(
      parsed->host, parsed->port, [&](beast::error_code ec, tcp::resolver::results_type results) {
        if (ec) return finish(ec);
        stream.async_connect(results, [&](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return finish(ec);
          http::async_write(stream, req, [&](beast::error_code ec, size_t) {
            if (ec) return finish(ec);
            http::async_read(stream, buffer, parser,
                             [&](beast::error_code ec, size_t) { finish(ec); });
          });
        });
      });
  ioc.run_for(expiry + std::chrono::seconds(1));
  if (!done) return absl::DeadlineExceededError(absl::StrCat("GET ", url, ": timed out"));
  if (result == beast::error::timeout) {
    return absl::DeadlineExceededError(absl::StrCat("GET ", url, ": timed out"));
  }
  if (result) return absl::UnavailableError(absl::StrCat("GET ", url, ": ", result.message()));
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  const auto& res = parser.get();
  if (res.result_int() != 200) {
    return absl::UnavailableError(absl::StrCat("GET ", url, ": HTTP ", res.result_int()));
  }
  return res.body();
}

namespace {

class PrometheusMetricsSource : public MetricsSource {
 public:
  PrometheusMetricsSource(std::vector<std::string> urls, absl::Duration timeout)
      : urls_(std::move(urls)), timeout_(timeout) {}

  absl::Status Begin() override {
    absl::StatusOr<NodeCounters> c = Scrape();
    if (!c.ok()) return c.status();
    before_ = *c;
    return absl::OkStatus();
  }

  absl::StatusOr<NodeCounters> End() override {
    absl::StatusOr<NodeCounters> after = Scrape();
    if (!after.ok()) return after.status();
    return SubtractCounters(*after, before_);
  }

 private:
  absl::StatusOr<NodeCounters> Scrape() {
    MetricFamilySamples all;
    for (const std::string& url : urls_) {
      absl::StatusOr<std::string> body = HttpGet(url, timeout_);
      if (!body.ok()) return body.status();
      absl::StatusOr<MetricFamilySamples> samples = ParsePrometheusText(*body);
      if (!samples.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(url, ": ", samples.status().message()));
      }
      all.insert(all.end(), samples->begin(), samples->end());
    }
    return CountersFromSamples(all);
  }

  std::vector<std::string> urls_;
  absl::Duration timeout_;
  NodeCounters before_;
};

}  // namespace

std::unique_ptr<MetricsSource> MakePrometheusMetricsSource(std::vector<std::string> urls,
                                                           absl::Duration timeout) {
  return std::make_unique<PrometheusMetricsSource>(std::move(urls), timeout);
}

}  // namespace ds::loadgen
