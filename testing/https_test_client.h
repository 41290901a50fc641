// HttpsTestClient: a blocking HTTPS/1.1 test client on one keep-alive TLS
// connection to 127.0.0.1 (SNI and Host "localhost"), for tests of the TLS
// listener (certificates, reload, refused clients).
//
// Usage:
//   ds::testing::HttpsTestClient client(port, client_tls_context);
//   ASSERT_FALSE(client.handshake_error()) << client.handshake_error().message();
//   EXPECT_EQ(client.PeerName(), "server-1");
//   auto [status, body] = client.Get("/healthz");
//
// Not thread-safe: one test thread per client.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace ds::testing {

class HttpsTestClient {
 public:
  // Connects and handshakes; a failure of either is handshake_error().
  HttpsTestClient(uint16_t port, std::shared_ptr<boost::asio::ssl::context> ctx);

  const boost::system::error_code& handshake_error() const { return handshake_error_; }

  // The status and body of GET `target`; {0, the error} when the exchange failed.
  std::pair<int, std::string> Get(const std::string& target);

  // The common name of the server's certificate ("" if none).
  std::string PeerName();

 private:
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  boost::asio::io_context ioc_;
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream_;
  boost::beast::flat_buffer buffer_;
  boost::system::error_code handshake_error_;
};

}  // namespace ds::testing
