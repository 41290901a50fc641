// ds::http::Server: the one HTTP/1.1 server of Data Services — the gateway's
// API port and every process's admin port (/metrics, /healthz) run on it.
//
// What it does, in one place:
// - N I/O threads (`io_threads`), each running its own event loop; a
//   connection lives on one thread for its whole life, so its state needs no
//   lock and a handler's answer for it is queued to that thread (answers from
//   other threads are batched: one wake-up per burst, not one per answer).
// - Keep-alive and HTTP/1.1 pipelining: the server reads ahead, hands every
//   complete request to the handler at once (up to `max_pipelined_requests`
//   per connection), and writes the answers strictly in request order, several
//   in one gather write when they are ready together.
// - Limits: request line + headers (`max_header_bytes` → 431), body
//   (`max_body_bytes` → 413, from Content-Length before the body arrives, or
//   while a chunked body does), malformed HTTP → 400. After such an answer the
//   connection closes (lingering briefly so the client can read it).
// - Timeouts: `idle_timeout` (keep-alive connection with nothing to do),
//   `header_timeout` (first byte of a request → end of its headers),
//   `body_timeout` (end of headers → end of body), `write_timeout` (one write).
//   A connection that runs out of time is closed without an answer.
// - A connection cap (`max_connections`: more are closed at once) and a
//   graceful drain (Shutdown).
// - A client that goes away (EOF or reset while its requests are pending) is
//   noticed at once, because a read is always outstanding: every unanswered
//   request's OnCancel callback runs. (Like nginx, a client that half-closes
//   its sending side counts as gone.)
// - Long-lived responses: a handler may answer with a stream (Server-Sent
//   Events and the like: chunked body, backpressure, close notification) or
//   take the socket over after the request (WebSocket upgrade).
//
// Example 1 — an ordinary answer, now or later, from any thread:
//   class Hello : public ds::http::Handler {
//     void Handle(ds::http::Request req, ds::http::Responder res) override {
//       ds::http::Response r(200);
//       r.SetStaticHeader("Content-Type", "text/plain");
//       r.SetBody("hi\n");
//       res.Send(std::move(r));
//     }
//   };
//   auto server = ds::http::Server::Start({.port = 0}, std::make_shared<Hello>());
//   uint16_t port = (*server)->port();
//   (*server)->Shutdown(absl::Seconds(5));
//
// Example 2 — Server-Sent Events with backpressure:
//   void Handle(ds::http::Request req, ds::http::Responder res) override {
//     ds::http::Response head(200);
//     head.SetStaticHeader("Content-Type", "text/event-stream");
//     auto events = res.StartStream(std::move(head), {
//         .on_written = [](size_t queued) { /* below the limit again: resume */ },
//         .on_closed = [hub = hub_](absl::Status why) { hub->Unsubscribe(...); },
//     });
//     hub_->Subscribe([events](const std::string& event) {  // any thread
//       if (!events->Write("data: " + event + "\n\n")) { /* full: slow client */ }
//     });
//   }
//
// Example 3 — a WebSocket upgrade (Boost.Beast) on the same socket:
//   void Handle(ds::http::Request req, ds::http::Responder res) override {
//     if (!boost::beast::websocket::is_upgrade(req)) return res.Send(Response(426));
//     res.TakeOver([req = std::move(req)](ds::http::TakenConnection c) mutable {
//       auto ws = std::make_shared<boost::beast::websocket::stream<
//           boost::asio::ip::tcp::socket>>(std::move(std::get<0>(c.stream)));
//       c.lease.OnShutdown([ws](bool force) { /* send a close frame; force: close */ });
//       ws->async_accept(req, [ws, lease = std::move(c.lease)](auto ec) mutable {...});
//     });
//   On an HTTPS server the stream is alternative 1, a TlsStream (handshake
//   done): wrap it in websocket::stream<TlsStream> and keep c.tls_context.
//   }
//
// Threads: Start/port/connections/Shutdown are thread-safe; Shutdown must not
// be called from a handler or an I/O thread. Handler methods run on I/O
// threads and must not block.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "http/response.h"
#include "http/tls.h"

