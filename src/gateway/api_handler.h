// ApiHandler: the gateway's HTTP/JSON API on top of a MessageBackend. It
// matches routes, validates path ids, query parameters and bodies (answering
// 400 with the field and the reason), calls the backend with a per-request
// deadline, maps the gRPC status to an HTTP status and encodes JSON
// (json_codec.h). It also serves /metrics and /healthz.
//
//   GET  /v1/channels/{channel_id}/messages?limit=&before=&after=
//   GET  /v1/channels/{channel_id}/messages/{message_id}
//   POST /v1/channels/{channel_id}/messages     {"author_id","content","nonce"}
//   GET  /metrics    Prometheus text format of `registry`
//   GET  /healthz    200 "ok\n" while healthy(), else 503 "unhealthy\n"
//
// Deadline: `default_deadline` per request; a client may shorten it with the
// header `x-request-timeout-ms: N` (an integer in 1..3600000, else 400; values
// above the default are capped to it).
//
// Usage (the HttpServer calls Handle for every request):
//   auto handler = std::make_shared<ds::gateway::ApiHandler>(
//       ds::gateway::ApiHandlerOptions{}, backend, registry, [] { return true; });
//   auto server = ds::gateway::HttpServer::Start(http_options, handler);
//
// Threads: Handle/ProtocolError run on HTTP I/O threads and never block; the
// backend's callbacks (gRPC threads) encode the answer and hand it to the
// HttpReply. Thread-safe. Must be owned by a shared_ptr (callbacks keep it
// alive).
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "absl/time/time.h"
#include "gateway/gateway_probe.h"
#include "gateway/http_server.h"
#include "gateway/message_backend.h"
#include "prometheus/registry.h"

namespace ds::gateway {

inline constexpr std::string_view kRequestTimeoutHeader = "x-request-timeout-ms";
inline constexpr uint64_t kMaxRequestTimeoutMs = 3600 * 1000;

struct ApiHandlerOptions {
  absl::Duration default_deadline = absl::Seconds(2);
  // Injected clock (deadlines and latency metrics).
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class ApiHandler : public HttpHandler, public std::enable_shared_from_this<ApiHandler> {
 public:
  // `backend` and `registry` must not be null; `healthy` may be (always healthy).
  // The probe's metrics are registered in `registry`.
  ApiHandler(ApiHandlerOptions options, std::shared_ptr<MessageBackend> backend,
             std::shared_ptr<prometheus::Registry> registry, std::function<bool()> healthy);

  void Handle(HttpRequest request, HttpReply reply) override;
  HttpResponse ProtocolError(boost::beast::http::status status, std::string_view detail) override;

 private:
  friend class ApiExchange;  // one request in flight (api_handler.cc)

  const ApiHandlerOptions options_;
  const std::shared_ptr<MessageBackend> backend_;
  const std::shared_ptr<prometheus::Registry> registry_;
  const std::function<bool()> healthy_;
  GatewayProbe probe_;
};

}  // namespace ds::gateway
