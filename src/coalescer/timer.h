// Timer: runs a callback after a delay, on a thread the timer owns. The
// coalescer uses it for retry backoff so that no store or gRPC thread sleeps;
// tests may substitute their own.
//
// Usage:
//   ds::coalescer::ThreadTimer timer;
//   timer.RunAfter(absl::Milliseconds(5), [] { Retry(); });
//
// Thread-safe. Callbacks run one at a time on the timer thread and must not
// block. ThreadTimer is the shared ds::TimerThread behind this interface: at
// destruction it runs still-pending callbacks at once (early), which is what
// the coalescer needs, since a flight waiting on a backoff must still end.
#pragma once

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/timer_thread.h"

namespace ds::coalescer {

class Timer {
 public:
  virtual ~Timer() = default;
  virtual void RunAfter(absl::Duration delay, std::function<void()> fn) = 0;
};

class ThreadTimer final : public Timer {
 public:
  void RunAfter(absl::Duration delay, std::function<void()> fn) override {
    thread_.Schedule(absl::Now() + delay, std::move(fn));
  }

 private:
  TimerThread thread_;
};

}  // namespace ds::coalescer
