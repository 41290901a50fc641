#include "common/clock.h"

#include "absl/time/clock.h"

namespace ds {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

const Clock& Clock::Real() {
  static const RealClock* const kClock = new RealClock();
  return *kClock;
}

}  // namespace ds
