// Deadline isolation (coalescing contract point 3): a waiter is failed only by
// its own deadline, its own cancellation, or a real store error — never by
// another waiter's deadline.
//
// Most tests run on simulated time (FakeClock, SimulatedStore): exact,
// sleep-free schedules. The last one runs real threads against the threaded
// FakeMessageStore, for ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coalescer/coalescer.h"
#include "coalescer/test_helpers.h"
#include "testing/fake_message_store.h"

namespace ds::coalescer::test {
namespace {

using storage::FakeMessageStore;

class CountingProbe : public CoalescerProbe {
 public:
  void OnRetry(MethodId) override { ++retries; }
  void OnReissue(MethodId) override { ++reissues; }
  void OnStoreAttempt(MethodId, int) override { ++attempts; }
  int retries = 0, reissues = 0, attempts = 0;  // simulated time: one thread
};

// What a simulated caller saw.
struct Caller {
  absl::Time joined;
  absl::Time deadline;
  std::optional<absl::Time> cancel_at;
  std::optional<C::Ticket> ticket;
  std::optional<C::Result> delivered;
  absl::Time delivered_at;
  std::optional<absl::StatusCode> answered_by_transport;  // own DEADLINE_EXCEEDED / CANCELLED
};

// Joins `caller` at the clock's now and arranges what its transport does: at
// its deadline (or cancellation) it leaves and answers the caller itself.
void JoinAndWatch(C& c, FakeClock& clock, const std::string& key, C::Fetch fetch, Caller& caller) {
  caller.joined = clock.Now();
  auto ticket = c.Join({key, 1, caller.deadline}, std::move(fetch),
                       [&caller, &clock](const C::Result& r, const WaitInfo&) {
                         EXPECT_FALSE(caller.delivered.has_value()) << "delivered twice";
                         caller.delivered = r;
                         caller.delivered_at = clock.Now();
                       });
  ASSERT_TRUE(ticket.ok()) << ticket.status();
  caller.ticket = *ticket;
  auto leave = [&c, &caller](absl::StatusCode code) {
    if (c.Leave(*caller.ticket)) caller.answered_by_transport = code;
  };
  clock.Schedule(caller.deadline, [leave] { leave(absl::StatusCode::kDeadlineExceeded); });
  if (caller.cancel_at) {
    clock.Schedule(*caller.cancel_at, [leave] { leave(absl::StatusCode::kCancelled); });
  }
}

// Issue 8's scenario: against a 300 ms store, callers with deadlines of 50 ms
// (sent at t=0), 110 ms (t=10), 125 ms (t=75) and 2 s (t=145). Each earlier
// caller's deadline cuts an attempt short; none of that may fail the 2 s
// caller, and none of it is a failed attempt: it works with no retries
// allowed and an empty retry budget.
TEST(DeadlineIsolationTest, MixedDeadlinesNeverFailTheCallerWithTimeLeft) {
  FakeClock clock;
  FakeTimer timer(&clock);
  SimulatedStore store(&clock, absl::Milliseconds(300));
  CountingProbe probe;
  CoalescerOptions o;
  o.retry.max_attempts = 1;
  o.retry.budget_tokens = 0;
  C c(o, &timer, &probe, nullptr, &clock);
  const absl::Time t0 = clock.Now();
  struct Plan {
    absl::Duration send_at, timeout;
  };
  const Plan plans[] = {{absl::Milliseconds(0), absl::Milliseconds(50)},
                        {absl::Milliseconds(10), absl::Milliseconds(110)},
                        {absl::Milliseconds(75), absl::Milliseconds(125)},
                        {absl::Milliseconds(145), absl::Seconds(2)}};
  std::vector<Caller> callers(4);
  for (size_t i = 0; i < 4; ++i) {
    callers[i].deadline = t0 + plans[i].send_at + plans[i].timeout;
    clock.Schedule(t0 + plans[i].send_at,
                   [&, i] { JoinAndWatch(c, clock, "k", store.Fetch("page"), callers[i]); });
  }
  clock.AdvanceTo(t0 + absl::Seconds(3));

  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(callers[i].delivered.has_value()) << i;  // each left at its own deadline
    EXPECT_EQ(callers[i].answered_by_transport, absl::StatusCode::kDeadlineExceeded) << i;
  }
  ASSERT_TRUE(callers[3].delivered.has_value());
  ASSERT_TRUE(callers[3].delivered->ok()) << callers[3].delivered->status();
  EXPECT_EQ(*callers[3].delivered->value(), "page");
  // Attempts sized for A (to 50 ms), B (120 ms), C (200 ms), then D: the last
  // one starts at 200 ms and answers 300 ms later.
  EXPECT_EQ(callers[3].delivered_at, t0 + absl::Milliseconds(500));
  EXPECT_EQ(store.calls(), 4);
  EXPECT_EQ(probe.reissues, 3);
  EXPECT_EQ(probe.retries, 0);
  EXPECT_EQ(c.live_flights(), 0u);
}

TEST(DeadlineIsolationTest, AttemptCutByTheQueryCapIsARealStoreTimeout) {
  FakeClock clock;
  FakeTimer timer(&clock);
  SimulatedStore store(&clock, absl::Milliseconds(300));
  CoalescerOptions o;
  o.max_query_timeout = absl::Milliseconds(100);
  C c(o, &timer, nullptr, nullptr, &clock);
  Caller caller;
  caller.deadline = clock.Now() + absl::Seconds(1);
  JoinAndWatch(c, clock, "k", store.Fetch("page"), caller);
  clock.Advance(absl::Seconds(2));
  // The store was slower than the node allows any query to be: that is the
  // store's failure, reported at once, not retried (a retry cannot make a
  // slow store fast) and not re-issued.
  ASSERT_TRUE(caller.delivered.has_value());
  EXPECT_EQ(caller.delivered->status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store.calls(), 1);
}

TEST(DeadlineIsolationTest, CancelledCallerDoesNotCutTheFlightShortForOthers) {
  FakeClock clock;
  FakeTimer timer(&clock);
  SimulatedStore store(&clock, absl::Milliseconds(100));
  C c(CoalescerOptions{}, &timer, nullptr, nullptr, &clock);
  Caller leader, joiner;
  leader.deadline = clock.Now() + absl::Seconds(1);
  leader.cancel_at = clock.Now() + absl::Milliseconds(20);
  joiner.deadline = clock.Now() + absl::Milliseconds(500);
  JoinAndWatch(c, clock, "k", store.Fetch("page"), leader);
  JoinAndWatch(c, clock, "k", store.Fetch("page"), joiner);
  clock.Advance(absl::Seconds(2));
  EXPECT_EQ(leader.answered_by_transport, absl::StatusCode::kCancelled);
  EXPECT_FALSE(leader.delivered.has_value());
  ASSERT_TRUE(joiner.delivered.has_value());
  EXPECT_TRUE(joiner.delivered->ok());
  EXPECT_EQ(store.calls(), 1);
}

// ---- Seeded randomized schedules (property: nobody fails by another's hand) --

// A store whose attempts take a random time and sometimes fail for real.
class RandomStore {
 public:
  RandomStore(FakeClock* clock, uint64_t seed, int failure_percent)
      : clock_(clock), rng_(seed), failure_percent_(failure_percent) {}