namespace ds::http {

namespace internal {
class Exchange;
class LeaseState;
class StreamState;
}  // namespace internal

using Request = boost::beast::http::request<boost::beast::http::string_body>;

// What a handler tells the access log about a request it handles (all
// optional). Written by the handler before it answers — from any thread, one
// at a time — and read by the server after the answer.
struct AccessNotes {
  // Echoed to the client as `X-Request-Id` on the answer when set (must be a
  // header-safe token: a value with CR or LF is not echoed).
  std::string request_id;
  std::string principal;  // who the request acted for
  std::string route;      // the route template ("/v1/channels/{id}/messages")
  std::string channel;
  std::string upstream;   // the backend that answered
  std::string coalesced;  // how the answer was shared
};

// One finished request, for an access log. `status` is 0 when the request was
// never answered (the client went away, the connection timed out or was shut
// down); for a malformed request `method` and `target` are empty.
struct ExchangeRecord {
  absl::Time received;     // when its headers had been read
  absl::Duration latency;  // received → last byte written (or given up)
  const boost::asio::ip::tcp::endpoint& peer;
  bool secure;
  std::string_view method;
  std::string_view target;
  int status;
  uint64_t body_bytes;  // body bytes written (a stream's whole length)
  const AccessNotes& notes;
};

// Told about every request when it is over, on the connection's I/O thread;
// must not block (format, then hand the line to a logger).
class AccessObserver {
 public:
  virtual ~AccessObserver() = default;
  virtual void OnExchangeDone(const ExchangeRecord& record) = 0;
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;               // 0 = pick a free port; port() tells which
  int io_threads = 0;              // 0 = one per core
  std::string server_name = "ds";  // the `Server` header
  uint32_t max_header_bytes = 8 * 1024;
  uint64_t max_body_bytes = 64 * 1024;
  int max_connections = 10'000;
  // Requests read ahead on one connection and not yet answered.
  int max_pipelined_requests = 16;
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Duration header_timeout = absl::Seconds(10);
  absl::Duration body_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  // HTTPS when set: every connection starts with a TLS handshake (bounded by
  // header_timeout). Reloading the credentials affects new connections only.
  std::shared_ptr<TlsCredentials> tls;
  // Access log: told about every request once it is over (see ExchangeRecord).
  std::shared_ptr<AccessObserver> access_observer;
};

// A streaming response's notifications. Each runs on the connection's I/O
// thread; any may be empty.
struct StreamCallbacks {
  // After each completed socket write: the bytes still queued.
  std::function<void(size_t queued_bytes)> on_written;
  // The server started draining. The handler should finish the stream soon
  // (Close()); without this callback the server closes it at once.
  std::function<void()> on_drain;
  // The stream ended, exactly once: OK after Close() and the final bytes were
  // written; CANCELLED when the client went away; DEADLINE_EXCEEDED when a
  // write took longer than write_timeout; UNAVAILABLE when the server shut the
  // connection down.
  std::function<void(absl::Status)> on_closed;
};

// The body of a streaming response (chunked on HTTP/1.1; on HTTP/1.0 the
// connection closes at its end). Thread-safe: Write and Close may be called
// from any thread, in any order; data is written in Write order.
class ResponseStream {
 public:
  // Queues `data` for writing. Returns false, queueing nothing, when the
  // stream has ended or when `max_queued_bytes` are already queued (a single
  // piece larger than the limit is accepted into an empty queue) — the
  // backpressure signal: wait for on_written, or give up on the client.
  bool Write(std::string data);
  bool Write(std::shared_ptr<const std::string> data);
  // Ends the response after the queued data. Idempotent.
  void Close();
  size_t queued_bytes() const;

 private:
  friend class Responder;
  explicit ResponseStream(std::shared_ptr<internal::StreamState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<internal::StreamState> state_;
};

// Keeps a taken-over connection counted by the server (for max_connections
// and for the drain wait) until it is destroyed. Movable.
class ConnectionLease {
 public:
  ConnectionLease() = default;
  ConnectionLease(ConnectionLease&&) noexcept = default;
  ConnectionLease& operator=(ConnectionLease&&) noexcept;
  ~ConnectionLease();
  // `fn(false)` when the server starts draining (finish soon), `fn(true)` when
  // the grace period is over (close the socket now and drop this lease). Runs
  // on the connection's I/O thread.
  void OnShutdown(std::function<void(bool force)> fn);

