// ApiHandler on a real ds::http::Server, driven over real sockets, with a
// fake backend that answers inline or parks calls for the test to answer.
#include "gateway/api_handler.h"

#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_backend.h"
#include "testing/http_test_client.h"

namespace ds::gateway {
namespace {

using ::ds::testing::FakeBackend;
using ::ds::testing::HttpTestClient;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using dataservice::v1::GetMessagesRequest;
using ::testing::HasSubstr;
using Response = HttpTestClient::Response;

class ApiHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }

  void Start(ReadFlightsOptions reads) {
    server_.reset();
    handler_.reset();
    ApiHandlerOptions options;
    // Frozen near the real time: deadlines handed to the backend are exact,
    // and still in the future for the HTTP server's timers.
    options.now = [t = now_] { return t; };
    options.reads = reads;
    handler_ = std::make_shared<ApiHandler>(options, backend_, registry_,
                                            [b = backend_] { return b->healthy.load(); });
    auto server = http::Server::Start({.io_threads = 2}, handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  Response Call(bhttp::verb method, std::string target, std::string body = "",
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpTestClient client(server_->port());
    return client.Request(method, std::move(target), std::move(body), std::move(headers));
  }

  // Asserts a JSON error with the given HTTP status and gRPC code name; returns its message.
  static std::string ExpectError(const Response& res, int status, std::string_view code) {
    EXPECT_EQ(res.result_int(), status) << res.body();
    EXPECT_EQ(res[bhttp::field::content_type], "application/json");
    json::value v = json::parse(res.body());
    EXPECT_EQ(v.at("error").at("code").as_string(), code);
    return std::string(v.at("error").at("message").as_string());
  }

  std::string Metrics() { return Call(bhttp::verb::get, "/metrics").body(); }

  const absl::Time now_ = absl::Now();
  std::shared_ptr<FakeBackend> backend_ = std::make_shared<FakeBackend>();
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::shared_ptr<ApiHandler> handler_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(ApiHandlerTest, ListForwardsQueryAndEncodesMessages) {
  auto res = Call(bhttp::verb::get, "/v1/channels/42/messages?limit=10&before=900&x=ignored");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res["X-DS-Coalesced"], "leader");
  ASSERT_EQ(backend_->lists().size(), 1u);
  const GetMessagesRequest req = backend_->lists()[0];
  EXPECT_EQ(req.channel_id(), 42u);
  EXPECT_EQ(req.limit(), 10u);
  EXPECT_TRUE(req.has_before());
  EXPECT_EQ(req.before(), 900u);
  EXPECT_FALSE(req.has_after());
  json::value v = json::parse(res.body());
  ASSERT_EQ(v.at("messages").as_array().size(), 2u);
  EXPECT_EQ(v.at("messages").at(0).at("message_id"), "3");
  EXPECT_EQ(v.at("messages").at(0).at("channel_id"), "42");
}

TEST_F(ApiHandlerTest, ListWithoutParamsUsesServerDefaults) {
  Call(bhttp::verb::get, "/v1/channels/42/messages?after=7");
  Call(bhttp::verb::get, "/v1/channels/42/messages");
  ASSERT_EQ(backend_->lists().size(), 2u);
  EXPECT_EQ(backend_->lists()[0].after(), 7u);
  EXPECT_EQ(backend_->lists()[1].limit(), 0u);
  EXPECT_FALSE(backend_->lists()[1].has_before());
  EXPECT_FALSE(backend_->lists()[1].has_after());
}

// The page-limit rule is common/api_rules.h, the same as the node's: 0 means
// the default (proto3 cannot tell it from "not given"), so it is forwarded.
TEST_F(ApiHandlerTest, LimitZeroMeansTheDefaultAsAtTheNode) {
  Call(bhttp::verb::get, "/v1/channels/42/messages?limit=0");
  ASSERT_EQ(backend_->lists().size(), 1u);
  EXPECT_EQ(backend_->lists()[0].limit(), 0u);
  std::string message = ExpectError(Call(bhttp::verb::get, "/v1/channels/1/messages?limit=101"),
                                    400, "INVALID_ARGUMENT");
  EXPECT_THAT(message, HasSubstr("limit: must be between 1 and 100 (0 means 50)"));
}

TEST_F(ApiHandlerTest, GetForwardsIdsIncludingPercentEncodedOnes) {
  auto res = Call(bhttp::verb::get, "/v1/channels/18446744073709551615/messages/%31%32");
  EXPECT_EQ(res.result_int(), 200);
  ASSERT_EQ(backend_->gets().size(), 1u);
  EXPECT_EQ(backend_->gets()[0].channel_id(), 18446744073709551615ull);
  EXPECT_EQ(backend_->gets()[0].message_id(), 12u);
  EXPECT_EQ(json::parse(res.body()).at("message").at("message_id"), "12");
}

TEST_F(ApiHandlerTest, SendForwardsBodyAndAnswersWithAConsistencyToken) {
  auto res = Call(bhttp::verb::post, "/v1/channels/8/messages",
                  R"({"author_id":"5","content":"hello","nonce":77})", {{"x-request-id", "r-1"}});
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res["X-DS-Consistency-Token"], "99");  // the stored message's id
  ASSERT_EQ(backend_->sends().size(), 1u);
  EXPECT_EQ(backend_->sends()[0].channel_id(), 8u);
  EXPECT_EQ(backend_->sends()[0].author_id(), 5u);
  EXPECT_EQ(backend_->sends()[0].nonce(), 77u);
  EXPECT_EQ(backend_->calls()[0].request_id, "r-1");
  json::value v = json::parse(res.body());
  EXPECT_EQ(v.at("duplicate"), true);
  EXPECT_EQ(v.at("message").at("content"), "hello");
}

TEST_F(ApiHandlerTest, BackendStatusesMapToHttpWithJsonErrors) {
  struct Case {
    grpc::StatusCode code;
    int http;
    std::string name;
  };
  for (const Case& c : {Case{grpc::INVALID_ARGUMENT, 400, "INVALID_ARGUMENT"},
                        Case{grpc::NOT_FOUND, 404, "NOT_FOUND"},
                        Case{grpc::RESOURCE_EXHAUSTED, 429, "RESOURCE_EXHAUSTED"},
                        Case{grpc::UNAVAILABLE, 503, "UNAVAILABLE"},
                        Case{grpc::DEADLINE_EXCEEDED, 504, "DEADLINE_EXCEEDED"},
                        Case{grpc::INTERNAL, 500, "INTERNAL"}}) {
    backend_->SetStatus(grpc::Status(c.code, "backend says " + c.name));
    auto res = Call(bhttp::verb::get, "/v1/channels/1/messages/2");
    EXPECT_EQ(ExpectError(res, c.http, c.name), "backend says " + c.name);
    EXPECT_EQ(res.count(bhttp::field::retry_after), c.http == 429 || c.http == 503 ? 1u : 0u);
  }
  EXPECT_THAT(Metrics(),
              HasSubstr("ds_gateway_requests_total{route=\"get_message\",status=\"429\"} 1"));
}

TEST_F(ApiHandlerTest, InvalidPathsQueriesAndTokensAre400WithoutCallingTheBackend) {
  struct Case {
    bhttp::verb method;
    std::string target;
    std::string field;
  };
  for (const Case& c : {
           Case{bhttp::verb::get, "/v1/channels/abc/messages", "channel_id"},
           Case{bhttp::verb::get, "/v1/channels/0/messages", "channel_id must be non-zero"},
           Case{bhttp::verb::get, "/v1/channels/-5/messages/1", "channel_id"},
           Case{bhttp::verb::get, "/v1/channels/99999999999999999999/messages", "channel_id"},
           Case{bhttp::verb::get, "/v1/channels/1/messages/1.5", "message_id"},
           Case{bhttp::verb::get, "/v1/channels/1/messages?limit=101", "limit"},
           Case{bhttp::verb::get, "/v1/channels/1/messages?limit=ten", "limit"},
           Case{bhttp::verb::get, "/v1/channels/1/messages?limit", "limit"},
           Case{bhttp::verb::get, "/v1/channels/1/messages?limit=5&limit=6", "more than once"},
           Case{bhttp::verb::get, "/v1/channels/1/messages?before=x", "before"},
           Case{bhttp::verb::get, "/v1/channels/1/messages?before=3&after=2", "at most one of"},
           Case{bhttp::verb::post, "/v1/channels/x/messages", "channel_id"},
       }) {
    SCOPED_TRACE(c.target);
    std::string message = ExpectError(Call(c.method, c.target, "{}"), 400, "INVALID_ARGUMENT");
    EXPECT_THAT(message, HasSubstr(c.field)) << c.target;
  }
  std::string message = ExpectError(
      Call(bhttp::verb::get, "/v1/channels/1/messages", "", {{"X-DS-Consistency-Token", "abc"}}),
      400, "INVALID_ARGUMENT");
  EXPECT_THAT(message, HasSubstr("X-DS-Consistency-Token"));
  EXPECT_EQ(backend_->call_count(), 0u);
}

TEST_F(ApiHandlerTest, BadSendBodiesAre400) {
  for (std::string body : {"", "not json", "[]", R"({"author_id":1,"content":"x"})",
                           R"({"author_id":"one","content":"x","nonce":1})",
                           R"({"author_id":1,"content":{},"nonce":1})"}) {
    ExpectError(Call(bhttp::verb::post, "/v1/channels/1/messages", body), 400, "INVALID_ARGUMENT");
  }
  EXPECT_EQ(backend_->call_count(), 0u);
}

TEST_F(ApiHandlerTest, UnknownRoutesAre404AndWrongMethods405) {
  for (std::string target : {"/", "/v1", "/v1/channels/1", "/v1/channels/1/messages/2/x",
                             "/v1/channels/1/messages/", "/v2/channels/1/messages"}) {
    ExpectError(Call(bhttp::verb::get, target), 404, "NOT_FOUND");
  }
  auto res = Call(bhttp::verb::delete_, "/v1/channels/1/messages/2");
  ExpectError(res, 405, "UNIMPLEMENTED");
  EXPECT_EQ(res[bhttp::field::allow], "GET");
  res = Call(bhttp::verb::put, "/v1/channels/1/messages");
  ExpectError(res, 405, "UNIMPLEMENTED");
  EXPECT_EQ(res[bhttp::field::allow], "GET, POST");
  EXPECT_EQ(Call(bhttp::verb::post, "/metrics").result_int(), 405);
  ExpectError(Call(bhttp::verb::get, "http://absolute/form"), 400, "INVALID_ARGUMENT");
}

TEST_F(ApiHandlerTest, DeadlineIsTheDefaultOrTheClientsShorterOne) {
  Call(bhttp::verb::get, "/v1/channels/1/messages/2");
  Call(bhttp::verb::get, "/v1/channels/1/messages/3", "", {{"x-request-timeout-ms", "1500"}});
  Call(bhttp::verb::get, "/v1/channels/1/messages/4", "", {{"X-Request-Timeout-Ms", "999999"}});
  ASSERT_EQ(backend_->deadlines().size(), 3u);
  EXPECT_EQ(backend_->deadlines()[0], now_ + absl::Seconds(2));
  EXPECT_EQ(backend_->deadlines()[1], now_ + absl::Milliseconds(1500));
  EXPECT_EQ(backend_->deadlines()[2], now_ + absl::Seconds(2));
  for (std::string bad : {"0", "-1", "abc", "99999999999"}) {
    std::string message = ExpectError(
        Call(bhttp::verb::get, "/v1/channels/1/messages/2", "", {{"x-request-timeout-ms", bad}}),
        400, "INVALID_ARGUMENT");
    EXPECT_THAT(message, HasSubstr("x-request-timeout-ms"));
  }
}

TEST_F(ApiHandlerTest, HealthzFollowsTheHealthCallback) {
  auto ok = Call(bhttp::verb::get, "/healthz");
  EXPECT_EQ(ok.result_int(), 200);
  EXPECT_EQ(ok.body(), "ok\n");
  backend_->healthy = false;
  auto bad = Call(bhttp::verb::get, "/healthz");
  EXPECT_EQ(bad.result_int(), 503);
  EXPECT_EQ(bad.body(), "unhealthy\n");
}

TEST_F(ApiHandlerTest, ProtocolErrorsAreJsonAndCounted) {
  HttpTestClient client(server_->port());
  client.SendRaw("POST /v1/channels/1/messages HTTP/1.1\r\nContent-Length: 999999\r\n\r\n");
  auto res = client.Read();
  EXPECT_EQ(ExpectError(res, 413, "INVALID_ARGUMENT"), "request body exceeds 65536 bytes");
  EXPECT_THAT(Metrics(),
              HasSubstr("ds_gateway_requests_total{route=\"malformed\",status=\"413\"} 1"));
}

}  // namespace
}  // namespace ds::gateway