  C::Fetch Fetch() {
    return [this](const FetchContext& ctx, C::FetchDone done) {
      ++calls_;
      const absl::Duration latency =
          absl::Milliseconds(std::uniform_int_distribution<int>(5, 120)(rng_));
      std::optional<absl::Status> failure;
      if (static_cast<int>(rng_() % 100) < failure_percent_) failure = RandomFailure();
      const absl::Time ready = clock_->Now() + latency;
      clock_->Schedule(std::min(ready, ctx.deadline), [=, this, done = std::move(done)] {
        if (ctx.cancel->cancelled()) return done(absl::CancelledError("abandoned"));
        if (ready > ctx.deadline) return done(absl::DeadlineExceededError("deadline passed"));
        if (failure) {
          real_errors_.push_back(*failure);
          return done(*failure);
        }
        done(Bytes("data"));
      });
    };
  }
  bool IsRealError(const absl::Status& s) const {
    for (const absl::Status& e : real_errors_) {
      if (e == s) return true;
    }
    return false;
  }
  int calls() const { return calls_; }

 private:
  absl::Status RandomFailure() {
    switch (rng_() % 3) {
      case 0:
        return absl::UnavailableError(absl::StrCat("transient #", ++failures_));
      case 1:
        return absl::NotFoundError(absl::StrCat("missing #", ++failures_));
      default:  // the store's own timeout, before any deadline it was given
        return absl::DeadlineExceededError(absl::StrCat("store timeout #", ++failures_));
    }
  }

