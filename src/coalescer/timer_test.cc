#include "coalescer/timer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "absl/synchronization/notification.h"

namespace ds::coalescer {
namespace {

TEST(ThreadTimerTest, RunsInDeadlineOrderNotSubmissionOrder) {
  ThreadTimer timer;
  std::mutex mu;
  std::vector<int> order;
  absl::Notification done;
  timer.RunAfter(absl::Milliseconds(60), [&] {
    std::lock_guard l(mu);
    order.push_back(3);
    done.Notify();
  });
  timer.RunAfter(absl::Milliseconds(30), [&] {
    std::lock_guard l(mu);
    order.push_back(2);
  });
  timer.RunAfter(absl::ZeroDuration(), [&] {
    std::lock_guard l(mu);
    order.push_back(1);
  });
  const absl::Time start = absl::Now();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(55));
  std::lock_guard l(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(ThreadTimerTest, PendingCallbacksRunEarlyAtDestruction) {
  // A coalescer flight waiting on a backoff must still end at shutdown.
  std::atomic<bool> ran{false};
  {
    ThreadTimer timer;
    timer.RunAfter(absl::Hours(1), [&] { ran = true; });
  }
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace ds::coalescer
