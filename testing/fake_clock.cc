#include "testing/fake_clock.h"

#include <algorithm>

namespace ds::testing {

FakeClock::FakeClock(absl::Time start) : now_(start) {}

absl::Time FakeClock::Now() const {
  MutexLock lock(mu_);
  return now_;
}

void FakeClock::Schedule(absl::Time when, std::function<void()> fn) {
  MutexLock lock(mu_);
  queue_.emplace(std::make_pair(when, next_seq_++), std::move(fn));
}

void FakeClock::AdvanceTo(absl::Time target) {
  for (;;) {
    std::function<void()> fn;
    {
      MutexLock lock(mu_);
      auto it = queue_.begin();
      if (it == queue_.end() || it->first.first > target) {
        now_ = std::max(now_, target);
        return;
      }
      now_ = std::max(now_, it->first.first);
      fn = std::move(it->second);
      queue_.erase(it);
    }
    fn();
  }
}

void FakeClock::Advance(absl::Duration d) { AdvanceTo(Now() + d); }

size_t FakeClock::pending() const {
  MutexLock lock(mu_);
  return queue_.size();
}

}  // namespace ds::testing
