// Integration: a real Gateway on port 0 forwarding through a real RoutedClient
// to an in-process fake MessageService over gRPC, driven over TCP.
#include "gateway/gateway.h"

#include <boost/json.hpp>

#include "gateway/routed_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "routing/routed_client.h"
#include "testing/fake_data_node.h"
#include "testing/http_test_client.h"

namespace ds::gateway {
namespace {

using ::ds::testing::FakeDataNode;
using ::ds::testing::HttpTestClient;

namespace http = boost::beast::http;
namespace json = boost::json;
using ::testing::HasSubstr;

// One fleet for the whole suite: gRPC's callback machinery is process-wide,
// and restarting it between tests only adds time.
class GatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fake_ = new FakeDataNode();
    ASSERT_TRUE(fake_->Start().ok());
    routing::RoutedClientOptions options;
    options.nodes = {fake_->address()};
    options.health_interval = absl::Milliseconds(100);
    options.health_timeout = absl::Milliseconds(500);
    auto client = routing::RoutedClient::Create(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::shared_ptr<routing::RoutedClient>(std::move(*client));
    ASSERT_TRUE(client_->WaitForHealthy(absl::Seconds(10)).ok());
    registry_ = new std::shared_ptr<prometheus::Registry>(std::make_shared<prometheus::Registry>());
    auto gateway = Gateway::Start({}, MakeRoutedBackend(client_), *registry_);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = gateway->release();
  }

  static void TearDownTestSuite() {
    delete gateway_;
    client_.reset();
    delete fake_;
    delete registry_;
  }

  void SetUp() override {
    ASSERT_NE(gateway_, nullptr);
    // A previous test may have made the node look down (UNAVAILABLE answers).
    ASSERT_TRUE(client_->WaitForNodeState(fake_->address(), true, absl::Seconds(10)).ok());
  }

  static uint16_t port() { return gateway_->port(); }

  // A message stored through the gateway; returns its JSON.
  static json::value Send(HttpTestClient& client, uint64_t channel, uint64_t nonce,
                          std::string content) {
    auto res = client.Post(
        "/v1/channels/" + std::to_string(channel) + "/messages",
        json::serialize(json::object{{"author_id", "77"}, {"content", content}, {"nonce", nonce}}));
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    return json::parse(res.body());
  }

  // Asserts a JSON error body with `code`; returns its message.
  static std::string ExpectJsonError(const HttpTestClient::Response& res, http::status status,
                                     std::string_view code) {
    EXPECT_EQ(res.result(), status) << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/json");
    json::error_code ec;
    json::value v = json::parse(res.body(), ec);
    EXPECT_FALSE(ec) << res.body();
    if (ec || !v.is_object() || !v.as_object().contains("error")) return "";
    EXPECT_EQ(v.at("error").at("code").as_string(), code);
    return std::string(v.at("error").at("message").as_string());
  }

  // The gateway still answers on a fresh connection.
  static void ExpectStillServing() {
    HttpTestClient client(port());
    EXPECT_EQ(client.Get("/healthz").result(), http::status::ok);
  }

  // A second gateway in front of the same node, with its own routing client.
  static std::unique_ptr<Gateway> StartAnotherGateway() {
    routing::RoutedClientOptions options;
    options.nodes = {fake_->address()};
    auto client = routing::RoutedClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    std::shared_ptr<routing::RoutedClient> shared(std::move(*client));
    EXPECT_TRUE(shared->WaitForHealthy(absl::Seconds(10)).ok());
    auto gateway =
        Gateway::Start({}, MakeRoutedBackend(shared), std::make_shared<prometheus::Registry>());
    EXPECT_TRUE(gateway.ok()) << gateway.status();
    return std::move(*gateway);
  }

