#include "gateway/gateway_probe.h"

#include <string>

namespace ds::gateway {

std::string_view GatewayRouteName(GatewayRoute route) {
  switch (route) {
    case GatewayRoute::kGetMessages:
      return "get_messages";
    case GatewayRoute::kGetMessage:
      return "get_message";
    case GatewayRoute::kSendMessage:
      return "send_message";
    case GatewayRoute::kMetrics:
      return "metrics";
    case GatewayRoute::kHealthz:
      return "healthz";
    case GatewayRoute::kUnmatched:
      return "unmatched";
    case GatewayRoute::kMalformed:
      return "malformed";
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
                     .Add({})),
      upstream_family_(prometheus::BuildCounter()
                           .Name("ds_gateway_upstream_calls_total")
                           .Help("Calls the gateway made to data-service nodes: one per gateway "
                                 "flight for reads, one per write.")
                           .Register(registry)),
      upstream_seconds_family_(prometheus::BuildHistogram()
                                   .Name("ds_gateway_upstream_seconds")
                                   .Help("One upstream call to a node, from sending it to its "
                                         "answer, by route.")
                                   .Register(registry)),
      coalesced_family_(prometheus::BuildCounter()
                            .Name("ds_gateway_coalesced_requests_total")
                            .Help("Reads answered from a flight they did not start: at this "
                                  "gateway (level=gateway) or at the node (level=node).")
                            .Register(registry)),
      encodings_family_(prometheus::BuildCounter()
                            .Name("ds_gateway_encodings_total")
                            .Help("JSON bodies encoded from node answers (one per read flight).")
                            .Register(registry)),
      rejected_(prometheus::BuildCounter()
                    .Name("ds_gateway_rejected_requests_total")
                    .Help("Reads refused at once because a coalescing cap was reached (429).")
                    .Register(registry)
                    .Add({})),
      read_waiters_(prometheus::BuildGauge()
                        .Name("ds_gateway_read_waiters")
                        .Help("Reads waiting for a flight's answer at this gateway now.")
                        .Register(registry)
                        .Add({})) {
  const prometheus::Histogram::BucketBoundaries buckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  for (int i = 0; i < kGatewayRouteCount; ++i) {
    const std::string route(GatewayRouteName(static_cast<GatewayRoute>(i)));
    seconds_[i] = &seconds_family_.Add({{"route", route}}, buckets);
    for (size_t s = 0; s < kStatuses.size(); ++s) {
      by_status_[i][s] =
          &requests_.Add({{"route", route}, {"status", std::to_string(kStatuses[s])}});
    }
    upstream_[i] = &upstream_family_.Add({{"route", route}});
    upstream_seconds_[i] = &upstream_seconds_family_.Add({{"route", route}}, buckets);
    encodings_[i] = &encodings_family_.Add({{"route", route}});
    coalesced_[i][0] = &coalesced_family_.Add({{"route", route}, {"level", "gateway"}});
    coalesced_[i][1] = &coalesced_family_.Add({{"route", route}, {"level", "node"}});
  }
}

prometheus::Counter& GatewayProbe::RequestCounter(GatewayRoute route, int http_status) {
  const int r = static_cast<int>(route);
  for (size_t s = 0; s < kStatuses.size(); ++s) {
    if (kStatuses[s] == http_status) return *by_status_[r][s];
  }
  return requests_.Add(
      {{"route", std::string(GatewayRouteName(route))}, {"status", std::to_string(http_status)}});
}

void GatewayProbe::OnRequestStart() { in_flight_.Increment(); }

void GatewayProbe::OnRequestEnd(GatewayRoute route, int http_status, absl::Duration elapsed) {
  in_flight_.Decrement();
  RequestCounter(route, http_status).Increment();
  seconds_[static_cast<int>(route)]->Observe(absl::ToDoubleSeconds(elapsed));
}

void GatewayProbe::OnProtocolError(int http_status) {
  RequestCounter(GatewayRoute::kMalformed, http_status).Increment();
}

void GatewayProbe::OnUpstreamCall(GatewayRoute route) {
  upstream_[static_cast<int>(route)]->Increment();
}

void GatewayProbe::OnUpstreamDone(GatewayRoute route, absl::Duration took) {
  upstream_seconds_[static_cast<int>(route)]->Observe(absl::ToDoubleSeconds(took));
}

void GatewayProbe::OnEncoding(GatewayRoute route) {
  encodings_[static_cast<int>(route)]->Increment();
}

void GatewayProbe::OnCoalesced(GatewayRoute route, bool at_gateway) {
  coalesced_[static_cast<int>(route)][at_gateway ? 0 : 1]->Increment();
}

void GatewayProbe::OnRejected() { rejected_.Increment(); }

void GatewayProbe::OnReadWaiting() { read_waiters_.Increment(); }

void GatewayProbe::OnReadDone() { read_waiters_.Decrement(); }

}  // namespace ds::gateway
