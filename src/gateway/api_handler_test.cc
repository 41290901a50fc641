#include "gateway/api_handler.h"

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ds::gateway {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;
using dataservice::v1::GetMessageRequest;
using dataservice::v1::GetMessageResponse;
using dataservice::v1::GetMessagesRequest;
using dataservice::v1::GetMessagesResponse;
using dataservice::v1::SendMessageRequest;
using dataservice::v1::SendMessageResponse;
using ::testing::HasSubstr;

// Answers inline with `status` (and a canned message), recording each call.
// With `defer` set it keeps the callbacks for the test to run later.
class FakeBackend : public MessageBackend {
 public:
  void GetMessages(const GetMessagesRequest& req, absl::Time deadline,
                   BackendCallback<GetMessagesResponse> done) override {
    list_requests.push_back(req);
    deadlines.push_back(deadline);
    GetMessagesResponse resp;
    *resp.add_messages() = Canned(req.channel_id(), 3);
    *resp.add_messages() = Canned(req.channel_id(), 2);
    Finish(std::move(done), std::move(resp));
  }
  void GetMessage(const GetMessageRequest& req, absl::Time deadline,
                  BackendCallback<GetMessageResponse> done) override {
    get_requests.push_back(req);
    deadlines.push_back(deadline);
    GetMessageResponse resp;
    *resp.mutable_message() = Canned(req.channel_id(), req.message_id());
    Finish(std::move(done), std::move(resp));
  }
  void SendMessage(const SendMessageRequest& req, absl::Time deadline,
                   BackendCallback<SendMessageResponse> done) override {
    send_requests.push_back(req);
    deadlines.push_back(deadline);
    SendMessageResponse resp;
    *resp.mutable_message() = Canned(req.channel_id(), 99);
    resp.mutable_message()->set_content(req.content());
    resp.set_duplicate(true);
    Finish(std::move(done), std::move(resp));
  }
  bool Healthy() const override { return healthy.load(); }

  static dataservice::v1::Message Canned(uint64_t channel, uint64_t id) {
    dataservice::v1::Message m;
    m.set_channel_id(channel);
    m.set_message_id(id);
    m.set_author_id(5);
    m.set_content("m" + std::to_string(id));
    m.set_created_at_ms(1000 + static_cast<int64_t>(id));
    return m;
  }

  grpc::Status status = grpc::Status::OK;
  bool defer = false;
  std::vector<std::function<void()>> deferred;
  std::atomic<bool> healthy{true};
  std::vector<GetMessagesRequest> list_requests;
  std::vector<GetMessageRequest> get_requests;
  std::vector<SendMessageRequest> send_requests;
  std::vector<absl::Time> deadlines;

 private:
  template <typename Resp>
  void Finish(BackendCallback<Resp> done, Resp resp) {
    auto run = [done = std::move(done), resp = std::move(resp), s = status] { done(s, resp); };
    if (defer) {
      deferred.push_back(run);
    } else {
      run();
    }
  }
};

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

class ApiHandlerTest : public ::testing::Test {
 protected:
  ApiHandlerTest() {
    ApiHandlerOptions options;
    options.now = [] { return kNow; };
    handler_ = std::make_shared<ApiHandler>(options, backend_, registry_,
                                            [this] { return backend_->Healthy(); });
  }

  // Handles one request; the response when it was answered (synchronously).
  std::optional<HttpResponse> Call(http::verb method, std::string target, std::string body = "",
                                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest req(method, target, 11);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    auto out = std::make_shared<std::optional<HttpResponse>>();
    handler_->Handle(std::move(req), [out](HttpResponse res) { *out = std::move(res); });
    return *out;
  }

  // Asserts a JSON error with the given HTTP status and gRPC code name; returns its message.
  static std::string ExpectError(const std::optional<HttpResponse>& res, int status,
                                 std::string_view code) {
    EXPECT_TRUE(res.has_value());
    if (!res.has_value()) return "";
    EXPECT_EQ(res->result_int(), status) << res->body();
    EXPECT_EQ((*res)[http::field::content_type], "application/json");
    json::value v = json::parse(res->body());
    EXPECT_EQ(v.at("error").at("code").as_string(), code);
    return std::string(v.at("error").at("message").as_string());
  }

  std::string Metrics() { return Call(http::verb::get, "/metrics")->body(); }

  std::shared_ptr<FakeBackend> backend_ = std::make_shared<FakeBackend>();
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::shared_ptr<ApiHandler> handler_;
};

TEST_F(ApiHandlerTest, ListForwardsQueryAndEncodesMessages) {
  auto res = Call(http::verb::get, "/v1/channels/42/messages?limit=10&before=900&x=ignored");
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result(), http::status::ok);
  ASSERT_EQ(backend_->list_requests.size(), 1u);
  const GetMessagesRequest& req = backend_->list_requests[0];
  EXPECT_EQ(req.channel_id(), 42u);
  EXPECT_EQ(req.limit(), 10u);
  EXPECT_TRUE(req.has_before());
  EXPECT_EQ(req.before(), 900u);
  EXPECT_FALSE(req.has_after());
  json::value v = json::parse(res->body());
  ASSERT_EQ(v.at("messages").as_array().size(), 2u);
  EXPECT_EQ(v.at("messages").at(0).at("message_id"), "3");
  EXPECT_EQ(v.at("messages").at(0).at("channel_id"), "42");
}

