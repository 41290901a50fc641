#include "coalescer/timer.h"

#include <utility>

namespace ds::coalescer {

ThreadTimer::ThreadTimer() : thread_([this] { Loop(); }) {}

ThreadTimer::~ThreadTimer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ThreadTimer::RunAfter(absl::Duration delay, std::function<void()> fn) {
  const auto when = Clock::now() + absl::ToChronoNanoseconds(std::max(delay, absl::ZeroDuration()));
  {
    std::lock_guard lock(mu_);
    queue_.push(Entry{when, next_seq_++, std::move(fn)});
  }
  cv_.notify_all();
}

void ThreadTimer::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (queue_.empty()) {
      cv_.wait(lock);
      continue;
    }
    if (Clock::now() < queue_.top().when) {
      // Woken early by a new (maybe earlier) entry or by stop; re-check.
      cv_.wait_until(lock, queue_.top().when);
      continue;
    }
    // priority_queue::top is const; the entry is popped right after, so moving
    // the callable out of it is safe.
    std::function<void()> fn = std::move(const_cast<Entry&>(queue_.top()).fn);
    queue_.pop();
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace ds::coalescer
