#include "coalescer/retry.h"

#include <gtest/gtest.h>

namespace ds::coalescer {
namespace {

TEST(RetryTest, OnlyTransientCodesAreRetryable) {
  EXPECT_TRUE(IsRetryable(absl::UnavailableError("x")));
  EXPECT_TRUE(IsRetryable(absl::AbortedError("x")));
  EXPECT_FALSE(IsRetryable(absl::NotFoundError("x")));
  EXPECT_FALSE(IsRetryable(absl::InvalidArgumentError("x")));
  EXPECT_FALSE(IsRetryable(absl::DeadlineExceededError("x")));
  EXPECT_FALSE(IsRetryable(absl::OkStatus()));
}

TEST(RetryTest, BackoffGrowsIsCappedAndJittered) {
  RetryOptions o;
  o.initial_backoff = absl::Milliseconds(10);
  o.max_backoff = absl::Milliseconds(35);
  o.multiplier = 2;
  o.jitter = 0.2;
  EXPECT_EQ(BackoffFor(o, 0, 0.5), absl::Milliseconds(10));
  EXPECT_EQ(BackoffFor(o, 1, 0.5), absl::Milliseconds(20));
  EXPECT_EQ(BackoffFor(o, 2, 0.5), absl::Milliseconds(35));  // capped
  EXPECT_EQ(BackoffFor(o, 0, 0.0), absl::Milliseconds(8));   // -20%
  EXPECT_EQ(BackoffFor(o, 0, 1.0), absl::Milliseconds(12));  // +20%
}

TEST(RetryTest, BudgetRunsOutAndRefillsFromSuccesses) {
  RetryOptions o;
  o.budget_tokens = 3;
  o.budget_refund = 0.5;
  RetryBudget b(o);
  EXPECT_TRUE(b.TryWithdraw());
  EXPECT_TRUE(b.TryWithdraw());
  EXPECT_TRUE(b.TryWithdraw());
  EXPECT_FALSE(b.TryWithdraw());
  b.OnSuccess();
  EXPECT_FALSE(b.TryWithdraw());  // 0.5 tokens
  b.OnSuccess();
  EXPECT_TRUE(b.TryWithdraw());
  for (int i = 0; i < 100; ++i) b.OnSuccess();
  EXPECT_DOUBLE_EQ(b.balance(), 3.0);  // capped
}

}  // namespace
}  // namespace ds::coalescer
