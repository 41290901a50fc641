// Tests of the coalescing contract (coalescer.h), one group per point.
//
// Three kinds of store stand behind the coalescer here (test_helpers.h):
// ManualFetch, where the test completes each store attempt by hand (exact
// interleavings); SimulatedStore, on a FakeClock (deadlines without sleeps);
// and the shared FakeMessageStore (real threads, latency, holds, failures).
#include "coalescer/coalescer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "coalescer/test_helpers.h"
#include "testing/fake_message_store.h"

namespace ds::coalescer::test {
namespace {

using storage::FakeMessageStore;
using storage::StoreMethod;

// ---- 1. Key, 2. flights -------------------------------------------------

TEST(CoalescerTest, IdenticalKeysShareOneFlightDifferentKeysDoNot) {
  ThreadTimer timer;
  C c(CoalescerOptions{}, &timer);
  ManualFetch fetch;
  Outcomes out;
  auto a = c.Join(Req("GetMessages|1|50"), fetch.fetch(), out.Collect());
  auto b = c.Join(Req("GetMessages|1|50"), fetch.fetch(), out.Collect());
  auto d = c.Join(Req("GetMessages|1|51"), fetch.fetch(), out.Collect());
  ASSERT_TRUE(a.ok() && b.ok() && d.ok());
  EXPECT_EQ(a->role(), Role::kLeader);
  EXPECT_EQ(b->role(), Role::kJoiner);
  EXPECT_EQ(d->role(), Role::kLeader);
  EXPECT_EQ(fetch.calls(), 2);
  fetch.Complete(Bytes("page-50"));
  fetch.Complete(Bytes("page-51"));
  ASSERT_TRUE(out.WaitFor(3));
  EXPECT_EQ(*out.results[0].value(), "page-50");
  EXPECT_EQ(*out.results[1].value(), "page-50");
  EXPECT_EQ(*out.results[2].value(), "page-51");
}

TEST(CoalescerTest, ThousandConcurrentIdenticalReadsMakeOneStoreCall) {
  ThreadTimer timer;
  FakeMessageStore store;
  store.Put({{.channel_id = 7, .message_id = 700, .author_id = 1, .content = "hello"}});
  store.Hold();  // keeps the first query in the database while all others arrive
  C c(CoalescerOptions{}, &timer);
  auto fetch = [&](const FetchContext& ctx, C::FetchDone done) {
    store.GetMessage(7, 700, {ctx.deadline, ctx.cancel},
                     [done](absl::StatusOr<storage::Message> m) {
                       if (!m.ok()) return done(m.status());
                       done(Bytes(m->content));
                     });
  };
  Outcomes out;
  constexpr int kThreads = 8, kPerThread = 125;
  std::vector<std::thread> threads;
  std::atomic<int> joined{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_TRUE(c.Join(Req("GetMessage|7|700", 7), fetch, out.Collect()).ok());
        joined.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(out.size(), 0u);
  store.Release();
  ASSERT_TRUE(out.WaitFor(kThreads * kPerThread));
  EXPECT_EQ(store.calls(StoreMethod::kGetMessage), 1);
  int leaders = 0;
  for (size_t i = 0; i < out.results.size(); ++i) {
    ASSERT_TRUE(out.results[i].ok());
    EXPECT_EQ(*out.results[i].value(), "hello");
    leaders += out.infos[i].role == Role::kLeader;
  }
  EXPECT_EQ(leaders, 1);
}

TEST(CoalescerTest, FetchGetsFlightContextNotCallerContext) {
  FakeClock clock;
  FakeTimer timer(&clock);
  CoalescerOptions o;
  o.max_query_timeout = absl::Seconds(2);
  C c(o, &timer, nullptr, nullptr, &clock);
  ManualFetch fetch;
  Outcomes out;
  ASSERT_TRUE(c.Join(ReqAt(clock, "k", absl::Hours(1)), fetch.fetch(), out.Collect()).ok());
  const FetchContext ctx = fetch.PeekContext();
  // Capped at max_query_timeout, not the caller's hour.
  EXPECT_EQ(ctx.deadline, clock.Now() + absl::Seconds(2));
  ASSERT_NE(ctx.cancel, nullptr);
  EXPECT_FALSE(ctx.cancel->cancelled());
  fetch.Complete(Bytes("x"));
  ASSERT_TRUE(out.WaitFor(1));
}

// ---- 3. Deadlines and cancellation are per caller ------------------------

TEST(CoalescerTest, LeaderLeavingDoesNotAffectJoiners) {
  ThreadTimer timer;
  C c(CoalescerOptions{}, &timer);
  ManualFetch fetch;
  Outcomes out;
  std::atomic<bool> leader_called{false};
  auto a = c.Join(Req("k"), fetch.fetch(), [&](auto&&, auto&&) { leader_called = true; });
  auto b = c.Join(Req("k"), fetch.fetch(), out.Collect());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(c.Leave(*a));   // A's deadline expired: its transport answers it
  EXPECT_FALSE(c.Leave(*a));  // only once
  fetch.Complete(Bytes("data"));
  ASSERT_TRUE(out.WaitFor(1));
  EXPECT_EQ(*out.results[0].value(), "data");
  EXPECT_FALSE(leader_called);
  EXPECT_EQ(c.total_waiters(), 0u);
}

TEST(CoalescerTest, CallerDeadlineExpiresOtherCallerStillGetsData) {
  FakeClock clock;
  FakeTimer timer(&clock);
  SimulatedStore store(&clock, absl::Milliseconds(200));
  C c(CoalescerOptions{}, &timer, nullptr, nullptr, &clock);
  Outcomes out;
  // A (the leader) has 50 ms; B joins with 5 s. The first attempt carries A's
  // deadline (the latest live one when it starts) and times out; the flight
  // re-issues it for B, who still has time.
  auto a = c.Join(ReqAt(clock, "k", absl::Milliseconds(50)), store.Fetch("slow"),
                  [](auto&&, auto&&) { ADD_FAILURE() << "A left; its done must not run"; });
  auto b = c.Join(ReqAt(clock, "k", absl::Seconds(5)), store.Fetch("slow"), out.Collect());
  ASSERT_TRUE(a.ok() && b.ok());
  // A's transport notices its deadline.
  clock.Schedule(clock.Now() + absl::Milliseconds(50), [&] { EXPECT_TRUE(c.Leave(*a)); });
  clock.Advance(absl::Seconds(1));
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out.results[0].ok()) << out.results[0].status();
  EXPECT_EQ(*out.results[0].value(), "slow");
  EXPECT_EQ(store.calls(), 2);
  EXPECT_EQ(store.deadline_exceeded(), 1);
}

TEST(CoalescerTest, LastWaiterLeavingCancelsQueryAndLeaksNothing) {
  ThreadTimer timer;
  C c(CoalescerOptions{}, &timer);
  ManualFetch fetch;
  auto a = c.Join(Req("k"), fetch.fetch(), [](auto&&, auto&&) { ADD_FAILURE(); });
  auto b = c.Join(Req("k"), fetch.fetch(), [](auto&&, auto&&) { ADD_FAILURE(); });
  ASSERT_TRUE(a.ok() && b.ok());
  const FetchContext ctx = fetch.PeekContext();
  EXPECT_TRUE(c.Leave(*a));
  EXPECT_FALSE(ctx.cancel->cancelled());  // B still waits
  EXPECT_TRUE(c.Leave(*b));
  EXPECT_TRUE(ctx.cancel->cancelled());
  // The abandoned flight left the table: a new request starts a new flight.
  Outcomes out;
  auto d = c.Join(Req("k"), fetch.fetch(), out.Collect());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->role(), Role::kLeader);
  EXPECT_EQ(fetch.calls(), 2);
  // The store answers the abandoned query late: nobody is delivered to, and no
  // retry is attempted although the status is retryable.
  fetch.Complete(absl::UnavailableError("late"));
  EXPECT_EQ(fetch.calls(), 2);
  fetch.Complete(Bytes("fresh"));
  ASSERT_TRUE(out.WaitFor(1));
  EXPECT_EQ(*out.results[0].value(), "fresh");
  EXPECT_EQ(c.total_waiters(), 0u);
  EXPECT_EQ(c.active_queries(), 0u);
  EXPECT_EQ(c.live_flights(), 0u);
}

// ---- 4. Errors fan out, truthfully, and are never cached ------------------

TEST(CoalescerTest, ErrorsFanOutToEveryWaiterAndAreNotCached) {
  ThreadTimer timer;
  C c(CoalescerOptions{}, &timer);
  ManualFetch fetch;
  Outcomes out;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Join(Req("k"), fetch.fetch(), out.Collect()).ok());
  fetch.Complete(absl::NotFoundError("no such message"));
  ASSERT_TRUE(out.WaitFor(5));
  for (const auto& r : out.results) EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  // Next request: a new flight and a new query.
  Outcomes next;
  ASSERT_TRUE(c.Join(Req("k"), fetch.fetch(), next.Collect()).ok());
  EXPECT_EQ(fetch.calls(), 2);
  fetch.Complete(Bytes("now it exists"));
  ASSERT_TRUE(next.WaitFor(1));
  EXPECT_TRUE(next.results[0].ok());
}

