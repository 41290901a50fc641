// Gateway: the API server of the Data Services picture: HTTP/JSON in
// (ApiHandler on the shared ds::http::Server), routed gRPC out (a
// MessageBackend, normally the routing library's RoutedClient). /metrics and
// /healthz are served on the same port. See docs/gateway.md for routes,
// coalescing, status mapping and limits.
//
// Usage:
//   auto registry = std::make_shared<prometheus::Registry>();
//   ds::gateway::GatewayOptions options;
//   options.http.port = 8080;
//   auto gateway = ds::gateway::Gateway::Start(options, ds::gateway::MakeRoutedBackend(client),
//                                              registry);
//   if (!gateway.ok()) return gateway.status();
//   ... wait for SIGTERM ...
//   (*gateway)->Shutdown(absl::Seconds(10));
//
// Thread-safe. Start and Shutdown are called from the owning (main) thread;
// the destructor waits for reads and writes still in flight.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/api_handler.h"
#include "gateway/message_backend.h"
#include "gateway/read_flights.h"
#include "http/server.h"
#include "prometheus/registry.h"

namespace ds::gateway {

struct GatewayOptions {
  http::ServerOptions http;  // listen address/port, I/O threads, size limits, timeouts, TLS
  absl::Duration deadline = absl::Seconds(2);  // per request; clients may lower it
  ReadFlightsOptions reads;                    // gateway-level coalescing
  // Optional: the handlers the server calls in front of the API handler (the
  // composition root puts the live routes and the security layer there).
  // Called once with the API handler; returns the handler to serve, which
  // must pass what it does not answer on to the API handler and must not be
  // kept elsewhere (the API handler's last reference waits for its flights).
  std::function<std::shared_ptr<http::Handler>(std::shared_ptr<http::Handler> api)> front;
};

class Gateway {
 public:
  // Starts serving. INVALID_ARGUMENT for bad options or null arguments,
  // UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(
      GatewayOptions options, std::shared_ptr<MessageBackend> backend,
      std::shared_ptr<prometheus::Registry> registry);

  ~Gateway();  // Shutdown(absl::ZeroDuration())

  uint16_t port() const;
  int io_threads() const;
  // False from Shutdown() on, and while no backend node is healthy (/healthz).
  bool Healthy() const;

  // Graceful stop: /healthz answers 503, new connections are refused, idle
  // connections close, requests in flight finish (up to `grace`). Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  Gateway() = default;

  std::shared_ptr<MessageBackend> backend_;
  std::shared_ptr<std::atomic<bool>> draining_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<ApiHandler> handler_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace ds::gateway
