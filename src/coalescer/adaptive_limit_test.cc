#include "coalescer/adaptive_limit.h"

#include <gtest/gtest.h>

namespace ds::coalescer {
namespace {

AdaptiveLimitOptions On() {
  AdaptiveLimitOptions o;
  o.enabled = true;
  o.initial_limit = 20;
  o.min_limit = 4;
  o.max_limit = 200;
  return o;
}

// Feeds `n` samples of latency `rtt` from a node that uses its whole limit.
void Busy(AdaptiveConcurrencyLimit& l, int n, absl::Duration rtt) {
  for (int i = 0; i < n; ++i) l.OnSample(rtt, l.limit(), /*dropped=*/false);
}

TEST(AdaptiveLimitTest, DisabledNeverLimitsButStillEstimatesLatency) {
  AdaptiveLimitOptions o = On();
  o.enabled = false;
  AdaptiveConcurrencyLimit l(o);
  EXPECT_EQ(l.limit(), 200u);
  EXPECT_EQ(l.expected_latency(), absl::ZeroDuration());
  Busy(l, 50, absl::Milliseconds(8));
  EXPECT_EQ(l.limit(), 200u);
  EXPECT_NEAR(absl::ToDoubleMilliseconds(l.expected_latency()), 8, 0.01);
}

TEST(AdaptiveLimitTest, GrowsWhileLatencyHoldsAndTheLimitIsUsed) {
  AdaptiveConcurrencyLimit l(On());
  EXPECT_EQ(l.limit(), 20u);
  size_t previous = l.limit();
  for (int round = 0; round < 5; ++round) {
    Busy(l, 20, absl::Milliseconds(5));
    EXPECT_GT(l.limit(), previous) << round;
    previous = l.limit();
  }
  Busy(l, 2'000, absl::Milliseconds(5));
  EXPECT_EQ(l.limit(), 200u);  // capped
}

TEST(AdaptiveLimitTest, ShrinksWhenQueriesQueueAndRecoversAfterwards) {
  AdaptiveConcurrencyLimit l(On());
  Busy(l, 300, absl::Milliseconds(5));
  const size_t healthy = l.limit();
  // The store saturates: latency 4x the baseline at the same concurrency.
  Busy(l, 60, absl::Milliseconds(20));
  const size_t overloaded = l.limit();
  EXPECT_LT(overloaded, healthy / 2);
  EXPECT_GE(overloaded, 4u);
  Busy(l, 200, absl::Milliseconds(5));
  EXPECT_GT(l.limit(), overloaded * 2);
}

TEST(AdaptiveLimitTest, IdleSamplesDoNotGrowTheLimit) {
  AdaptiveConcurrencyLimit l(On());
  for (int i = 0; i < 500; ++i) l.OnSample(absl::Milliseconds(5), /*inflight=*/2, false);
  EXPECT_EQ(l.limit(), 20u);
}

TEST(AdaptiveLimitTest, DropsCutTheLimitAtOnceDownToTheFloor) {
  AdaptiveConcurrencyLimit l(On());
  l.OnSample(absl::Milliseconds(5), 20, /*dropped=*/true);
  EXPECT_EQ(l.limit(), 18u);  // 20 * 0.9
  for (int i = 0; i < 100; ++i) l.OnSample(absl::Milliseconds(5), 20, true);
  EXPECT_EQ(l.limit(), 4u);
}

}  // namespace
}  // namespace ds::coalescer
