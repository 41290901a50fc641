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
// Behaviour: any other path is 404; a method other than GET on /metrics or
// /healthz is 405. Connections are kept alive; each read (headers
// and the small body an admin request may carry) must complete within
// kAdminReadTimeout. Requests with headers over 8 KiB get 431, bodies over
// 4 KiB get 413, malformed HTTP gets 400; after those the connection is closed.
// Nothing a client sends can crash the process.
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
};

// How long one HTTP request may take to arrive (idle keep-alive connections
// are closed after this too).
inline constexpr absl::Duration kAdminReadTimeout = absl::Seconds(30);

// Thread-safe: every method may be called from any thread, except that Stop()
// (and the destructor) must not be called from inside `healthy`. The server
// runs one I/O thread of its own; `healthy` and registry->Collect() are called
// on it, so they must be thread-safe and quick.
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