// ---- 5. Retries inside the flight ---------------------------------------

TEST(CoalescerTest, StoreFailsTwiceThenSucceedsEveryWaiterIncludingLateJoinersGetsOk) {
  ThreadTimer timer;
  C c(FastRetries(), &timer);
  ManualFetch fetch;
  Outcomes out;
  ASSERT_TRUE(c.Join(Req("k"), fetch.fetch(), out.Collect()).ok());
  ASSERT_TRUE(c.Join(Req("k"), fetch.fetch(), out.Collect()).ok());
  fetch.Complete(absl::UnavailableError("db hiccup 1"));
  ASSERT_TRUE(fetch.WaitForCalls(2));  // retry issued after backoff
  auto late1 = c.Join(Req("k"), fetch.fetch(), out.Collect());
  ASSERT_TRUE(late1.ok());
  EXPECT_EQ(late1->role(), Role::kJoiner);
  fetch.Complete(absl::UnavailableError("db hiccup 2"));
  auto late2 = c.Join(Req("k"), fetch.fetch(), out.Collect());  // during backoff
  ASSERT_TRUE(late2.ok());
  EXPECT_EQ(late2->role(), Role::kJoiner);
  ASSERT_TRUE(fetch.WaitForCalls(3));
  const FetchContext third = fetch.Complete(Bytes("finally"));
  EXPECT_EQ(third.attempt, 2);
  ASSERT_TRUE(out.WaitFor(4));
  for (const auto& r : out.results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r.value(), "finally");
  }
  EXPECT_EQ(fetch.calls(), 3);
}

