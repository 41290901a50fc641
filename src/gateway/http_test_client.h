// Test-only: a blocking HTTP/1.1 client over one TCP connection to 127.0.0.1,
// for tests that need keep-alive, pipelining or raw (malformed) bytes.
//
// Usage:
//   ds::gateway::HttpTestClient client(port);
//   auto res = client.Get("/healthz");
//   client.SendRaw("BROKEN\r\n\r\n");
//   auto err = client.Read();
//
// Not thread-safe: one test thread per client. Reads time out after 10 s so a
// broken server fails the test instead of hanging it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace ds::gateway {

class HttpTestClient {
 public:
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  explicit HttpTestClient(uint16_t port) : stream_(ioc_) {
    stream_.connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  }

  // Sends each SendRaw at once (no Nagle delay): for tests that cut requests
  // into many small writes.
  void SetNoDelay() { stream_.socket().set_option(boost::asio::ip::tcp::no_delay(true)); }

  void SendRaw(std::string_view bytes) {
    boost::asio::write(stream_.socket(), boost::asio::buffer(bytes.data(), bytes.size()));
  }

  // Reads one response; `ec` (if given) receives a read error instead of a throw.
  Response Read(boost::beast::error_code* ec = nullptr) {
    Response res;
    boost::beast::http::response_parser<boost::beast::http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    boost::beast::error_code local;
    stream_.expires_after(std::chrono::seconds(10));
    boost::beast::http::async_read(stream_, buffer_, parser,
                                   [&](boost::beast::error_code e, std::size_t) { local = e; });
    ioc_.restart();
    ioc_.run();
    if (ec != nullptr) *ec = local;
    if (local && ec == nullptr) throw boost::beast::system_error(local);
    if (!local) res = parser.release();
    return res;
  }

  Response Request(boost::beast::http::verb method, std::string target, std::string body = "",
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    boost::beast::http::request<boost::beast::http::string_body> req(method, target, 11);
    req.set(boost::beast::http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = std::move(body);
    if (method == boost::beast::http::verb::post || !req.body().empty()) req.prepare_payload();
    boost::beast::http::write(stream_.socket(), req);
    return Read();
  }

  Response Get(std::string target, std::vector<std::pair<std::string, std::string>> headers = {}) {
    return Request(boost::beast::http::verb::get, std::move(target), "", std::move(headers));
  }
  Response Post(std::string target, std::string body,
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    return Request(boost::beast::http::verb::post, std::move(target), std::move(body),
                   std::move(headers));
  }

  // Half-closes: the server sees end-of-stream after the bytes sent so far.
  void FinishSending() {
    boost::beast::error_code ignored;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  }

  // Everything the server sends until it closes the connection (or 10 s pass).
  std::string ReadUntilClosed() {
    std::string out(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    buffer_.consume(buffer_.size());
    char chunk[4096];
    bool done = false;
    stream_.expires_after(std::chrono::seconds(10));
    std::function<void()> read_more = [&] {
      stream_.async_read_some(boost::asio::buffer(chunk),
                              [&](boost::beast::error_code e, std::size_t n) {
                                out.append(chunk, n);
                                if (e) {
                                  done = true;
                                } else {
                                  read_more();
                                }
                              });
    };
    read_more();
    ioc_.restart();
    ioc_.run();
    (void)done;
    return out;
  }

  // True when the server has closed the connection (EOF or reset on read).
  bool ClosedByPeer() {
    char byte;
    boost::beast::error_code result;
    stream_.expires_after(std::chrono::seconds(10));
    stream_.async_read_some(boost::asio::buffer(&byte, 1),
                            [&](boost::beast::error_code e, std::size_t) { result = e; });
    ioc_.restart();
    ioc_.run();
    return result == boost::asio::error::eof || result == boost::asio::error::connection_reset;
  }

 private:
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace ds::gateway
