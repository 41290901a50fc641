// AdminRoutes: the operator endpoints every Data Services process serves,
// written once and mounted on any ds::http::Server — the admin port
// (AdminServer) and the gateway's API port.
//
//   GET /metrics   Prometheus text exposition format 0.0.4 of a registry
//   GET /healthz   200 "ok\n" while `healthy()` (or when it is null), else 503
//                  "unhealthy\n"
//
// Usage:
//   ds::metrics::AdminRoutes admin(registry, [] { return true; });
//   if (std::optional<ds::http::Response> r = admin.Serve(request)) return responder.Send(*r);
//
// Thread-safe: `healthy` and registry->Collect() are called on the calling
// (I/O) thread, so they must be thread-safe and quick.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "http/response.h"
#include "http/server.h"
#include "prometheus/registry.h"

namespace ds::metrics {

class AdminRoutes {
 public:
  // `registry` must not be null; `healthy` may be (always healthy).
  AdminRoutes(std::shared_ptr<prometheus::Registry> registry, std::function<bool()> healthy)
      : registry_(std::move(registry)), healthy_(std::move(healthy)) {}

  // True for the paths served here (query strings ignored).
  static bool Matches(const http::Request& request);
  // The answer for /metrics or /healthz (405 with `Allow: GET` for another
  // method); nullopt for any other path.
  std::optional<http::Response> Serve(const http::Request& request) const;

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  const std::function<bool()> healthy_;
};

}  // namespace ds::metrics
