// Gateway-level coalescing, end to end over real sockets: ApiHandler on a real
// ds::http::Server, a fake backend that holds each upstream call open until
// the test releases it.
#include "gateway/read_flights.h"

#include <memory>
#include <string>
#include <vector>

#include "gateway/api_handler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_backend.h"
#include "testing/http_test_client.h"

namespace ds::gateway {
namespace {

using ::ds::testing::FakeBackend;
using ::ds::testing::HttpTestClient;
namespace bhttp = boost::beast::http;
using ::testing::HasSubstr;

constexpr char kList[] = "/v1/channels/7/messages?limit=20";

class ReadFlightsTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }

  void Start(ReadFlightsOptions reads) {
    ApiHandlerOptions options;
    options.reads = reads;
    handler_ = std::make_shared<ApiHandler>(options, backend_, registry_, nullptr);
    auto server = http::Server::Start({.io_threads = 2}, handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    backend_->Park(true);
  }

  // A client on its own connection that has sent one GET.
  std::unique_ptr<HttpTestClient> Send(
      const std::string& target, std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto client = std::make_unique<HttpTestClient>(server_->port());
    std::string raw = "GET " + target + " HTTP/1.1\r\nHost: x\r\n";
    for (const auto& [k, v] : headers) raw += k + ": " + v + "\r\n";
    client->SendRaw(raw + "\r\n");
    return client;
  }

  std::string Metrics() {
    HttpTestClient client(server_->port());
    return client.Get("/metrics").body();
  }
  // Scrapes until `text` shows up (each scrape is a round trip; 10 s at most).
  bool WaitForMetric(const std::string& text) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (Metrics().find(text) != std::string::npos) return true;
    }
    return false;
  }
  bool WaitForWaiters(int n) {
    return WaitForMetric("ds_gateway_read_waiters " + std::to_string(n) + "\n");
  }

  std::shared_ptr<FakeBackend> backend_ = std::make_shared<FakeBackend>();
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::shared_ptr<ApiHandler> handler_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(ReadFlightsTest, IdenticalConcurrentReadsShareOneUpstreamCallAndOneBody) {
  std::vector<std::unique_ptr<HttpTestClient>> clients;
  clients.push_back(Send(kList));
  ASSERT_TRUE(backend_->WaitForParked(1));
  for (int i = 1; i < 8; ++i) clients.push_back(Send(kList));
  ASSERT_TRUE(WaitForWaiters(8));
  backend_->ReleaseAll();
  std::vector<std::string> markers;
  std::string body;
  for (auto& c : clients) {
    auto res = c->Read();
    EXPECT_EQ(res.result_int(), 200);
    if (body.empty()) body = res.body();
    EXPECT_EQ(res.body(), body);
    markers.push_back(std::string(res["X-DS-Coalesced"]));
  }
  EXPECT_EQ(markers[0], "leader");
  for (int i = 1; i < 8; ++i) EXPECT_EQ(markers[i], "gateway-joiner");
  EXPECT_EQ(backend_->lists().size(), 1u);
  const std::string metrics = Metrics();
  EXPECT_THAT(metrics, HasSubstr("ds_gateway_upstream_calls_total{route=\"get_messages\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("ds_gateway_encodings_total{route=\"get_messages\"} 1\n"));
  EXPECT_THAT(
      metrics,
      HasSubstr(
          "ds_gateway_coalesced_requests_total{level=\"gateway\",route=\"get_messages\"} 7\n"));
}

TEST_F(ReadFlightsTest, EachCallerKeepsItsOwnDeadline) {
  auto leader = Send(kList);  // the default 2 s
  ASSERT_TRUE(backend_->WaitForParked(1));
  auto quick = Send(kList, {{"x-request-timeout-ms", "100"}});
  auto later = Send(kList, {{"x-request-timeout-ms", "300"}});
  // Each joiner is answered 504 at its own deadline; the flight goes on.
  EXPECT_EQ(quick->Read().result_int(), 504);
  EXPECT_EQ(later->Read().result_int(), 504);
  backend_->ReleaseAll();
  auto res = leader->Read();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res["X-DS-Coalesced"], "leader");
  EXPECT_EQ(backend_->lists().size(), 1u);
}

TEST_F(ReadFlightsTest, ACallerThatDisconnectsDoesNotFailTheOthers) {
  auto a = Send(kList);
  ASSERT_TRUE(backend_->WaitForParked(1));
  auto b = Send(kList);
  auto c = Send(kList);
  ASSERT_TRUE(WaitForWaiters(3));
  b.reset();  // closes its connection: it leaves the flight
  ASSERT_TRUE(WaitForWaiters(2));
  backend_->ReleaseAll();
  EXPECT_EQ(a->Read().result_int(), 200);
  EXPECT_EQ(c->Read().result_int(), 200);
  EXPECT_THAT(Metrics(),
              HasSubstr("ds_gateway_requests_total{route=\"get_messages\",status=\"499\"} 1\n"));
}

