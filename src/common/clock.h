// Clock: where code that reasons about deadlines reads the time. Production
// code uses the real clock; tests inject a simulated one (testing/fake_clock.h)
// so deadline behaviour is checked without sleeping.
//
// Usage:
//   const ds::Clock& clock = ds::Clock::Real();
//   if (clock.Now() >= deadline) ...
//
// Thread-safe: Now() may be called from any thread.
#pragma once

#include "absl/time/time.h"

namespace ds {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // absl::Now(); a process-wide instance that lives forever.
  static const Clock& Real();
};

}  // namespace ds
