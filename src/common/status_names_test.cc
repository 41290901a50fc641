#include "common/status_names.h"

#include <gtest/gtest.h>

namespace ds {
namespace {

TEST(StatusCodeNameTest, CanonicalNamesAndUnknownForANumberThatIsNoCode) {
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kOk), "OK");
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kDeadlineExceeded), "DEADLINE_EXCEEDED");
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(static_cast<absl::StatusCode>(42)), "UNKNOWN");
}

TEST(StatusCodeLabelTest, OnlyTheNamedCodesKeepTheirName) {
  const auto label = [](absl::StatusCode code) {
    return StatusCodeLabel(code, {absl::StatusCode::kUnavailable, absl::StatusCode::kOutOfRange});
  };
  EXPECT_EQ(label(absl::StatusCode::kUnavailable), "UNAVAILABLE");
  EXPECT_EQ(label(absl::StatusCode::kOutOfRange), "OUT_OF_RANGE");
  EXPECT_EQ(label(absl::StatusCode::kInternal), "OTHER");
  EXPECT_EQ(label(absl::StatusCode::kOk), "OTHER");
}

}  // namespace
}  // namespace ds