  static FakeDataNode* fake_;
  static std::shared_ptr<routing::RoutedClient> client_;
  static std::shared_ptr<prometheus::Registry>* registry_;
  static Gateway* gateway_;
};

FakeDataNode* GatewayTest::fake_ = nullptr;
std::shared_ptr<routing::RoutedClient> GatewayTest::client_;
std::shared_ptr<prometheus::Registry>* GatewayTest::registry_ = nullptr;
Gateway* GatewayTest::gateway_ = nullptr;

TEST_F(GatewayTest, SendThenReadBackThroughEveryRoute) {
  HttpTestClient client(port());
  json::value first = Send(client, 501, 1, "first");
  EXPECT_EQ(first.at("duplicate"), false);
  const json::value& message = first.at("message");
  EXPECT_EQ(message.at("channel_id"), "501");
  EXPECT_EQ(message.at("author_id"), "77");
  EXPECT_EQ(message.at("content"), "first");
  EXPECT_TRUE(message.at("message_id").is_string());
  EXPECT_TRUE(message.at("created_at_ms").is_int64());
  Send(client, 501, 2, "second");

  // A retried send (same nonce) is reported as a duplicate of the first.
  json::value retry = Send(client, 501, 1, "first");
  EXPECT_EQ(retry.at("duplicate"), true);
  EXPECT_EQ(retry.at("message").at("message_id"), message.at("message_id"));

  auto list = client.Get("/v1/channels/501/messages?limit=10");
  ASSERT_EQ(list.result(), http::status::ok);
  json::value page = json::parse(list.body());
  ASSERT_EQ(page.at("messages").as_array().size(), 2u);
  EXPECT_EQ(page.at("messages").at(0).at("content"), "second");  // newest first

  const std::string id(message.at("message_id").as_string());
  auto one = client.Get("/v1/channels/501/messages/" + id);
  ASSERT_EQ(one.result(), http::status::ok);
  EXPECT_EQ(json::parse(one.body()).at("message").at("content"), "first");

  auto missing = client.Get("/v1/channels/501/messages/999999999");
  ExpectJsonError(missing, http::status::not_found, "NOT_FOUND");
}

TEST_F(GatewayTest, RequestFieldsReachTheNode) {
  HttpTestClient client(port());
  const size_t before_count = fake_->lists().size();
  EXPECT_EQ(client.Get("/v1/channels/18446744073709551615/messages?limit=3&after=12").result(),
            http::status::ok);
  auto lists = fake_->lists();
  ASSERT_EQ(lists.size(), before_count + 1);
  EXPECT_EQ(lists.back().channel_id(), 18446744073709551615ull);
  EXPECT_EQ(lists.back().limit(), 3u);
  EXPECT_EQ(lists.back().after(), 12u);
  EXPECT_FALSE(lists.back().has_before());

  client.Post("/v1/channels/9/messages",
              R"({"author_id":5,"content":"x","nonce":"9007199254740993"})");
  auto sends = fake_->sends();
  ASSERT_FALSE(sends.empty());
  EXPECT_EQ(sends.back().author_id(), 5u);
  EXPECT_EQ(sends.back().nonce(), 9007199254740993ull);  // beyond 2^53, exact
}

TEST_F(GatewayTest, GrpcStatusesMapToHttpStatuses) {
  struct Case {
    grpc::StatusCode code;
    http::status status;
    std::string name;
  };
  for (const Case& c :
       {Case{grpc::StatusCode::INVALID_ARGUMENT, http::status::bad_request, "INVALID_ARGUMENT"},
        Case{grpc::StatusCode::NOT_FOUND, http::status::not_found, "NOT_FOUND"},
        Case{grpc::StatusCode::RESOURCE_EXHAUSTED, http::status::too_many_requests,
             "RESOURCE_EXHAUSTED"},
        Case{grpc::StatusCode::DEADLINE_EXCEEDED, http::status::gateway_timeout,
             "DEADLINE_EXCEEDED"},
        Case{grpc::StatusCode::UNAVAILABLE, http::status::service_unavailable, "UNAVAILABLE"}}) {
    // UNAVAILABLE makes the routing client try every node (one here) and
    // count a failure; wait until the node is back in the set.
    ASSERT_TRUE(client_->WaitForNodeState(fake_->address(), true, absl::Seconds(10)).ok());
    // The gateway's flight retries UNAVAILABLE up to three attempts in all;
    // every attempt fails here. DEADLINE_EXCEEDED is final (the coalescer
    // re-issues only an attempt cut short by another waiter's deadline).
    const bool transient = c.code == grpc::StatusCode::UNAVAILABLE;
    for (int i = 0; i < (transient ? 3 : 1); ++i) {
      fake_->FailNext(grpc::Status(c.code, "injected " + c.name));
    }
    HttpTestClient client(port());
    auto res = client.Get("/v1/channels/7/messages/8");
    EXPECT_THAT(ExpectJsonError(res, c.status, c.name), HasSubstr("injected " + c.name));
  }
}

TEST_F(GatewayTest, ClientTimeoutHeaderBoundsTheWait) {
  fake_->HoldNext();
  HttpTestClient client(port());
  const absl::Time start = absl::Now();
  auto res = client.Get("/v1/channels/7/messages", {{"x-request-timeout-ms", "200"}});
  ExpectJsonError(res, http::status::gateway_timeout, "DEADLINE_EXCEEDED");
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));              // not the 2 s default
  EXPECT_EQ(client.Get("/healthz").result(), http::status::ok);  // same connection
}

