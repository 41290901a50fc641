#include "live/delivery_window.h"

#include <gtest/gtest.h>

namespace ds::live {
namespace {

constexpr uint64_t kMs = uint64_t{1} << 22;  // one millisecond of snowflake ids

TEST(DeliveryWindowTest, IdsAboveThePositionAreInOrderAndMoveIt) {
  DeliveryWindow w(100 * kMs, 1000 * kMs);
  EXPECT_EQ(w.Offer(101 * kMs), DeliveryWindow::kInOrder);
  EXPECT_EQ(w.Offer(105 * kMs), DeliveryWindow::kInOrder);
  EXPECT_EQ(w.position(), 105 * kMs);
  EXPECT_EQ(w.Offer(105 * kMs), DeliveryWindow::kDuplicate);
}

TEST(DeliveryWindowTest, ALateIdInsideTheWindowIsDeliveredOnce) {
  DeliveryWindow w(100 * kMs, 1000 * kMs);
  ASSERT_EQ(w.Offer(2000 * kMs), DeliveryWindow::kInOrder);
  EXPECT_EQ(w.Offer(1500 * kMs), DeliveryWindow::kLate);
  EXPECT_EQ(w.Offer(1500 * kMs), DeliveryWindow::kDuplicate);
  EXPECT_EQ(w.position(), 2000 * kMs) << "a late id never moves the position back";
}

TEST(DeliveryWindowTest, IdsOlderThanTheWindowAreDropped) {
  DeliveryWindow w(100 * kMs, 1000 * kMs);
  ASSERT_EQ(w.Offer(5000 * kMs), DeliveryWindow::kInOrder);
  EXPECT_EQ(w.Offer(4000 * kMs), DeliveryWindow::kTooOld);
  EXPECT_EQ(w.Offer(4001 * kMs), DeliveryWindow::kLate);
}

TEST(DeliveryWindowTest, IdsAtOrBelowTheStartCountOnlyWhenMarkedLate) {
  DeliveryWindow w(100 * kMs, 1000 * kMs);
  EXPECT_EQ(w.Offer(90 * kMs), DeliveryWindow::kTooOld) << "existed before the stream started";
  EXPECT_EQ(w.Offer(90 * kMs, /*marked_late=*/true), DeliveryWindow::kLate);
  EXPECT_EQ(w.Offer(90 * kMs, /*marked_late=*/true), DeliveryWindow::kDuplicate);
}

TEST(DeliveryWindowTest, OnlyIdsDeliveredInOrderAreKnownToBeHeld) {
  DeliveryWindow w(100 * kMs, 1000 * kMs);
  ASSERT_EQ(w.Offer(200 * kMs), DeliveryWindow::kInOrder);
  ASSERT_EQ(w.Offer(150 * kMs), DeliveryWindow::kLate);
  EXPECT_FALSE(w.MayHaveMissed(200 * kMs));
  EXPECT_TRUE(w.MayHaveMissed(150 * kMs)) << "late: a receiver at 200 may have left before it";
  EXPECT_TRUE(w.MayHaveMissed(170 * kMs)) << "unknown here";
}

TEST(DeliveryWindowTest, ForgetsWhatFallsOutOfTheWindow) {
  DeliveryWindow w(0, 10 * kMs);
  for (uint64_t i = 1; i <= 1000; ++i) ASSERT_EQ(w.Offer(i * kMs), DeliveryWindow::kInOrder);
  EXPECT_LE(w.remembered(), 11u);
}

}  // namespace
}  // namespace ds::live
