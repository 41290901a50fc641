#include "tools/loadgen/progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ds::loadgen {
namespace {

using ::testing::HasSubstr;

TEST(RenderProgressLineTest, BurstFillsByCompletedRequests) {
  Progress p;
  p.start = absl::FromUnixSeconds(100);
  p.issued = 10000;
  p.completed = 5000;
  p.errors = 3;
  std::string line = RenderProgressLine(p, {.requests = 10000}, p.start + absl::Seconds(2), 10);
  EXPECT_EQ(line, "[#####-----]  50%  5000/10000 done  2.5k req/s  3 errors");
}

TEST(RenderProgressLineTest, DurationModesFillByTimeThenDrain) {
  Progress p;
  p.start = absl::FromUnixSeconds(100);
  p.issued = 120;
  p.completed = 100;
  ProgressBar::Goal goal{.duration = absl::Seconds(4)};
  EXPECT_THAT(RenderProgressLine(p, goal, p.start + absl::Seconds(1), 8),
              HasSubstr("[##------]  25%  100 done, 20 in flight  100 req/s  0 errors"));
  std::string late = RenderProgressLine(p, goal, p.start + absl::Seconds(5), 8);
  EXPECT_THAT(late, HasSubstr("[########] 100%"));
  EXPECT_THAT(late, HasSubstr("draining"));
}

TEST(RenderProgressLineTest, BeforeTheStartEverythingIsZero) {
  Progress p;  // start is InfinitePast until Run() begins
  EXPECT_EQ(RenderProgressLine(p, {.requests = 10}, absl::Now(), 4),
            "[----]   0%  0/10 done  0 req/s  0 errors");
}

}  // namespace
}  // namespace ds::loadgen
