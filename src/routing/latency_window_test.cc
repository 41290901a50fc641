#include "routing/latency_window.h"

#include <random>

#include "gtest/gtest.h"

namespace ds::routing {
namespace {

TEST(LatencyWindowTest, BucketsAreMonotoneAndBoundTheirValuesWithin12AndAHalfPercent) {
  int previous = -1;
  for (int64_t us = 0; us < 5'000'000; us = us < 100 ? us + 1 : us + us / 97) {
    const int bucket = LatencyWindow::BucketOf(us);
    ASSERT_GE(bucket, previous) << us;
    ASSERT_LT(bucket, LatencyWindow::kBuckets);
    const int64_t upper = LatencyWindow::UpperBoundMicros(bucket);
    ASSERT_GE(upper, us) << us;
    ASSERT_LE(upper, us + us / 8) << us;
    previous = bucket;
  }
  EXPECT_EQ(LatencyWindow::BucketOf(-5), 0);
  EXPECT_EQ(LatencyWindow::BucketOf(int64_t{1} << 40), LatencyWindow::kBuckets - 1);
}

TEST(LatencyWindowTest, QuantilesOfAKnownDistribution) {
  LatencyWindow window(1000);
  EXPECT_EQ(window.Quantile(0.5), absl::ZeroDuration());
  for (int i = 1; i <= 1000; ++i) window.Record(absl::Microseconds(i * 10));  // 10 µs .. 10 ms
  EXPECT_EQ(window.count(), 1000);
  const auto near = [](absl::Duration got, absl::Duration want) {
    return got >= want && got <= want * 1.125;
  };
  EXPECT_TRUE(near(window.Quantile(0.5), absl::Microseconds(5000))) << window.Quantile(0.5);
  EXPECT_TRUE(near(window.Quantile(0.95), absl::Microseconds(9500))) << window.Quantile(0.95);
  EXPECT_TRUE(near(window.Quantile(0.99), absl::Microseconds(9900))) << window.Quantile(0.99);
  EXPECT_TRUE(near(window.Quantile(0), absl::Microseconds(10)));
  EXPECT_TRUE(near(window.Quantile(1), absl::Microseconds(10000)));
}

// The window forgets old generations, so a latency shift takes over within
// two generations.
TEST(LatencyWindowTest, FollowsAShiftWithinTwoGenerations) {
  LatencyWindow window(100);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> fast(100, 200);
  for (int i = 0; i < 1000; ++i) window.Record(absl::Microseconds(fast(rng)));
  EXPECT_LE(window.Quantile(0.99), absl::Microseconds(225));
  for (int i = 0; i < 100; ++i) window.Record(absl::Milliseconds(50));
  EXPECT_LE(window.Quantile(0.49), absl::Microseconds(225));  // half the window is fast,
  EXPECT_GE(window.Quantile(0.51), absl::Milliseconds(50));   // half slow
  for (int i = 0; i < 101; ++i) window.Record(absl::Milliseconds(50));
  EXPECT_GE(window.Quantile(0.01), absl::Milliseconds(50));  // only slow samples left
  EXPECT_LE(window.count(), 200);
  window.Clear();
  EXPECT_EQ(window.count(), 0);
}

}  // namespace
}  // namespace ds::routing
