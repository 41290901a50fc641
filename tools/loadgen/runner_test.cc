#include "tools/loadgen/runner.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace ds::loadgen {
namespace {

// A clock that only moves when told to (SleepUntil jumps, Advance adds), plus
// an optional step added on every Now() call.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Duration step_per_now = absl::ZeroDuration()) : step_(step_per_now) {}
  absl::Time Now() override {
    std::lock_guard<std::mutex> l(mu_);
    now_ += step_;
    return now_;
  }
  void SleepUntil(absl::Time t) override {
    std::lock_guard<std::mutex> l(mu_);
    if (t > now_) now_ = t;
  }
  void Advance(absl::Duration d) {
    std::lock_guard<std::mutex> l(mu_);
    now_ += d;
  }

 private:
  std::mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  absl::Duration step_;
};

// Completes inline; every `fail_every`-th request fails UNAVAILABLE; may
// advance a fake clock per request (a slow, synchronous send).
class InlineTarget : public Target {
 public:
  void Issue(const RequestSpec& r, absl::Time deadline,
             std::function<void(Outcome)> done) override {
    specs.push_back(r);
    deadlines.push_back(deadline);
    if (clock != nullptr) clock->Advance(cost);
    Outcome o;
    if (fail_every > 0 && specs.size() % fail_every == 0) {
      o.ok = false;
      o.code = "UNAVAILABLE";
      o.message = "node down";
    } else {
      o.ok = true;
    }
    done(o);
  }
  std::string Name() const override { return "inline"; }

  std::vector<RequestSpec> specs;
  std::vector<absl::Time> deadlines;
  size_t fail_every = 0;
  FakeClock* clock = nullptr;
  absl::Duration cost;
};

