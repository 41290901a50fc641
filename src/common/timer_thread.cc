#include "common/timer_thread.h"

#include "absl/time/clock.h"

namespace ds {

TimerThread::TimerThread() : thread_([this] { Loop(); }) {}

TimerThread::~TimerThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

TimerThread::Id TimerThread::Schedule(absl::Time when, std::function<void()> fn) {
  Id id;
  bool earliest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_id_++;
    auto it = queue_.emplace(std::make_pair(when, id), std::move(fn)).first;
    when_.emplace(id, when);
    earliest = it == queue_.begin();
  }
  if (earliest) cv_.notify_all();
  return id;
}

bool TimerThread::Cancel(Id id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = when_.find(id);
  if (it == when_.end()) return false;
  queue_.erase(std::make_pair(it->second, id));
  when_.erase(it);
  return true;
}

size_t TimerThread::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void TimerThread::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) return;
      cv_.wait(lock);
      continue;
    }
    auto first = queue_.begin();
    if (!stopping_ && first->first.first > absl::Now()) {
      const absl::Time when = first->first.first;
      if (when == absl::InfiniteFuture()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, absl::ToChronoTime(when));
      }
      continue;
    }
    std::function<void()> fn = std::move(first->second);
    when_.erase(first->first.second);
    queue_.erase(first);
    lock.unlock();
    fn();
    fn = nullptr;  // release captures outside the lock
    lock.lock();
  }
}

}  // namespace ds
