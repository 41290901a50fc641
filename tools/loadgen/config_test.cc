#include "tools/loadgen/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ds::loadgen {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(NormalizeReferenceFlagsTest, RewritesTheReferenceClientsSingleDashFlags) {
  EXPECT_THAT(NormalizeReferenceFlags({"-channels", "5", "-requests", "100"}),
              ElementsAre("--channels", "5", "--requests", "100"));
}

TEST(NormalizeReferenceFlagsTest, RewritesSingleDashWithEqualsValue) {
  EXPECT_THAT(NormalizeReferenceFlags({"-requests=5000", "-channels=3"}),
              ElementsAre("--requests=5000", "--channels=3"));
}

TEST(NormalizeReferenceFlagsTest, LeavesDoubleDashShortFlagsAndUnknownNamesAlone) {
  EXPECT_THAT(NormalizeReferenceFlags({"--channels", "5", "-q", "-h", "-bogus", "--json"}),
              ElementsAre("--channels", "5", "-q", "-h", "-bogus", "--json"));
}

TEST(NormalizeReferenceFlagsTest, LeavesNegativeNumbersAndValuesAlone) {
  // A value that happens to look like a flag after its option stays a value
  // only if it is not a known name; numbers are never rewritten.
  EXPECT_THAT(NormalizeReferenceFlags({"--query-time-ms", "-1", "--seed", "-5"}),
              ElementsAre("--query-time-ms", "-1", "--seed", "-5"));
}

TEST(NormalizeReferenceFlagsTest, StopsAtDoubleDash) {
  EXPECT_THAT(NormalizeReferenceFlags({"-channels", "2", "--", "-requests"}),
              ElementsAre("--channels", "2", "--", "-requests"));
}

TEST(NormalizeReferenceFlagsTest, EveryNewFlagAlsoWorksWithOneDash) {
  EXPECT_THAT(NormalizeReferenceFlags({"-mode", "open", "-write-ratio=0.1", "-json"}),
              ElementsAre("--mode", "open", "--write-ratio=0.1", "--json"));
}

TEST(ConfigDefaultsTest, MatchTheReferenceClient) {
  LoadgenConfig c;
  EXPECT_EQ(c.channels, 20);
  EXPECT_EQ(c.requests, 10000);
  EXPECT_EQ(c.mode, Mode::kBurst);
  EXPECT_EQ(c.keys, KeyDistribution::kRoundRobin);
  EXPECT_EQ(c.deadline, absl::Seconds(10));
  EXPECT_TRUE(ValidateConfig(c).ok());
}

TEST(ParseEnumsTest, AcceptKnownNamesAndNameTheAlternativesOtherwise) {
  EXPECT_EQ(*ParseMode("closed"), Mode::kClosed);
  EXPECT_EQ(*ParseMode("OPEN"), Mode::kOpen);
  EXPECT_EQ(*ParseKeyDistribution("zipf"), KeyDistribution::kZipf);
  EXPECT_EQ(*ParseKeyDistribution("rr"), KeyDistribution::kRoundRobin);
  EXPECT_EQ(*ParseTargetKind("reference"), TargetKind::kReference);
  EXPECT_EQ(*ParseReadMethod("message"), ReadMethod::kMessage);
  absl::StatusOr<Mode> bad = ParseMode("fast");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("burst, closed or open"));
  EXPECT_FALSE(ParseKeyDistribution("gauss").ok());
  EXPECT_FALSE(ParseTargetKind("db").ok());
  EXPECT_FALSE(ParseReadMethod("all").ok());
}

TEST(ParseDurationFlagTest, GoStyleAndBareSeconds) {
  EXPECT_EQ(*ParseDurationFlag("10s"), absl::Seconds(10));
  EXPECT_EQ(*ParseDurationFlag("1m30s"), absl::Seconds(90));
  EXPECT_EQ(*ParseDurationFlag("250ms"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseDurationFlag("2.5"), absl::Milliseconds(2500));
  EXPECT_FALSE(ParseDurationFlag("soon").ok());
  EXPECT_FALSE(ParseDurationFlag("-3s").ok());
  EXPECT_FALSE(ParseDurationFlag("").ok());
}

TEST(SplitListTest, TrimsAndDropsEmptyItems) {
  EXPECT_THAT(SplitList(" a:1, b:2 ,,c:3 "), ElementsAre("a:1", "b:2", "c:3"));
  EXPECT_TRUE(SplitList("").empty());
}

TEST(ValidateConfigTest, RejectsOutOfRangeValuesNamingTheFlag) {
  auto message = [](LoadgenConfig c) { return std::string(ValidateConfig(c).message()); };
  LoadgenConfig c;
  c.channels = 0;
  EXPECT_THAT(message(c), HasSubstr("-channels"));
  c = {};
  c.requests = -1;
  EXPECT_THAT(message(c), HasSubstr("-requests"));
  c = {};
  c.write_ratio = 1.5;
  EXPECT_THAT(message(c), HasSubstr("--write-ratio"));
  c = {};
  c.mode = Mode::kOpen;
  c.rate = 0;
  EXPECT_THAT(message(c), HasSubstr("--rate"));
  c = {};
  c.keys = KeyDistribution::kZipf;
  c.zipf_s = 0;
  EXPECT_THAT(message(c), HasSubstr("--zipf-s"));
  c = {};
  c.hot_channel = 21;
  EXPECT_THAT(message(c), HasSubstr("--hot-channel"));
  c = {};
  c.policy = "sticky";
  EXPECT_THAT(message(c), HasSubstr("--policy"));
  c = {};
  c.limit = 101;
  EXPECT_THAT(message(c), HasSubstr("--limit"));
}

TEST(ValidateConfigTest, ReferenceTargetHasNoWrites) {
  LoadgenConfig c;
  c.target = TargetKind::kReference;
  c.write_ratio = 0.1;
  EXPECT_THAT(std::string(ValidateConfig(c).message()), HasSubstr("reference"));
  c.write_ratio = 0;
  EXPECT_TRUE(ValidateConfig(c).ok());
}

TEST(ValidateConfigTest, BurstModeIgnoresDurationButClosedModeNeedsIt) {
  LoadgenConfig c;
  c.duration = absl::ZeroDuration();
  EXPECT_TRUE(ValidateConfig(c).ok());
  c.mode = Mode::kClosed;
  EXPECT_THAT(std::string(ValidateConfig(c).message()), HasSubstr("--duration"));
}

}  // namespace
}  // namespace ds::loadgen
