#include "gateway/http_server.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <exception>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gateway/internal/logger.h"

namespace ds::gateway {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

// After an answer that closes the connection, unread request bytes (e.g. the
// body of a 413) are read and dropped for a moment, so that closing the socket
// does not reset the connection before the client has read the answer.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr size_t kLingerMaxBytes = 256 * 1024;

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(absl::ToChronoNanoseconds(d));
}

// Network-level failures (peer gone, timeout, shutdown) end the connection
// silently; HTTP parse failures deserve an answer.
bool IsProtocolError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

class HttpSession;

// Shared by the HttpServer facade and the reply callbacks (weakly). Owns the
// io_context, its threads, the acceptor and (strongly) every live session.
class HttpServer::Impl : public std::enable_shared_from_this<HttpServer::Impl> {
 public:
  Impl(HttpServerOptions options, std::shared_ptr<HttpHandler> handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        ioc_(options_.threads),
        work_(ioc_.get_executor()),
        acceptor_(net::make_strand(ioc_)) {}
  ~Impl();

  absl::Status Listen();
  void Shutdown(absl::Duration grace);

  uint16_t port() const { return port_; }
  int connections() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(sessions_.size());
  }
  const HttpServerOptions& options() const { return options_; }
  HttpHandler& handler() const { return *handler_; }
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  // Drops the server's reference to a closed session.
  void Unregister(HttpSession* session);

 private:
  void Accept();
  void Run();

  const HttpServerOptions options_;
  const std::shared_ptr<HttpHandler> handler_;
  std::atomic<bool> draining_{false};
  uint16_t port_ = 0;

  // std::mutex rather than absl::Mutex: the apt Abseil is not built with
  // ThreadSanitizer, which would then report false races.
  mutable std::mutex mu_;
  std::condition_variable sessions_empty_;  // signalled when sessions_ empties
  absl::flat_hash_map<HttpSession*, std::shared_ptr<HttpSession>> sessions_ ABSL_GUARDED_BY(mu_);

  std::mutex shutdown_mu_;  // serialises Listen/Shutdown
  bool stopped_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(shutdown_mu_);

  // Declared last so they are destroyed first, while the members above are
  // still valid for the handlers (and sessions) the io_context destroys.
  net::io_context ioc_;
  // Keeps the I/O threads running while requests wait for their handlers
  // (no socket operation is pending then) until Shutdown.
  net::executor_work_guard<net::io_context::executor_type> work_;
  tcp::acceptor acceptor_;  // used on its own strand only
  net::steady_timer accept_retry_{acceptor_.get_executor()};  // on the acceptor's strand
};

