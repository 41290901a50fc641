#include "http/server.h"

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/test_handler.h"
#include "testing/http_test_client.h"

namespace ds::http {
namespace {

namespace beast_http = boost::beast::http;
using ::ds::http::testing::TestHandler;
using ::ds::testing::HttpTestClient;
using ::testing::HasSubstr;

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = {}) {
    if (options.io_threads == 0) options.io_threads = 2;
    auto server = Server::Start(options, handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void SetUp() override { StartServer(); }

  std::shared_ptr<TestHandler> handler_ = std::make_shared<TestHandler>();
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  HttpTestClient client(server_->port());
  for (int i = 0; i < 20; ++i) {
    auto res = client.Post("/echo", "n" + std::to_string(i));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "POST n" + std::to_string(i));
    EXPECT_EQ(res[beast_http::field::server], "ds");
  }
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrderEvenWhenAnsweredOutOfOrder) {
  HttpTestClient client(server_->port());
  // All three requests in one write; the server reads ahead and hands all of
  // them to the handler before the first is answered.
  client.SendRaw(
      "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nthird");
  ASSERT_TRUE(handler_->WaitForParked(2));
  // Read ahead: the echo is handled while the first two wait.
  ASSERT_TRUE(handler_->WaitForRequests(3));
  handler_->Release(1, "second");  // the second answered first...
  handler_->Release(0, "first");
  EXPECT_EQ(client.Read().body(), "first");  // ...but written in request order
  EXPECT_EQ(client.Read().body(), "second");
  EXPECT_EQ(client.Read().body(), "POST third");
}

TEST_F(ServerTest, ReadyPipelinedAnswersGoOutTogetherAndInOrder) {
  HttpTestClient client(server_->port());
  std::string burst;
  for (int i = 0; i < 16; ++i) {
    burst += "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n" +
             std::string(i < 10 ? "0" : "") + std::to_string(i);
  }
  client.SendRaw(burst);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(client.Read().body(), "POST " + std::string(i < 10 ? "0" : "") + std::to_string(i));
  }
}

