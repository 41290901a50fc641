#include "auth/access_log.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"

namespace ds::auth {
namespace {

namespace json = boost::json;

TEST(AccessLogTest, TheLineIsOneJsonObjectWithEveryField) {
  AccessRecord r;
  r.time = absl::FromUnixMillis(1'800'000'000'123);
  r.request_id = "req-1";
  r.principal = "sub:42";
  r.client = "127.0.0.1:5555";
  r.method = "GET";
  r.route = "/v1/channels/{id}/messages";
  r.channel = "42";
  r.status = 200;
  r.bytes = 1234;
  r.latency = absl::Microseconds(1500);
  r.upstream = "127.0.0.1:50051";
  r.coalesced = "leader";
  const std::string line = FormatAccessLine(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const json::object o = json::parse(line).as_object();
  EXPECT_EQ(o.at("ts").as_string(), "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(o.at("request_id").as_string(), "req-1");
  EXPECT_EQ(o.at("principal").as_string(), "sub:42");
  EXPECT_EQ(o.at("client").as_string(), "127.0.0.1:5555");
  EXPECT_EQ(o.at("method").as_string(), "GET");
  EXPECT_EQ(o.at("route").as_string(), "/v1/channels/{id}/messages");
  EXPECT_EQ(o.at("channel").as_string(), "42");
  EXPECT_EQ(o.at("status").as_int64(), 200);
  EXPECT_EQ(o.at("bytes").as_int64(), 1234);
  EXPECT_DOUBLE_EQ(o.at("latency_ms").as_double(), 1.5);
  EXPECT_EQ(o.at("upstream").as_string(), "127.0.0.1:50051");
  EXPECT_EQ(o.at("coalesced").as_string(), "leader");
  EXPECT_EQ(o.size(), 12u);
}

TEST(AccessLogTest, HostileStringsCannotBreakOrForgeTheLine) {
  AccessRecord r;
  r.route = "/x\"}\n{\"status\":200,\"evil\":\"";
  r.principal = "a\\b\x01\x7f";
  r.client = "\xff\xfe ok \xe2\x82\xac";  // invalid UTF-8, then a valid euro sign
  const std::string line = FormatAccessLine(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const json::object o = json::parse(line).as_object();
  EXPECT_EQ(o.at("route").as_string(), "/x\"}\n{\"status\":200,\"evil\":\"");
  EXPECT_EQ(o.at("principal").as_string(), "a\\b\x01\x7f");
  EXPECT_EQ(o.at("client").as_string(), "\xef\xbf\xbd\xef\xbf\xbd ok \xe2\x82\xac");
  EXPECT_FALSE(o.contains("evil"));
}

TEST(AccessLogTest, SamplingKeepsErrorsAndAFractionOfTheRest) {
  AccessLogSampler tenth(0.1), none(0.0), all(1.0);
  int kept = 0;
  for (int i = 0; i < 20'000; ++i) {
    const std::string id = absl::StrCat("req-", i);
    AccessRecord ok{.request_id = id, .status = 200};
    AccessRecord failed{.request_id = id, .status = 503};
    AccessRecord gone{.request_id = id, .status = 0};
    kept += tenth.Keep(ok) ? 1 : 0;
    ASSERT_TRUE(tenth.Keep(failed));
    ASSERT_TRUE(none.Keep(gone));
    ASSERT_FALSE(none.Keep(ok));
    ASSERT_TRUE(all.Keep(ok));
    ASSERT_EQ(tenth.Keep(ok), tenth.Keep(ok));  // the same request, the same decision
  }
  // Binomial(20000, 0.1): mean 2000, sd 42; ±300 is beyond 7 sd.
  EXPECT_NEAR(kept, 2000, 300);
}

TEST(RequestIdTest, ClientIdsAreValidatedAndBounded) {
  EXPECT_EQ(AcceptOrNewRequestId("abc-123_x.y:z"), "abc-123_x.y:z");
  EXPECT_TRUE(ValidRequestId(std::string(kMaxRequestIdBytes, 'a')));
  EXPECT_FALSE(ValidRequestId(std::string(kMaxRequestIdBytes + 1, 'a')));
  for (std::string bad : {"", "has space", "new\nline", "quote\"", "uni\xc3\xa9"}) {
    const std::string id = AcceptOrNewRequestId(bad);
    EXPECT_NE(id, bad);
    EXPECT_EQ(id.size(), 32u);
    EXPECT_TRUE(ValidRequestId(id));
  }
  EXPECT_NE(NewRequestId(), NewRequestId());
}

}  // namespace
}  // namespace ds::auth
