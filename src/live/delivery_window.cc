#include "live/delivery_window.h"

namespace ds::live {

DeliveryWindow::Verdict DeliveryWindow::Offer(uint64_t id, bool marked_late) {
  if (id > position_) {
    position_ = id;
    recent_.emplace(id, false);
    // Forget what fell out of the window.
    recent_.erase(recent_.begin(), recent_.upper_bound(floor()));
    return kInOrder;
  }
  if (id <= floor()) return kTooOld;
  if (recent_.contains(id)) return kDuplicate;
  if (id <= known_floor_ && !marked_late) return kTooOld;
  recent_.emplace(id, true);
  return kLate;
}

bool DeliveryWindow::MayHaveMissed(uint64_t id) const {
  auto it = recent_.find(id);
  return it == recent_.end() || it->second;
}

}  // namespace ds::live
