// The coalescer's optional overload controls: the adaptive concurrency limit
// (adaptive_limit.h) and deadline-aware admission, as Join() applies them.
#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "coalescer/coalescer.h"
#include "coalescer/test_helpers.h"

namespace ds::coalescer::test {
namespace {

class RejectProbe : public CoalescerProbe {
 public:
  void OnRejected(MethodId, RejectReason reason) override { ++by_reason[static_cast<int>(reason)]; }
  int by_reason[kRejectReasonCount] = {};  // ManualFetch/FakeClock tests: one thread
};

TEST(AdmissionTest, AdaptiveLimitRefusesNewFlightsBeyondIt) {
  ThreadTimer timer;
  RejectProbe probe;
  CoalescerOptions o;
  o.adaptive_limit.enabled = true;
  o.adaptive_limit.initial_limit = 3;
  o.adaptive_limit.min_limit = 1;
  C c(o, &timer, &probe);
  EXPECT_EQ(c.concurrency_limit(), 3u);
  ManualFetch fetch;
  Outcomes out;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Join(Req(absl::StrCat("k", i)), fetch.fetch(), out.Collect()).ok());
  }
  auto refused = c.Join(Req("k3"), fetch.fetch(), out.Collect());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(probe.by_reason[static_cast<int>(RejectReason::kAdaptiveLimit)], 1);
  EXPECT_TRUE(c.Join(Req("k0"), fetch.fetch(), out.Collect()).ok());  // joining needs no query
  for (int i = 0; i < 3; ++i) fetch.Complete(Bytes("v"));
  ASSERT_TRUE(out.WaitFor(4));
  EXPECT_EQ(c.total_waiters(), 0u);
}

TEST(AdmissionTest, AdaptiveLimitShrinksWhenTheStoreRefusesAndTheFixedCapStillApplies) {
  ThreadTimer timer;
  CoalescerOptions o;
  o.max_concurrent_queries = 2;
  o.adaptive_limit.enabled = true;
  o.adaptive_limit.initial_limit = 10;
  o.retry.max_attempts = 1;
  C c(o, &timer);
  EXPECT_EQ(c.concurrency_limit(), 2u);  // the fixed cap is lower
  ManualFetch fetch;
  Outcomes out;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(c.Join(Req(absl::StrCat("k", i)), fetch.fetch(), out.Collect()).ok());
    fetch.Complete(absl::UnavailableError("overloaded"));
  }
  ASSERT_TRUE(out.WaitFor(10));
  EXPECT_EQ(c.concurrency_limit(), 2u);
  CoalescerOptions only = o;
  only.max_concurrent_queries = CoalescerOptions{}.max_concurrent_queries;
  C adaptive_only(only, &timer);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(adaptive_only.Join(Req(absl::StrCat("k", i)), fetch.fetch(), out.Collect()).ok());
    fetch.Complete(absl::UnavailableError("overloaded"));
  }
  ASSERT_TRUE(out.WaitFor(15));
  EXPECT_EQ(adaptive_only.concurrency_limit(), 5u);  // 10 * 0.9^5 = 5.9
}

// Deadline-aware admission on simulated time: the store takes 50 ms.
class DeadlineAdmissionTest : public ::testing::Test {
 protected:
  DeadlineAdmissionTest() : timer_(&clock_), store_(&clock_, absl::Milliseconds(50)) {}
  std::unique_ptr<C> Make(bool deadline_admission) {
    CoalescerOptions o;
    o.deadline_admission = deadline_admission;
    auto c = std::make_unique<C>(o, &timer_, &probe_, nullptr, &clock_);
    Outcomes warm;  // teaches the coalescer the store's latency
    EXPECT_TRUE(
        c->Join(ReqAt(clock_, "warm", absl::Seconds(1)), store_.Fetch("w"), warm.Collect()).ok());
    clock_.Advance(absl::Milliseconds(60));
    EXPECT_EQ(c->expected_store_latency(), absl::Milliseconds(50));
    return c;
  }
  FakeClock clock_;
  FakeTimer timer_;
  SimulatedStore store_;
  RejectProbe probe_;
};

TEST_F(DeadlineAdmissionTest, RefusesAtOnceACallerWithLessTimeThanAQueryTakes) {
  auto c = Make(true);
  Outcomes out;
  auto hopeless =
      c->Join(ReqAt(clock_, "k", absl::Milliseconds(20)), store_.Fetch("v"), out.Collect());
  EXPECT_EQ(hopeless.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(probe_.by_reason[static_cast<int>(RejectReason::kDeadlineTooShort)], 1);
  EXPECT_EQ(store_.calls(), 1);  // the warm-up only: no query spent on it
  auto fine =
      c->Join(ReqAt(clock_, "k", absl::Milliseconds(200)), store_.Fetch("v"), out.Collect());
  ASSERT_TRUE(fine.ok());
  // A joiner costs no query, so its short deadline is its own business.
  auto joiner =
      c->Join(ReqAt(clock_, "k", absl::Milliseconds(20)), store_.Fetch("v"), out.Collect());
  ASSERT_TRUE(joiner.ok());
  EXPECT_TRUE(c->Leave(*joiner));
  clock_.Advance(absl::Milliseconds(100));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out.results[0].ok());
}

TEST_F(DeadlineAdmissionTest, OffByDefault) {
  auto c = Make(false);
  Outcomes out;
  auto admitted =
      c->Join(ReqAt(clock_, "k", absl::Milliseconds(20)), store_.Fetch("v"), out.Collect());
  ASSERT_TRUE(admitted.ok());
  EXPECT_TRUE(c->Leave(*admitted));
  clock_.Advance(absl::Milliseconds(100));
}

}  // namespace
}  // namespace ds::coalescer::test
