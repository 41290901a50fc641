#include "metrics/admin_server.h"

#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "prometheus/text_serializer.h"
#include "spdlog/spdlog.h"

namespace ds::metrics {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

constexpr uint32_t kHeaderLimit = 8 * 1024;
constexpr uint64_t kBodyLimit = 4 * 1024;
constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

spdlog::logger* Logger() {
  static const std::shared_ptr<spdlog::logger> logger = ds::Logger("metrics");
  return logger.get();
}

// What every connection of one server shares. Only touched on the I/O thread.
struct ServerContext {
  std::shared_ptr<prometheus::Registry> registry;
  std::function<bool()> healthy;
};

// One HTTP/1.1 connection: read a request, answer it, repeat while keep-alive.
// Runs only on the server's single I/O thread, so it needs no strand or lock.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const ServerContext* context)
      : stream_(std::move(socket)), context_(context) {}

  void Start() { ReadRequest(); }

  // Closes the socket; pending operations complete with operation_aborted.
  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(std::chrono::milliseconds(absl::ToInt64Milliseconds(kAdminReadTimeout)));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      // A peer that goes away (or times out) mid-request gets no answer; a peer
      // that sent something unparseable gets a 4xx and the connection is closed,
      // because the rest of its byte stream cannot be framed.
      if (ec.category() != http::make_error_code(http::error::bad_target).category() ||
          ec == http::error::end_of_stream || ec == http::error::partial_message) {
        Close();
        return;
      }
      http::status status = http::status::bad_request;
      if (ec == http::error::header_limit) status = http::status::request_header_fields_too_large;
      if (ec == http::error::body_limit) status = http::status::payload_too_large;
      Respond(MakeResponse(status, 11, /*keep_alive=*/false, "text/plain",
                           std::string(http::obsolete_reason(status)) + "\n"));
      return;
    }
    Respond(Handle(parser_->get()));
  }

  http::response<http::string_body> Handle(const http::request<http::string_body>& req) {
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    if (path != "/metrics" && path != "/healthz") {
      return MakeResponse(http::status::not_found, version, keep_alive, "text/plain",
                          "not found\n");
    }
    if (req.method() != http::verb::get) {
      auto res = MakeResponse(http::status::method_not_allowed, version, keep_alive,
                              "text/plain", "method not allowed\n");
      res.set(http::field::allow, "GET");
      return res;
    }
    if (path == "/healthz") {
      bool healthy = true;
      try {
        healthy = context_->healthy == nullptr || context_->healthy();
      } catch (const std::exception& e) {
        healthy = false;
      }
      return healthy ? MakeResponse(http::status::ok, version, keep_alive, "text/plain", "ok\n")
                     : MakeResponse(http::status::service_unavailable, version, keep_alive,
                                    "text/plain", "unhealthy\n");
    }
    try {
      std::string body = prometheus::TextSerializer().Serialize(context_->registry->Collect());
      return MakeResponse(http::status::ok, version, keep_alive, kMetricsContentType,
                          std::move(body));
    } catch (const std::exception& e) {
      Logger()->error("metrics collection failed: {}", e.what());
      return MakeResponse(http::status::internal_server_error, version, keep_alive,
                          "text/plain", "internal error\n");
    }
  }

  static http::response<http::string_body> MakeResponse(http::status status, unsigned version,
                                                        bool keep_alive,
                                                        std::string_view content_type,
                                                        std::string body) {
    http::response<http::string_body> res(status, version);
    res.set(http::field::server, "ds-admin");
    res.set(http::field::content_type, content_type);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

  void Respond(http::response<http::string_body> res) {
    response_.emplace(std::move(res));
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t /*bytes*/) {
    const bool close = ec || response_->need_eof();
    response_.reset();
    if (close) {
      Close();
      return;
    }
    ReadRequest();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  const ServerContext* const context_;
};

}  // namespace

// Owns the io_context, its thread, the acceptor and (weakly) every session.
class AdminServer::Impl {
 public:
  explicit Impl(ServerContext context) : context_(std::move(context)), acceptor_(ioc_) {}

  absl::Status Listen(const AdminServerOptions& options) {
    beast::error_code ec;
    net::ip::address address = net::ip::make_address(options.address, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("admin server: bad address '", options.address, "': ", ec.message()));
    }
    tcp::endpoint endpoint(address, options.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("admin server: cannot listen on ",
                                                 options.address, ":", options.port, ": ",
                                                 ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    std::lock_guard<std::mutex> lock(stop_mu_);
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  uint16_t port() const { return port_; }

  void Stop() {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (!thread_.joinable()) return;
    net::post(ioc_, [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      for (const std::weak_ptr<Session>& weak : sessions_) {
        if (std::shared_ptr<Session> session = weak.lock()) session->Close();
      }
      sessions_.clear();
      ioc_.stop();
    });
    thread_.join();
  }

 private:
  void Run() {
    // Handlers do not throw by design; an escaping exception (e.g. bad_alloc)
    // is logged and the loop resumes rather than taking the process down.
    while (true) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        Logger()->error("admin server I/O loop: {}", e.what());
      }
    }
  }

  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
      if (!ec) {
        auto session = std::make_shared<Session>(std::move(socket), &context_);
        // Forget sessions that have ended so the list stays bounded by live ones.
        sessions_.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
        sessions_.push_back(session);
        session->Start();
      } else {
        Logger()->warn("admin server accept: {}", ec.message());
      }
      Accept();
    });
  }

  const ServerContext context_;
  net::io_context ioc_{1};
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::list<std::weak_ptr<Session>> sessions_;  // I/O thread only.
  // std::mutex: the apt Abseil is not built with ThreadSanitizer.
  std::mutex stop_mu_;
  std::thread thread_ ABSL_GUARDED_BY(stop_mu_);
};

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(
    AdminServerOptions options, std::shared_ptr<prometheus::Registry> registry,
    std::function<bool()> healthy) {
  if (registry == nullptr) return absl::InvalidArgumentError("admin server: null registry");
  auto impl = std::make_unique<Impl>(ServerContext{std::move(registry), std::move(healthy)});
  if (absl::Status status = impl->Listen(options); !status.ok()) return status;
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { Stop(); }

uint16_t AdminServer::port() const { return impl_->port(); }

void AdminServer::Stop() { impl_->Stop(); }

}  // namespace ds::metrics