TEST(CoalescerTest, RetriesStopAtMaxAttemptsAndReportTheLastError) {
  ThreadTimer timer;
  CoalescerOptions o = FastRetries();
  o.retry.max_attempts = 2;
  C c(o, &timer);
  ManualFetch fetch;
  Outcomes out;
  ASSERT_TRUE(c.Join(Req("k"), fetch.fetch(), out.Collect()).ok());
  fetch.Complete(absl::UnavailableError("1"));
  ASSERT_TRUE(fetch.WaitForCalls(2));
  fetch.Complete(absl::UnavailableError("2"));
  ASSERT_TRUE(out.WaitFor(1));
  EXPECT_EQ(out.results[0].status(), absl::UnavailableError("2"));
  EXPECT_EQ(fetch.calls(), 2);
}

TEST(CoalescerTest, RetryBudgetExhaustedMeansNoRetry) {
  ThreadTimer timer;
  CoalescerOptions o = FastRetries();
  o.retry.budget_tokens = 1;
  o.retry.budget_refund = 0;
  C c(o, &timer);
  ManualFetch fetch;
  Outcomes out;
  ASSERT_TRUE(c.Join(Req("a"), fetch.fetch(), out.Collect()).ok());
  fetch.Complete(absl::UnavailableError("x"));  // uses the only token
  ASSERT_TRUE(fetch.WaitForCalls(2));
  fetch.Complete(Bytes("ok"));
  ASSERT_TRUE(out.WaitFor(1));
  ASSERT_TRUE(c.Join(Req("b"), fetch.fetch(), out.Collect()).ok());
  fetch.Complete(absl::UnavailableError("y"));  // no token left
  ASSERT_TRUE(out.WaitFor(2));
  EXPECT_EQ(out.results[1].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fetch.calls(), 3);
}

TEST(CoalescerTest, NonRetryableErrorsAreNotRetried) {
  ThreadTimer timer;
  C c(FastRetries(), &timer);
  ManualFetch fetch;
  Outcomes out;
  ASSERT_TRUE(c.Join(Req("k"), fetch.fetch(), out.Collect()).ok());
  fetch.Complete(absl::InvalidArgumentError("bad"));
  ASSERT_TRUE(out.WaitFor(1));
  EXPECT_EQ(fetch.calls(), 1);
}

// ---- 6. Read-your-writes -------------------------------------------------

