// Internal to ds_http: the byte stream under one connection. The connection
// code reaches the socket only through this class, so adding TLS is adding an
// alternative to UpgradedStream (server.h) plus a handshake before the first
// read — nothing else in the connection changes.
//
// Not thread-safe: used on the connection's I/O thread only.
#pragma once

#include <utility>
#include <variant>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>

#include "http/server.h"

namespace ds::http::internal {

class Transport {
 public:
  explicit Transport(boost::asio::ip::tcp::socket socket) : stream_(std::move(socket)) {}

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

  // No more bytes will be sent (the peer reads end-of-stream).
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
};

}  // namespace ds::http::internal
