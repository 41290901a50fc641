#include "common/timer_thread.h"

#include "absl/time/clock.h"

namespace ds {

TimerThread::TimerThread() : thread_([this] { Loop(); }) {}

TimerThread::~TimerThread() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  thread_.join();
}

TimerThread::Id TimerThread::Schedule(absl::Time when, std::function<void()> fn) {
  Id id;
  bool earliest;
  {
    MutexLock lock(mu_);
    id = next_id_++;
    auto it = queue_.emplace(std::make_pair(when, id), std::move(fn)).first;
    when_.emplace(id, when);
    earliest = it == queue_.begin();
  }
  if (earliest) cv_.NotifyAll();
  return id;
}

bool TimerThread::Cancel(Id id) {
  MutexLock lock(mu_);
  auto it = when_.find(id);
  if (it == when_.end()) return false;
  queue_.erase(std::make_pair(it->second, id));
  when_.erase(it);
  return true;
}

size_t TimerThread::pending() const {
  MutexLock lock(mu_);
  return queue_.size();
}

void TimerThread::Loop() {
  MutexLock lock(mu_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) return;
      cv_.Wait(mu_);
      continue;
    }
    auto first = queue_.begin();
    if (!stopping_ && first->first.first > absl::Now()) {
      cv_.WaitUntil(mu_, first->first.first);
      continue;
    }
    std::function<void()> fn = std::move(first->second);
    when_.erase(first->first.second);
    queue_.erase(first);
    mu_.Unlock();
    fn();
    fn = nullptr;  // release captures outside the lock
    mu_.Lock();
  }
}

}  // namespace ds
