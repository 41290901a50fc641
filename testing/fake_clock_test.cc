#include "testing/fake_clock.h"

#include <gtest/gtest.h>

#include <vector>

namespace ds::testing {
namespace {

TEST(FakeClockTest, AdvanceRunsDueCallbacksInTimeOrderAtTheirDueTime) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  std::vector<std::pair<int, absl::Duration>> ran;
  clock.Schedule(t0 + absl::Milliseconds(30), [&] { ran.push_back({3, clock.Now() - t0}); });
  clock.Schedule(t0 + absl::Milliseconds(10), [&] {
    ran.push_back({1, clock.Now() - t0});
    // Scheduled from a callback and due within the same Advance: runs in it.
    clock.Schedule(t0 + absl::Milliseconds(20), [&] { ran.push_back({2, clock.Now() - t0}); });
  });
  clock.Schedule(t0 + absl::Milliseconds(90), [&] { ran.push_back({9, clock.Now() - t0}); });
  clock.Advance(absl::Milliseconds(50));
  ASSERT_EQ(ran.size(), 3u);
  EXPECT_EQ(ran[0], std::make_pair(1, absl::Milliseconds(10)));
  EXPECT_EQ(ran[1], std::make_pair(2, absl::Milliseconds(20)));
  EXPECT_EQ(ran[2], std::make_pair(3, absl::Milliseconds(30)));
  EXPECT_EQ(clock.Now(), t0 + absl::Milliseconds(50));
  EXPECT_EQ(clock.pending(), 1u);
}

TEST(FakeClockTest, NeverMovesBackwardsAndRunsOverdueCallbacksOnZeroAdvance) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  clock.AdvanceTo(t0 - absl::Seconds(1));
  EXPECT_EQ(clock.Now(), t0);
  int runs = 0;
  clock.Schedule(t0, [&] { ++runs; });
  EXPECT_EQ(runs, 0);  // never inline from Schedule
  clock.Advance(absl::ZeroDuration());
  EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace ds::testing
