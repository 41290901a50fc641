// The gateway's security layer on a real ds::http::Server: authentication
// (401 + WWW-Authenticate), authorization (403 for another author or a
// channel outside the token's claim), rate limits (429 + Retry-After +
// RateLimit-*, exact with an injected clock), request ids, and the access-log
// line's fields.
#include "gateway/secure_handler.h"

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "auth/token_minter.h"
#include "gateway/access_log_writer.h"
#include "gateway/security_config.h"
#include "prometheus/text_serializer.h"
#include "testing/fake_clock.h"
#include "testing/http_test_client.h"

namespace ds::gateway {
namespace {

namespace beast_http = boost::beast::http;
namespace json = boost::json;
using ::ds::testing::HttpTestClient;
using Reply = HttpTestClient::Response;

const std::string kSecret = "gateway-test-secret-of-at-least-32-bytes";

// Stands for the API: answers 200 with what it was given, and notes the
// upstream like the real API does.
class EchoApi : public http::Handler {
 public:
  void Handle(http::Request req, http::Responder res) override {
    res.notes().upstream = "127.0.0.1:50051";
    res.notes().coalesced = "leader";
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(req);
    }
    http::Response r(200);
    r.SetBody(std::string(req.body()));
    res.Send(std::move(r));
  }
  http::Request last() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.back();
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.size();
  }

 private:
  std::mutex mu_;
  std::vector<http::Request> seen_;
};

