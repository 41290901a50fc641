#include "routing/outlier_detector.h"

#include <random>

#include "gtest/gtest.h"

namespace ds::routing {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);
constexpr absl::Duration kStall = absl::Milliseconds(25);

absl::Time At(int ms) { return kT0 + absl::Milliseconds(ms); }

// One answered attempt to `node`, sent at `start_ms` and answered `took_ms` later.
void Answer(OutlierDetector& d, int node, int start_ms, int took_ms) {
  d.OnAttemptStart(node, At(start_ms));
  d.OnAttemptEnd(node, At(start_ms), At(start_ms + took_ms), true);
}

TEST(OutlierDetectorTest, AFrozenNodeIsEjectedOnceOthersAnswerNewerAttempts) {
  OutlierDetector d(3, OutlierOptions());
  EXPECT_EQ(d.max_ejected(), 1);
  for (int ms = 0; ms < 10; ++ms) {
    for (int n = 0; n < 3; ++n) Answer(d, n, ms, 1);
  }
  // Node 1 freezes at 10 ms: its attempts are never answered (some are
  // cancelled when their hedges win, which must not reset anything).
  d.OnAttemptStart(1, At(10));
  d.OnAttemptEnd(1, At(10), At(13), /*answered=*/false);
  d.OnAttemptStart(1, At(12));
  EXPECT_TRUE(d.Sweep(At(30), kStall).empty());  // quiet for 20 ms only
  Answer(d, 0, 31, 1);
  const auto changes = d.Sweep(At(36), kStall);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].node, 1);
  EXPECT_TRUE(changes[0].ejected);
  EXPECT_TRUE(d.ejected(1));
  EXPECT_TRUE(d.Sweep(At(500), kStall).empty());  // ejected for base_ejection = 1 s
  const auto back = d.Sweep(At(1036), kStall);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_FALSE(back[0].ejected);
  EXPECT_FALSE(d.ejected(1));
  EXPECT_EQ(d.unanswered(1), 0);  // attempts stuck from before do not count
}

TEST(OutlierDetectorTest, APauseOfEveryNodeEjectsNobody) {
  OutlierDetector d(3, OutlierOptions());
  for (int n = 0; n < 3; ++n) Answer(d, n, 0, 1);
  d.OnAttemptStart(0, At(4));
  for (int n = 0; n < 3; ++n) {
    d.OnAttemptStart(n, At(5));
    d.OnAttemptStart(n, At(6));
  }
  EXPECT_TRUE(d.Sweep(At(200), kStall).empty());
  // Answers to attempts sent before the others went quiet do not count either.
  d.OnAttemptEnd(0, At(4), At(201), true);
  EXPECT_TRUE(d.Sweep(At(202), kStall).empty());
}

TEST(OutlierDetectorTest, OneSlowAttemptIsNotAStall) {
  OutlierDetector d(2, OutlierOptions());
  d.OnAttemptStart(0, At(0));
  Answer(d, 1, 1, 1);
  EXPECT_TRUE(d.Sweep(At(100), kStall).empty());  // stall_min_unanswered = 2
  d.OnAttemptStart(0, At(100));
  Answer(d, 1, 101, 1);
  EXPECT_EQ(d.Sweep(At(102), kStall).size(), 1u);
}

TEST(OutlierDetectorTest, AtMostTheAllowedFractionIsEjectedAndNeverAll) {
  OutlierOptions options;
  OutlierDetector two(2, options);
  EXPECT_EQ(two.max_ejected(), 1);
  OutlierDetector one(1, options);
  EXPECT_EQ(one.max_ejected(), 0);
  options.max_ejected_fraction = 0.5;
  OutlierDetector six(6, options);
  EXPECT_EQ(six.max_ejected(), 3);

  OutlierDetector d(3, OutlierOptions());
  for (int n : {0, 1}) {
    d.OnAttemptStart(n, At(0));
    d.OnAttemptStart(n, At(1));
  }
  Answer(d, 2, 5, 1);
  const auto changes = d.Sweep(At(100), kStall);
  ASSERT_EQ(changes.size(), 1u);  // both stalled, one may go
  EXPECT_EQ(changes[0].node, 0);
  EXPECT_TRUE(d.Sweep(At(101), kStall).empty());
}

TEST(OutlierDetectorTest, EjectionTimeDoublesWhileTheNodeStaysBadAndResetsAfterItRecovers) {
  OutlierDetector d(3, OutlierOptions());
  absl::Time now = At(0);
  const auto stall_node_1 = [&](absl::Time t) {
    d.OnAttemptStart(1, t);
    d.OnAttemptStart(1, t);
    d.OnAttemptStart(0, t + absl::Milliseconds(1));
    d.OnAttemptEnd(0, t + absl::Milliseconds(1), t + absl::Milliseconds(2), true);
    return d.Sweep(t + absl::Milliseconds(30), kStall);
  };
  absl::Duration expected = absl::Seconds(1);
  for (int round = 0; round < 5; ++round) {
    const auto changes = stall_node_1(now);
    ASSERT_EQ(changes.size(), 1u) << round;
    const absl::Time ejected_at = now + absl::Milliseconds(30);
    EXPECT_TRUE(d.Sweep(ejected_at + expected - absl::Milliseconds(1), kStall).empty());
    ASSERT_EQ(d.Sweep(ejected_at + expected, kStall).size(), 1u);  // back
    now = ejected_at + expected;
    expected = std::min(expected * 2, absl::Seconds(10));
  }
  // In for max_ejection (10 s) without trouble: the streak is forgotten.
  now += absl::Seconds(10);
  ASSERT_EQ(stall_node_1(now).size(), 1u);
  EXPECT_TRUE(d.Sweep(now + absl::Milliseconds(30) + absl::Milliseconds(999), kStall).empty());
  EXPECT_EQ(d.Sweep(now + absl::Milliseconds(30) + absl::Seconds(1), kStall).size(), 1u);
}

TEST(OutlierDetectorTest, ANodeMuchSlowerThanTheOthersIsEjectedAndMildSlownessIsNot) {
  OutlierDetector d(3, OutlierOptions());
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> jitter(0, 2);
  int ms = 0;
  // Node 2 twice as slow as the others: tolerated (factor 3).
  for (int i = 0; i < 60; ++i, ms += 50) {
    Answer(d, 0, ms, 3 + jitter(rng));
    Answer(d, 1, ms, 3 + jitter(rng));
    Answer(d, 2, ms, 8 + jitter(rng));
  }
  EXPECT_TRUE(d.Sweep(At(ms), kStall).empty());
  // Now 10 times as slow: ejected.
  for (int i = 0; i < 150; ++i, ms += 50) Answer(d, 2, ms, 40 + jitter(rng));
  const auto changes = d.Sweep(At(ms), kStall);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].node, 2);
  EXPECT_NE(changes[0].reason.find("slow"), std::string::npos);
}

TEST(OutlierDetectorTest, DisabledDetectorNeverEjects) {
  OutlierOptions options;
  options.enabled = false;
  OutlierDetector d(3, options);
  d.OnAttemptStart(1, At(0));
  d.OnAttemptStart(1, At(0));
  Answer(d, 0, 1, 1);
  EXPECT_TRUE(d.Sweep(At(1000), kStall).empty());
}

}  // namespace
}  // namespace ds::routing
