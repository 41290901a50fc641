#include "common/api_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace ds::api {
namespace {

using ::testing::HasSubstr;

TEST(PageLimitTest, ZeroMeansTheDefaultAndTheCapIsInclusive) {
  EXPECT_TRUE(CheckPageLimit(0).ok());
  EXPECT_EQ(EffectivePageLimit(0), kDefaultPageLimit);
  EXPECT_TRUE(CheckPageLimit(1).ok());
  EXPECT_EQ(EffectivePageLimit(7), 7u);
  EXPECT_TRUE(CheckPageLimit(kMaxPageLimit).ok());
  EXPECT_EQ(CheckPageLimit(kMaxPageLimit + 1).message(),
            "limit: must be between 1 and 100 (0 means 50), got 101");
}

TEST(PageLimitTest, TextFormAgreesWithTheNumericRule) {
  EXPECT_EQ(*ParsePageLimit("0"), 0u);  // the gateway and the node agree on 0
  EXPECT_EQ(*ParsePageLimit("100"), 100u);
  for (std::string_view bad : {"101", "", "-1", "ten", "1e2", "99999999999999999999999"}) {
    absl::StatusOr<uint32_t> limit = ParsePageLimit(bad);
    ASSERT_FALSE(limit.ok()) << bad;
    EXPECT_EQ(limit.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(limit.status().message(), HasSubstr("limit")) << bad;
  }
}

TEST(ContentTest, EmptyTooLongAndBadUtf8NameTheField) {
  EXPECT_TRUE(CheckContent("hi").ok());
  EXPECT_TRUE(CheckContent(std::string(kMaxContentBytes, 'x')).ok());
  EXPECT_EQ(CheckContent(std::string(kMaxContentBytes + 1, 'x')).message(),
            "content: must be at most 4000 bytes, got 4001");
  EXPECT_EQ(CheckContent("").message(), "content: must not be empty");
  EXPECT_EQ(CheckContent("\xff").message(), "content: must be valid UTF-8");
  EXPECT_EQ(CheckContent("abc", 2).message(), "content: must be at most 2 bytes, got 3");
}

TEST(ParseIdTest, AcceptsFullUnsignedRange) {
  EXPECT_EQ(*ParseId("channel_id", "1"), 1u);
  EXPECT_EQ(*ParseId("channel_id", "18446744073709551615"), 18446744073709551615ull);
  EXPECT_EQ(*ParseId("channel_id", "000042"), 42u);
}

TEST(ParseIdTest, RejectsZeroOverflowSignsAndJunkNamingTheField) {
  for (std::string_view bad : {"", "0", "18446744073709551616", "99999999999999999999999", "-1",
                               "+1", " 1", "1 ", "1e3", "0x10", "abc", "12a"}) {
    absl::StatusOr<uint64_t> id = ParseId("message_id", bad);
    ASSERT_FALSE(id.ok()) << bad;
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(id.status().message(), HasSubstr("message_id")) << bad;
  }
  EXPECT_THAT(ParseId("x", "0").status().message(), HasSubstr("non-zero"));
}

TEST(ParseIdTest, ErrorEchoIsPrintableAscii) {
  absl::StatusOr<uint64_t> id = ParseId("channel_id", std::string("\xff\x01\"x", 4));
  ASSERT_FALSE(id.ok());
  EXPECT_THAT(id.status().message(), HasSubstr("'??\"x'"));
  EXPECT_EQ(EchoForError(std::string(40, 'a')), std::string(32, 'a') + "...");
}

TEST(ParseUintInRangeTest, EnforcesBounds) {
  EXPECT_EQ(*ParseUintInRange("limit", "1", 1, 100), 1u);
  EXPECT_EQ(*ParseUintInRange("limit", "100", 1, 100), 100u);
  EXPECT_FALSE(ParseUintInRange("limit", "0", 1, 100).ok());
  EXPECT_FALSE(ParseUintInRange("limit", "101", 1, 100).ok());
  EXPECT_THAT(ParseUintInRange("limit", "x", 1, 100).status().message(),
              HasSubstr("limit must be an integer in 1..100"));
}

TEST(HostPortTest, AcceptsHostPortFormsAndUnbracketsIpv6) {
  EXPECT_EQ(*ParseHostPort("a", "127.0.0.1:50051", PortZero::kRejected),
            (HostPort{"127.0.0.1", 50051}));
  EXPECT_EQ(*ParseHostPort("a", "node-1.local:1", PortZero::kRejected),
            (HostPort{"node-1.local", 1}));
  EXPECT_EQ(*ParseHostPort("a", "[::1]:65535", PortZero::kRejected), (HostPort{"::1", 65535}));
  EXPECT_EQ(*ParseHostPort("a", "0.0.0.0:0", PortZero::kAllowed), (HostPort{"0.0.0.0", 0}));
}

TEST(HostPortTest, RejectsBadAddressesNamingTheFieldInsteadOfThrowing) {
  for (const char* bad :
       {"", "127.0.0.1", ":50051", "host:", "host:0", "host:65536", "host:x1", "::1:50051",
        "[::1]50051", "[::1]:", "host:99999999999999999999", "host:-1", "host: 1"}) {
    absl::StatusOr<HostPort> parsed = ParseHostPort("--admin-listen", bad, PortZero::kRejected);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("--admin-listen")) << bad;
  }
  EXPECT_THAT(ParseHostPort("f", "host:0", PortZero::kRejected).status().message(),
              HasSubstr("port must be 1..65535"));
  EXPECT_TRUE(ParseHostPort("f", "host:0", PortZero::kAllowed).ok());
}

// id_text_fuzzer, crash-495e6479 (input "[[\xd3\xd3]:0"): a bracket inside the
// host was accepted, and the parsed address formatted back to text that does
// not parse. Every accepted address must survive a format/parse round trip.
TEST(HostPortTest, IdTextFuzzerCrash495e6479BracketInsideTheHostIsRefused) {
  for (const char* bad : {"[[\xd3\xd3]:0", "[[::1]]:80", "[a[b]:80", "a]b:80", "[a]]:80"}) {
    absl::StatusOr<HostPort> parsed = ParseHostPort("node address", bad, PortZero::kAllowed);
    ASSERT_FALSE(parsed.ok()) << bad << " parsed as " << parsed->host;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ParseHostPort("f", "[[\xd3\xd3]:0", PortZero::kAllowed).status().message(),
              HasSubstr("brackets only around a whole IPv6 host"));
  EXPECT_EQ(*ParseHostPort("a", "[::1]:80", PortZero::kAllowed), (HostPort{"::1", 80}));
}

TEST(HostPortTest, FormatIsTheInverse) {
  for (const char* text : {"127.0.0.1:9100", "[::1]:80", "h:0"}) {
    EXPECT_EQ(FormatHostPort(*ParseHostPort("a", text, PortZero::kAllowed)), text);
  }
}

}  // namespace
}  // namespace ds::api
