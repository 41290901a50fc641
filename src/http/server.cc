#include "http/server.h"

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "http/internal/connection.h"
#include "http/internal/exchange.h"
#include "http/internal/logger.h"
#include "http/internal/worker.h"

namespace ds::http {

using internal::Clock;
using internal::Connection;
using internal::Exchange;
using internal::HttpLogger;
using internal::ServerState;
using internal::StreamState;
using internal::Worker;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

namespace {

Clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

absl::Status Validate(const ServerOptions& o) {
  if (o.io_threads < 0 || o.io_threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("io_threads must be in 0..256 (0 = one per core), got ", o.io_threads));
  }
  if (o.max_header_bytes < 256) {
    return absl::InvalidArgumentError("max_header_bytes must be at least 256");
  }
  if (o.max_connections < 1) return absl::InvalidArgumentError("max_connections must be >= 1");
  if (o.max_pipelined_requests < 1) {
    return absl::InvalidArgumentError("max_pipelined_requests must be >= 1");
  }
  for (absl::Duration d : {o.idle_timeout, o.header_timeout, o.body_timeout, o.write_timeout}) {
    if (d <= absl::ZeroDuration()) return absl::InvalidArgumentError("timeouts must be positive");
  }
  return absl::OkStatus();
}

// Timeouts are checked this often: an eighth of the shortest one, within
// [5 ms, 250 ms].
Clock::duration SweepInterval(const ServerOptions& o) {
  const absl::Duration shortest =
      std::min({o.idle_timeout, o.header_timeout, o.body_timeout, o.write_timeout});
  return ToChrono(std::clamp(shortest / 8, absl::Milliseconds(5), absl::Milliseconds(250)));
}

}  // namespace

// ---------------------------------------------------------------- Server

class Server::Impl {
 public:
  Impl(ServerOptions options, std::shared_ptr<Handler> handler)
      : state_(std::make_shared<ServerState>(std::move(options), std::move(handler))) {}
  ~Impl() { Shutdown(absl::ZeroDuration()); }

  absl::Status Listen();
  void Shutdown(absl::Duration grace);

  uint16_t port() const { return port_; }
  int connections() const { return state_->connections(); }
  int io_threads() const { return static_cast<int>(workers_.size()); }

 private:
  void Accept();

  const std::shared_ptr<ServerState> state_;
  std::vector<std::shared_ptr<Worker>> workers_;
  // Used on workers_[0]'s thread only.
  std::optional<tcp::acceptor> acceptor_;
  std::optional<net::steady_timer> accept_retry_;
  size_t next_worker_ = 0;
  uint16_t port_ = 0;

  std::mutex shutdown_mu_;
  bool stopped_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

absl::Status Server::Impl::Listen() {
  const ServerOptions& o = state_->options;
  if (absl::Status s = Validate(o); !s.ok()) return s;
  boost::system::error_code ec;
  const net::ip::address address = net::ip::make_address(o.address, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad listen address '", o.address, "': ", ec.message()));
  }
  int threads = o.io_threads;
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < threads; ++i) workers_.push_back(std::make_shared<Worker>(SweepInterval(o)));
  acceptor_.emplace(workers_[0]->ioc());
  accept_retry_.emplace(workers_[0]->ioc());
  const tcp::endpoint endpoint(address, o.port);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", o.address, ":", o.port, ": ", ec.message()));
  }
  port_ = acceptor_->local_endpoint().port();
  for (const auto& w : workers_) w->StartThread();
  workers_[0]->Post([this] { Accept(); });
  return absl::OkStatus();
}

void Server::Impl::Accept() {
  // Handlers capture `this`: they run only while the worker threads run,
  // which Shutdown joins before the Impl is destroyed.
  std::shared_ptr<Worker> worker = workers_[next_worker_++ % workers_.size()];
  acceptor_->async_accept(
      worker->ioc(), [this, worker](const boost::system::error_code& ec, tcp::socket socket) {
        if (!acceptor_->is_open()) return;
        if (ec) {
          // Usually EMFILE (out of descriptors): retry after a pause rather
          // than spin while the condition lasts.
          HttpLogger()->warn("accept failed: {}", ec.message());
          accept_retry_->expires_after(std::chrono::milliseconds(50));
          accept_retry_->async_wait([this](const boost::system::error_code& wait_ec) {
            if (!wait_ec && acceptor_->is_open()) Accept();
          });
          return;
        }
        if (state_->draining.load(std::memory_order_acquire) || !state_->TryAddConnection()) {
          boost::system::error_code ignored;
          socket.close(ignored);  // over max_connections (or draining)
        } else {
          auto connection = std::make_shared<Connection>(std::move(socket), worker, state_);
          worker->Post([connection] { connection->Start(); });
        }
        Accept();
      });
}

