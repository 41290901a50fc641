#include "auth/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "testing/fake_clock.h"

namespace ds::auth {
namespace {

class RateLimiterTest : public ::testing::Test {
 protected:
  ds::testing::FakeClock clock_;
};

TEST_F(RateLimiterTest, BurstThenExactlyTheRateWithACorrectRetryAfter) {
  RateLimiter limiter({.reads = {.per_second = 10, .burst = 5}, .clock = &clock_});
  // At one instant: the burst, then refusals saying when the next token comes.
  for (int i = 0; i < 5; ++i) {
    RateDecision d = limiter.Admit("sub:1", RequestKind::kRead);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 5);
    EXPECT_EQ(d.remaining, 4 - i);
  }
  RateDecision refused = limiter.Admit("sub:1", RequestKind::kRead);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.retry_after, absl::Milliseconds(100));
  EXPECT_EQ(refused.RetryAfterSeconds(), 1);  // whole seconds, rounded up
  EXPECT_EQ(refused.reset, absl::Milliseconds(500));
  // 99 ms later still nothing; at 100 ms exactly one.
  clock_.Advance(absl::Milliseconds(99));
  EXPECT_FALSE(limiter.Admit("sub:1", RequestKind::kRead).allowed);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(limiter.Admit("sub:1", RequestKind::kRead).allowed);
  EXPECT_FALSE(limiter.Admit("sub:1", RequestKind::kRead).allowed);
}

TEST_F(RateLimiterTest, NAllowedPerWindowUnderSteadyOverload) {
  // 20 requests/s offered for 10 s to a 3/s bucket of 6: exactly
  // 6 + 3 × 10 are allowed (the burst plus the refill), the rest refused.
  RateLimiter limiter({.writes = {.per_second = 3, .burst = 6}, .clock = &clock_});
  int allowed = 0, refused = 0;
  for (int tick = 0; tick < 200; ++tick) {
    RateDecision d = limiter.Admit("ip:10.0.0.1", RequestKind::kWrite);
    if (d.allowed) {
      ++allowed;
    } else {
      ++refused;
      // The promise made by Retry-After holds: after retry_after one request
      // would be allowed, and not a moment before.
      EXPECT_GT(d.retry_after, absl::ZeroDuration());
      EXPECT_LE(d.retry_after, absl::Seconds(1) / 3);
    }
    clock_.Advance(absl::Milliseconds(50));
  }
  // The last tick was at t = 9.95 s: 6 + floor(9.95 × 3) = 35.
  EXPECT_EQ(allowed, 6 + 29);
  EXPECT_EQ(refused, 200 - allowed);
}

TEST_F(RateLimiterTest, RetryAfterIsExact) {
  RateLimiter limiter({.reads = {.per_second = 0.5, .burst = 1}, .clock = &clock_});
  ASSERT_TRUE(limiter.Admit("a", RequestKind::kRead).allowed);
  RateDecision d = limiter.Admit("a", RequestKind::kRead);
  ASSERT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, absl::Seconds(2));
  EXPECT_EQ(d.RetryAfterSeconds(), 2);
  clock_.Advance(absl::Milliseconds(1500));
  d = limiter.Admit("a", RequestKind::kRead);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, absl::Milliseconds(500));
  clock_.Advance(d.retry_after);
  EXPECT_TRUE(limiter.Admit("a", RequestKind::kRead).allowed);
}

TEST_F(RateLimiterTest, ReadsAndWritesAndPrincipalsHaveTheirOwnBuckets) {
  RateLimiter limiter({.reads = {.per_second = 1, .burst = 2},
                       .writes = {.per_second = 1, .burst = 1},
                       .clock = &clock_});
  EXPECT_TRUE(limiter.Admit("a", RequestKind::kWrite).allowed);
  EXPECT_FALSE(limiter.Admit("a", RequestKind::kWrite).allowed);
  EXPECT_TRUE(limiter.Admit("a", RequestKind::kRead).allowed);  // reads untouched
  EXPECT_TRUE(limiter.Admit("a", RequestKind::kRead).allowed);
  EXPECT_FALSE(limiter.Admit("a", RequestKind::kRead).allowed);
  EXPECT_TRUE(limiter.Admit("b", RequestKind::kWrite).allowed);  // another principal
}

TEST_F(RateLimiterTest, UnlimitedKindsAreNotCountedOrReported) {
  RateLimiter limiter({.reads = {.per_second = 1, .burst = 1}, .clock = &clock_});
  for (int i = 0; i < 100; ++i) {
    RateDecision d = limiter.Admit("a", RequestKind::kWrite);
    ASSERT_TRUE(d.allowed);
    EXPECT_FALSE(d.limited);
  }
  EXPECT_EQ(limiter.size(), 0u);
}

TEST_F(RateLimiterTest, MemoryIsBoundedByTheLruCap) {
  RateLimiter limiter(
      {.reads = {.per_second = 1, .burst = 1}, .max_principals = 160, .clock = &clock_});
  for (int i = 0; i < 10'000; ++i) limiter.Admit(absl::StrCat("ip:", i), RequestKind::kRead);
  EXPECT_LE(limiter.size(), 160u);
  EXPECT_GE(limiter.evictions(), 10'000u - 160u);
  // A principal in constant use stays remembered (and limited) while others churn.
  ASSERT_TRUE(limiter.Admit("hot", RequestKind::kRead).allowed);
  for (int i = 0; i < 1000; ++i) {
    limiter.Admit(absl::StrCat("churn:", i), RequestKind::kRead);
    ASSERT_FALSE(limiter.Admit("hot", RequestKind::kRead).allowed) << i;
  }
}

}  // namespace
}  // namespace ds::auth
