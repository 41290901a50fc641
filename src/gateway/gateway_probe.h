// GatewayProbe: the gateway's Prometheus metrics, recorded through named events.
//
//   ds_gateway_requests_total{route,status}   requests answered, by route and HTTP status
//   ds_gateway_request_seconds{route}         histogram: request read -> response handed over
//   ds_gateway_in_flight_requests             requests being handled now
//
// `route` is one of get_messages, get_message, send_message, metrics, healthz,
// unmatched (no such route) and malformed (unreadable HTTP: 400/413/431).
//
// Usage:
//   GatewayProbe probe(*registry);
//   probe.OnRequestStart();
//   probe.OnRequestEnd(GatewayRoute::kGetMessage, 200, absl::Milliseconds(3));
//
// Thread-safe: called from I/O threads and gRPC callback threads.
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

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& seconds_family_;
  prometheus::Gauge& in_flight_;
  std::array<prometheus::Histogram*, kGatewayRouteCount> seconds_{};
};

}  // namespace ds::gateway
