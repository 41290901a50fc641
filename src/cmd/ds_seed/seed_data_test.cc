#include "cmd/ds_seed/seed_data.h"

#include <gtest/gtest.h>

#include <set>

#include "common/snowflake.h"

namespace ds::seed {
namespace {

using storage::Message;

constexpr int64_t kEnd = 1'780'000'000'000 - 1'780'000'000'000 % kDayMs;

SeedOptions Options(uint64_t n) { return SeedOptions{.messages_per_channel = n, .end_ms = kEnd}; }

TEST(SeedDataTest, SameInputsGiveTheSameMessages) {
  EXPECT_EQ(ChannelMessages(Options(500), 7), ChannelMessages(Options(500), 7));
  SeedOptions other = Options(500);
  other.seed = 2;
  EXPECT_NE(ChannelMessages(Options(500), 7)[0], ChannelMessages(other, 7)[0]);
  EXPECT_NE(ChannelMessages(Options(500), 7)[0].message_id,
            ChannelMessages(Options(500), 8)[0].message_id);
}

TEST(SeedDataTest, IdsIncreaseAndSpreadOverSeveralBucketsOfTheWindow) {
  const auto rows = ChannelMessages(Options(1000), 3);
  ASSERT_EQ(rows.size(), 1001u);
  std::set<int32_t> buckets;
  for (size_t i = 0; i + 1 < rows.size(); ++i) {
    const Message& m = rows[i];
    EXPECT_EQ(m.channel_id, 3u);
    if (i > 0) {
      EXPECT_GT(m.message_id, rows[i - 1].message_id) << i;
    }
    EXPECT_GE(SnowflakeTimestampMs(m.message_id), kEnd - 30 * kDayMs);
    EXPECT_LT(SnowflakeTimestampMs(m.message_id), kEnd);
    EXPECT_GE(m.author_id, 1u);
    EXPECT_LE(m.author_id, 1000u);
    EXPECT_FALSE(m.content.empty());
    buckets.insert(BucketOf(m.message_id));
  }
  EXPECT_GE(buckets.size(), 3u);
}

TEST(SeedDataTest, EveryChannelHasTheReferenceClientsMessage) {
  const auto rows = ChannelMessages(Options(10), 42);
  EXPECT_EQ(
      rows.back(),
      (Message{.channel_id = 42, .message_id = 42000, .author_id = 4042, .content = "Channel 42"}));
  EXPECT_EQ(ChannelMessages(Options(0), 5).size(), 1u);
}

TEST(SeedDataTest, ManyMessagesStillHaveDistinctIncreasingIds) {
  SeedOptions o = Options(200'000);
  o.span_ms = 200'000;  // one message per millisecond: the densest allowed
  const auto rows = ChannelMessages(o, 1);
  for (size_t i = 1; i + 1 < rows.size(); ++i) {
    ASSERT_GT(rows[i].message_id, rows[i - 1].message_id) << i;
  }
}

TEST(SeedDataTest, DefaultEndIsTodaysUtcMidnight) {
  const int64_t now = 1'780'123'456'789;
  const int64_t end = DefaultEndMs(now);
  EXPECT_EQ(end % kDayMs, 0);
  EXPECT_LE(end, now);
  EXPECT_GT(end + kDayMs, now);
}

}  // namespace
}  // namespace ds::seed
