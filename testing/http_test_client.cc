#include "testing/http_test_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "testing/http_client.h"

namespace ds::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

constexpr std::chrono::seconds kReadTimeout(10);
// ReadUntil reads in slices: a small receive window can stall a read that
// long on delayed ACKs without the connection being over.
constexpr std::chrono::milliseconds kSlice(200);

// Every request of both clients: HTTP/1.1, Host: 127.0.0.1 unless `headers`
// sets it, Content-Length for a POST or a body.
http::request<http::string_body> BuildRequest(http::verb method, std::string target,
                                              std::string body,
                                              const HttpTestClient::Headers& headers) {
  http::request<http::string_body> req(method, target, 11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::move(body);
  if (method == http::verb::post || !req.body().empty()) req.prepare_payload();
  return req;
}

std::string_view Buffered(const beast::flat_buffer& buffer) {
  return std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size());
}

}  // namespace

HttpTestClient::HttpTestClient(uint16_t port, Options options) : stream_(ioc_) {
  asio::ip::tcp::socket& socket = stream_.socket();
  socket.open(asio::ip::tcp::v4());
  if (options.receive_buffer > 0) {
    socket.set_option(asio::socket_base::receive_buffer_size(options.receive_buffer));
  }
  socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

HttpTestClient::Response HttpTestClient::Request(http::verb method, std::string target,
                                                 std::string body, Headers headers) {
  http::write(stream_.socket(), BuildRequest(method, std::move(target), std::move(body), headers));
  return Read();
}

HttpTestClient::Response HttpTestClient::Get(std::string target, Headers headers) {
  return Request(http::verb::get, std::move(target), "", std::move(headers));
}

HttpTestClient::Response HttpTestClient::Post(std::string target, std::string body,
                                              Headers headers) {
  return Request(http::verb::post, std::move(target), std::move(body), std::move(headers));
}

void HttpTestClient::SetNoDelay() {
  stream_.socket().set_option(boost::asio::ip::tcp::no_delay(true));
}

void HttpTestClient::SendRaw(std::string_view bytes) {
  asio::write(stream_.socket(), asio::buffer(bytes.data(), bytes.size()));
}

void HttpTestClient::SendGet(std::string_view target, std::string_view extra_headers) {
  std::string request = "GET ";
  request.append(target).append(" HTTP/1.1\r\nHost: x\r\n").append(extra_headers).append("\r\n");
  SendRaw(request);
}

void HttpTestClient::FinishSending() {
  beast::error_code ignored;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

HttpTestClient::Response HttpTestClient::Read(beast::error_code* ec) {
  Response res;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  beast::error_code local;
  stream_.expires_after(kReadTimeout);
  http::async_read(stream_, buffer_, parser, [&](beast::error_code e, std::size_t) { local = e; });
  ioc_.restart();
  ioc_.run();
  stream_.expires_never();
  if (ec != nullptr) *ec = local;
  if (local && ec == nullptr) throw beast::system_error(local);
  if (!local) res = parser.release();
  return res;
}

void HttpTestClient::ReadSome(std::chrono::steady_clock::duration slice) {
  stream_.expires_never();
  stream_.async_read_some(buffer_.prepare(16384), [&](beast::error_code e, std::size_t n) {
    buffer_.commit(n);
    // operation_aborted: our own cancel at the end of the slice, not EOF.
    if (e && e != asio::error::operation_aborted) closed_ = true;
  });
  ioc_.restart();
  ioc_.run_for(slice);
  if (!ioc_.stopped()) {
    stream_.socket().cancel();
    ioc_.restart();
    ioc_.run();
  }
}

std::string HttpTestClient::ReadUntil(std::string_view needle) {
  const auto deadline = std::chrono::steady_clock::now() + kReadTimeout;
  while (Buffered(buffer_).find(needle) == std::string_view::npos && !closed_ &&
         std::chrono::steady_clock::now() < deadline) {
    ReadSome(kSlice);
  }
  const size_t at = Buffered(buffer_).find(needle);
  if (at == std::string_view::npos) return "";
  std::string out(Buffered(buffer_).substr(0, at + needle.size()));
  buffer_.consume(out.size());
  return out;
}

void HttpTestClient::ReadBytes(size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + kReadTimeout;
  while (buffer_.size() < n && !closed_ && std::chrono::steady_clock::now() < deadline) {
    ReadSome(deadline - std::chrono::steady_clock::now());
  }
}

std::string HttpTestClient::ReadUntilClosed() {
  const auto deadline = std::chrono::steady_clock::now() + kReadTimeout;
  while (!closed_ && std::chrono::steady_clock::now() < deadline) {
    ReadSome(deadline - std::chrono::steady_clock::now());
  }
  std::string out(Buffered(buffer_));
  buffer_.consume(buffer_.size());
  return out;
}

bool HttpTestClient::ClosedByPeer() {
  char byte;
  beast::error_code result;
  stream_.expires_after(kReadTimeout);
  stream_.async_read_some(asio::buffer(&byte, 1),
                          [&](beast::error_code e, std::size_t) { result = e; });
  ioc_.restart();
  ioc_.run();
  stream_.expires_never();
  return result == asio::error::eof || result == asio::error::connection_reset;
}

std::string HttpTestClient::pending() const { return std::string(Buffered(buffer_)); }

// --- HttpClient ----------------------------------------------------------------

struct HttpClient::Impl {
  explicit Impl(uint16_t p) : port(p) {}

  absl::StatusOr<HttpResult> Exchange(http::verb verb, std::string_view target,
                                      std::string_view body, absl::Duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
    beast::error_code ec;
    auto fail = [&](const char* what) -> absl::Status {
      stream.reset();
      buffer.clear();
      const beast::string_view method = http::to_string(verb);
      const std::string message = absl::StrCat(
          "HTTP ", absl::string_view(method.data(), method.size()), " 127.0.0.1:", port,
          absl::string_view(target.data(), target.size()), ": ", what, ": ", ec.message());
      if (ec == beast::error::timeout) return absl::DeadlineExceededError(message);
      return absl::UnavailableError(message);
    };
    auto run = [&] {
      ioc.restart();
      ioc.run();
    };
    if (!stream.has_value()) {
      stream.emplace(ioc);
      buffer.clear();
      stream->expires_at(deadline);
      stream->async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                            [&](beast::error_code e) { ec = e; });
      run();
      if (ec) return fail("connect");
    }
    const http::request<http::string_body> req = BuildRequest(
        verb, std::string(target), std::string(body),
        verb == http::verb::post ? HttpTestClient::Headers{{"Content-Type", "application/json"}}
                                 : HttpTestClient::Headers{});
    stream->expires_at(deadline);
    http::async_write(*stream, req, [&](beast::error_code e, size_t) { ec = e; });
    run();
    if (ec) return fail("write");
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::async_read(*stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
    run();
    if (ec) return fail("read");
    http::response<http::string_body> res = parser.release();
    if (!res.keep_alive()) {
      stream.reset();
      buffer.clear();
    }
    return HttpResult{static_cast<int>(res.result_int()), std::move(res.body())};
  }

  uint16_t port;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

HttpClient::HttpClient(uint16_t port) : impl_(std::make_unique<Impl>(port)) {}
HttpClient::~HttpClient() = default;

absl::StatusOr<HttpResult> HttpClient::Get(std::string_view target, absl::Duration timeout) {
  return impl_->Exchange(http::verb::get, target, "", timeout);
}

absl::StatusOr<HttpResult> HttpClient::Post(std::string_view target, std::string_view json_body,
                                            absl::Duration timeout) {
  return impl_->Exchange(http::verb::post, target, json_body, timeout);
}

absl::StatusOr<HttpResult> HttpGet(uint16_t port, std::string_view target, absl::Duration timeout) {
  HttpClient client(port);
  return client.Get(target, timeout);
}

absl::StatusOr<HttpResult> HttpPost(uint16_t port, std::string_view target,
                                    std::string_view json_body, absl::Duration timeout) {
  HttpClient client(port);
  return client.Post(target, json_body, timeout);
}

}  // namespace ds::testing
