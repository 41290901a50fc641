// Test helpers shared by the coalescer's tests (not production code):
//   ManualFetch     the test answers each store attempt by hand (exact interleavings)
//   SimulatedStore  a store on a FakeClock: latency, deadlines, injected failures
//   FakeTimer       the coalescer's Timer on a FakeClock
//   Outcomes        collects what every waiter was delivered
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coalescer/coalescer.h"
#include "testing/fake_clock.h"

namespace ds::coalescer::test {

using testing::FakeClock;

using Payload = std::shared_ptr<const std::string>;
using C = Coalescer<Payload>;

// Records store attempts; the test answers them explicitly.
class ManualFetch {
 public:
  struct Attempt {
    FetchContext ctx;
    C::FetchDone done;
  };

  C::Fetch fetch() {
    return [this](const FetchContext& ctx, C::FetchDone done) {
      std::lock_guard lock(mu_);
      attempts_.push_back({ctx, std::move(done)});
      ++calls_;
      cv_.notify_all();
    };
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  bool WaitForCalls(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return calls_ >= n; });
  }
  // Completes the oldest pending attempt; returns its context.
  FetchContext Complete(C::Result result) {
    Attempt a;
    {
      std::lock_guard lock(mu_);
      EXPECT_FALSE(attempts_.empty());
      a = std::move(attempts_.front());
      attempts_.pop_front();
    }
    a.done(std::move(result));
    return a.ctx;
  }
  FetchContext PeekContext() {
    std::lock_guard lock(mu_);
    return attempts_.front().ctx;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Attempt> attempts_;
  int calls_ = 0;
};

// Collects results of waiters, thread-safely.
struct Outcomes {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<C::Result> results;
  std::vector<WaitInfo> infos;

  C::Done Collect() {
    return [this](const C::Result& r, const WaitInfo& w) {
      std::lock_guard lock(mu);
      results.push_back(r);
      infos.push_back(w);
      cv.notify_all();
    };
  }
  size_t size() {
    std::lock_guard lock(mu);
    return results.size();
  }
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(20), [&] { return results.size() >= n; });
  }
};

inline C::Request Req(std::string key, uint64_t channel = 1,
                      absl::Duration timeout = absl::Seconds(10)) {
  return C::Request{std::move(key), channel, absl::Now() + timeout};
}

inline Payload Bytes(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

inline C::Request ReqAt(const Clock& clock, std::string key, absl::Duration timeout,
                        uint64_t channel = 1) {
  return C::Request{std::move(key), channel, clock.Now() + timeout};
}

// The coalescer's Timer on simulated time.
class FakeTimer final : public Timer {
 public:
  explicit FakeTimer(FakeClock* clock) : clock_(clock) {}
  void RunAfter(absl::Duration delay, std::function<void()> fn) override {
    clock_->Schedule(clock_->Now() + delay, std::move(fn));
  }

 private:
  FakeClock* const clock_;
};

// A store on simulated time: an attempt answers `latency` after it started,
// with the fetch's value (or an injected failure), or DEADLINE_EXCEEDED at
// its deadline if that comes first, or CANCELLED if its token was set by then.
class SimulatedStore {
 public:
  SimulatedStore(FakeClock* clock, absl::Duration latency) : clock_(clock), latency_(latency) {}

  C::Fetch Fetch(std::string value) {
    return [this, value](const FetchContext& ctx, C::FetchDone done) {
      ++calls_;
      const absl::Time ready = clock_->Now() + latency_;
      std::optional<absl::Status> failure;
      if (!failures_.empty()) {
        failure = failures_.front();
        failures_.pop_front();
      }
      clock_->Schedule(std::min(ready, ctx.deadline), [=, this, done = std::move(done)] {
        if (ctx.cancel->cancelled()) return done(absl::CancelledError("abandoned"));
        if (ready > ctx.deadline) {
          ++deadline_exceeded_;
          return done(absl::DeadlineExceededError("store timeout"));
        }
        if (failure) return done(*failure);
        done(Bytes(value));
      });
    };
  }
  // The next attempts fail with these statuses, in order.
  void FailNext(absl::Status status) { failures_.push_back(std::move(status)); }
  int calls() const { return calls_; }
  int deadline_exceeded() const { return deadline_exceeded_; }

 private:
  FakeClock* const clock_;
  const absl::Duration latency_;
  std::deque<absl::Status> failures_;
  int calls_ = 0;  // simulated time runs on the test's thread only
  int deadline_exceeded_ = 0;
};

inline CoalescerOptions FastRetries() {
  CoalescerOptions o;
  o.retry.initial_backoff = absl::Milliseconds(1);
  o.retry.max_backoff = absl::Milliseconds(2);
  return o;
}

}  // namespace ds::coalescer::test
