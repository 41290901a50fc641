// HttpTestClient: the blocking HTTP/1.1 test client over one TCP connection to
// 127.0.0.1, for tests that need keep-alive, pipelining, raw (malformed)
// bytes or long-lived responses (streams) — the one HTTP client of the tests
// that drive a server in-process. (Multi-process tests that count failures
// use ds::testing::HttpClient in testing/process.h, which returns statuses
// instead of throwing.)
//
// Usage:
//   ds::testing::HttpTestClient client(port);
//   auto res = client.Get("/healthz");                    // a whole exchange
//   client.SendRaw("BROKEN\r\n\r\n");                     // raw bytes ...
//   auto err = client.Read();                             // ... one response
//   client.SendGet("/v1/channels/42/events");             // a stream:
//   std::string head = client.ReadUntil("retry: 2000");   //   read as bytes
//
// Reads share one buffer: bytes received but not yet returned by one kind of
// read are seen by the next. Every read gives up after 10 s (a broken server
// fails the test instead of hanging it).
//
// Not thread-safe: one test thread per client.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ds::testing {

class HttpTestClient {
 public:
  using Response = boost::beast::http::response<boost::beast::http::string_body>;
  using Headers = std::vector<std::pair<std::string, std::string>>;

  struct Options {
    // SO_RCVBUF set before connecting (0: the system's): a tiny receive
    // window makes the server's writes back up.
    int receive_buffer = 0;
  };

  explicit HttpTestClient(uint16_t port) : HttpTestClient(port, Options{}) {}
  HttpTestClient(uint16_t port, Options options);

  // --- whole exchanges ---
  // Writes a request (Host: 127.0.0.1 unless `headers` sets it; a body or a
  // POST gets Content-Length) and reads its response; throws on a read error.
  Response Request(boost::beast::http::verb method, std::string target, std::string body = "",
                   Headers headers = {});
  Response Get(std::string target, Headers headers = {});
  Response Post(std::string target, std::string body, Headers headers = {});

  // --- raw bytes ---
  // Sends each SendRaw at once (no Nagle delay): for tests that cut requests
  // into many small writes.
  void SetNoDelay();
  void SendRaw(std::string_view bytes);
  // Sends "GET `target` HTTP/1.1" with Host and `extra_headers` (whole
  // "Name: value\r\n" lines) and does not wait for the answer.
  void SendGet(std::string_view target, std::string_view extra_headers = "");
  // Half-closes: the server sees end-of-stream after the bytes sent so far.
  void FinishSending();

  // Reads one response; `ec` (if given) receives a read error instead of a throw.
  Response Read(boost::beast::error_code* ec = nullptr);
  // Everything received up to and including `needle`, removed from the
  // buffer; "" (and the bytes left in pending()) when it did not come before
  // the peer closed or 10 s passed.
  std::string ReadUntil(std::string_view needle);
  // Reads until at least `n` bytes are buffered (or the peer closed, or 10 s).
  void ReadBytes(size_t n);
  // Everything the server sends until it closes the connection (or 10 s pass).
  std::string ReadUntilClosed();
  // True when the server has closed the connection (EOF or reset on read).
  bool ClosedByPeer();

  // Whether a read has seen the connection end.
  bool closed() const { return closed_; }
  // Bytes received and not yet returned (for failure messages).
  std::string pending() const;

 private:
  // One read of whatever arrives within `slice` (at most), appended to the
  // buffer; marks closed_ on EOF or error.
  void ReadSome(std::chrono::steady_clock::duration slice);

  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool closed_ = false;
};

}  // namespace ds::testing