// Completes on its own thread, in order; counts the most requests it ever held.
class ThreadedTarget : public Target {
 public:
  ThreadedTarget() : worker_([this] { Loop(); }) {}
  ~ThreadedTarget() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  void Issue(const RequestSpec&, absl::Time, std::function<void(Outcome)> done) override {
    std::lock_guard<std::mutex> l(mu_);
    pending_.push_back(std::move(done));
    max_pending_ = std::max(max_pending_, pending_.size());
    ++issued_;
    cv_.notify_all();
  }
  std::string Name() const override { return "threaded"; }
  size_t max_pending() {
    std::lock_guard<std::mutex> l(mu_);
    return max_pending_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      cv_.wait(l, [&] { return stop_ || !pending_.empty(); });
      if (pending_.empty()) return;
      auto done = std::move(pending_.front());
      pending_.pop_front();
      l.unlock();
      Outcome o;
      o.ok = true;
      done(o);
      l.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(Outcome)>> pending_;
  size_t max_pending_ = 0;
  size_t issued_ = 0;
  bool stop_ = false;
  std::thread worker_;
};

Workload MakeWorkload(int64_t channels) {
  WorkloadOptions o;
  o.keys.channels = channels;
  return *Workload::Create(o);
}

TEST(RunnerTest, BurstIssuesEveryRequestAndCountsErrorsByCode) {
  InlineTarget target;
  target.fail_every = 10;
  Workload workload = MakeWorkload(5);
  FakeClock clock;
  Runner runner(&target, &workload,
                RunOptions{.mode = Mode::kBurst, .requests = 100, .deadline = absl::Seconds(3)},
                &clock);
  RunResult r = runner.Run();
  EXPECT_EQ(r.issued, 100);
  EXPECT_EQ(r.unfinished, 0);
  ASSERT_EQ(r.records.size(), 100u);
  ASSERT_EQ(r.codes.size(), 2u);
  EXPECT_EQ(r.codes[1], "UNAVAILABLE");
  EXPECT_EQ(r.first_error_message.at("UNAVAILABLE"), "node down");
  int failed = 0;
  for (const RequestRecord& rec : r.records) failed += rec.code == 1;
  EXPECT_EQ(failed, 10);
  EXPECT_EQ(r.read_keys.size(), 5u);
  EXPECT_EQ(r.read_keys[0], "GetMessages/1/50");
  // Every request carries the configured deadline from its send time.
  EXPECT_EQ(target.deadlines.front(), r.start + absl::Seconds(3));
  Progress p = runner.progress();
  EXPECT_EQ(p.issued, 100);
  EXPECT_EQ(p.completed, 100);
  EXPECT_EQ(p.errors, 10);
}

TEST(RunnerTest, BurstWaitsForCompletionsOnOtherThreads) {
  ThreadedTarget target;
  Workload workload = MakeWorkload(20);
  Runner runner(&target, &workload, RunOptions{.mode = Mode::kBurst, .requests = 5000},
                RealClock());
  RunResult r = runner.Run();
  EXPECT_EQ(r.issued, 5000);
  EXPECT_EQ(r.records.size(), 5000u);
  EXPECT_EQ(r.unfinished, 0);
  EXPECT_EQ(r.read_keys.size(), 20u);
}

TEST(RunnerTest, OpenModeKeepsItsScheduleAndMeasuresFromScheduledTime) {
  // 100 req/s for 1 s, but each send takes 25 ms of (fake) time: the runner
  // falls behind and sends back to back. Latency still counts from the
  // schedule, so request k waits (k+1)*25 - k*10 ms; a closed-loop measurement
  // would report 25 ms for every request (coordinated omission).
  FakeClock clock;
  InlineTarget target;
  target.clock = &clock;
  target.cost = absl::Milliseconds(25);
  Workload workload = MakeWorkload(3);
  Runner runner(&target, &workload,
                RunOptions{.mode = Mode::kOpen, .duration = absl::Seconds(1), .rate = 100}, &clock);
  RunResult r = runner.Run();
  ASSERT_EQ(r.issued, 100);
  ASSERT_EQ(r.records.size(), 100u);
  for (int k = 0; k < 100; ++k) {
    EXPECT_EQ(r.records[k].latency_ns, absl::ToInt64Nanoseconds(absl::Milliseconds(15 * k + 25)))
        << k;
    EXPECT_EQ(r.records[k].issue_ns, absl::ToInt64Nanoseconds(absl::Milliseconds(25 * k))) << k;
  }
  EXPECT_EQ(r.arrival_window, absl::Milliseconds(25 * 99));
}

TEST(RunnerTest, OpenModeOnScheduleIssuesAtExactTimes) {
  FakeClock clock;
  InlineTarget target;
  Workload workload = MakeWorkload(3);
  Runner runner(&target, &workload,
                RunOptions{.mode = Mode::kOpen, .duration = absl::Milliseconds(500), .rate = 40},
                &clock);
  RunResult r = runner.Run();
  ASSERT_EQ(r.issued, 20);
  for (int k = 0; k < 20; ++k) {
    EXPECT_EQ(r.records[k].issue_ns, absl::ToInt64Nanoseconds(absl::Milliseconds(25 * k)));
    EXPECT_EQ(r.records[k].latency_ns, 0);
  }
}

TEST(RunnerTest, ClosedModeNeverExceedsItsConcurrency) {
  ThreadedTarget target;
  Workload workload = MakeWorkload(4);
  FakeClock clock(/*step_per_now=*/absl::Microseconds(100));
  Runner runner(
      &target, &workload,
      RunOptions{.mode = Mode::kClosed, .concurrency = 4, .duration = absl::Milliseconds(200)},
      &clock);
  RunResult r = runner.Run();
  EXPECT_GT(r.issued, 4);
  EXPECT_EQ(static_cast<int64_t>(r.records.size()), r.issued);
  EXPECT_EQ(r.unfinished, 0);
  EXPECT_LE(target.max_pending(), 4u);
}

TEST(ReadKeyOfTest, DistinguishesMethodChannelAndParameters) {
  RequestSpec a{.kind = RequestKind::kGetMessages, .channel_id = 3, .limit = 50};
  RequestSpec b{.kind = RequestKind::kGetMessages, .channel_id = 3, .limit = 20};
  RequestSpec c{.kind = RequestKind::kGetMessage, .channel_id = 3, .message_id = 50};
  RequestSpec w{.kind = RequestKind::kSendMessage, .channel_id = 3, .nonce = 1};
  EXPECT_NE(ReadKeyOf(a), ReadKeyOf(b));
  EXPECT_NE(ReadKeyOf(a), ReadKeyOf(c));
  EXPECT_EQ(ReadKeyOf(w), "");
}

TEST(DiscoverNewestMessageIdsTest, AsksEveryChannelOnceWithLimitOne) {
  class Answering : public Target {
   public:
    void Issue(const RequestSpec& r, absl::Time, std::function<void(Outcome)> done) override {
      asked.push_back(r);
      Outcome o;
      o.ok = r.channel_id != 2;  // channel 2 fails: id stays 0
      o.code = o.ok ? "OK" : "UNAVAILABLE";
      o.newest_message_id = r.channel_id * 7;
      done(o);
    }
    std::string Name() const override { return "answering"; }
    std::vector<RequestSpec> asked;
  } target;
  std::vector<uint64_t> ids = DiscoverNewestMessageIds(&target, 3, absl::Seconds(1), 2);
  EXPECT_EQ(ids, (std::vector<uint64_t>{7, 0, 21}));
  ASSERT_EQ(target.asked.size(), 3u);
  for (const RequestSpec& r : target.asked) {
    EXPECT_EQ(r.kind, RequestKind::kGetMessages);
    EXPECT_EQ(r.limit, 1u);
  }
}

}  // namespace
}  // namespace ds::loadgen
