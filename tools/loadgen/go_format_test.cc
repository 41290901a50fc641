#include "tools/loadgen/go_format.h"

#include <gtest/gtest.h>

#include <limits>

namespace ds::loadgen {
namespace {

// Expected strings are what Go's time.Duration.String() prints.
TEST(GoDurationStringTest, MatchesGoForEveryUnit) {
  EXPECT_EQ(GoDurationString(absl::ZeroDuration()), "0s");
  EXPECT_EQ(GoDurationString(absl::Nanoseconds(1)), "1ns");
  EXPECT_EQ(GoDurationString(absl::Nanoseconds(999)), "999ns");
  EXPECT_EQ(GoDurationString(absl::Nanoseconds(1100)), "1.1\xC2\xB5s");
  EXPECT_EQ(GoDurationString(absl::Microseconds(2)), "2\xC2\xB5s");
  EXPECT_EQ(GoDurationString(absl::Nanoseconds(816727364)), "816.727364ms");
  EXPECT_EQ(GoDurationString(absl::Milliseconds(5)), "5ms");
  EXPECT_EQ(GoDurationString(absl::Milliseconds(1234)), "1.234s");
  EXPECT_EQ(GoDurationString(absl::Seconds(1)), "1s");
  EXPECT_EQ(GoDurationString(absl::Seconds(90)), "1m30s");
  EXPECT_EQ(GoDurationString(absl::Milliseconds(61500)), "1m1.5s");
  EXPECT_EQ(GoDurationString(absl::Hours(2)), "2h0m0s");
  EXPECT_EQ(GoDurationString(absl::Hours(1) + absl::Seconds(1)), "1h0m1s");
  EXPECT_EQ(GoDurationString(-absl::Milliseconds(1500)), "-1.5s");
  EXPECT_EQ(GoDurationString(-absl::Microseconds(3)), "-3\xC2\xB5s");
}

TEST(GoDurationStringTest, TruncatesSubNanoseconds) {
  EXPECT_EQ(GoDurationString(absl::Nanoseconds(1) + absl::Nanoseconds(0.4)), "1ns");
}

// Expected strings are what strconv.FormatFloat(v, 'f', -1, 64) prints.
TEST(GoFormatFloatTest, ShortestRoundTripWithoutExponent) {
  EXPECT_EQ(GoFormatFloat(184.0 / 10000.0), "0.0184");
  EXPECT_EQ(GoFormatFloat(1.0), "1");
  EXPECT_EQ(GoFormatFloat(0.0), "0");
  EXPECT_EQ(GoFormatFloat(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(GoFormatFloat(0.002), "0.002");
  EXPECT_EQ(GoFormatFloat(1e-7), "0.0000001");
  EXPECT_EQ(GoFormatFloat(1e21), "1000000000000000000000");
  EXPECT_EQ(GoFormatFloat(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(GoFormatFloat(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(GoFormatFloat(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(GoLogPrefixTest, IsGoLogsStandardTimestamp) {
  absl::Time t = absl::FromCivil(absl::CivilSecond(2024, 10, 26, 17, 8, 11), absl::UTCTimeZone());
  EXPECT_EQ(GoLogPrefix(t + absl::Milliseconds(999), absl::UTCTimeZone()), "2024/10/26 17:08:11 ");
  EXPECT_EQ(
      GoLogPrefix(absl::FromCivil(absl::CivilSecond(2025, 1, 2, 3, 4, 5), absl::UTCTimeZone()),
                  absl::UTCTimeZone()),
      "2025/01/02 03:04:05 ");
}

}  // namespace
}  // namespace ds::loadgen
