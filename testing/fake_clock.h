// FakeClock: a ds::Clock that moves only when the test moves it, with a
// scheduler of callbacks due at simulated times. Deadline tests drive it
// instead of sleeping: what happens at t = 50 ms is run by AdvanceTo(50 ms).
//
// Usage:
//   ds::testing::FakeClock clock;
//   clock.Schedule(clock.Now() + absl::Milliseconds(50), [&] { caller_a.Leave(); });
//   clock.Advance(absl::Milliseconds(60));   // runs the callback, Now() == +50 ms inside it
//
// Thread-safe. Callbacks run on the thread that calls Advance/AdvanceTo, one
// at a time, in due-time order (ties in the order scheduled), with no lock
// held; while one runs, Now() is its due time. A callback may Schedule more
// (those due by the target run in the same Advance). A callback scheduled at
// or before Now() runs at the next Advance (Advance(ZeroDuration()) included).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace ds::testing {

class FakeClock final : public Clock {
 public:
  // Starts at a fixed, arbitrary instant (runs are reproducible).
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000));

  absl::Time Now() const override;

  void Schedule(absl::Time when, std::function<void()> fn);
  // Moves the clock to `target` (never backwards), running what falls due.
  void AdvanceTo(absl::Time target);
  void Advance(absl::Duration d);
  // Callbacks scheduled and not yet run.
  size_t pending() const;

 private:
  mutable Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<absl::Time, uint64_t>, std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ds::testing
