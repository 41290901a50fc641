// Tests of ConsistencyTokens: the fence comes before the token is known, a
// known token costs nothing, eviction costs only coalescing, and with a real
// coalescer a reader presenting a token never joins an older flight.
#include "coalescer/consistency_tokens.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "coalescer/test_helpers.h"

namespace ds::coalescer::test {
namespace {

TEST(ConsistencyTokensTest, UnseenTokenIsFencedBeforeItIsRememberedAndOnlyOnce) {
  ConsistencyTokens tokens;
  int fences = 0;
  auto fence = [&](uint64_t channel) {
    EXPECT_EQ(channel, 5u);
    // Anyone who finds the token must be ordered after this fence.
    EXPECT_FALSE(tokens.Contains(5, 700));
    ++fences;
  };
  EXPECT_TRUE(tokens.Observe(5, 700, fence));
  EXPECT_TRUE(tokens.Contains(5, 700));
  EXPECT_FALSE(tokens.Observe(5, 700, fence));
  EXPECT_EQ(fences, 1);
  // The same id presented for another channel is another pair: fenced again.
  EXPECT_TRUE(tokens.Observe(6, 700, [&](uint64_t channel) { EXPECT_EQ(channel, 6u); }));
}

TEST(ConsistencyTokensTest, RememberedLocalWriteNeedsNoFence) {
  ConsistencyTokens tokens;
  tokens.Remember(9, 900);
  EXPECT_FALSE(tokens.Observe(9, 900, [](uint64_t) { ADD_FAILURE() << "already fenced"; }));
}

TEST(ConsistencyTokensTest, LeastRecentlyUsedIsEvictedAndAnEvictedTokenIsFencedAgain) {
  ConsistencyTokens tokens({.max_tokens = 2, .shards = 1});
  int fences = 0;
  auto fence = [&](uint64_t) { ++fences; };
  tokens.Remember(1, 10);
  tokens.Remember(1, 11);
  EXPECT_FALSE(tokens.Observe(1, 10, fence));  // refreshes 10: 11 is now the oldest
  tokens.Remember(1, 12);                      // evicts 11
  EXPECT_EQ(tokens.size(), 2u);
  EXPECT_TRUE(tokens.Contains(1, 10));
  EXPECT_FALSE(tokens.Contains(1, 11));
  EXPECT_TRUE(tokens.Contains(1, 12));
  EXPECT_TRUE(tokens.Observe(1, 11, fence));  // evicted: fenced again, correctness kept
  EXPECT_EQ(fences, 1);
  EXPECT_EQ(tokens.size(), 2u);
}

// The scenario the class exists for: channel 5's flight started before a
// write that another node acknowledged. A reader presenting that write's
// token must not join it; readers after it share the new flight.
TEST(ConsistencyTokensTest, ReaderWithUnseenTokenNeverJoinsAnOlderFlight) {
  ThreadTimer timer;
  C c(CoalescerOptions{}, &timer);
  ConsistencyTokens tokens;
  ManualFetch fetch;
  Outcomes before, after;
  ASSERT_TRUE(c.Join(Req("GetMessages|5", 5), fetch.fetch(), before.Collect()).ok());
  // Write 777 was acknowledged elsewhere; its writer now reads here.
  EXPECT_TRUE(tokens.Observe(c, 5, 777));
  auto reader = c.Join(Req("GetMessages|5", 5), fetch.fetch(), after.Collect());
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->role(), Role::kLeader);  // a new flight, started after the fence
  // A second reader with the same token: no new fence, it joins the new flight.
  EXPECT_FALSE(tokens.Observe(c, 5, 777));
  auto second = c.Join(Req("GetMessages|5", 5), fetch.fetch(), after.Collect());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->role(), Role::kJoiner);
  EXPECT_EQ(fetch.calls(), 2);
  fetch.Complete(Bytes("without 777"));
  fetch.Complete(Bytes("with 777"));
  ASSERT_TRUE(before.WaitFor(1));
  ASSERT_TRUE(after.WaitFor(2));
  EXPECT_EQ(*before.results[0].value(), "without 777");
  for (const auto& r : after.results) EXPECT_EQ(*r.value(), "with 777");
}

TEST(ConsistencyTokensTest, EvictedTokenCostsANewFlightNotAStaleRead) {
  ThreadTimer timer;
  C c(CoalescerOptions{}, &timer);
  ConsistencyTokens tokens({.max_tokens = 1, .shards = 1});
  ManualFetch fetch;
  Outcomes out;
  EXPECT_TRUE(tokens.Observe(c, 5, 1));
  ASSERT_TRUE(c.Join(Req("GetMessages|5", 5), fetch.fetch(), out.Collect()).ok());
  tokens.Remember(8, 2);  // evicts (5, 1)
  // The token is no longer known: the reader fences and starts a new flight
  // (one more query) instead of joining the one already running.
  EXPECT_TRUE(tokens.Observe(c, 5, 1));
  auto again = c.Join(Req("GetMessages|5", 5), fetch.fetch(), out.Collect());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->role(), Role::kLeader);
  fetch.Complete(Bytes("a"));
  fetch.Complete(Bytes("b"));
  ASSERT_TRUE(out.WaitFor(2));
}

// Under concurrency (meaningful under ThreadSanitizer): whenever Observe()
// skips the fence, a fence for that pair already happened before it.
TEST(ConsistencyTokensTest, ConcurrentObserversNeverSkipAFenceThatHasNotHappened) {
  ConsistencyTokens tokens({.max_tokens = 64, .shards = 4});
  constexpr int kChannels = 8, kTokens = 32;
  std::vector<std::atomic<bool>> fenced(kChannels * kTokens);
  std::atomic<int> skipped_unfenced{0}, fences{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t + 1);
      for (int i = 0; i < 5'000; ++i) {
        const uint64_t channel = rng() % kChannels, token = rng() % kTokens;
        std::atomic<bool>& flag = fenced[channel * kTokens + token];
        if (rng() % 4 == 0) {  // a local write: fenced by the write path, then remembered
          flag.store(true, std::memory_order_relaxed);
          tokens.Remember(channel, token);
          continue;
        }
        const bool did_fence = tokens.Observe(channel, token, [&](uint64_t) {
          flag.store(true, std::memory_order_relaxed);
          fences.fetch_add(1, std::memory_order_relaxed);
        });
        if (!did_fence && !flag.load(std::memory_order_relaxed)) skipped_unfenced.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(skipped_unfenced.load(), 0);
  EXPECT_GT(fences.load(), 0);
  EXPECT_LE(tokens.size(), 64u);
}

}  // namespace
}  // namespace ds::coalescer::test