TEST_F(ReadFlightsTest, ErrorsFanOutTruthfullyAndAreNotCached) {
  backend_->SetStatus(grpc::Status(grpc::StatusCode::INTERNAL, "store broke"));
  auto a = Send(kList);
  ASSERT_TRUE(backend_->WaitForParked(1));
  auto b = Send(kList);
  ASSERT_TRUE(WaitForWaiters(2));
  backend_->ReleaseAll();
  for (auto* c : {a.get(), b.get()}) {
    auto res = c->Read();
    EXPECT_EQ(res.result_int(), 500);
    EXPECT_THAT(res.body(), HasSubstr("store broke"));
  }
  backend_->SetStatus(grpc::Status::OK);
  backend_->Park(false);
  HttpTestClient next(server_->port());
  EXPECT_EQ(next.Get(kList).result_int(), 200);  // a new flight, not the cached error
  EXPECT_EQ(backend_->lists().size(), 2u);
}

TEST_F(ReadFlightsTest, ATransientErrorIsRetriedInsideTheFlight) {
  backend_->SetStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "every node failed"));
  auto a = Send(kList);
  ASSERT_TRUE(backend_->WaitForParked(1));
  auto b = Send(kList);
  ASSERT_TRUE(WaitForWaiters(2));
  backend_->SetStatus(grpc::Status::OK);
  backend_->ReleaseAll();                   // the first attempt fails...
  ASSERT_TRUE(backend_->WaitForParked(1));  // ...the flight tries again
  backend_->ReleaseAll();
  EXPECT_EQ(a->Read().result_int(), 200);
  EXPECT_EQ(b->Read()["X-DS-Coalesced"], "gateway-joiner");
  EXPECT_EQ(backend_->lists().size(), 2u);
}

TEST_F(ReadFlightsTest, ACapAnswers429AtOnceWithRetryAfter) {
  server_.reset();
  handler_.reset();
  Start({.max_waiters_per_flight = 2});
  auto a = Send(kList);
  ASSERT_TRUE(backend_->WaitForParked(1));
  auto b = Send(kList);
  ASSERT_TRUE(WaitForWaiters(2));
  HttpTestClient third(server_->port());
  auto res = third.Get(kList);
  EXPECT_EQ(res.result_int(), 429);
  EXPECT_EQ(res["Retry-After"], "1");
  EXPECT_THAT(Metrics(), HasSubstr("ds_gateway_rejected_requests_total 1\n"));
  backend_->ReleaseAll();
  EXPECT_EQ(a->Read().result_int(), 200);
  EXPECT_EQ(b->Read().result_int(), 200);
}

TEST_F(ReadFlightsTest, TheMarkerSaysWhenTheNodeCoalescedTheFlightsCall) {
  backend_->Park(false);
  backend_->SetCoalesced("joiner");
  HttpTestClient client(server_->port());
  EXPECT_EQ(client.Get(kList)["X-DS-Coalesced"], "node-joiner");
  EXPECT_THAT(
      Metrics(),
      HasSubstr("ds_gateway_coalesced_requests_total{level=\"node\",route=\"get_messages\"} 1\n"));
}

TEST_F(ReadFlightsTest, AWriteThroughThisGatewayKeepsLaterReadsOffOlderFlights) {
  auto before_write = Send(kList);
  ASSERT_TRUE(backend_->WaitForParked(1));
  HttpTestClient writer(server_->port());
  auto written =
      writer.Post("/v1/channels/7/messages", R"({"author_id":1,"content":"x","nonce":2})");
  ASSERT_EQ(written.result_int(), 200);
  auto after_write = Send(kList);
  ASSERT_TRUE(backend_->WaitForParked(2));  // a new flight, not the older one
  backend_->ReleaseAll();
  EXPECT_EQ(before_write->Read().result_int(), 200);
  EXPECT_EQ(after_write->Read()["X-DS-Coalesced"], "leader");
  EXPECT_EQ(backend_->lists().size(), 2u);
}

TEST_F(ReadFlightsTest, ANewConsistencyTokenFencesAndTravelsToTheNode) {
  auto plain = Send(kList);
  ASSERT_TRUE(backend_->WaitForParked(1));
  // First sight of the token: no joining the flight that started before.
  auto first = Send(kList, {{"X-DS-Consistency-Token", "12345"}});
  ASSERT_TRUE(backend_->WaitForParked(2));
  // Seen before: joining the flight that started after it is fine.
  auto second = Send(kList, {{"X-DS-Consistency-Token", "12345"}});
  ASSERT_TRUE(WaitForWaiters(3));
  backend_->ReleaseAll();
  EXPECT_EQ(plain->Read()["X-DS-Coalesced"], "leader");
  EXPECT_EQ(first->Read()["X-DS-Coalesced"], "leader");
  EXPECT_EQ(second->Read()["X-DS-Coalesced"], "gateway-joiner");
  const std::vector<BackendCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].consistency_token, "");
  EXPECT_EQ(calls[1].consistency_token, "12345");
}

TEST_F(ReadFlightsTest, WithCoalescingOffEveryReadMakesItsOwnCall) {
  server_.reset();
  handler_.reset();
  Start({.coalescing = false});
  auto a = Send(kList);
  auto b = Send(kList);
  auto c = Send(kList);
  ASSERT_TRUE(backend_->WaitForParked(3));
  backend_->ReleaseAll();
  for (auto* client : {a.get(), b.get(), c.get()}) {
    EXPECT_EQ(client->Read()["X-DS-Coalesced"], "leader");
  }
}

}  // namespace
}  // namespace ds::gateway
