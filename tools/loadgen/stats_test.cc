#include "tools/loadgen/stats.h"

#include <gtest/gtest.h>

#include <numeric>

namespace ds::loadgen {
namespace {

TEST(PercentileTest, NearestRankOnOneToHundred) {
  std::vector<int64_t> v(100);
  std::iota(v.begin(), v.end(), 1);  // 1..100
  EXPECT_EQ(Percentile(v, 0.0), 1);
  EXPECT_EQ(Percentile(v, 0.50), 50);
  EXPECT_EQ(Percentile(v, 0.90), 90);
  EXPECT_EQ(Percentile(v, 0.99), 99);
  EXPECT_EQ(Percentile(v, 0.999), 100);
  EXPECT_EQ(Percentile(v, 1.0), 100);
}

TEST(PercentileTest, SmallAndEmptyInputs) {
  EXPECT_EQ(Percentile({}, 0.5), 0);
  EXPECT_EQ(Percentile({7}, 0.0), 7);
  EXPECT_EQ(Percentile({7}, 0.999), 7);
  // n = 3: p50 is rank ceil(1.5) = 2.
  EXPECT_EQ(Percentile({10, 20, 30}, 0.5), 20);
  EXPECT_EQ(Percentile({10, 20, 30}, 0.34), 20);
  EXPECT_EQ(Percentile({10, 20, 30}, 0.33), 10);
}

TEST(PercentileTest, P999NeedsAThousandSamplesToMissTheMax) {
  std::vector<int64_t> v(1000);
  std::iota(v.begin(), v.end(), 1);
  EXPECT_EQ(Percentile(v, 0.999), 999);
  v.push_back(5000);  // 1001 samples: rank ceil(999.999) = 1000
  EXPECT_EQ(Percentile(v, 0.999), 1000);
}

TEST(SummarizeLatenciesTest, SortsAndSummarises) {
  std::vector<int64_t> ns = {5000000, 1000000, 3000000, 2000000, 4000000};
  LatencySummary s = SummarizeLatencies(ns);
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.min, absl::Milliseconds(1));
  EXPECT_EQ(s.max, absl::Milliseconds(5));
  EXPECT_EQ(s.mean, absl::Milliseconds(3));
  EXPECT_EQ(s.p50, absl::Milliseconds(3));
  EXPECT_EQ(s.p90, absl::Milliseconds(5));
  EXPECT_EQ(s.p99, absl::Milliseconds(5));
}

TEST(SummarizeLatenciesTest, EmptyIsAllZero) {
  std::vector<int64_t> none;
  LatencySummary s = SummarizeLatencies(none);
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.p99, absl::ZeroDuration());
}

// Hand-computed: query time 5.
//   arrivals 0 1 2 3 | 10 11 | 20   → queries start at 0, 10, 20
TEST(IdealQueriesTest, GreedyWindowsFromFirstUncoveredArrival) {
  std::vector<int64_t> a = {0, 1, 2, 3, 10, 11, 20};
  EXPECT_EQ(IdealQueriesForKey(a, 5), 3);
}

TEST(IdealQueriesTest, WindowIsHalfOpen) {
  std::vector<int64_t> a = {0, 5};  // 5 is not in [0, 5)
  EXPECT_EQ(IdealQueriesForKey(a, 5), 2);
  std::vector<int64_t> b = {0, 4};
  EXPECT_EQ(IdealQueriesForKey(b, 5), 1);
}

TEST(IdealQueriesTest, WindowsDoNotChain) {
  // 4 joins the query started at 0; 8 is past it and starts a new one, which
  // 12 joins. Chaining (extending from 4) would wrongly give 1.
  std::vector<int64_t> a = {0, 4, 8, 12};
  EXPECT_EQ(IdealQueriesForKey(a, 5), 2);
}

TEST(IdealQueriesTest, UnsortedInputIsSorted) {
  std::vector<int64_t> a = {20, 3, 11, 0, 2, 10, 1};
  EXPECT_EQ(IdealQueriesForKey(a, 5), 3);
}

TEST(IdealQueriesTest, ZeroQueryTimeMeansOneQueryPerArrival) {
  std::vector<int64_t> a = {0, 0, 1, 1, 2};
  EXPECT_EQ(IdealQueriesForKey(a, 0), 5);
}

TEST(IdealQueriesTest, SimultaneousArrivalsShareOneQuery) {
  std::vector<int64_t> a(1000, 42);
  EXPECT_EQ(IdealQueriesForKey(a, 1), 1);
  std::vector<int64_t> none;
  EXPECT_EQ(IdealQueriesForKey(none, 5), 0);
}

TEST(IdealQueriesTest, SumsOverKeysInNanoseconds) {
  std::vector<std::vector<int64_t>> by_key = {
      {0, 1000000, 2000000, 9000000},  // 2 ms query: 0 covers 1 ms; 2 ms and 9 ms start queries
      {5000000},                       // 1
      {}};                             // 0
  EXPECT_EQ(IdealQueries(by_key, absl::Milliseconds(2)), 4);
}

}  // namespace
}  // namespace ds::loadgen