class SecureHandlerTest : public ::testing::Test {
 protected:
  void Start(auth::RateLimiterOptions limits = {}) {
    auto verifier = auth::JwtVerifier::Create(
        {.keys = {*auth::MakeHmacKey(kSecret)}, .issuer = "ds", .audience = "ds-api"});
    ASSERT_TRUE(verifier.ok());
    limits.clock = &clock_;
    auto handler = std::make_shared<SecureHandler>(
        SecurityOptions{.verifier = *verifier, .rate_limits = limits}, api_, registry_);
    auto log = std::make_shared<AccessLogWriter>(
        [this](const std::string& line) {
          std::lock_guard<std::mutex> lock(mu_);
          lines_.push_back(line);
        },
        1.0);
    auto server = http::Server::Start({.io_threads = 1, .access_observer = log}, handler);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::string Token(std::string subject, std::optional<std::vector<uint64_t>> channels = {},
                    absl::Duration ttl = absl::Hours(1)) {
    return *auth::MintToken({.key = kSecret}, {.subject = subject,
                                               .issuer = "ds",
                                               .audience = "ds-api",
                                               .issued_at = absl::Now(),
                                               .ttl = ttl,
                                               .channels = channels});
  }

  Reply Call(beast_http::verb method, const std::string& target, const std::string& token = "",
             const std::string& body = "", const std::string& request_id = "") {
    HttpTestClient::Headers headers = {{"Host", "gw"}};
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    if (!request_id.empty()) headers.emplace_back("X-Request-Id", request_id);
    return HttpTestClient(server_->port()).Request(method, target, body, std::move(headers));
  }

  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

  ds::testing::FakeClock clock_;
  std::shared_ptr<EchoApi> api_ = std::make_shared<EchoApi>();
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::mutex mu_;
  std::vector<std::string> lines_;
  // Last, so it is destroyed first: its I/O threads write lines_ (through the
  // access log) until the server is gone.
  std::unique_ptr<http::Server> server_;
};

TEST_F(SecureHandlerTest, MissingOrInvalidTokensGet401WithAChallenge) {
  Start();
  Reply missing = Call(beast_http::verb::get, "/v1/channels/5/messages");
  EXPECT_EQ(missing.result_int(), 401);
  EXPECT_EQ(missing["WWW-Authenticate"], "Bearer realm=\"data-services\"");
  Reply garbage = Call(beast_http::verb::get, "/v1/channels/5/messages", "not-a-token");
  EXPECT_EQ(garbage.result_int(), 401);
  EXPECT_NE(garbage["WWW-Authenticate"].find("error=\"invalid_token\""), std::string::npos);
  Reply expired =
      Call(beast_http::verb::get, "/v1/channels/5/messages", Token("42", {}, -absl::Hours(1)));
  EXPECT_EQ(expired.result_int(), 401);
  EXPECT_NE(expired["WWW-Authenticate"].find("token expired"), std::string::npos);
  EXPECT_NE(expired.body().find("UNAUTHENTICATED"), std::string::npos) << expired.body();
  EXPECT_EQ(api_->count(), 0u);
  // Outside /v1/ nothing is asked.
  EXPECT_EQ(Call(beast_http::verb::get, "/healthz").result_int(), 200);
}

TEST_F(SecureHandlerTest, AValidTokenReachesTheApiWithTheRequestId) {
  Start();
  Reply ok = Call(beast_http::verb::get, "/v1/channels/5/messages", Token("42"), "", "client-id-1");
  EXPECT_EQ(ok.result_int(), 200);
  EXPECT_EQ(ok["X-Request-Id"], "client-id-1");
  EXPECT_EQ(api_->last()["X-Request-Id"], "client-id-1");  // passed on to the node
  Reply replaced =
      Call(beast_http::verb::get, "/v1/channels/5/messages", Token("42"), "", "bad id\"");
  EXPECT_EQ(replaced["X-Request-Id"].size(), 32u);
  EXPECT_EQ(api_->last()["X-Request-Id"], replaced["X-Request-Id"]);
}

TEST_F(SecureHandlerTest, ASendAsAnotherAuthorIs403AndAnOmittedAuthorIsTheSubject) {
  Start();
  const std::string token = Token("42");
  Reply other = Call(beast_http::verb::post, "/v1/channels/5/messages", token,
                     R"({"author_id":"43","content":"hi","nonce":1})");
  EXPECT_EQ(other.result_int(), 403);
  EXPECT_NE(other.body().find("PERMISSION_DENIED"), std::string::npos);
  EXPECT_EQ(api_->count(), 0u);
  EXPECT_EQ(Call(beast_http::verb::post, "/v1/channels/5/messages", token,
                 R"({"author_id":42,"content":"hi","nonce":1})")
                .result_int(),
            200);
  Reply filled = Call(beast_http::verb::post, "/v1/channels/5/messages", token,
                      R"({"content":"hi","nonce":2})");
  EXPECT_EQ(filled.result_int(), 200);
  EXPECT_EQ(json::parse(api_->last().body()).at("author_id").as_string(), "42");
  // A subject that is not an author id cannot send.
  EXPECT_EQ(Call(beast_http::verb::post, "/v1/channels/5/messages", Token("alice"),
                 R"({"content":"hi","nonce":3})")
                .result_int(),
            403);
}

TEST_F(SecureHandlerTest, ChannelsOutsideTheClaimAre403) {
  Start();
  const std::string token = Token("42", std::vector<uint64_t>{5});
  EXPECT_EQ(Call(beast_http::verb::get, "/v1/channels/5/messages", token).result_int(), 200);
  EXPECT_EQ(Call(beast_http::verb::get, "/v1/channels/6/messages", token).result_int(), 403);
  EXPECT_EQ(Call(beast_http::verb::get, "/v1/channels/6/messages/9", token).result_int(), 403);
  EXPECT_EQ(
      Call(beast_http::verb::post, "/v1/channels/6/messages", token, R"({"content":"x","nonce":1})")
          .result_int(),
      403);
  // The SSE route takes the token from the query too (EventSource cannot set
  // headers), and checks the channel the same way.
  EXPECT_EQ(Call(beast_http::verb::get, "/v1/channels/6/events?access_token=" + token).result_int(),
            403);
  EXPECT_EQ(Call(beast_http::verb::get, "/v1/channels/5/events?access_token=" + token).result_int(),
            200);
  // The query is not accepted elsewhere.
  EXPECT_EQ(
      Call(beast_http::verb::get, "/v1/channels/5/messages?access_token=" + token).result_int(),
      401);
  // A restricted token may not open the (multi-channel) WebSocket.
  EXPECT_EQ(Call(beast_http::verb::get, "/v1/ws", token).result_int(), 403);
}

TEST_F(SecureHandlerTest, RateLimitsAreExactWithRetryAfterAndRateLimitHeaders) {
  Start({.reads = {.per_second = 1, .burst = 3}, .writes = {.per_second = 0.5, .burst = 1}});
  const std::string token = Token("42");
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Call(beast_http::verb::get, "/v1/channels/5/messages", token).result_int(), 200);
  }
  Reply limited = Call(beast_http::verb::get, "/v1/channels/5/messages", token);
  EXPECT_EQ(limited.result_int(), 429);
  EXPECT_EQ(limited["Retry-After"], "1");
  EXPECT_EQ(limited["RateLimit-Limit"], "3");
  EXPECT_EQ(limited["RateLimit-Remaining"], "0");
  EXPECT_EQ(limited["RateLimit-Reset"], "3");
  // Writes have their own bucket; another principal has its own.
  const std::string send = R"({"content":"x","nonce":1})";
  EXPECT_EQ(Call(beast_http::verb::post, "/v1/channels/5/messages", token, send).result_int(), 200);
  Reply write_limited = Call(beast_http::verb::post, "/v1/channels/5/messages", token, send);
  EXPECT_EQ(write_limited.result_int(), 429);
  EXPECT_EQ(write_limited["Retry-After"], "2");
  EXPECT_EQ(Call(beast_http::verb::get, "/v1/channels/5/messages", Token("7")).result_int(), 200);
  // One second later exactly one more read.
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Call(beast_http::verb::get, "/v1/channels/5/messages", token).result_int(), 200);
  EXPECT_EQ(Call(beast_http::verb::get, "/v1/channels/5/messages", token).result_int(), 429);
  // Counted by route.
  const std::string metrics = prometheus::TextSerializer().Serialize(registry_->Collect());
  EXPECT_NE(metrics.find("ds_gateway_rate_limited_total{route=\"/v1/channels/{id}/messages\"} 3"),
            std::string::npos)
      << metrics;
}