TEST_F(GatewayTest, MalformedHttpGets400AndTheGatewayStaysUp) {
  for (std::string raw : {std::string("THIS IS NOT HTTP\r\n\r\n"),
                          std::string("GET /v1/channels/1/messages HTTP/1.1\r\nNo-Colon\r\n\r\n"),
                          std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)}) {
    HttpTestClient client(port());
    client.SendRaw(raw);
    ExpectJsonError(client.Read(), http::status::bad_request, "INVALID_ARGUMENT");
  }
  ExpectStillServing();
}

TEST_F(GatewayTest, BadBodiesGet400WithTheReason) {
  HttpTestClient client(port());
  struct Case {
    std::string body;
    std::string reason;
  };
  for (const Case& c :
       {Case{"{not json", "not valid JSON"}, Case{R"(["author_id"])", "must be a JSON object"},
        Case{R"({"author_id":"1","content":"x"})", "nonce is required"},
        Case{R"({"content":"x","nonce":1})", "author_id is required"},
        Case{R"({"author_id":"1","nonce":1})", "content is required"},
        Case{R"({"author_id":[1],"content":"x","nonce":1})", "got an array"},
        Case{R"({"author_id":1,"content":42,"nonce":1})", "content must be a string"},
        Case{R"({"author_id":1,"content":"x","nonce":2.5})", "non-integer"}}) {
    auto res = client.Post("/v1/channels/1/messages", c.body);
    EXPECT_THAT(ExpectJsonError(res, http::status::bad_request, "INVALID_ARGUMENT"),
                HasSubstr(c.reason))
        << c.body;
  }
  EXPECT_EQ(client.Get("/healthz").result(), http::status::ok);  // connection kept
}

TEST_F(GatewayTest, BadIdsAndQueryParamsGet400NamingTheField) {
  HttpTestClient client(port());
  struct Case {
    std::string target;
    std::string field;
  };
  for (const Case& c : {Case{"/v1/channels/general/messages", "channel_id"},
                        Case{"/v1/channels/0/messages", "channel_id must be non-zero"},
                        Case{"/v1/channels/1/messages/latest", "message_id"},
                        Case{"/v1/channels/1/messages?limit=101", "limit"},
                        Case{"/v1/channels/1/messages?limit=-1", "limit"},
                        Case{"/v1/channels/1/messages?before=yesterday", "before"},
                        Case{"/v1/channels/1/messages?before=5&after=2", "at most one"}}) {
    EXPECT_THAT(
        ExpectJsonError(client.Get(c.target), http::status::bad_request, "INVALID_ARGUMENT"),
        HasSubstr(c.field))
        << c.target;
  }
  ExpectJsonError(client.Get("/v1/nothing"), http::status::not_found, "NOT_FOUND");
  auto res = client.Request(http::verb::delete_, "/v1/channels/1/messages/2");
  ExpectJsonError(res, http::status::method_not_allowed, "UNIMPLEMENTED");
  EXPECT_EQ(client.Get("/healthz").result(), http::status::ok);
}