TEST_F(ApiHandlerTest, ListWithoutParamsUsesServerDefaults) {
  Call(http::verb::get, "/v1/channels/42/messages?after=7");
  Call(http::verb::get, "/v1/channels/42/messages");
  ASSERT_EQ(backend_->list_requests.size(), 2u);
  EXPECT_EQ(backend_->list_requests[0].after(), 7u);
  EXPECT_EQ(backend_->list_requests[1].limit(), 0u);
  EXPECT_FALSE(backend_->list_requests[1].has_before());
  EXPECT_FALSE(backend_->list_requests[1].has_after());
}

// The page-limit rule is common/api_rules.h, the same as the node's: 0 means
// the default (proto3 cannot tell it from "not given"), so it is forwarded.
TEST_F(ApiHandlerTest, LimitZeroMeansTheDefaultAsAtTheNode) {
  Call(http::verb::get, "/v1/channels/42/messages?limit=0");
  ASSERT_EQ(backend_->list_requests.size(), 1u);
  EXPECT_EQ(backend_->list_requests[0].limit(), 0u);
  std::string message = ExpectError(Call(http::verb::get, "/v1/channels/1/messages?limit=101"),
                                    400, "INVALID_ARGUMENT");
  EXPECT_THAT(message, HasSubstr("limit: must be between 1 and 100 (0 means 50)"));
}

TEST_F(ApiHandlerTest, GetForwardsIdsIncludingPercentEncodedOnes) {
  auto res = Call(http::verb::get, "/v1/channels/18446744073709551615/messages/%31%32");
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result(), http::status::ok);
  ASSERT_EQ(backend_->get_requests.size(), 1u);
  EXPECT_EQ(backend_->get_requests[0].channel_id(), 18446744073709551615ull);
  EXPECT_EQ(backend_->get_requests[0].message_id(), 12u);
  EXPECT_EQ(json::parse(res->body()).at("message").at("message_id"), "12");
}

TEST_F(ApiHandlerTest, SendForwardsBodyAndReportsDuplicate) {
  auto res = Call(http::verb::post, "/v1/channels/8/messages",
                  R"({"author_id":"5","content":"hello","nonce":77})");
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result(), http::status::ok) << res->body();
  ASSERT_EQ(backend_->send_requests.size(), 1u);
  EXPECT_EQ(backend_->send_requests[0].channel_id(), 8u);
  EXPECT_EQ(backend_->send_requests[0].author_id(), 5u);
  EXPECT_EQ(backend_->send_requests[0].nonce(), 77u);
  json::value v = json::parse(res->body());
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
    backend_->status = grpc::Status(c.code, "backend says " + c.name);
    auto res = Call(http::verb::get, "/v1/channels/1/messages/2");
    EXPECT_EQ(ExpectError(res, c.http, c.name), "backend says " + c.name);
    EXPECT_EQ(res->count(http::field::retry_after), c.http == 429 || c.http == 503 ? 1u : 0u);
  }
  EXPECT_THAT(Metrics(), HasSubstr("ds_gateway_requests_total{route=\"get_message\",status=\"429\"} 1"));
}

TEST_F(ApiHandlerTest, InvalidPathsAndQueriesAre400WithoutCallingTheBackend) {
  struct Case {
    http::verb method;
    std::string target;
    std::string field;
  };
  for (const Case& c : {
           Case{http::verb::get, "/v1/channels/abc/messages", "channel_id"},
           Case{http::verb::get, "/v1/channels/0/messages", "channel_id must be non-zero"},
           Case{http::verb::get, "/v1/channels/-5/messages/1", "channel_id"},
           Case{http::verb::get, "/v1/channels/99999999999999999999/messages", "channel_id"},
           Case{http::verb::get, "/v1/channels/1/messages/1.5", "message_id"},
           Case{http::verb::get, "/v1/channels/1/messages?limit=101", "limit"},
           Case{http::verb::get, "/v1/channels/1/messages?limit=ten", "limit"},
           Case{http::verb::get, "/v1/channels/1/messages?limit", "limit"},
           Case{http::verb::get, "/v1/channels/1/messages?limit=5&limit=6", "more than once"},
           Case{http::verb::get, "/v1/channels/1/messages?before=x", "before"},
           Case{http::verb::get, "/v1/channels/1/messages?before=3&after=2", "at most one of"},
           Case{http::verb::post, "/v1/channels/x/messages", "channel_id"},
       }) {
    std::string message = ExpectError(Call(c.method, c.target, "{}"), 400, "INVALID_ARGUMENT");
    EXPECT_THAT(message, HasSubstr(c.field)) << c.target;
  }
  EXPECT_TRUE(backend_->list_requests.empty());
  EXPECT_TRUE(backend_->get_requests.empty());
  EXPECT_TRUE(backend_->send_requests.empty());
}

