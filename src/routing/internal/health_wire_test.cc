#include "routing/internal/health_wire.h"

#include <string>

#include "gtest/gtest.h"

namespace ds::routing::internal {
namespace {

TEST(HealthWireTest, EncodesRequest) {
  EXPECT_EQ(EncodeHealthCheckRequest(""), "");
  EXPECT_EQ(EncodeHealthCheckRequest("ab"), std::string("\x0a\x02"
                                                        "ab",
                                                        4));
  const std::string long_name(200, 'x');
  const std::string encoded = EncodeHealthCheckRequest(long_name);
  // 200 = 0xc8 -> varint c8 01
  EXPECT_EQ(encoded.substr(0, 3), std::string("\x0a\xc8\x01", 3));
  EXPECT_EQ(encoded.size(), 203u);
}

TEST(HealthWireTest, DecodesStatus) {
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x08\x01", 2)), ServingStatus::kServing);
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x08\x02", 2)), ServingStatus::kNotServing);
  EXPECT_EQ(*DecodeHealthCheckResponse(""), ServingStatus::kUnknown);
  // Unknown fields (a string field 2 and a fixed32 field 3) are skipped.
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x12\x01z\x1d\x00\x00\x00\x00\x08\x01", 10)),
            ServingStatus::kServing);
  // An out-of-range enum value is not SERVING.
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x08\x09", 2)), ServingStatus::kUnknown);
}

TEST(HealthWireTest, RejectsMalformedBytes) {
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x08", 1)).ok());
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x12\x05z", 3)).ok());
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x0b", 1)).ok());  // group wire type
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string(11, '\xff')).ok());
}

}  // namespace
}  // namespace ds::routing::internal
