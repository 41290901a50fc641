// TimerThread: one thread that runs callbacks at given times. Shared by the
// storage backends (deadline watchdogs, LatencyMessageStore) and the
// coalescer (retry backoff).
//
// Usage:
//   TimerThread timers;
//   TimerThread::Id id = timers.Schedule(absl::Now() + absl::Milliseconds(5), [] { ... });
//   timers.Cancel(id);  // true if it had not run yet
//
// Threading: thread-safe. Callbacks run on the timer thread, one at a time,
// in time order, with no lock held (a callback may Schedule or Cancel). The
// destructor runs every still-pending callback at once (early), on the timer
// thread, then joins it: owners that must not act early check their own
// "stopping" state in the callback.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace ds {

class TimerThread {
 public:
  using Id = uint64_t;  // never 0

  TimerThread();
  ~TimerThread();

  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  // Runs `fn` on the timer thread at `when` (at once if `when` has passed).
  Id Schedule(absl::Time when, std::function<void()> fn);
  // Removes a pending callback; true if it was pending (it will not run).
  // False if it already ran, is running, or `id` is unknown.
  bool Cancel(Id id);
  // Callbacks scheduled and not yet started.
  size_t pending() const;

 private:
  void Loop();

  mutable Mutex mu_;
  CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Id next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::pair<absl::Time, Id>, std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<Id, absl::Time> when_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts after the state above exists
};

}  // namespace ds
