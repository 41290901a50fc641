#include "gateway/gateway.h"

#include <utility>

#include "absl/status/status.h"

namespace ds::gateway {

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(
    GatewayOptions options, std::shared_ptr<MessageBackend> backend,
    std::shared_ptr<prometheus::Registry> registry) {
  if (backend == nullptr || registry == nullptr) {
    return absl::InvalidArgumentError("gateway: null backend or registry");
  }
  if (options.deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("gateway: deadline must be positive");
  }
  std::unique_ptr<Gateway> gateway(new Gateway());
  gateway->backend_ = backend;
  // The handler reads shared state, not the Gateway: the HTTP server holds
  // the handler for as long as connections live.
  auto healthy = [draining = gateway->draining_, backend] {
    return !draining->load() && backend->Healthy();
  };
  ApiHandlerOptions handler_options;
  handler_options.default_deadline = options.deadline;
  handler_options.reads = options.reads;
  gateway->handler_ = std::make_shared<ApiHandler>(std::move(handler_options), std::move(backend),
                                                   std::move(registry), std::move(healthy));
  std::shared_ptr<http::Handler> served = gateway->handler_;
  if (options.front) {
    served = options.front(gateway->handler_);
    if (served == nullptr) return absl::InvalidArgumentError("gateway: front returned null");
  }
  if (options.http.server_name == "ds") options.http.server_name = "ds-gateway";
  absl::StatusOr<std::unique_ptr<http::Server>> server =
      http::Server::Start(std::move(options.http), std::move(served));
  if (!server.ok()) return server.status();
  gateway->server_ = std::move(*server);
  return gateway;
}

Gateway::~Gateway() {
  Shutdown(absl::ZeroDuration());
  server_.reset();
  handler_.reset();  // the last reference: waits for reads and writes in flight
}

uint16_t Gateway::port() const { return server_->port(); }

int Gateway::io_threads() const { return server_->io_threads(); }

bool Gateway::Healthy() const { return !draining_->load() && backend_->Healthy(); }

void Gateway::Shutdown(absl::Duration grace) {
  draining_->store(true);
  server_->Shutdown(grace);
}

}  // namespace ds::gateway
