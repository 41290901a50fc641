#include "routing/internal/routing_timer.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace ds::routing::internal {

RoutingTimer::RoutingTimer(absl::Duration resolution, absl::Duration tick_interval,
                           std::function<void()> tick)
    : resolution_(resolution), tick_interval_(tick_interval), tick_(std::move(tick)) {}

RoutingTimer::~RoutingTimer() { Stop(); }

void RoutingTimer::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void RoutingTimer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    // Drop pending timers now: their targets may own objects whose
    // destruction must not wait for this thread.
    queue_ = {};
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RoutingTimer::Schedule(absl::Time when, std::weak_ptr<TimerTarget> target) {
  if (resolution_ > absl::ZeroDuration()) {
    when = absl::UnixEpoch() + absl::Ceil(when - absl::UnixEpoch(), resolution_);
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    queue_.push(Entry{when, std::move(target)});
    wake = when < sleeping_until_;
  }
  if (wake) cv_.notify_one();
}

void RoutingTimer::Loop() {
  absl::Time next_tick = absl::Now() + tick_interval_;
  std::vector<std::weak_ptr<TimerTarget>> due;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    while (!queue_.empty() && queue_.top().when <= now) {
      due.push_back(queue_.top().target);
      queue_.pop();
    }
    const bool tick_due = tick_ && now >= next_tick;
    if (!due.empty() || tick_due) {
      lock.unlock();
      for (auto& weak : due) {
        if (std::shared_ptr<TimerTarget> target = weak.lock()) target->OnTimer();
      }
      due.clear();
      if (tick_due) {
        tick_();
        next_tick = now + tick_interval_;
      }
      lock.lock();
      continue;
    }
    sleeping_until_ = tick_ ? next_tick : absl::InfiniteFuture();
    if (!queue_.empty()) sleeping_until_ = std::min(sleeping_until_, queue_.top().when);
    if (sleeping_until_ == absl::InfiniteFuture()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, absl::ToChronoTime(sleeping_until_));
    }
    sleeping_until_ = absl::InfinitePast();
  }
}

}  // namespace ds::routing::internal
