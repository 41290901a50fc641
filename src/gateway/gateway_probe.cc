#include "gateway/gateway_probe.h"

#include <string>

namespace ds::gateway {

std::string_view GatewayRouteName(GatewayRoute route) {
  switch (route) {
    case GatewayRoute::kGetMessages: return "get_messages";
    case GatewayRoute::kGetMessage: return "get_message";
    case GatewayRoute::kSendMessage: return "send_message";
    case GatewayRoute::kMetrics: return "metrics";
    case GatewayRoute::kHealthz: return "healthz";
    case GatewayRoute::kUnmatched: return "unmatched";
    case GatewayRoute::kMalformed: return "malformed";
  }
  return "unknown";
}

GatewayProbe::GatewayProbe(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("ds_gateway_requests_total")
                    .Help("HTTP requests answered by the gateway, by route and HTTP status.")
                    .Register(registry)),
      seconds_family_(prometheus::BuildHistogram()
                          .Name("ds_gateway_request_seconds")
                          .Help("Time from a request being read to its response being handed "
                                "to the connection, by route.")
                          .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("ds_gateway_in_flight_requests")
                     .Help("HTTP requests the gateway is handling now.")
                     .Register(registry)
                     .Add({})) {
  const prometheus::Histogram::BucketBoundaries buckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  for (int i = 0; i < kGatewayRouteCount; ++i) {
    seconds_[i] = &seconds_family_.Add(
        {{"route", std::string(GatewayRouteName(static_cast<GatewayRoute>(i)))}}, buckets);
  }
}

void GatewayProbe::OnRequestStart() { in_flight_.Increment(); }

void GatewayProbe::OnRequestEnd(GatewayRoute route, int http_status, absl::Duration elapsed) {
  in_flight_.Decrement();
  requests_
      .Add({{"route", std::string(GatewayRouteName(route))},
            {"status", std::to_string(http_status)}})
      .Increment();
  seconds_[static_cast<int>(route)]->Observe(absl::ToDoubleSeconds(elapsed));
}

void GatewayProbe::OnProtocolError(int http_status) {
  requests_
      .Add({{"route", std::string(GatewayRouteName(GatewayRoute::kMalformed))},
            {"status", std::to_string(http_status)}})
      .Increment();
}

}  // namespace ds::gateway
