#include "routing/policy.h"

#include "gtest/gtest.h"

namespace ds::routing {
namespace {

TEST(PolicyTest, ParsesCanonicalNamesAndAliases) {
  EXPECT_EQ(*ParsePolicy("hash"), Policy::kHash);
  EXPECT_EQ(*ParsePolicy("round-robin"), Policy::kRoundRobin);
  EXPECT_EQ(*ParsePolicy("Round_Robin"), Policy::kRoundRobin);
  EXPECT_EQ(*ParsePolicy("rr"), Policy::kRoundRobin);
  EXPECT_EQ(*ParsePolicy(" RANDOM "), Policy::kRandom);
}

TEST(PolicyTest, RejectsUnknownNamesWithTheAcceptedOnes) {
  absl::StatusOr<Policy> p = ParsePolicy("maglev");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("round-robin"), std::string_view::npos);
  EXPECT_FALSE(ParsePolicy("").ok());
}

TEST(PolicyTest, NamesRoundTrip) {
  for (Policy p : {Policy::kHash, Policy::kRoundRobin, Policy::kRandom}) {
    EXPECT_EQ(*ParsePolicy(PolicyName(p)), p);
  }
}

}  // namespace
}  // namespace ds::routing
