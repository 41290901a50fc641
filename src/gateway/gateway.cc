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
  // The handler may outlive the Gateway (callbacks in flight), so it shares
  // the state it reads instead of pointing at the Gateway.
  auto healthy = [draining = gateway->draining_, backend] {
    return !draining->load() && backend->Healthy();
  };
  auto handler = std::make_shared<ApiHandler>(
      ApiHandlerOptions{.default_deadline = options.deadline}, std::move(backend),
      std::move(registry), std::move(healthy));
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start(std::move(options.http), std::move(handler));
  if (!server.ok()) return server.status();
  gateway->server_ = std::move(*server);
  return gateway;
}

Gateway::~Gateway() { Shutdown(absl::ZeroDuration()); }

uint16_t Gateway::port() const { return server_->port(); }

bool Gateway::Healthy() const { return !draining_->load() && backend_->Healthy(); }

void Gateway::Shutdown(absl::Duration grace) {
  draining_->store(true);
  server_->Shutdown(grace);
}

}  // namespace ds::gateway