 private:
  friend class internal::Exchange;
  explicit ConnectionLease(std::shared_ptr<internal::LeaseState> s) : state_(std::move(s)) {}
  std::shared_ptr<internal::LeaseState> state_;
};

// The byte stream under a connection: plain TCP (index 0) or, on a server
// with ServerOptions::tls, TLS over TCP (index 1; WSS after an upgrade).
using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
using UpgradedStream = std::variant<boost::asio::ip::tcp::socket, TlsStream>;

struct TakenConnection {
  UpgradedStream stream;
  // The TLS context a TlsStream refers to: keep it as long as the stream.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  // Bytes the server had read past the request (normally none: a WebSocket
  // client waits for the 101 before sending frames).
  boost::beast::flat_buffer leftover;
  ConnectionLease lease;
};

// How a handler answers one request. A cheap, copyable handle; copies refer to
// the same request. Exactly one of Send / StartStream / TakeOver takes effect
// (the first); later calls are ignored. The server keeps answers in request
// order, so an answer is written once every earlier request's answer is.
class Responder {
 public:
  // Any thread.
  void Send(Response response) const;
  // Any thread. The head's status and headers go out as soon as the earlier
  // answers have; the returned stream is usable at once. `max_queued_bytes`
  // bounds what may wait in memory for a slow client.
  std::shared_ptr<ResponseStream> StartStream(Response head, StreamCallbacks callbacks,
                                              size_t max_queued_bytes = 1 << 20) const;
  // Any thread. Once every earlier answer is written, `fn` receives the socket
  // (on the connection's I/O thread); the server forgets the connection except
  // for the lease. Meant for upgrade requests (the server stops reading after
  // one); for others, bytes the client pipelined after the request go to
  // `leftover`.
  void TakeOver(std::function<void(TakenConnection)> fn) const;

  // True once an answer was given (any thread).
  bool answered() const;

  // The following two are called on the I/O thread, inside Handle() or later
  // from code running on executor(). At most one callback of each kind.
  // `fn` runs on the I/O thread if the client goes away (or the server closes
  // the connection) before this request was answered. Both callbacks are
  // dropped (never run) once the request is answered, so they may hold this
  // Responder.
  void OnCancel(std::function<void()> fn) const;
  // `fn` runs on the I/O thread at `deadline` if the request is unanswered by
  // then (it should answer, e.g. 504).
  void SetDeadline(absl::Time deadline, std::function<void()> fn) const;

  // The connection's I/O thread (for timers and follow-up work).
  boost::asio::any_io_executor executor() const;

  // The client's address and port (any thread).
  const boost::asio::ip::tcp::endpoint& peer() const;
  // True when the request came over TLS (any thread).
  bool secure() const;
  // This request's access-log notes (see AccessNotes for when to write them).
  AccessNotes& notes() const;

 private:
  friend class internal::Exchange;
  explicit Responder(std::shared_ptr<internal::Exchange> ex) : ex_(std::move(ex)) {}
  std::shared_ptr<internal::Exchange> ex_;
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Called once per complete request on an I/O thread; must not block. Must
  // eventually answer through `responder` (the connection's later answers wait
  // for this one) — or never, if OnCancel/SetDeadline callbacks answer.
  virtual void Handle(Request request, Responder responder) = 0;
  // The answer to a request that could not be read: 400 (malformed), 413
  // (body too large), 431 (headers too large), or 500 when Handle threw.
  // `detail` says why. Default: a text/plain body with `detail`.
  virtual Response ProtocolError(int status, std::string_view detail);
};

class Server {
 public:
  // Binds, starts the I/O threads and begins accepting. INVALID_ARGUMENT for a
  // bad address or option or a null handler, UNAVAILABLE when the address
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options,
                                                       std::shared_ptr<Handler> handler);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();  // Shutdown(absl::ZeroDuration())

  uint16_t port() const;
  // Open connections now (taken-over ones included).
  int connections() const;
  int io_threads() const;

  // Graceful stop: stops accepting; closes idle connections (and those in the
  // middle of sending a request); lets requests being handled finish, their
  // answers going out with `Connection: close`; tells streams and taken-over
  // connections to finish; waits up to `grace`; then closes whatever is left
  // and joins the I/O threads. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  class Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds::http