TEST_F(ApiHandlerTest, BadSendBodiesAre400) {
  for (std::string body : {"", "not json", "[]", R"({"author_id":1,"content":"x"})",
                           R"({"author_id":"one","content":"x","nonce":1})",
                           R"({"author_id":1,"content":{},"nonce":1})"}) {
    ExpectError(Call(http::verb::post, "/v1/channels/1/messages", body), 400, "INVALID_ARGUMENT");
  }
  EXPECT_TRUE(backend_->send_requests.empty());
}

TEST_F(ApiHandlerTest, UnknownRoutesAre404AndWrongMethods405) {
  for (std::string target : {"/", "/v1", "/v1/channels/1", "/v1/channels/1/messages/2/x",
                             "/v1/channels/1/messages/", "/v2/channels/1/messages"}) {
    ExpectError(Call(http::verb::get, target), 404, "NOT_FOUND");
  }
  auto res = Call(http::verb::delete_, "/v1/channels/1/messages/2");
  ExpectError(res, 405, "UNIMPLEMENTED");
  EXPECT_EQ((*res)[http::field::allow], "GET");
  res = Call(http::verb::put, "/v1/channels/1/messages");
  ExpectError(res, 405, "UNIMPLEMENTED");
  EXPECT_EQ((*res)[http::field::allow], "GET, POST");
  ExpectError(Call(http::verb::post, "/metrics"), 405, "UNIMPLEMENTED");
  ExpectError(Call(http::verb::get, "http://absolute/form"), 400, "INVALID_ARGUMENT");
}

TEST_F(ApiHandlerTest, DeadlineIsTheDefaultOrTheClientsShorterOne) {
  Call(http::verb::get, "/v1/channels/1/messages/2");
  Call(http::verb::get, "/v1/channels/1/messages/2", "", {{"x-request-timeout-ms", "150"}});
  Call(http::verb::get, "/v1/channels/1/messages/2", "", {{"X-Request-Timeout-Ms", "999999"}});
  ASSERT_EQ(backend_->deadlines.size(), 3u);
  EXPECT_EQ(backend_->deadlines[0], kNow + absl::Seconds(2));
  EXPECT_EQ(backend_->deadlines[1], kNow + absl::Milliseconds(150));
  EXPECT_EQ(backend_->deadlines[2], kNow + absl::Seconds(2));
  for (std::string bad : {"0", "-1", "abc", "99999999999"}) {
    std::string message =
        ExpectError(Call(http::verb::get, "/v1/channels/1/messages/2", "",
                         {{"x-request-timeout-ms", bad}}),
                    400, "INVALID_ARGUMENT");
    EXPECT_THAT(message, HasSubstr("x-request-timeout-ms"));
  }
}

TEST_F(ApiHandlerTest, HealthzFollowsTheHealthCallback) {
  auto ok = Call(http::verb::get, "/healthz");
  EXPECT_EQ(ok->result(), http::status::ok);
  EXPECT_EQ(ok->body(), "ok\n");
  backend_->healthy = false;
  auto bad = Call(http::verb::get, "/healthz");
  EXPECT_EQ(bad->result(), http::status::service_unavailable);
  EXPECT_EQ(bad->body(), "unhealthy\n");
}

TEST_F(ApiHandlerTest, InFlightGaugeCountsRequestsAwaitingTheBackend) {
  backend_->defer = true;
  EXPECT_FALSE(Call(http::verb::get, "/v1/channels/1/messages/2").has_value());
  EXPECT_FALSE(Call(http::verb::get, "/v1/channels/1/messages").has_value());
  // /metrics itself is in flight while it renders.
  EXPECT_THAT(Metrics(), HasSubstr("ds_gateway_in_flight_requests 3"));
  for (auto& run : backend_->deferred) run();
  backend_->deferred.clear();  // they hold the handler, which holds the backend
  EXPECT_THAT(Metrics(), HasSubstr("ds_gateway_in_flight_requests 1"));
  EXPECT_THAT(Metrics(), HasSubstr("ds_gateway_request_seconds_count{route=\"get_messages\"} 1"));
}

TEST_F(ApiHandlerTest, ProtocolErrorsAreJsonAndCounted) {
  HttpResponse res = handler_->ProtocolError(http::status::payload_too_large, "too big");
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(json::parse(res.body()).at("error").at("message"), "too big");
  EXPECT_THAT(Metrics(), HasSubstr("ds_gateway_requests_total{route=\"malformed\",status=\"413\"} 1"));
}

}  // namespace
}  // namespace ds::gateway