TEST_F(ServerTest, MalformedRequestsGet400ThenCloseAndServerStillServes) {
  for (const char* bad : {"NOT HTTP AT ALL\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                          "POST /echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n"}) {
    HttpTestClient client(server_->port());
    client.SendRaw(bad);
    auto res = client.Read();
    EXPECT_EQ(res.result_int(), 400) << bad;
    EXPECT_THAT(res.body(), HasSubstr("malformed HTTP request"));
    EXPECT_FALSE(res.keep_alive());
    EXPECT_TRUE(client.ClosedByPeer());
  }
  HttpTestClient client(server_->port());
  EXPECT_EQ(client.Get("/echo").result_int(), 200);
}

TEST_F(ServerTest, AnswersBeforeAMalformedRequestStillGoOutFirst) {
  HttpTestClient client(server_->port());
  client.SendRaw("GET /later HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n");
  ASSERT_TRUE(handler_->WaitForParked(1));
  handler_->Release(0, "first");
  EXPECT_EQ(client.Read().body(), "first");
  EXPECT_EQ(client.Read().result_int(), 400);
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(ServerTest, OversizedHeaderGets431) {
  server_.reset();
  StartServer({.max_header_bytes = 1024});
  HttpTestClient client(server_->port());
  client.SendRaw("GET /echo HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  auto res = client.Read();
  EXPECT_EQ(res.result_int(), 431);
  EXPECT_THAT(res.body(), HasSubstr("1024"));
}

TEST_F(ServerTest, OversizedBodyGets413FromContentLengthAndFromChunks) {
  server_.reset();
  StartServer({.max_body_bytes = 100});
  {
    HttpTestClient client(server_->port());
    client.SendRaw("POST /echo HTTP/1.1\r\nContent-Length: 101\r\n\r\n");  // body never sent
    EXPECT_EQ(client.Read().result_int(), 413);
  }
  {
    HttpTestClient client(server_->port());
    client.SendRaw("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" +
                   std::string(100, 'x') + "\r\n1\r\ny\r\n0\r\n\r\n");
    EXPECT_EQ(client.Read().result_int(), 413);
  }
  HttpTestClient client(server_->port());
  EXPECT_EQ(client.Post("/echo", std::string(100, 'z')).body(), "POST " + std::string(100, 'z'));
}

TEST_F(ServerTest, ExpectContinueGets100BeforeTheBody) {
  HttpTestClient client(server_->port());
  client.SendRaw("POST /echo HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(client.Read().result_int(), 100);
  client.SendRaw("body");
  EXPECT_EQ(client.Read().body(), "POST body");
}

TEST_F(ServerTest, HeadGetsHeadersWithoutBody) {
  HttpTestClient client(server_->port());
  client.SendRaw(
      "HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  // A HEAD answer has a Content-Length but no body; the next answer follows.
  const std::string raw = client.ReadUntilClosed();
  EXPECT_THAT(raw, HasSubstr("Content-Length: 5\r\n"));
  EXPECT_EQ(raw.find("HEAD "), std::string::npos);
  EXPECT_THAT(raw, HasSubstr("\r\n\r\nGET "));
  EXPECT_THAT(raw, HasSubstr("Connection: close\r\n"));
}

TEST_F(ServerTest, AnswersFromOtherThreadsReachTheRightConnection) {
  std::vector<std::unique_ptr<HttpTestClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<HttpTestClient>(server_->port()));
    clients.back()->SendRaw("GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(handler_->WaitForParked(static_cast<size_t>(i) + 1));
  }
  std::vector<std::thread> threads;
  for (int i = 3; i >= 0; --i) {
    Responder res = handler_->TakeParked(static_cast<size_t>(i));
    threads.emplace_back([res, i] {
      Response r(200);
      r.SetSharedBody(std::make_shared<const std::string>("client " + std::to_string(i)));
      res.Send(std::move(r));
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(clients[i]->Read().body(), "client " + std::to_string(i));
}

TEST_F(ServerTest, AClientThatGoesAwayCancelsItsPendingRequests) {
  {
    HttpTestClient client(server_->port());
    client.SendRaw("GET /later HTTP/1.1\r\nHost: x\r\n\r\nGET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(handler_->WaitForParked(2));
  }  // closes the socket
  EXPECT_TRUE(handler_->WaitForCancelled(2));
  // Answering a cancelled request is harmless.
  handler_->Release(0, "too late");
  HttpTestClient next(server_->port());
  EXPECT_EQ(next.Get("/echo").result_int(), 200);
}

TEST_F(ServerTest, AHandlerDeadlineAnswersAnUnansweredRequest) {
  HttpTestClient client(server_->port());
  auto res = client.Get("/deadline?ms=30");
  EXPECT_EQ(res.result_int(), 504);
  EXPECT_EQ(res.body(), "deadline");
  // Deadlines of pipelined requests fire independently, earliest first.
  client.SendRaw(
      "GET /deadline?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /deadline?ms=10 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(client.Read().result_int(), 504);
  EXPECT_EQ(client.Read().result_int(), 504);
}

TEST_F(ServerTest, AThrowingHandlerGets500AndTheConnectionStaysUsable) {
  HttpTestClient client(server_->port());
  EXPECT_EQ(client.Get("/throw").result_int(), 500);
  EXPECT_EQ(client.Get("/echo").result_int(), 200);
}

TEST_F(ServerTest, IdleAndSlowHeaderConnectionsTimeOut) {
  server_.reset();
  StartServer({.idle_timeout = absl::Milliseconds(100), .header_timeout = absl::Milliseconds(100)});
  HttpTestClient idle(server_->port());
  EXPECT_EQ(idle.Get("/echo").result_int(), 200);
  EXPECT_TRUE(idle.ClosedByPeer());  // within the 10 s the client waits
  HttpTestClient slow(server_->port());
  slow.SendRaw("GET /echo HTTP/1.1\r\nHost:");  // and nothing more
  EXPECT_TRUE(slow.ClosedByPeer());
}

TEST_F(ServerTest, ConnectionsOverTheCapAreClosed) {
  server_.reset();
  StartServer({.max_connections = 2});
  HttpTestClient a(server_->port());
  HttpTestClient b(server_->port());
  EXPECT_EQ(a.Get("/echo").result_int(), 200);
  EXPECT_EQ(b.Get("/echo").result_int(), 200);
  HttpTestClient c(server_->port());
  EXPECT_TRUE(c.ClosedByPeer());
  EXPECT_EQ(a.Get("/echo").result_int(), 200);
}

TEST_F(ServerTest, GracefulShutdownFinishesInFlightAndClosesIdle) {
  HttpTestClient idle(server_->port());
  EXPECT_EQ(idle.Get("/echo").result_int(), 200);
  HttpTestClient busy(server_->port());
  busy.SendRaw("GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(handler_->WaitForParked(1));
  std::thread stopper([&] { server_->Shutdown(absl::Seconds(10)); });
  EXPECT_TRUE(idle.ClosedByPeer());
  handler_->Release(0, "finished");
  auto res = busy.Read();
  EXPECT_EQ(res.body(), "finished");
  EXPECT_FALSE(res.keep_alive());  // Connection: close
  stopper.join();
  EXPECT_EQ(server_->connections(), 0);
}

TEST_F(ServerTest, ShutdownAfterTheGraceClosesWhatIsLeft) {
  HttpTestClient busy(server_->port());
  busy.SendRaw("GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(handler_->WaitForParked(1));
  server_->Shutdown(absl::Milliseconds(50));
  EXPECT_EQ(handler_->cancelled(), 1);
  EXPECT_TRUE(busy.ClosedByPeer());
  handler_->Release(0, "after the server stopped");  // harmless
}

TEST_F(ServerTest, AnswerAfterTheServerIsGoneIsHarmless) {
  HttpTestClient client(server_->port());
  client.SendRaw("GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(handler_->WaitForParked(1));
  Responder res = handler_->TakeParked(0);
  server_.reset();
  res.Send(Response(200));
  EXPECT_TRUE(res.answered());
}

// Answers first (inline, or from another thread before going on), then
// registers cancel and deadline callbacks that hold the request's own
// Responder and a share of `held`: a cycle unless the server drops them.
class AnswerThenCallbacksHandler : public Handler {
 public:
  void Handle(Request req, Responder res) override {
    if (req.target() == "/inline") {
      res.Send(Response(204));
    } else {
      std::thread([res] { res.Send(Response(204)); }).join();
    }
    res.OnCancel([res, held = held_] {});
    res.SetDeadline(absl::Now() + absl::Hours(1), [res, held = held_] {});
  }
  std::shared_ptr<int> held_ = std::make_shared<int>(0);
};

TEST(ServerLifetimeTest, CallbacksRegisteredAfterTheAnswerAreReleased) {
  auto handler = std::make_shared<AnswerThenCallbacksHandler>();
  const std::weak_ptr<int> held = handler->held_;
  auto server = Server::Start({.io_threads = 2}, handler);
  ASSERT_TRUE(server.ok()) << server.status();
  {
    HttpTestClient client((*server)->port());
    EXPECT_EQ(client.Get("/inline").result_int(), 204);
    EXPECT_EQ(client.Get("/elsewhere").result_int(), 204);
  }
  server->reset();  // joins the I/O threads: every Handle call has returned
  handler->held_.reset();
  EXPECT_TRUE(held.expired()) << "a callback (and the exchange it holds) outlived the server";
}

TEST_F(ServerTest, ManyIoThreadsServeManyConnections) {
  server_.reset();
  StartServer({.io_threads = 4});
  EXPECT_EQ(server_->io_threads(), 4);
  std::vector<std::unique_ptr<HttpTestClient>> clients;
  for (int i = 0; i < 12; ++i) clients.push_back(std::make_unique<HttpTestClient>(server_->port()));
  for (int round = 0; round < 3; ++round) {
    for (auto& c : clients) EXPECT_EQ(c->Post("/echo", "x").body(), "POST x");
  }
}

// Seeded random byte streams, some behind a valid request line: the server
// answers or closes each connection, and keeps serving.
TEST_F(ServerTest, RandomGarbageNeverBreaksTheServer) {
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
      bytes +=
          (rng() % 4 == 0) ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
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

TEST(ServerStartTest, RejectsBadOptions) {
  auto handler = std::make_shared<TestHandler>();
  EXPECT_EQ(Server::Start({.address = "nope"}, handler).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Server::Start({.io_threads = -1}, handler).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Server::Start({.max_pipelined_requests = 0}, handler).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Server::Start({}, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  auto first = Server::Start({}, handler);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Server::Start({.port = (*first)->port()}, handler).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_GE((*first)->io_threads(), 1);  // 0 = one per core
}

}  // namespace
}  // namespace ds::http
