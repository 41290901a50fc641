// GatewayProbe: the gateway's Prometheus metrics, recorded through named events.
//
//   ds_gateway_requests_total{route,status}     requests answered, by route and HTTP status
//   ds_gateway_request_seconds{route}           histogram: request read -> answer handed over
//   ds_gateway_in_flight_requests               requests being handled now
//   ds_gateway_upstream_calls_total{route}      calls made to nodes (one per gateway flight,
//                                               one per write)
//   ds_gateway_upstream_seconds{route}          histogram: one upstream call, sent -> answered
//                                               (for reads: how long a gateway flight waits)
//   ds_gateway_coalesced_requests_total{route,level}
//                                               reads answered from a flight they did not
//                                               start: level="gateway" (joined here) or
//                                               "node" (this gateway's call joined at the node)
//   ds_gateway_encodings_total{route}           JSON bodies encoded from node answers (reads:
//                                               one per flight, however many waiters)
//   ds_gateway_rejected_requests_total          reads refused by a coalescing cap (429)
//   ds_gateway_read_waiters                     reads waiting for a flight's answer now
//
// `route` is one of get_messages, get_message, send_message, metrics, healthz,
// unmatched (no such route) and malformed (unreadable HTTP: 400/413/431).
//
// Usage:
//   GatewayProbe probe(*registry);
//   probe.OnRequestStart();
//   probe.OnRequestEnd(GatewayRoute::kGetMessage, 200, absl::Milliseconds(3));
//
// Thread-safe and cheap: the per-route series are created up front, so the
// request path never looks a label set up (statuses outside the common table
// do, under prometheus-cpp's lock).
#pragma once

#include <array>
#include <string_view>

#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace ds::gateway {

enum class GatewayRoute {
  kGetMessages,
  kGetMessage,
  kSendMessage,
  kMetrics,
  kHealthz,
  kUnmatched,
  kMalformed,
};
inline constexpr int kGatewayRouteCount = 7;

std::string_view GatewayRouteName(GatewayRoute route);

class GatewayProbe {
 public:
  // Registers the families in `registry`, which must outlive the probe.
  explicit GatewayProbe(prometheus::Registry& registry);

  void OnRequestStart();
  // Pairs with OnRequestStart().
  void OnRequestEnd(GatewayRoute route, int http_status, absl::Duration elapsed);
  // A request that could not be read; it never started.
  void OnProtocolError(int http_status);

  void OnUpstreamCall(GatewayRoute route);
  void OnUpstreamDone(GatewayRoute route, absl::Duration took);
  void OnEncoding(GatewayRoute route);
  // A read answered from a flight it joined at this gateway (`at_gateway`) or
  // from a node flight its gateway flight joined.
  void OnCoalesced(GatewayRoute route, bool at_gateway);
  void OnRejected();
  // A read joined (or started) a flight / stopped waiting for it.
  void OnReadWaiting();
  void OnReadDone();

 private:
  // HTTP statuses with a pre-created series per route.
  static constexpr std::array<int, 14> kStatuses = {200, 400, 401, 403, 404, 405, 409,
                                                    413, 429, 431, 499, 500, 503, 504};
  prometheus::Counter& RequestCounter(GatewayRoute route, int http_status);

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& seconds_family_;
  prometheus::Gauge& in_flight_;
  prometheus::Family<prometheus::Counter>& upstream_family_;
  prometheus::Family<prometheus::Histogram>& upstream_seconds_family_;
  prometheus::Family<prometheus::Counter>& coalesced_family_;
  prometheus::Family<prometheus::Counter>& encodings_family_;
  prometheus::Counter& rejected_;
  prometheus::Gauge& read_waiters_;
  std::array<prometheus::Histogram*, kGatewayRouteCount> seconds_{};
  std::array<std::array<prometheus::Counter*, kStatuses.size()>, kGatewayRouteCount> by_status_{};
  std::array<prometheus::Counter*, kGatewayRouteCount> upstream_{};
  std::array<prometheus::Histogram*, kGatewayRouteCount> upstream_seconds_{};
  std::array<prometheus::Counter*, kGatewayRouteCount> encodings_{};
  std::array<std::array<prometheus::Counter*, 2>, kGatewayRouteCount> coalesced_{};
};

}  // namespace ds::gateway