// One connection. Every method runs on the connection's strand. Owned by the
// server's session table (and by its pending asynchronous operations); reply
// callbacks hold it weakly.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, HttpServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}

  net::any_io_executor executor() { return stream_.get_executor(); }

  void Start() { ReadHeader(); }

  // Shutdown: close if no request is being handled; otherwise the response
  // goes out with Connection: close and the connection ends after it.
  void Drain() {
    if (state_ == State::kReading || state_ == State::kContinue) Close();
  }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    server_->Unregister(this);
  }

  // A handler's answer to request number `seq`.
  void Deliver(uint64_t seq, HttpResponse res) {
    if (state_ != State::kHandling || seq != seq_) return;
    const bool keep_alive = keep_alive_ && !server_->draining();
    res.version(version_);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    Write(std::move(res), /*then_close=*/!keep_alive);
  }

 private:
  enum class State { kReading, kContinue, kHandling, kWriting, kLingering, kClosed };

  void ReadHeader() {
    if (server_->draining()) {
      Close();
      return;
    }
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(server_->options().max_header_bytes);
    parser_->body_limit(server_->options().max_body_bytes);
    // One deadline for the whole request (and for the idle time before it).
    stream_.expires_after(ToChrono(server_->options().read_timeout));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (state_ == State::kClosed) return;
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return Dispatch();
    const HttpRequest& req = parser_->get();
    if (req.version() >= 11 &&
        beast::iequals(req[http::field::expect], "100-continue")) {
      state_ = State::kContinue;
      continue_.emplace(http::status::continue_, 11);
      http::async_write(stream_, *continue_,
                        beast::bind_front_handler(&HttpSession::OnContinueWritten, shared_from_this()));
      return;
    }
    ReadBody();
  }

  void OnContinueWritten(beast::error_code ec, std::size_t) {
    continue_.reset();
    if (state_ == State::kClosed) return;
    if (ec) return Close();
    ReadBody();
  }

  void ReadBody() {
    state_ = State::kReading;
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnBody, shared_from_this()));
  }

  void OnBody(beast::error_code ec, std::size_t) {
    if (state_ == State::kClosed) return;
    if (ec) return OnReadError(ec);
    Dispatch();
  }

  void OnReadError(const beast::error_code& ec) {
    if (!IsProtocolError(ec)) return Close();
    http::status status = http::status::bad_request;
    if (ec == http::error::header_limit) status = http::status::request_header_fields_too_large;
    if (ec == http::error::body_limit) status = http::status::payload_too_large;
    std::string detail = ec.message();
    if (status == http::status::request_header_fields_too_large) {
      detail = absl::StrCat("request header exceeds ", server_->options().max_header_bytes,
                            " bytes");
    } else if (status == http::status::payload_too_large) {
      detail = absl::StrCat("request body exceeds ", server_->options().max_body_bytes, " bytes");
    } else {
      detail = absl::StrCat("malformed HTTP request: ", detail);
    }
    HttpResponse res = server_->handler().ProtocolError(status, detail);
    res.version(11);
    res.keep_alive(false);
    res.prepare_payload();
    Write(std::move(res), /*then_close=*/true);
  }

  void Dispatch() {
    stream_.expires_never();
    state_ = State::kHandling;
    const uint64_t seq = ++seq_;
    HttpRequest req = parser_->release();
    parser_.reset();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    std::weak_ptr<HttpServer::Impl> weak_server = server_->weak_from_this();
    std::weak_ptr<HttpSession> weak_session = weak_from_this();
    auto sent = std::make_shared<std::atomic<bool>>(false);
    HttpReply reply = [weak_server, weak_session, sent, seq](HttpResponse res) {
      if (sent->exchange(true)) return;
      // Keep the server (and its io_context) alive while posting; the session
      // reference is released first.
      std::shared_ptr<HttpServer::Impl> server = weak_server.lock();
      if (server == nullptr) return;
      std::shared_ptr<HttpSession> session = weak_session.lock();
      if (session == nullptr) return;
      net::post(session->executor(), [session, seq, res = std::move(res)]() mutable {
        session->Deliver(seq, std::move(res));
      });
    };
    try {
      server_->handler().Handle(std::move(req), reply);
    } catch (const std::exception& e) {
      GatewayLogger()->error("request handler threw: {}", e.what());
      reply(server_->handler().ProtocolError(http::status::internal_server_error,
                                             "internal error"));
    }
  }

  void Write(HttpResponse res, bool then_close) {
    state_ = State::kWriting;
    close_after_write_ = then_close;
    response_.emplace(std::move(res));
    stream_.expires_after(ToChrono(server_->options().write_timeout));
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&HttpSession::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    response_.reset();
    if (state_ == State::kClosed) return;
    if (ec) return Close();
    if (close_after_write_) return Linger();
    ReadHeader();
  }

  void Linger() {
    state_ = State::kLingering;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    linger_left_ = kLingerMaxBytes;
    Discard();
  }

  void Discard() {
    stream_.async_read_some(
        buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          if (self->state_ == State::kClosed) return;
          if (ec || n >= self->linger_left_) return self->Close();
          self->linger_left_ -= n;
          self->Discard();
        });
  }

  beast::tcp_stream stream_;
  HttpServer::Impl* const server_;  // outlives every session (see Impl)
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<HttpResponse> response_;
  State state_ = State::kReading;
  uint64_t seq_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool close_after_write_ = false;
  size_t linger_left_ = 0;
};

HttpServer::Impl::~Impl() {
  // HttpSessions must die while the io_context still exists.
  absl::flat_hash_map<HttpSession*, std::shared_ptr<HttpSession>> sessions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sessions.swap(sessions_);
  }
  sessions.clear();
}