TEST(CoalescerTest, ReadAfterAcknowledgedWriteDoesNotJoinOlderFlight) {
  ThreadTimer timer;
  C c(CoalescerOptions{}, &timer);
  ManualFetch fetch;
  Outcomes before, after, other;
  ASSERT_TRUE(c.Join(Req("GetMessages|5", 5), fetch.fetch(), before.Collect()).ok());
  auto other_leader = c.Join(Req("GetMessages|6", 6), fetch.fetch(), other.Collect());
  c.OnWriteAcknowledged(5);
  auto second = c.Join(Req("GetMessages|5", 5), fetch.fetch(), after.Collect());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->role(), Role::kLeader);  // a new flight, a new query
  // Channel 6 was not written: its flight stays joinable.
  auto other_joiner = c.Join(Req("GetMessages|6", 6), fetch.fetch(), other.Collect());
  ASSERT_TRUE(other_joiner.ok());
  EXPECT_EQ(other_joiner->role(), Role::kJoiner);
  // A third read joins the post-write flight, not the old one.
  auto third = c.Join(Req("GetMessages|5", 5), fetch.fetch(), after.Collect());
  EXPECT_EQ(third->role(), Role::kJoiner);
  EXPECT_EQ(fetch.calls(), 3);
  fetch.Complete(Bytes("without the write"));
  fetch.Complete(Bytes("channel 6"));
  fetch.Complete(Bytes("with the write"));
  ASSERT_TRUE(before.WaitFor(1));
  ASSERT_TRUE(after.WaitFor(2));
  EXPECT_EQ(*before.results[0].value(), "without the write");
  EXPECT_EQ(*after.results[0].value(), "with the write");
  EXPECT_EQ(*after.results[1].value(), "with the write");
  EXPECT_EQ(c.live_flights(), 0u);
}

TEST(CoalescerTest, WriteBetweenTwoReadsIsSeenBySecondReadWithFakeStore) {
  ThreadTimer timer;
  FakeMessageStore store;
  C c(CoalescerOptions{}, &timer);
  auto fetch = [&](const FetchContext& ctx, C::FetchDone done) {
    store.GetMessages({.channel_id = 11, .limit = 50}, {ctx.deadline, ctx.cancel},
                      [done](absl::StatusOr<std::vector<storage::Message>> page) {
                        if (!page.ok()) return done(page.status());
                        done(Bytes(std::to_string(page->size())));
                      });
  };
  store.Hold();
  Outcomes first, second;
  ASSERT_TRUE(c.Join(Req("GetMessages|11", 11), fetch, first.Collect()).ok());
  ASSERT_TRUE(store.WaitForParked(1, absl::Seconds(5)));
  // The first read's query is in the database; a write is now acknowledged.
  // (The fake holds every call, so the write is applied directly.)
  store.Put({{.channel_id = 11, .message_id = 1100, .author_id = 1, .content = "new"}});
  c.OnWriteAcknowledged(11);
  ASSERT_TRUE(c.Join(Req("GetMessages|11", 11), fetch, second.Collect()).ok());
  store.Release();
  ASSERT_TRUE(first.WaitFor(1));
  ASSERT_TRUE(second.WaitFor(1));
  EXPECT_EQ(store.calls(StoreMethod::kGetMessages), 2);
  EXPECT_EQ(*second.results[0].value(), "1");
}

// ---- 7. Bounded ---------------------------------------------------------

TEST(CoalescerTest, WaitersPerFlightCapAnswersResourceExhaustedAtOnce) {
  ThreadTimer timer;
  CoalescerOptions o;
  o.max_waiters_per_flight = 3;
  C c(o, &timer);
  ManualFetch fetch;
  Outcomes out;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.Join(Req("k"), fetch.fetch(), out.Collect()).ok());
  auto rejected = c.Join(Req("k"), fetch.fetch(), out.Collect());
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(c.total_waiters(), 3u);
  fetch.Complete(Bytes("x"));
  ASSERT_TRUE(out.WaitFor(3));
  EXPECT_EQ(out.size(), 3u);
}

TEST(CoalescerTest, TotalWaitersCap) {
  ThreadTimer timer;
  CoalescerOptions o;
  o.max_total_waiters = 2;
  C c(o, &timer);
  ManualFetch fetch;
  Outcomes out;
  ASSERT_TRUE(c.Join(Req("a"), fetch.fetch(), out.Collect()).ok());
  ASSERT_TRUE(c.Join(Req("b"), fetch.fetch(), out.Collect()).ok());
  EXPECT_EQ(c.Join(Req("c"), fetch.fetch(), out.Collect()).status().code(),
            absl::StatusCode::kResourceExhausted);
  fetch.Complete(Bytes("a"));
  ASSERT_TRUE(out.WaitFor(1));
  EXPECT_TRUE(c.Join(Req("c"), fetch.fetch(), out.Collect()).ok());  // room again
  fetch.Complete(Bytes("b"));
  fetch.Complete(Bytes("c"));
  ASSERT_TRUE(out.WaitFor(3));
}

