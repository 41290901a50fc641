// Internal to ds_http: the byte stream under one connection — plain TCP, or
// TLS over TCP (UpgradedStream in server.h). The connection code reaches the
// socket only through this class; a TLS connection differs only by the
// handshake before its first read.
//
// Not thread-safe: used on the connection's I/O thread only.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <memory>
#include <utility>
#include <variant>

#include "http/server.h"

namespace ds::http::internal {

class Transport {
 public:
  // TLS when `tls` is set (the context is kept as long as the stream).
  Transport(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> tls)
      : stream_(std::move(socket)), tls_(std::move(tls)) {
    if (tls_ != nullptr) {
      boost::asio::ip::tcp::socket plain = std::move(std::get<0>(stream_));
      stream_.emplace<TlsStream>(std::move(plain), *tls_);
    }
  }

  bool tls() const { return tls_ != nullptr; }
  const std::shared_ptr<boost::asio::ssl::context>& tls_context() const { return tls_; }

  // TLS only: the server side of the handshake.
  template <typename Handler>
  void AsyncHandshake(Handler&& handler) {
    std::get<TlsStream>(stream_).async_handshake(boost::asio::ssl::stream_base::server,
                                                 std::forward<Handler>(handler));
  }

  template <typename MutableBuffer, typename Handler>
  void AsyncReadSome(const MutableBuffer& buffer, Handler&& handler) {
    std::visit([&](auto& s) { s.async_read_some(buffer, std::forward<Handler>(handler)); },
               stream_);
  }

  template <typename ConstBuffers, typename Handler>
  void AsyncWrite(const ConstBuffers& buffers, Handler&& handler) {
    std::visit(
        [&](auto& s) { boost::asio::async_write(s, buffers, std::forward<Handler>(handler)); },
        stream_);
  }

  boost::asio::ip::tcp::socket& socket() {
    return std::visit(
        [](auto& s) -> boost::asio::ip::tcp::socket& { return boost::beast::get_lowest_layer(s); },
        stream_);
  }

  // No more bytes will be sent (the peer reads end-of-stream; on TLS without
  // a close_notify, which HTTP/1.1's own framing makes harmless).
  void ShutdownSend() {
    boost::system::error_code ignored;
    socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  }
  // Pending operations complete with operation_aborted.
  void Close() {
    boost::system::error_code ignored;
    socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  // Hands the stream to a new owner; this transport must not be used after.
  UpgradedStream Release() { return std::move(stream_); }

 private:
  UpgradedStream stream_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace ds::http::internal
