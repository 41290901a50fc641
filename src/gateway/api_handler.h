// ApiHandler: the gateway's HTTP/JSON API on the shared HTTP server
// (ds::http::Server). It matches routes, validates path ids, query parameters
// and bodies (400 naming the field and the reason), gives each request a
// deadline, coalesces identical reads (ReadFlights: one upstream call and one
// encoded body per flight), forwards writes, maps gRPC statuses to HTTP
// statuses and serves /metrics and /healthz (metrics::AdminRoutes).
//
//   GET  /v1/channels/{channel_id}/messages?limit=&before=&after=
//   GET  /v1/channels/{channel_id}/messages/{message_id}
//   POST /v1/channels/{channel_id}/messages     {"author_id","content","nonce"}
//   GET  /metrics    Prometheus text format of `registry`
//   GET  /healthz    200 "ok\n" while healthy(), else 503 "unhealthy\n"
//
// Headers it reads: `x-request-timeout-ms: N` shortens the deadline (1..3600000,
// else 400); `X-DS-Consistency-Token: <id>` on a read asks for read-your-writes
// across gateways (the value a write's answer carried; else 400). Headers it
// writes: `X-DS-Consistency-Token` on a write's 200; `X-DS-Coalesced:
// leader | node-joiner | gateway-joiner` on a read's 200 — the read started
// this gateway's flight and the node queried the store for it / the read
// started the flight but the node answered it from a flight of its own / the
// read joined a flight already running at this gateway. `X-DS-Arrived-Us` when
// the request carried `x-ds-timing`.
//
// Each read keeps its own deadline and its own connection: at its deadline it
// is answered 504 while the flight goes on for the others; a client that goes
// away leaves the flight without affecting anyone.
//
// Usage:
//   auto handler = std::make_shared<ds::gateway::ApiHandler>(
//       ds::gateway::ApiHandlerOptions{}, backend, registry, [] { return true; });
//   auto server = ds::http::Server::Start(http_options, handler);
//
// Threads: Handle/ProtocolError run on HTTP I/O threads and never block; the
// answers are built on gRPC callback threads. Thread-safe. The destructor
// waits for the reads and writes still in flight (each bounded by its
// deadline); it must not run on a gRPC callback thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "gateway/gateway_probe.h"
#include "gateway/message_backend.h"
#include "gateway/read_flights.h"
#include "http/server.h"
#include "metrics/admin_handler.h"
#include "prometheus/registry.h"

namespace ds::gateway {

inline constexpr std::string_view kRequestTimeoutHeader = "x-request-timeout-ms";
inline constexpr uint64_t kMaxRequestTimeoutMs = 3600 * 1000;
inline constexpr std::string_view kConsistencyTokenHeader = "X-DS-Consistency-Token";
inline constexpr std::string_view kCoalescedHeader = "X-DS-Coalesced";
// A request carrying `x-ds-timing` (any value) is answered with
// `X-DS-Arrived-Us`: Unix microseconds when the gateway read it (for the load
// generator's ideal-coalescing figures).
inline constexpr std::string_view kTimingHeader = "x-ds-timing";
inline constexpr std::string_view kArrivedHeader = "X-DS-Arrived-Us";

class ApiExchange;

struct ApiHandlerOptions {
  absl::Duration default_deadline = absl::Seconds(2);
  ReadFlightsOptions reads;
  // Injected clock (deadlines and latency metrics).
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class ApiHandler : public http::Handler {
 public:
  // `backend` and `registry` must not be null; `healthy` may be (always healthy).
  // The probe's metrics are registered in `registry`.
  ApiHandler(ApiHandlerOptions options, std::shared_ptr<MessageBackend> backend,
             std::shared_ptr<prometheus::Registry> registry, std::function<bool()> healthy);
  ~ApiHandler() override;

  void Handle(http::Request request, http::Responder responder) override;
  http::Response ProtocolError(int status, std::string_view detail) override;

 private:
  friend class ApiExchange;  // one request being answered (api_handler.cc)

  void HandleRead(const http::Request& request, uint64_t channel_id, const std::string* message_id,
                  absl::Time deadline, ApiExchange ex);
  void HandleSend(const http::Request& request, uint64_t channel_id, absl::Time deadline,
                  ApiExchange ex);
  void WriteStarted();
  void WriteFinished();

  const ApiHandlerOptions options_;
  const std::shared_ptr<MessageBackend> backend_;
  GatewayProbe probe_;
  const metrics::AdminRoutes admin_;

  // Writes whose answer has not come back (the destructor waits for them).
  std::mutex writes_mu_;  // std::mutex: visible to ThreadSanitizer
  std::condition_variable writes_done_;
  int writes_in_flight_ ABSL_GUARDED_BY(writes_mu_) = 0;

  // Last: destroyed first (it waits for its flights) while the rest lives.
  std::unique_ptr<ReadFlights> reads_;
};

}  // namespace ds::gateway
