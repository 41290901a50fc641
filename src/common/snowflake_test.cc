#include "common/snowflake.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace ds {
namespace {

TEST(SnowflakeTest, EncodesTimestampNodeAndBucket) {
  const int64_t now = 1700000000123;
  SnowflakeGenerator gen(5, [&] { return now; });
  const uint64_t id = gen.Next();
  EXPECT_EQ(SnowflakeTimestampMs(id), now);
  EXPECT_EQ((id >> 12) & kMaxSnowflakeNode, 5u);
  EXPECT_EQ(BucketOf(id), (now - kSnowflakeEpochMs) / kBucketMs);
  EXPECT_EQ(SnowflakeTimestampMs(SnowflakeFloor(now)), now);
}

TEST(SnowflakeTest, StrictlyIncreasingWhenClockStandsStillOrStepsBack) {
  int64_t now = 1700000000000;
  SnowflakeGenerator gen(1, [&] { return now; });
  uint64_t prev = gen.Next();
  for (int i = 0; i < 10000; ++i) {  // > 4096: overflows the sequence
    if (i == 5000) now -= 1000;      // clock steps back
    const uint64_t id = gen.Next();
    ASSERT_GT(id, prev) << i;
    prev = id;
  }
}

TEST(SnowflakeTest, UniqueAcrossThreads) {
  SnowflakeGenerator gen(3);
  constexpr int kThreads = 4, kPer = 20000;
  std::vector<std::vector<uint64_t>> out(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) out[t].push_back(gen.Next());
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (auto& v : out) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPer));
}

}  // namespace
}  // namespace ds
