// Timer: runs a callback after a delay, on a thread the timer owns. The
// coalescer uses it for retry backoff so that no store or gRPC thread sleeps.
//
// Usage:
//   ds::coalescer::ThreadTimer timer;
//   timer.RunAfter(absl::Milliseconds(5), [] { Retry(); });
//
// Thread-safe. Callbacks run one at a time on the timer thread and must not
// block. Callbacks still pending at destruction are dropped without running.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace ds::coalescer {

class Timer {
 public:
  virtual ~Timer() = default;
  virtual void RunAfter(absl::Duration delay, std::function<void()> fn) = 0;
};

class ThreadTimer final : public Timer {
 public:
  ThreadTimer();
  ~ThreadTimer() override;
  ThreadTimer(const ThreadTimer&) = delete;
  ThreadTimer& operator=(const ThreadTimer&) = delete;

  void RunAfter(absl::Duration delay, std::function<void()> fn) override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Clock::time_point when;
    uint64_t seq;  // FIFO among equal times
    std::function<void()> fn;
    bool operator>(const Entry& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ds::coalescer