  FakeClock* const clock_;
  std::mt19937_64 rng_;
  const int failure_percent_;
  int calls_ = 0, failures_ = 0;
  std::vector<absl::Status> real_errors_;
};

void RunRandomSchedule(uint64_t seed, int failure_percent) {
  SCOPED_TRACE(absl::StrCat("seed ", seed, ", failures ", failure_percent, "%"));
  FakeClock clock;
  FakeTimer timer(&clock);
  RandomStore store(&clock, seed * 7919, failure_percent);
  CoalescerOptions o = FastRetries();
  o.max_query_timeout = absl::Milliseconds(400);
  C c(o, &timer, nullptr, nullptr, &clock);
  std::mt19937_64 rng(seed);
  const absl::Time t0 = clock.Now();
  constexpr int kCallers = 300;
  std::vector<Caller> callers(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    Caller& caller = callers[i];
    const absl::Time join = t0 + absl::Milliseconds(rng() % 2000);
    caller.deadline = join + absl::Milliseconds(1 + rng() % 300);
    if (rng() % 5 == 0) caller.cancel_at = join + absl::Milliseconds(rng() % 200);
    const std::string key = absl::StrCat("k", rng() % 3);
    clock.Schedule(join, [&, key] { JoinAndWatch(c, clock, key, store.Fetch(), caller); });
    if (rng() % 10 == 0) clock.Schedule(join, [&c] { c.OnWriteAcknowledged(1); });
  }
  clock.AdvanceTo(t0 + absl::Seconds(10));

  int data = 0;
  for (int i = 0; i < kCallers; ++i) {
    const Caller& caller = callers[i];
    // Exactly one answer: from the flight, or from its own transport.
    ASSERT_NE(caller.delivered.has_value(), caller.answered_by_transport.has_value()) << i;
    if (!caller.delivered) continue;
    const absl::Status& status = caller.delivered->status();
    if (status.ok()) {
      ++data;
      continue;
    }
    const bool own_deadline = status.code() == absl::StatusCode::kDeadlineExceeded &&
                              caller.delivered_at >= caller.deadline;
    EXPECT_TRUE(own_deadline || store.IsRealError(status))
        << "caller " << i << " failed by someone else's hand: " << status << " at +"
        << (caller.delivered_at - caller.joined) << " of its " << (caller.deadline - caller.joined);
    EXPECT_LE(caller.delivered_at, caller.cancel_at.value_or(absl::InfiniteFuture())) << i;
  }
  EXPECT_GT(data, 0);
  EXPECT_EQ(c.live_flights(), 0u);
  EXPECT_EQ(c.total_waiters(), 0u);
  EXPECT_EQ(c.active_queries(), 0u);
}

TEST(DeadlineIsolationTest, RandomSchedulesWithoutStoreFailures) {
  for (uint64_t seed = 1; seed <= 20; ++seed) RunRandomSchedule(seed, 0);
}

TEST(DeadlineIsolationTest, RandomSchedulesWithStoreFailures) {
  for (uint64_t seed = 101; seed <= 120; ++seed) RunRandomSchedule(seed, 25);
}

// ---- Real threads (meaningful under ThreadSanitizer) ------------------------

// One call as its transport sees it: answered, or not yet.
class CallState {
 public:
  void Finish() {
    std::lock_guard lock(mu_);
    finished_ = true;
    cv_.notify_all();
  }
  void WaitUntil(absl::Time deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return finished_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;
};

TEST(DeadlineIsolationTest, ConcurrentCallersAreFailedOnlyByTheirOwnDeadlineOrARealError) {
  ThreadTimer timer;
  FakeMessageStore store(storage::FakeMessageStoreOptions{.threads = 2});
  store.Put({{.channel_id = 1, .message_id = 10, .author_id = 1, .content = "m"}});
  store.SetLatency(absl::Milliseconds(15));
  store.FailNext(10, absl::UnavailableError("injected"));
  std::atomic<int> foreign_failures{0}, data{0}, answered{0};
  constexpr int kThreads = 4, kPerThread = 60;
  {
    C c(FastRetries(), &timer);
    auto fetch = [&](const FetchContext& ctx, C::FetchDone done) {
      store.GetMessage(1, 10, {ctx.deadline, ctx.cancel},
                       [done](absl::StatusOr<storage::Message> m) {
                         if (!m.ok()) return done(m.status());
                         done(Bytes(m->content));
                       });
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(t + 1);
        for (int i = 0; i < kPerThread; ++i) {
          const absl::Time deadline = absl::Now() + absl::Milliseconds(2 + rng() % 40);
          auto call = std::make_shared<CallState>();
          auto done = [&, deadline, call](const C::Result& r, const WaitInfo&) {
            answered.fetch_add(1);
            if (r.ok()) {
              data.fetch_add(1);
            } else if (!(r.status().code() == absl::StatusCode::kDeadlineExceeded &&
                         absl::Now() >= deadline) &&
                       r.status() != absl::UnavailableError("injected")) {
              foreign_failures.fetch_add(1);
            }
            call->Finish();
          };
          auto ticket = c.Join({"k", 1, deadline}, fetch, done);
          ASSERT_TRUE(ticket.ok());
          // The transport: the answer, or this caller's own deadline.
          call->WaitUntil(deadline);
          if (c.Leave(*ticket)) answered.fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  EXPECT_EQ(foreign_failures.load(), 0);
  EXPECT_EQ(answered.load(), kThreads * kPerThread);
  EXPECT_GT(data.load(), 0);
}

}  // namespace
}  // namespace ds::coalescer::test