absl::Status HttpServer::Impl::Listen() {
  if (options_.threads < 1 || options_.threads > 256) {
    return absl::InvalidArgumentError(absl::StrCat("threads must be in 1..256, got ", options_.threads));
  }
  if (options_.max_header_bytes < 256) {
    return absl::InvalidArgumentError("max_header_bytes must be at least 256");
  }
  if (options_.max_connections < 1) {
    return absl::InvalidArgumentError("max_connections must be at least 1");
  }
  if (options_.read_timeout <= absl::ZeroDuration() ||
      options_.write_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("read_timeout and write_timeout must be positive");
  }
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(options_.address, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad listen address '", options_.address, "': ", ec.message()));
  }
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.address, ":",
                                               options_.port, ": ", ec.message()));
  }
  port_ = acceptor_.local_endpoint().port();
  net::dispatch(acceptor_.get_executor(), [this] { Accept(); });
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { Run(); });
  return absl::OkStatus();
}

void HttpServer::Impl::Run() {
  // Handlers catch what they can; anything escaping (e.g. bad_alloc) is logged
  // and the loop resumes rather than taking the process down.
  while (true) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      GatewayLogger()->error("HTTP I/O loop: {}", e.what());
    }
  }
}

void HttpServer::Impl::Accept() {
  // Handlers capture `this`: they run only while the I/O threads run, which
  // Shutdown joins before the Impl can be destroyed.
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;
    if (ec) {
      // Usually EMFILE (out of descriptors) or a reset before accept. Retry
      // after a pause rather than spinning while the condition lasts.
      GatewayLogger()->warn("accept failed: {}", ec.message());
      accept_retry_.expires_after(std::chrono::milliseconds(50));
      accept_retry_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && acceptor_.is_open()) Accept();
      });
      return;
    }
    std::shared_ptr<HttpSession> session;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!draining() && static_cast<int>(sessions_.size()) < options_.max_connections) {
        session = std::make_shared<HttpSession>(std::move(socket), this);
        sessions_.emplace(session.get(), session);
      } else {
        beast::error_code ignored;
        socket.close(ignored);  // over max_connections (or draining)
      }
    }
    if (session != nullptr) {
      net::dispatch(session->executor(), [session] { session->Start(); });
    }
    Accept();
  });
}

void HttpServer::Impl::Unregister(HttpSession* session) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(session);
  if (sessions_.empty()) sessions_empty_.notify_all();
}

void HttpServer::Impl::Shutdown(absl::Duration grace) {
  std::lock_guard<std::mutex> shutdown_lock(shutdown_mu_);
  if (stopped_) return;
  stopped_ = true;
  draining_.store(true, std::memory_order_release);
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
  });
  auto post_to_all = [this](void (HttpSession::*method)()) {
    std::vector<std::shared_ptr<HttpSession>> sessions;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [ptr, session] : sessions_) sessions.push_back(session);
    }
    for (const std::shared_ptr<HttpSession>& s : sessions) {
      net::post(s->executor(), [s, method] { (s.get()->*method)(); });
    }
  };
  auto wait_for_no_sessions = [this](absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    sessions_empty_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                             [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return sessions_.empty(); });
  };
  post_to_all(&HttpSession::Drain);
  wait_for_no_sessions(grace);
  post_to_all(&HttpSession::Close);
  // Closing is immediate once the strands run; bounded anyway.
  wait_for_no_sessions(absl::Seconds(1));
  work_.reset();
  ioc_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    HttpServerOptions options, std::shared_ptr<HttpHandler> handler) {
  if (handler == nullptr) return absl::InvalidArgumentError("null HTTP handler");
  auto impl = std::make_shared<Impl>(std::move(options), std::move(handler));
  if (absl::Status status = impl->Listen(); !status.ok()) return status;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { impl_->Shutdown(absl::ZeroDuration()); }

uint16_t HttpServer::port() const { return impl_->port(); }

int HttpServer::connections() const { return impl_->connections(); }

void HttpServer::Shutdown(absl::Duration grace) { impl_->Shutdown(grace); }

}  // namespace ds::gateway