TEST_F(GatewayTest, OversizedBodyGets413AndOversizedHeader431) {
  {
    HttpTestClient client(port());
    const std::string huge =
        R"({"author_id":1,"nonce":1,"content":")" + std::string(70 * 1024, 'a') + "\"}";
    ExpectJsonError(client.Post("/v1/channels/1/messages", huge), http::status::payload_too_large,
                    "INVALID_ARGUMENT");
  }
  {
    HttpTestClient client(port());
    ExpectJsonError(client.Get("/healthz", {{"x-padding", std::string(10 * 1024, 'p')}}),
                    http::status::request_header_fields_too_large, "INVALID_ARGUMENT");
  }
  {
    // Content over the API's 4000 bytes but under the body limit: the gateway's own check.
    HttpTestClient client(port());
    const std::string big =
        R"({"author_id":1,"nonce":1,"content":")" + std::string(5000, 'b') + "\"}";
    EXPECT_THAT(ExpectJsonError(client.Post("/v1/channels/1/messages", big),
                                http::status::bad_request, "INVALID_ARGUMENT"),
                HasSubstr("content"));
  }
  ExpectStillServing();
}

TEST_F(GatewayTest, KeepAliveCarriesManyRequestsOnOneConnection) {
  HttpTestClient client(port());
  for (int i = 0; i < 10; ++i) {
    auto res = client.Get("/v1/channels/4242/messages?limit=1");
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_TRUE(res.keep_alive());
  }
  Send(client, 4242, 99, "over the same connection");
  EXPECT_EQ(
      json::parse(client.Get("/v1/channels/4242/messages").body()).at("messages").as_array().size(),
      1u);
}

TEST_F(GatewayTest, MetricsAndHealthzOnTheApiPort) {
  HttpTestClient client(port());
  EXPECT_EQ(client.Get("/v1/channels/1/messages/1").result(), http::status::not_found);
  auto res = client.Get("/metrics");
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_THAT(res.body(),
              HasSubstr("ds_gateway_requests_total{route=\"get_message\",status=\"404\"}"));
  EXPECT_THAT(res.body(), HasSubstr("ds_gateway_request_seconds_bucket{route=\"get_message\""));
  EXPECT_THAT(res.body(), HasSubstr("ds_gateway_in_flight_requests 1"));  // this request
  auto health = client.Get("/healthz");
  EXPECT_EQ(health.result(), http::status::ok);
  EXPECT_EQ(health.body(), "ok\n");
}

// Read-your-writes across gateways (an HTTP load balancer in front of several
// gateways does exactly this): a client writes through gateway A and reads
// through gateway B, where a flight for the channel started before the write.
// Presenting the write's token, the read must not join that flight.
TEST_F(GatewayTest, AReadPresentingAWritesTokenNeverJoinsAFlightOlderThanTheToken) {
  std::unique_ptr<Gateway> b = StartAnotherGateway();
  const std::string list = "/v1/channels/5/messages";
  fake_->HoldNext();  // B's first flight never gets an answer
  const size_t calls_before = fake_->lists().size();
  const size_t all_calls_before = fake_->calls();
  HttpTestClient early(b->port());
  early.SendRaw("GET " + list + " HTTP/1.1\r\nHost: x\r\nx-request-timeout-ms: 1000\r\n\r\n");
  ASSERT_TRUE(fake_->WaitForCalls(all_calls_before + 1, std::chrono::seconds(10)));
  // Without a token, a read through B joins the flight that is running.
  HttpTestClient joiner(b->port());
  EXPECT_EQ(joiner.Get(list, {{"x-request-timeout-ms", "100"}}).result(),
            http::status::gateway_timeout);
  EXPECT_EQ(fake_->lists().size(), calls_before + 1);

  HttpTestClient writer(port());  // gateway A
  auto written = writer.Post(list, R"({"author_id":"3","content":"mine","nonce":"424242"})");
  ASSERT_EQ(written.result(), http::status::ok);
  const std::string token(written["X-DS-Consistency-Token"]);
  ASSERT_FALSE(token.empty());

  HttpTestClient reader(b->port());
  auto read = reader.Get(list, {{"X-DS-Consistency-Token", token}});
  ASSERT_EQ(read.result(), http::status::ok) << read.body();
  EXPECT_EQ(read["X-DS-Coalesced"], "leader");  // a new flight, not the older one
  EXPECT_THAT(read.body(), HasSubstr("\"content\":\"mine\""));
  const std::vector<std::string> tokens = fake_->list_tokens();
  ASSERT_EQ(tokens.size(), calls_before + 2);
  EXPECT_EQ(tokens.back(), token);  // passed on to the node as gRPC metadata
  EXPECT_EQ(early.Read().result(), http::status::gateway_timeout);
}

}  // namespace
}  // namespace ds::gateway