void Server::Impl::Shutdown(absl::Duration grace) {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (stopped_) return;
  stopped_ = true;
  state_->draining.store(true, std::memory_order_release);
  if (!workers_.empty()) {
    workers_[0]->Post([this] {
      boost::system::error_code ignored;
      if (acceptor_) acceptor_->close(ignored);
      if (accept_retry_) accept_retry_->cancel();
    });
    for (const auto& w : workers_) w->ShutdownConnections(/*force=*/false);
    state_->WaitForNoConnections(grace);
    for (const auto& w : workers_) w->ShutdownConnections(/*force=*/true);
    // Closing is immediate once the threads run it; bounded anyway.
    state_->WaitForNoConnections(absl::Seconds(1));
  }
  for (const auto& w : workers_) w->StopThread();
  acceptor_.reset();
  accept_retry_.reset();
  for (const auto& w : workers_) w->Destroy();
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options,
                                                      std::shared_ptr<Handler> handler) {
  if (handler == nullptr) return absl::InvalidArgumentError("null HTTP handler");
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  if (absl::Status status = impl->Listen(); !status.ok()) return status;
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { impl_->Shutdown(absl::ZeroDuration()); }
uint16_t Server::port() const { return impl_->port(); }
int Server::connections() const { return impl_->connections(); }
int Server::io_threads() const { return impl_->io_threads(); }
void Server::Shutdown(absl::Duration grace) { impl_->Shutdown(grace); }

Response Handler::ProtocolError(int status, std::string_view detail) {
  Response r(status);
  r.SetStaticHeader("Content-Type", "text/plain; charset=utf-8");
  r.SetBody(absl::StrCat(absl::string_view(detail.data(), detail.size()), "\n"));
  return r;
}

// ---------------------------------------------------------------- Responder

void Responder::Send(Response response) const {
  if (ex_ == nullptr || !ex_->Claim()) return;
  Worker& worker = *ex_->worker;
  if (!worker.InThisThread()) return worker.Deliver(ex_, std::move(response));
  ex_->kind = Exchange::Kind::kResponse;
  ex_->response = std::move(response);
  if (std::shared_ptr<Connection> c = ex_->connection.lock()) c->OnAnswered(*ex_);
}

std::shared_ptr<ResponseStream> Responder::StartStream(Response head, StreamCallbacks callbacks,
                                                       size_t max_queued_bytes) const {
  auto state = std::make_shared<StreamState>(ex_->worker, ex_->connection, std::move(callbacks),
                                             max_queued_bytes);
  auto stream = std::shared_ptr<ResponseStream>(new ResponseStream(state));
  if (!ex_->Claim()) {
    state->Reject();
    return stream;
  }
  auto deliver = [ex = ex_, state, head = std::move(head)]() mutable {
    ex->kind = Exchange::Kind::kStream;
    ex->response = std::move(head);
    ex->stream = state;
    if (std::shared_ptr<Connection> c = ex->connection.lock()) {
      c->OnAnswered(*ex);
    } else {
      state->Finish(absl::CancelledError("client went away"));
    }
  };
  if (ex_->worker->InThisThread()) {
    deliver();
  } else {
    ex_->worker->Post(std::move(deliver));
  }
  return stream;
}

void Responder::TakeOver(std::function<void(TakenConnection)> fn) const {
  if (!ex_->Claim()) return;
  auto deliver = [ex = ex_, fn = std::move(fn)]() mutable {
    ex->kind = Exchange::Kind::kTakeOver;
    ex->take_over = std::move(fn);
    if (std::shared_ptr<Connection> c = ex->connection.lock()) c->OnAnswered(*ex);
  };
  if (ex_->worker->InThisThread()) {
    deliver();
  } else {
    ex_->worker->Post(std::move(deliver));
  }
}

bool Responder::answered() const { return ex_->answered(); }

void Responder::OnCancel(std::function<void()> fn) const {
  // Answered: `fn` could never run, and kept it may hold this Responder (a
  // cycle through the exchange that nothing would break).
  if (ex_->answered()) return;
  if (ex_->cancelled) {
    if (fn) fn();
    return;
  }
  ex_->on_cancel = std::move(fn);
}

void Responder::SetDeadline(absl::Time deadline, std::function<void()> fn) const {
  if (deadline == absl::InfiniteFuture() || ex_->answered() || ex_->cancelled) return;
  const absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
  ex_->deadline = Clock::now() + ToChrono(left);
  ex_->on_expired = std::move(fn);
  if (std::shared_ptr<Connection> c = ex_->connection.lock()) c->OnDeadlineSet(ex_->deadline);
}

net::any_io_executor Responder::executor() const { return ex_->worker->ioc().get_executor(); }
const tcp::endpoint& Responder::peer() const { return ex_->peer; }
bool Responder::secure() const { return ex_->secure; }
AccessNotes& Responder::notes() const { return ex_->notes; }

// ---------------------------------------------------------------- streams and leases

bool ResponseStream::Write(std::string data) {
  return state_->Write(std::make_shared<const std::string>(std::move(data)));
}
bool ResponseStream::Write(std::shared_ptr<const std::string> data) {
  return state_->Write(std::move(data));
}
void ResponseStream::Close() { state_->Close(); }
size_t ResponseStream::queued_bytes() const { return state_->queued_bytes(); }

ConnectionLease& ConnectionLease::operator=(ConnectionLease&& other) noexcept = default;
ConnectionLease::~ConnectionLease() = default;

void ConnectionLease::OnShutdown(std::function<void(bool force)> fn) {
  if (state_ != nullptr) state_->on_shutdown = std::move(fn);
}

}  // namespace ds::http
