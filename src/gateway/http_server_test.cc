#include "gateway/http_server.h"

#include <deque>
#include <random>
#include <string>
#include <thread>

#include <condition_variable>
#include <mutex>
#include "gateway/http_test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ds::gateway {
namespace {

namespace http = boost::beast::http;
using ::testing::HasSubstr;

// /echo answers at once with "<METHOD> <body>"; /later parks the reply until
// the test calls ReleaseOne() from its own thread.
class ScriptedHandler : public HttpHandler {
 public:
  void Handle(HttpRequest req, HttpReply reply) override {
    if (req.target() == "/later") {
      std::lock_guard<std::mutex> lock(mu_);
      parked_.push_back(std::move(reply));
      parked_changed_.notify_all();
      return;
    }
    HttpResponse res(http::status::ok, 11);
    res.body() = std::string(req.method_string()) + " " + req.body();
    reply(res);
    reply(HttpResponse(http::status::internal_server_error, 11));  // ignored: second call
  }

  HttpResponse ProtocolError(http::status status, std::string_view detail) override {
    HttpResponse res(status, 11);
    res.body() = "error: " + std::string(detail);
    return res;
  }

  void WaitForParked(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    parked_changed_.wait(lock, [&] { return parked_.size() >= n; });
  }

  // Answers the oldest parked request with `body`.
  void ReleaseOne(std::string body) {
    HttpReply reply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reply = std::move(parked_.front());
      parked_.pop_front();
    }
    HttpResponse res(http::status::ok, 11);
    res.body() = std::move(body);
    reply(res);
  }

