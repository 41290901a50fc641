// AdminServer: the small HTTP/1.1 server every Data Services process runs for
// operators: `GET /metrics` (Prometheus text exposition format 0.0.4 of a
// prometheus::Registry) and `GET /healthz` (200 "ok\n" or 503 "unhealthy\n").
//
// Usage:
//   auto registry = std::make_shared<prometheus::Registry>();
//   std::atomic<bool> serving{true};
//   absl::StatusOr<std::unique_ptr<ds::metrics::AdminServer>> admin =
//       ds::metrics::AdminServer::Start({.address = "127.0.0.1", .port = 0}, registry,
//                                       [&] { return serving.load(); });
//   if (!admin.ok()) return admin.status();
//   LOG("admin on port {}", (*admin)->port());
//   ...
//   (*admin)->Stop();  // or let the destructor do it
//
// Behaviour: the routes are AdminRoutes (admin_handler.h); any other path is
// 404. It runs on the shared HTTP server (ds::http::Server, one I/O thread), so
// keep-alive, pipelining, limits and timeouts are that server's: a request must
// arrive within kAdminReadTimeout (idle keep-alive connections are closed after
// it too); headers over 8 KiB get 431, bodies over 4 KiB 413, malformed HTTP
// 400, and the connection is closed after those. Nothing a client sends can
// crash the process.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"

namespace ds::metrics {

struct AdminServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = pick a free port; port() tells which.
  int io_threads = 1;
};

// How long one HTTP request may take to arrive (idle keep-alive connections
// are closed after this too).
inline constexpr absl::Duration kAdminReadTimeout = absl::Seconds(30);

// Thread-safe: every method may be called from any thread, except that Stop()
// (and the destructor) must not be called from inside `healthy`. The server
// runs its own I/O thread(s); `healthy` and registry->Collect() are called on
// them, so they must be thread-safe and quick.
class AdminServer {
 public:
  // Binds `options.address:options.port`, starts the I/O thread and returns the
  // running server. `registry` must not be null; `healthy` may be null (then
  // always healthy). Returns INVALID_ARGUMENT for a bad address or a null
  // registry, UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(
      AdminServerOptions options, std::shared_ptr<prometheus::Registry> registry,
      std::function<bool()> healthy);

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  ~AdminServer();

  // The bound TCP port (the real one when options.port was 0).
  uint16_t port() const;

  // Stops accepting, closes every connection and joins the I/O thread.
  // Idempotent; also called by the destructor.
  void Stop();

 private:
  class Impl;
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds::metrics
