#include "routing/membership.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ds::routing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ValidateAddressTest, AcceptsHostPortForms) {
  EXPECT_TRUE(ValidateAddress("127.0.0.1:50051").ok());
  EXPECT_TRUE(ValidateAddress("node-1.local:1").ok());
  EXPECT_TRUE(ValidateAddress("[::1]:65535").ok());
}

TEST(ValidateAddressTest, RejectsBadAddresses) {
  for (const char* bad : {"", "127.0.0.1", ":50051", "host:", "host:0", "host:65536", "host:x1",
                          "::1:50051", "[::1]50051", "[::1]:"}) {
    absl::Status s = ValidateAddress(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseNodeListTest, SplitsTrimsAndKeepsOrder) {
  auto nodes = ParseNodeList(" 127.0.0.1:50051, 127.0.0.1:50052 ,,127.0.0.1:50053");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_THAT(*nodes, ElementsAre("127.0.0.1:50051", "127.0.0.1:50052", "127.0.0.1:50053"));
}

TEST(ParseNodeListTest, RejectsDuplicatesEmptyAndBadEntries) {
  EXPECT_THAT(ParseNodeList("a:1,a:1").status().message(), HasSubstr("duplicate"));
  EXPECT_FALSE(ParseNodeList(" , ").ok());
  EXPECT_THAT(ParseNodeList("a:1,b").status().message(), HasSubstr("\"b\""));
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/", name);
  std::ofstream(path) << text;
  return path;
}

TEST(ReadNodesFileTest, SkipsCommentsAndBlankLines) {
  const std::string path =
      WriteFile("nodes_ok.txt", "# the fleet\n127.0.0.1:50051\n\n  127.0.0.1:50052  # two\n");
  auto nodes = ReadNodesFile(path);
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_THAT(*nodes, ElementsAre("127.0.0.1:50051", "127.0.0.1:50052"));
}

TEST(ReadNodesFileTest, ReportsLineOfBadEntryAndMissingFile) {
  const std::string path = WriteFile("nodes_bad.txt", "127.0.0.1:50051\nnot-an-address\n");
  EXPECT_THAT(ReadNodesFile(path).status().message(), HasSubstr(":2:"));
  EXPECT_EQ(ReadNodesFile("/nonexistent/nodes").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(ReadNodesFile(WriteFile("nodes_empty.txt", "# nothing\n")).ok());
}

TEST(ResolveNodesTest, FlagThenFileThenEnvironment) {
  const std::string file = WriteFile("nodes_resolve.txt", "f:1\n");
  EXPECT_THAT(*ResolveNodes("a:1", file, "e:1"), ElementsAre("a:1"));
  EXPECT_THAT(*ResolveNodes("", file, "e:1"), ElementsAre("f:1"));
  EXPECT_THAT(*ResolveNodes("", "", "e:1,e:2"), ElementsAre("e:1", "e:2"));
  EXPECT_EQ(ResolveNodes("", "", "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResolveNodesTest, ReadsDsNodesWhenNoValueIsInjected) {
  ::setenv(kNodesEnvVar, "x:7", 1);
  EXPECT_THAT(*ResolveNodes("", ""), ElementsAre("x:7"));
  ::unsetenv(kNodesEnvVar);
  EXPECT_FALSE(ResolveNodes("", "").ok());
}

std::vector<std::string> Nodes(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(absl::StrCat("127.0.0.1:", 50051 + i));
  return out;
}

TEST(MembershipTest, EjectionSwapsAWholeNewSnapshotAndLeavesTheOldOneIntact) {
  Membership m(Nodes(4));
  std::shared_ptr<const RingSnapshot> before = m.Snapshot();
  EXPECT_EQ(before->version(), 0u);
  EXPECT_EQ(before->live_count(), 4);

  EXPECT_TRUE(m.SetHealthy(2, false));
  EXPECT_FALSE(m.SetHealthy(2, false));  // no change, no new snapshot
  std::shared_ptr<const RingSnapshot> after = m.Snapshot();
  EXPECT_EQ(after->version(), 1u);
  EXPECT_FALSE(after->healthy(2));
  EXPECT_TRUE(before->healthy(2));  // a reader's snapshot never changes under it
  EXPECT_EQ(before->live_count(), 4);
  EXPECT_EQ(after->live_count(), 3);
  EXPECT_FALSE(m.SetHealthy(99, false));
}

TEST(MembershipTest, ANodeIsLiveOnlyWhenHealthyAndNotEjectedAsAnOutlier) {
  Membership m(Nodes(3));
  EXPECT_TRUE(m.SetEjected(1, true));
  EXPECT_FALSE(m.Snapshot()->healthy(1));
  // Health changes of an ejected node do not change the live set.
  EXPECT_FALSE(m.SetHealthy(1, false));
  EXPECT_FALSE(m.SetHealthy(1, true));
  const uint64_t version = m.Snapshot()->version();
  EXPECT_TRUE(m.SetEjected(1, false));
  EXPECT_TRUE(m.Snapshot()->healthy(1));
  EXPECT_EQ(m.Snapshot()->version(), version + 1);
  // An unhealthy node stays out when its ejection ends.
  ASSERT_TRUE(m.SetHealthy(0, false));
  EXPECT_FALSE(m.SetEjected(0, true));
  EXPECT_FALSE(m.SetEjected(0, false));
  EXPECT_FALSE(m.Snapshot()->healthy(0));
  EXPECT_TRUE(m.SetHealthy(0, true));
  EXPECT_EQ(m.Snapshot()->live_count(), 3);
}

// With rendezvous hashing the order over the live nodes equals the full
// order with the ejected nodes removed: failover goes where re-hashing would.
TEST(MembershipTest, HashOrderSkipsEjectedNodesKeepingTheRest) {
  Membership m(Nodes(5));
  for (uint64_t channel = 1; channel <= 500; ++channel) {
    std::vector<int> full = m.Snapshot()->HashOrder(channel);
    ASSERT_EQ(full.size(), 5u);
    m.SetHealthy(full[0], false);
    std::vector<int> live = m.Snapshot()->HashOrder(channel);
    EXPECT_EQ(live, std::vector<int>(full.begin() + 1, full.end()));
    EXPECT_EQ(m.Snapshot()->LiveOwner(channel), full[1]);
    m.SetHealthy(full[0], true);
  }
}

TEST(MembershipTest, AllEjectedFallsBackToEveryNode) {
  Membership m(Nodes(3));
  for (int i = 0; i < 3; ++i) m.SetHealthy(i, false);
  std::shared_ptr<const RingSnapshot> s = m.Snapshot();
  EXPECT_EQ(s->live_count(), 0);
  EXPECT_EQ(s->LiveOwner(7), -1);
  EXPECT_EQ(s->HashOrder(7).size(), 3u);
  EXPECT_THAT(s->RotationOrder(4), ElementsAre(1, 2, 0));
}

TEST(MembershipTest, RotationOrderCoversLiveNodesFromStart) {
  Membership m(Nodes(4));
  m.SetHealthy(1, false);
  std::shared_ptr<const RingSnapshot> s = m.Snapshot();
  EXPECT_THAT(s->RotationOrder(0), ElementsAre(0, 2, 3));
  EXPECT_THAT(s->RotationOrder(1), ElementsAre(2, 3, 0));
  EXPECT_THAT(s->RotationOrder(5), ElementsAre(3, 0, 2));
  EXPECT_THAT(s->HashOrder(42, 2).size(), 2u);
}

}  // namespace
}  // namespace ds::routing
