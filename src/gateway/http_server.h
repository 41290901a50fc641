// HttpServer: an asynchronous HTTP/1.1 server (Boost.Beast) with the limits a
// public-facing API server needs, handing each complete request to an
// HttpHandler that answers asynchronously, from any thread.
//
// Usage:
//   class Hello : public ds::gateway::HttpHandler {
//     void Handle(HttpRequest req, HttpReply reply) override {
//       HttpResponse res(boost::beast::http::status::ok, req.version());
//       res.body() = "hi";
//       reply(std::move(res));            // now or later, from any thread
//     }
//     HttpResponse ProtocolError(boost::beast::http::status s, std::string_view why) override {...}
//   };
//   auto server = ds::gateway::HttpServer::Start({.port = 0}, std::make_shared<Hello>());
//   uint16_t port = (*server)->port();
//   (*server)->Shutdown(absl::Seconds(5));
//
// Protocol behaviour:
// - Keep-alive and pipelining: requests on one connection are read and answered
//   one at a time, in order (the next request is read after the response is
//   written). `Expect: 100-continue` is honoured.
// - Limits: header bytes (431), body bytes (413, decided from Content-Length
//   before the body is read, or while a chunked body arrives), malformed HTTP
//   (400). These responses come from HttpHandler::ProtocolError, carry
//   `Connection: close`, and the connection is closed after them (lingering
//   briefly so the client can read the answer).
// - read_timeout bounds the time to receive one request (headers and body) and
//   the idle time of a keep-alive connection; write_timeout bounds a write.
//   A connection that times out is closed without an answer.
// - Past max_connections, new connections are closed at once.
//
// Threads: `threads` I/O threads share one io_context; each connection runs on
// its own strand. Handle() and ProtocolError() are called on I/O threads and
// must not block. Start/port/Shutdown are thread-safe; Shutdown must not be
// called from an I/O thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ds::gateway {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Sends the response to one request. May be called from any thread and copied
// freely; the first call sends, later calls are ignored. The server sets the
// response's version, Content-Length and keep-alive (Connection: close when the
// client asked for it or the server is draining). Calling it after the server
// stopped is harmless.
using HttpReply = std::function<void(HttpResponse)>;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Called once per complete request, on an I/O thread; must not block. Must
  // eventually call `reply` exactly once (the connection waits for it).
  virtual void Handle(HttpRequest request, HttpReply reply) = 0;
  // The response to a request that could not be read: 400 (malformed), 413
  // (body too large) or 431 (headers too large). `detail` says why.
  virtual HttpResponse ProtocolError(boost::beast::http::status status,
                                     std::string_view detail) = 0;
};

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = pick; port() tells which
  int threads = 2;
  uint32_t max_header_bytes = 8 * 1024;  // request line + header fields
  uint64_t max_body_bytes = 64 * 1024;
  absl::Duration read_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  int max_connections = 10000;
};

class HttpServer {
 public:
  // Binds, starts the I/O threads and begins accepting. INVALID_ARGUMENT for a
  // bad address or option, UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                           std::shared_ptr<HttpHandler> handler);

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Shutdown(absl::ZeroDuration()).
  ~HttpServer();

  uint16_t port() const;
  // Connections open now.
  int connections() const;

  // Graceful stop: stops accepting, closes idle connections (and those still
  // receiving a request), lets requests being handled finish and their
  // responses be written with `Connection: close`, waiting up to `grace`; then
  // closes whatever is left and joins the I/O threads. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  class Impl;
  friend class HttpSession;  // one connection (http_server.cc)
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace ds::gateway