TEST_F(SecureHandlerTest, TheAccessLogLineHasEveryField) {
  Start();
  Reply ok = Call(beast_http::verb::get, "/v1/channels/5/messages?limit=2&access_token=secret",
                  Token("42"), "", "trace-1");
  ASSERT_EQ(ok.result_int(), 200);
  Call(beast_http::verb::get, "/v1/channels/5/messages");  // 401
  server_->Shutdown(absl::Seconds(1));                     // every line written
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  json::object first = json::parse(lines[0]).as_object();
  EXPECT_EQ(first.at("request_id").as_string(), "trace-1");
  EXPECT_EQ(first.at("principal").as_string(), "sub:42");
  EXPECT_EQ(first.at("client").as_string().subview(0, 10), "127.0.0.1:");
  EXPECT_EQ(first.at("method").as_string(), "GET");
  EXPECT_EQ(first.at("route").as_string(), "/v1/channels/{id}/messages");
  EXPECT_EQ(first.at("channel").as_string(), "5");
  EXPECT_EQ(first.at("status").as_int64(), 200);
  EXPECT_EQ(first.at("bytes").as_int64(), 0);
  EXPECT_GE(first.at("latency_ms").as_double(), 0.0);
  EXPECT_EQ(first.at("upstream").as_string(), "127.0.0.1:50051");
  EXPECT_EQ(first.at("coalesced").as_string(), "leader");
  EXPECT_FALSE(first.at("ts").as_string().empty());
  EXPECT_EQ(lines[0].find("secret"), std::string::npos);  // no query strings, no tokens
  json::object second = json::parse(lines[1]).as_object();
  EXPECT_EQ(second.at("status").as_int64(), 401);
  EXPECT_EQ(second.at("principal").as_string(), "");
  EXPECT_EQ(second.at("upstream").as_string(), "");
}

TEST(LoadSecurityTest, FlagsBecomeAVerifierLimitsAndTls) {
  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/secret") << kSecret;
  std::ofstream(dir + "/short") << "too short";
  absl::StatusOr<LoadedSecurity> off = LoadSecurity({});
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->options.verifier, nullptr);
  EXPECT_EQ(off->tls, nullptr);
  EXPECT_TRUE(off->options.rate_limits.reads.unlimited());
  absl::StatusOr<LoadedSecurity> on = LoadSecurity({.jwt_hs256_secret_file = dir + "/secret",
                                                    .read_rate = 10,
                                                    .write_rate = 1,
                                                    .write_burst = 5});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_NE(on->options.verifier, nullptr);
  EXPECT_EQ(on->options.rate_limits.reads.burst, 20);  // 2 x rate by default
  EXPECT_EQ(on->options.rate_limits.writes.burst, 5);
  absl::StatusOr<LoadedSecurity> short_secret =
      LoadSecurity({.jwt_hs256_secret_file = dir + "/short"});
  EXPECT_FALSE(short_secret.ok());
  EXPECT_NE(short_secret.status().message().find("/short"), std::string::npos);
  EXPECT_FALSE(LoadSecurity({.jwt_hs256_secret_file = dir + "/secret", .jwt_jwks_file = "x"}).ok());
  EXPECT_FALSE(LoadSecurity({.tls_cert_file = "/nonexistent.crt", .tls_key_file = "/x"}).ok());
}

}  // namespace
}  // namespace ds::gateway
