#include "metrics/admin_server.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "http/server.h"
#include "metrics/admin_handler.h"

namespace ds::metrics {
namespace {

class AdminHandler : public http::Handler {
 public:
  explicit AdminHandler(AdminRoutes routes) : routes_(std::move(routes)) {}

  void Handle(http::Request request, http::Responder responder) override {
    if (std::optional<http::Response> r = routes_.Serve(request)) return responder.Send(*r);
    http::Response r(404);
    r.SetStaticHeader("Content-Type", "text/plain");
    r.SetBody("not found\n");
    responder.Send(std::move(r));
  }

 private:
  const AdminRoutes routes_;
};

}  // namespace

class AdminServer::Impl {
 public:
  explicit Impl(std::unique_ptr<http::Server> server) : server_(std::move(server)) {}
  std::unique_ptr<http::Server> server_;
};

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(
    AdminServerOptions options, std::shared_ptr<prometheus::Registry> registry,
    std::function<bool()> healthy) {
  if (registry == nullptr) return absl::InvalidArgumentError("admin server: null registry");
  http::ServerOptions http_options;
  http_options.address = options.address;
  http_options.port = options.port;
  http_options.io_threads = options.io_threads;
  http_options.server_name = "ds-admin";
  http_options.max_header_bytes = 8 * 1024;
  http_options.max_body_bytes = 4 * 1024;
  http_options.max_connections = 1024;
  http_options.idle_timeout = kAdminReadTimeout;
  http_options.header_timeout = kAdminReadTimeout;
  http_options.body_timeout = kAdminReadTimeout;
  auto handler =
      std::make_shared<AdminHandler>(AdminRoutes(std::move(registry), std::move(healthy)));
  absl::StatusOr<std::unique_ptr<http::Server>> server =
      http::Server::Start(std::move(http_options), std::move(handler));
  if (!server.ok()) {
    return absl::Status(server.status().code(),
                        absl::StrCat("admin server: ", server.status().message()));
  }
  return std::unique_ptr<AdminServer>(new AdminServer(std::make_unique<Impl>(std::move(*server))));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { Stop(); }

uint16_t AdminServer::port() const { return impl_->server_->port(); }

void AdminServer::Stop() { impl_->server_->Shutdown(absl::ZeroDuration()); }

}  // namespace ds::metrics