 private:
  std::mutex mu_;  // std::mutex: visible to ThreadSanitizer
  std::condition_variable parked_changed_;
  std::deque<HttpReply> parked_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    auto server = HttpServer::Start(options, handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void SetUp() override { StartServer(); }

  std::shared_ptr<ScriptedHandler> handler_ = std::make_shared<ScriptedHandler>();
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  HttpTestClient client(server_->port());
  for (int i = 0; i < 5; ++i) {
    auto res = client.Post("/echo", "n" + std::to_string(i));
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res.body(), "POST n" + std::to_string(i));
    EXPECT_TRUE(res.keep_alive());
  }
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  HttpTestClient client(server_->port());
  client.SendRaw(
      "POST /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\na"
      "POST /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\nb"
      "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(client.Read().body(), "POST a");
  EXPECT_EQ(client.Read().body(), "POST b");
  auto last = client.Read();
  EXPECT_EQ(last.body(), "GET ");
  EXPECT_FALSE(last.keep_alive());
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(HttpServerTest, MalformedRequestsGet400ThenCloseAndServerStillServes) {
  for (std::string bad : {std::string("NOT HTTP AT ALL\r\n\r\n"), std::string("GET / HTTP/9.9\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
                          std::string("POST /echo HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
                          std::string("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
                          std::string("GET /\0 HTTP/1.1\r\n\r\n", 19)}) {
    HttpTestClient client(server_->port());
    client.SendRaw(bad);
    auto res = client.Read();
    EXPECT_EQ(res.result(), http::status::bad_request) << bad;
    EXPECT_THAT(res.body(), HasSubstr("malformed HTTP request"));
    EXPECT_FALSE(res.keep_alive());
    EXPECT_TRUE(client.ClosedByPeer());
  }
  HttpTestClient client(server_->port());
  EXPECT_EQ(client.Get("/echo").result(), http::status::ok);
}

TEST_F(HttpServerTest, OversizedHeaderGets431) {
  HttpTestClient client(server_->port());
  client.SendRaw("GET /echo HTTP/1.1\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n");
  auto res = client.Read();
  EXPECT_EQ(res.result(), http::status::request_header_fields_too_large);
  EXPECT_THAT(res.body(), HasSubstr("8192"));
}

TEST_F(HttpServerTest, OversizedBodyGets413EvenWhenTheClientSendsIt) {
  HttpTestClient client(server_->port());
  const std::string body(100 * 1024, 'x');
  client.SendRaw("POST /echo HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\n\r\n" + body);
  auto res = client.Read();
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_THAT(res.body(), HasSubstr("65536"));
  HttpTestClient next(server_->port());
  EXPECT_EQ(next.Get("/echo").result(), http::status::ok);
}

TEST_F(HttpServerTest, OversizedChunkedBodyGets413) {
  HttpTestClient client(server_->port());
  std::string raw = "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) raw += "1000\r\n" + std::string(4096, 'y') + "\r\n";
  raw += "0\r\n\r\n";
  client.SendRaw(raw);
  EXPECT_EQ(client.Read().result(), http::status::payload_too_large);
}

TEST_F(HttpServerTest, BodyAtTheLimitIsAccepted) {
  HttpTestClient client(server_->port());
  auto res = client.Post("/echo", std::string(64 * 1024, 'z'));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body().size(), 5 + 64 * 1024u);
}

TEST_F(HttpServerTest, ExpectContinueGets100BeforeTheBody) {
  HttpTestClient client(server_->port());
  client.SendRaw("POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(client.Read().result(), http::status::continue_);
  client.SendRaw("abc");
  EXPECT_EQ(client.Read().body(), "POST abc");
}

TEST_F(HttpServerTest, RepliesFromAnotherThreadReachTheRightConnection) {
  HttpTestClient a(server_->port());
  HttpTestClient b(server_->port());
  a.SendRaw("GET /later HTTP/1.1\r\n\r\n");
  handler_->WaitForParked(1);
  b.SendRaw("GET /later HTTP/1.1\r\n\r\n");
  handler_->WaitForParked(2);
  std::thread([&] {
    handler_->ReleaseOne("for a");
    handler_->ReleaseOne("for b");
  }).join();
  EXPECT_EQ(a.Read().body(), "for a");
  EXPECT_EQ(b.Read().body(), "for b");
  EXPECT_EQ(a.Post("/echo", "again").body(), "POST again");  // a is still alive
}

TEST_F(HttpServerTest, IdleConnectionTimesOut) {
  server_.reset();
  HttpServerOptions options;
  options.read_timeout = absl::Milliseconds(200);
  StartServer(options);
  HttpTestClient client(server_->port());
  client.SendRaw("GET /echo HTTP/1.1\r\n");  // never finished
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(HttpServerTest, ConnectionsOverTheCapAreClosed) {
  server_.reset();
  HttpServerOptions options;
  options.max_connections = 1;
  StartServer(options);
  HttpTestClient first(server_->port());
  EXPECT_EQ(first.Get("/echo").result(), http::status::ok);
  HttpTestClient second(server_->port());
  EXPECT_TRUE(second.ClosedByPeer());
  EXPECT_EQ(first.Get("/echo").result(), http::status::ok);
}

TEST_F(HttpServerTest, GracefulShutdownFinishesInFlightAndClosesIdle) {
  const uint16_t port = server_->port();
  HttpTestClient busy(port);
  HttpTestClient idle(port);
  EXPECT_EQ(idle.Get("/echo").result(), http::status::ok);
  busy.SendRaw("GET /later HTTP/1.1\r\n\r\n");
  handler_->WaitForParked(1);

  std::thread shutdown([&] { server_->Shutdown(absl::Seconds(30)); });
  EXPECT_TRUE(idle.ClosedByPeer());  // idle connections close at once
  handler_->ReleaseOne("finished");
  auto res = busy.Read();
  EXPECT_EQ(res.body(), "finished");
  EXPECT_FALSE(res.keep_alive());  // Connection: close while draining
  shutdown.join();
  EXPECT_EQ(server_->connections(), 0);

  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  boost::beast::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  EXPECT_TRUE(ec) << "still accepting after Shutdown";
}

// Regression: once the acceptor closed, a request waiting for its handler left
// the io_context without pending work, so the I/O threads exited and the
// reply was never written.
TEST_F(HttpServerTest, DrainingDeliversAReplyThatIsTheOnlyWorkLeft) {
  HttpTestClient busy(server_->port());
  busy.SendRaw("GET /later HTTP/1.1\r\n\r\n");
  handler_->WaitForParked(1);
  std::thread shutdown([&] { server_->Shutdown(absl::Seconds(30)); });
  // Wait until the listener is gone, so the reply is the only thing left to do.
  for (;;) {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket probe(ioc);
    boost::beast::error_code ec;
    probe.connect({boost::asio::ip::make_address("127.0.0.1"), server_->port()}, ec);
    if (ec) break;
    // Accepted just before the close; the server closes it while draining.
    char byte;
    probe.read_some(boost::asio::buffer(&byte, 1), ec);
  }
  handler_->ReleaseOne("delivered");
  EXPECT_EQ(busy.Read().body(), "delivered");
  shutdown.join();
}

TEST_F(HttpServerTest, ReplyAfterTheServerIsGoneIsHarmless) {
  HttpTestClient busy(server_->port());
  busy.SendRaw("GET /later HTTP/1.1\r\n\r\n");
  handler_->WaitForParked(1);
  server_->Shutdown(absl::ZeroDuration());
  server_.reset();
  handler_->ReleaseOne("too late");
  boost::beast::error_code ec;
  busy.Read(&ec);
  EXPECT_TRUE(ec);
}

// Seeded random byte streams, some behind a valid request line: the server
// answers or closes each connection, and keeps serving.
TEST_F(HttpServerTest, RandomGarbageNeverBreaksTheServer) {
  std::mt19937 rng(20261121);
  const std::vector<std::string> prefixes = {
      "", "GET /echo HTTP/1.1\r\n", "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "GET /echo HTTP/1.1\r\nHost:"};
  const std::string alphabet = "GETPOST /:\r\n\t HTTP/1.01chunked-Length0123456789abcdef";
  int answered = 0;
  for (int i = 0; i < 300; ++i) {
    std::string bytes = prefixes[rng() % prefixes.size()];
    const size_t n = rng() % 200;
    for (size_t j = 0; j < n; ++j) {
      bytes += (rng() % 4 == 0) ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    }
    HttpTestClient client(server_->port());
    client.SendRaw(bytes);
    client.FinishSending();
    if (client.ReadUntilClosed().rfind("HTTP/1.1 ", 0) == 0) ++answered;
  }
  EXPECT_GT(answered, 0);
  HttpTestClient client(server_->port());
  EXPECT_EQ(client.Post("/echo", "still here").body(), "POST still here");
}

TEST(HttpServerStartTest, RejectsBadOptions) {
  auto handler = std::make_shared<ScriptedHandler>();
  EXPECT_EQ(HttpServer::Start({.address = "nope"}, handler).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpServer::Start({.threads = 0}, handler).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpServer::Start({}, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ds::gateway
