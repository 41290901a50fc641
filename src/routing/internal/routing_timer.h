// RoutingTimer (routing-internal): one thread that fires the routing client's
// hedge timers and runs its periodic outlier sweep.
//
// Rationale: not ds::TimerThread (common/), which runs every pending callback
// early when destroyed and allocates a map node and a std::function per timer;
// a hedge must never fire early, and the client sets one timer per read.
//
// A timer holds a weak_ptr to its target, so a call that finished before its
// hedge delay is freed at once and its timer fires into nothing. Due times are
// rounded up to `resolution`, so under load the thread wakes at most once per
// resolution step however many timers are due, instead of once per call.
//
// Usage:
//   RoutingTimer timers(absl::Milliseconds(1), absl::Milliseconds(10), [&] { Sweep(); });
//   timers.Start();
//   timers.Schedule(absl::Now() + hedge_delay, call);   // call: shared_ptr<TimerTarget>
//   timers.Stop();                                       // also done by the destructor
//
// Threads: Schedule() is thread-safe and never blocks on a firing timer.
// OnTimer() and the tick run on the timer thread, without the thread's lock
// held; they must not block for long. After Stop() returns nothing fires any
// more, and later Schedule() calls are ignored. Stop() must not be called from
// the timer thread itself.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace ds::routing::internal {

class TimerTarget {
 public:
  virtual ~TimerTarget() = default;
  virtual void OnTimer() = 0;
};

class RoutingTimer {
 public:
  RoutingTimer(absl::Duration resolution, absl::Duration tick_interval, std::function<void()> tick);
  ~RoutingTimer();
  RoutingTimer(const RoutingTimer&) = delete;
  RoutingTimer& operator=(const RoutingTimer&) = delete;

  void Start();
  void Stop();

  void Schedule(absl::Time when, std::weak_ptr<TimerTarget> target);

 private:
  struct Entry {
    absl::Time when;
    std::weak_ptr<TimerTarget> target;
    bool operator>(const Entry& other) const { return when > other.when; }
  };

  void Loop();

  const absl::Duration resolution_;
  const absl::Duration tick_interval_;
  const std::function<void()> tick_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue_ ABSL_GUARDED_BY(mu_);
  // The time the thread sleeps until; a Schedule() earlier than it wakes it.
  absl::Time sleeping_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ds::routing::internal