TEST(CoalescerTest, ConcurrentQueriesCapRejectsNewFlightsButJoinsStillWork) {
  ThreadTimer timer;
  CoalescerOptions o;
  o.max_concurrent_queries = 1;
  C c(o, &timer);
  ManualFetch fetch;
  Outcomes out;
  ASSERT_TRUE(c.Join(Req("a"), fetch.fetch(), out.Collect()).ok());
  EXPECT_EQ(c.Join(Req("b"), fetch.fetch(), out.Collect()).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(c.Join(Req("a"), fetch.fetch(), out.Collect()).ok());  // joining costs no query
  EXPECT_EQ(fetch.calls(), 1);
  fetch.Complete(Bytes("a"));
  ASSERT_TRUE(out.WaitFor(2));
  EXPECT_EQ(c.active_queries(), 0u);
}

// ---- 8. Encode once -----------------------------------------------------

TEST(CoalescerTest, ResponseIsEncodedOncePerFlightAndSharedByReference) {
  ThreadTimer timer;
  C c(CoalescerOptions{}, &timer);
  FakeMessageStore store;
  store.Put({{.channel_id = 2, .message_id = 20, .author_id = 1, .content = "body"}});
  store.Hold();
  std::atomic<int> encodes{0};
  auto fetch = [&](const FetchContext& ctx, C::FetchDone done) {
    store.GetMessage(2, 20, {ctx.deadline, ctx.cancel},
                     [&, done](absl::StatusOr<storage::Message> m) {
                       encodes.fetch_add(1);  // the node serializes here, once per flight
                       done(Bytes("encoded:" + m->content));
                     });
  };
  Outcomes out;
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(c.Join(Req("k", 2), fetch, out.Collect()).ok());
  store.Release();
  ASSERT_TRUE(out.WaitFor(500));
  EXPECT_EQ(encodes.load(), 1);
  const std::string* first = out.results[0].value().get();
  for (const auto& r : out.results) EXPECT_EQ(r.value().get(), first);  // same bytes
}

// ---- 9. Visible ---------------------------------------------------------

class CountingProbe : public CoalescerProbe {
 public:
  void OnLeader(MethodId) override { leaders++; }
  void OnJoin(MethodId) override { joins++; }
  void OnStoreAttempt(MethodId, int) override { attempts++; }
  void OnRetry(MethodId) override { retries++; }
  void OnRejected(MethodId, RejectReason) override { rejected++; }
  void OnLeft(MethodId, Role) override { left++; }
  void OnDelivered(MethodId, Role role, absl::Duration) override {
    (role == Role::kLeader ? delivered_leader : delivered_joiner)++;
  }
  void OnFlightDone(MethodId, size_t n, const absl::Status&) override {
    flights++;
    waiters_total += n;
  }
  std::atomic<int> leaders{0}, joins{0}, attempts{0}, retries{0}, rejected{0}, left{0};
  std::atomic<int> delivered_leader{0}, delivered_joiner{0}, flights{0}, waiters_total{0};
};

TEST(CoalescerTest, ProbeSeesEveryEventAndWaitInfoNamesRoles) {
  ThreadTimer timer;
  CountingProbe probe;
  C c(FastRetries(), &timer, &probe);
  ManualFetch fetch;
  Outcomes out;
  auto a = c.Join(Req("k"), fetch.fetch(), out.Collect());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.Join(Req("k"), fetch.fetch(), out.Collect()).ok());
  auto gone = c.Join(Req("k"), fetch.fetch(), out.Collect());
  ASSERT_TRUE(c.Leave(*gone));
  fetch.Complete(absl::UnavailableError("x"));
  ASSERT_TRUE(fetch.WaitForCalls(2));
  fetch.Complete(Bytes("v"));
  ASSERT_TRUE(out.WaitFor(4));
  EXPECT_EQ(probe.leaders, 1);
  EXPECT_EQ(probe.joins, 4);
  EXPECT_EQ(probe.attempts, 2);
  EXPECT_EQ(probe.retries, 1);
  EXPECT_EQ(probe.left, 1);
  EXPECT_EQ(probe.delivered_leader, 1);
  EXPECT_EQ(probe.delivered_joiner, 3);
  EXPECT_EQ(probe.flights, 1);
  EXPECT_EQ(probe.waiters_total, 4);
  int leaders = 0;
  for (const auto& w : out.infos) leaders += w.role == Role::kLeader;
  EXPECT_EQ(leaders, 1);
}

