#include "routing/hash_ring.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace ds::routing {
namespace {

constexpr int kKeys = 100'000;

std::vector<std::string> Addresses(int n, int first = 1) {
  std::vector<std::string> out;
  for (int i = first; i < first + n; ++i) out.push_back(absl::StrCat("10.0.0.", i, ":50051"));
  return out;
}

// Snowflake-shaped channel ids: consecutive milliseconds, few node bits,
// small sequences. Nearly sequential keys are the hard case for a weak mix.
std::vector<uint64_t> ChannelIds(int n) {
  std::vector<uint64_t> ids;
  ids.reserve(n);
  const uint64_t base_ms = 280'000'000'000ULL;  // ~2023 since the 2015 epoch
  for (int i = 0; i < n; ++i) {
    ids.push_back(((base_ms + static_cast<uint64_t>(i) * 3) << 22) |
                  (static_cast<uint64_t>(i % 4) << 12) | static_cast<uint64_t>(i % 7));
  }
  return ids;
}

std::vector<std::string> Owners(const HashRing& ring, const std::vector<uint64_t>& keys) {
  std::vector<std::string> owners;
  owners.reserve(keys.size());
  for (uint64_t k : keys) owners.push_back(ring.nodes()[ring.Pick(k)]);
  return owners;
}

double MovedFraction(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  int moved = 0;
  for (size_t i = 0; i < a.size(); ++i) moved += a[i] != b[i];
  return static_cast<double>(moved) / a.size();
}

double MaxOverMean(const std::vector<std::string>& owners, int n) {
  std::map<std::string, int> load;
  for (const auto& o : owners) ++load[o];
  int max = 0;
  for (const auto& [_, c] : load) max = std::max(max, c);
  return max / (static_cast<double>(owners.size()) / n);
}

TEST(HashRingTest, EmptyRingPicksNothing) {
  HashRing ring({});
  EXPECT_EQ(ring.Pick(42), -1);
  EXPECT_TRUE(ring.Preference(42, 3).empty());
}

TEST(HashRingTest, PreferenceIsDistinctAndStartsWithPick) {
  HashRing ring(Addresses(7));
  for (uint64_t key : ChannelIds(1000)) {
    std::vector<int> pref = ring.Preference(key, 7);
    ASSERT_EQ(pref.size(), 7u);
    EXPECT_EQ(pref[0], ring.Pick(key));
    EXPECT_EQ(std::set<int>(pref.begin(), pref.end()).size(), 7u);
    // A shorter list is a prefix of the longer one.
    std::vector<int> three = ring.Preference(key, 3);
    EXPECT_TRUE(std::equal(three.begin(), three.end(), pref.begin()));
  }
  EXPECT_EQ(ring.Preference(1, 100).size(), 7u);
  EXPECT_TRUE(ring.Preference(1, 0).empty());
}

TEST(HashRingTest, OwnerDoesNotDependOnListOrder) {
  std::vector<std::string> nodes = Addresses(9);
  HashRing a(nodes);
  std::reverse(nodes.begin(), nodes.end());
  HashRing b(nodes);
  for (uint64_t key : ChannelIds(5000)) {
    EXPECT_EQ(a.nodes()[a.Pick(key)], b.nodes()[b.Pick(key)]);
  }
}

// Removing a node must move only that node's keys, and each to its own second
// choice: the failover order of a channel is where it lands after ejection.
TEST(HashRingTest, LeaveMovesOnlyTheLeaversKeysToTheirSecondChoice) {
  const std::vector<std::string> nodes = Addresses(5);
  HashRing full(nodes);
  std::vector<std::string> rest(nodes.begin() + 1, nodes.end());
  HashRing without(rest);
  for (uint64_t key : ChannelIds(20'000)) {
    const std::string& before = full.nodes()[full.Pick(key)];
    const std::string& after = without.nodes()[without.Pick(key)];
    if (before != nodes[0]) {
      EXPECT_EQ(before, after);
    } else {
      EXPECT_EQ(after, full.nodes()[full.Preference(key, 2)[1]]);
    }
  }
}

// The acceptance numbers: keys moved when one of N nodes leaves or
// joins <= 1.25/N for N = 3..16, and max/mean load over 100k keys <= 1.15.
// Prints the table that docs/routing.md quotes.
TEST(HashRingTest, MovementAndBalanceForThreeToSixteenNodes) {
  const std::vector<uint64_t> keys = ChannelIds(kKeys);
  std::printf(
      "\n  N | ideal 1/N | leave max | leave mean | join max | join/ideal | max/mean load\n");
  std::printf("----+-----------+-----------+------------+----------+------------+--------------\n");
  for (int n = 3; n <= 16; ++n) {
    const std::vector<std::string> nodes = Addresses(n);
    const std::vector<std::string> base = Owners(HashRing(nodes), keys);
    const double ideal = 1.0 / n;

    double leave_max = 0, leave_sum = 0;
    for (int gone = 0; gone < n; ++gone) {
      std::vector<std::string> rest = nodes;
      rest.erase(rest.begin() + gone);
      const double moved = MovedFraction(base, Owners(HashRing(rest), keys));
      leave_max = std::max(leave_max, moved);
      leave_sum += moved;
    }
    double join_max = 0;
    for (int extra = 0; extra < 4; ++extra) {  // four different newcomers
      std::vector<std::string> more = nodes;
      more.push_back(absl::StrCat("10.0.1.", extra + 1, ":50051"));
      join_max = std::max(join_max, MovedFraction(base, Owners(HashRing(more), keys)));
    }
    const double balance = MaxOverMean(base, n);
    std::printf(" %2d |   %.4f  |   %.4f  |   %.4f   |  %.4f  |    %.2f    |     %.3f\n", n, ideal,
                leave_max, leave_sum / n, join_max, join_max / (1.0 / (n + 1)), balance);

    EXPECT_LE(leave_max, 1.25 * ideal) << "N=" << n;
    EXPECT_LE(join_max, 1.25 * ideal) << "N=" << n;
    EXPECT_LE(balance, 1.15) << "N=" << n;
  }
}

}  // namespace
}  // namespace ds::routing
