// Compares the three consistent-hashing schemes docs/routing.md discusses, on
// the same keys and node names: rendezvous (HashRing, what we ship), a ring
// with virtual nodes, and Maglev. Prints movement on leave/join, max/mean load
// and lookup cost; asserts only sanity (the shipped scheme's acceptance test
// is hash_ring_test.cc). Labelled bench: the timings are machine noise.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "routing/hash_ring.h"

namespace ds::routing {
namespace {

using Picker = std::function<std::function<int(uint64_t)>(const std::vector<std::string>&)>;

uint64_t KeyHash(uint64_t id) { return HashRing::Mix64(id + 0x9e3779b97f4a7c15ULL); }

// Ring with `vnodes` points per node; a key belongs to the first point
// clockwise from its hash.
std::function<int(uint64_t)> MakeVnodeRing(const std::vector<std::string>& nodes, int vnodes) {
  auto points = std::make_shared<std::vector<std::pair<uint64_t, int>>>();
  for (int n = 0; n < static_cast<int>(nodes.size()); ++n) {
    for (int v = 0; v < vnodes; ++v) {
      points->emplace_back(HashRing::HashAddress(absl::StrCat(nodes[n], "#", v)), n);
    }
  }
  std::sort(points->begin(), points->end());
  return [points](uint64_t id) {
    auto it = std::lower_bound(points->begin(), points->end(), std::make_pair(KeyHash(id), 0));
    return it == points->end() ? points->front().second : it->second;
  };
}

// Maglev lookup table of prime size `m` (Eisenbud et al., NSDI 2016).
std::function<int(uint64_t)> MakeMaglev(const std::vector<std::string>& nodes, uint64_t m) {
  const int n = static_cast<int>(nodes.size());
  std::vector<uint64_t> offset(n), skip(n), next(n, 0);
  for (int i = 0; i < n; ++i) {
    const uint64_t h = HashRing::HashAddress(nodes[i]);
    offset[i] = h % m;
    skip[i] = HashRing::Mix64(h) % (m - 1) + 1;
  }
  auto table = std::make_shared<std::vector<int>>(m, -1);
  uint64_t filled = 0;
  while (filled < m) {
    for (int i = 0; i < n && filled < m; ++i) {
      uint64_t c = (offset[i] + next[i] * skip[i]) % m;
      while ((*table)[c] >= 0) {
        ++next[i];
        c = (offset[i] + next[i] * skip[i]) % m;
      }
      (*table)[c] = i;
      ++next[i];
      ++filled;
    }
  }
  return [table, m](uint64_t id) { return (*table)[KeyHash(id) % m]; };
}

std::vector<std::string> Names(int n, const char* prefix = "10.0.0.") {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i) out.push_back(absl::StrCat(prefix, i, ":50051"));
  return out;
}

struct Result {
  double leave_max = 0, join = 0, balance = 0, ns_per_lookup = 0;
};

Result Measure(const Picker& make, int n, const std::vector<uint64_t>& keys) {
  const std::vector<std::string> nodes = Names(n);
  auto owners = [&](const std::vector<std::string>& list) {
    auto pick = make(list);
    std::vector<std::string> out;
    out.reserve(keys.size());
    for (uint64_t k : keys) out.push_back(list[pick(k)]);
    return out;
  };
  auto moved = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    int m = 0;
    for (size_t i = 0; i < a.size(); ++i) m += a[i] != b[i];
    return static_cast<double>(m) / a.size();
  };
  Result r;
  const std::vector<std::string> base = owners(nodes);
  for (int gone = 0; gone < n; ++gone) {
    std::vector<std::string> rest = nodes;
    rest.erase(rest.begin() + gone);
    r.leave_max = std::max(r.leave_max, moved(base, owners(rest)));
  }
  std::vector<std::string> more = nodes;
  more.push_back("10.0.1.1:50051");
  r.join = moved(base, owners(more));
  std::vector<int> load(n, 0);
  auto pick = make(nodes);
  for (uint64_t k : keys) ++load[pick(k)];
  r.balance = *std::max_element(load.begin(), load.end()) / (static_cast<double>(keys.size()) / n);
  const absl::Time start = absl::Now();
  uint64_t sink = 0;
  for (int rep = 0; rep < 10; ++rep) {
    for (uint64_t k : keys) sink += pick(k);
  }
  r.ns_per_lookup = absl::ToDoubleNanoseconds(absl::Now() - start) / (10.0 * keys.size());
  EXPECT_GT(sink, 0u);
  return r;
}

TEST(HashCompareTest, RendezvousVnodeRingAndMaglev) {
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 100'000; ++i) {
    keys.push_back(((280'000'000'000ULL + i * 3) << 22) | (i % 7));
  }
  const std::vector<std::pair<std::string, Picker>> schemes = {
      {"rendezvous",
       [](const std::vector<std::string>& nodes) {
         auto ring = std::make_shared<HashRing>(nodes);
         return std::function<int(uint64_t)>([ring](uint64_t id) { return ring->Pick(id); });
       }},
      {"ring 100 vnodes", [](const auto& nodes) { return MakeVnodeRing(nodes, 100); }},
      {"ring 200 vnodes", [](const auto& nodes) { return MakeVnodeRing(nodes, 200); }},
      {"maglev M=65537", [](const auto& nodes) { return MakeMaglev(nodes, 65537); }},
  };
  std::printf(
      "\n scheme           |  N | leave max (x 1/N) | join (x 1/(N+1)) | max/mean | ns/lookup\n"
      "------------------+----+-------------------+------------------+----------+----------\n");
  for (const auto& [name, make] : schemes) {
    for (int n : {3, 5, 8, 12, 16}) {
      const Result r = Measure(make, n, keys);
      std::printf(" %-16s | %2d |  %.4f (%.2f)    |  %.4f (%.2f)   |  %.3f   |  %5.1f\n",
                  name.c_str(), n, r.leave_max, r.leave_max * n, r.join, r.join * (n + 1),
                  r.balance, r.ns_per_lookup);
      EXPECT_LT(r.balance, 2.0) << name;  // sanity only
    }
  }
}

}  // namespace
}  // namespace ds::routing