TEST(CoalescerTest, MultiWaiterFanOutGoesThroughTheExecutorOncePerFlight) {
  ThreadTimer timer;
  std::atomic<int> handoffs{0};
  std::vector<std::thread> threads;
  std::mutex threads_mu;
  {
    C c(CoalescerOptions{}, &timer, nullptr, [&](std::function<void()> fn) {
      handoffs.fetch_add(1);
      std::lock_guard lock(threads_mu);
      threads.emplace_back(std::move(fn));  // another thread, like gRPC's
    });
    ManualFetch fetch;
    Outcomes out;
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.Join(Req("k"), fetch.fetch(), out.Collect()).ok());
    ASSERT_TRUE(c.Join(Req("single"), fetch.fetch(), out.Collect()).ok());
    fetch.Complete(Bytes("many"));
    fetch.Complete(Bytes("one"));  // one waiter: delivered inline, no hand-off
    ASSERT_TRUE(out.WaitFor(11));
    EXPECT_EQ(handoffs.load(), 1);
  }  // ~Coalescer waits until the executor's fan-out has finished
  for (auto& t : threads) t.join();
}

// ---- Coalescing off (the benchmark baseline) -------------------------------

TEST(CoalescerTest, DisabledRunsOneQueryPerRequest) {
  ThreadTimer timer;
  CoalescerOptions o;
  o.enabled = false;
  C c(o, &timer);
  ManualFetch fetch;
  Outcomes out;
  for (int i = 0; i < 4; ++i) {
    auto t = c.Join(Req("k"), fetch.fetch(), out.Collect());
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->role(), Role::kLeader);
  }
  EXPECT_EQ(fetch.calls(), 4);
  for (int i = 0; i < 4; ++i) fetch.Complete(Bytes(std::to_string(i)));
  ASSERT_TRUE(out.WaitFor(4));
}

// ---- Concurrency stress (meaningful under ThreadSanitizer) -----------------

TEST(CoalescerTest, ConcurrentJoinLeaveWriteStressDeliversExactlyOnceAndDrains) {
  ThreadTimer timer;
  FakeMessageStore store(storage::FakeMessageStoreOptions{.threads = 3});
  store.SetLatency(absl::Microseconds(300));
  store.FailNext(20, absl::UnavailableError("flaky"));
  for (uint64_t ch = 1; ch <= 4; ++ch) {
    store.Put({{.channel_id = ch, .message_id = ch * 10, .author_id = 1, .content = "m"}});
  }
  std::atomic<int> delivered{0}, left{0}, rejected{0};
  {
    C c(FastRetries(), &timer);
    auto fetch_for = [&](uint64_t ch) {
      return [&, ch](const FetchContext& ctx, C::FetchDone done) {
        store.GetMessage(ch, ch * 10, {ctx.deadline, ctx.cancel},
                         [done](absl::StatusOr<storage::Message> m) {
                           if (!m.ok()) return done(m.status());
                           done(Bytes(m->content));
                         });
      };
    };
    std::vector<std::thread> threads;
    constexpr int kThreads = 6, kOps = 400;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(t);
        for (int i = 0; i < kOps; ++i) {
          const uint64_t ch = 1 + rng() % 4;
          auto done_once = std::make_shared<std::atomic<int>>(0);
          auto ticket = c.Join(Req("GetMessage|" + std::to_string(ch), ch), fetch_for(ch),
                               [&, done_once](const C::Result& r, const WaitInfo&) {
                                 EXPECT_EQ(done_once->fetch_add(1), 0);
                                 delivered.fetch_add(1);
                               });
          if (!ticket.ok()) {
            rejected.fetch_add(1);
            continue;
          }
          if (rng() % 5 == 0 && c.Leave(*ticket)) left.fetch_add(1);
          if (rng() % 17 == 0) c.OnWriteAcknowledged(ch);
        }
      });
    }
    for (auto& th : threads) th.join();
    // ~C waits for every flight to end; then every waiter was answered or left.
  }
  EXPECT_EQ(delivered + left + rejected, 6 * 400);
  EXPECT_EQ(rejected, 0);
}

}  // namespace
}  // namespace ds::coalescer::test
