// DeliveryWindow: what one live stream has delivered recently, so that it can
// deliver every message once although message ids are not ordered by
// acknowledgement (docs/live.md, "The ordering hazard").
//
// A stream has a *position*: the largest id it delivered in order. A message
// above the position is in order. A message at or below it is *late* (a write
// acknowledged by another node whose clock is behind, or one that became
// visible after a larger id) and is still delivered — once — if it lies
// within `window` of the position; older ones are dropped (the documented
// bound). The window remembers the ids it delivered above position − window
// and whether each came late.
//
// Usage:
//   DeliveryWindow w(/*position=*/head_id, /*window=*/WindowIds(absl::Seconds(5)));
//   switch (w.Offer(m.message_id)) {
//     case DeliveryWindow::kInOrder: case DeliveryWindow::kLate: Send(m); break;
//     default: break;  // duplicate, or too old
//   }
//
// Thread-compatible: the owner serializes calls.
#pragma once

#include <cstdint>

#include "absl/container/btree_map.h"
#include "absl/time/time.h"

namespace ds::live {

// `window` in message-id units: snowflake ids carry milliseconds in bits
// 63..22, so a duration of d ms spans d << 22 ids.
inline uint64_t WindowIds(absl::Duration window) {
  return static_cast<uint64_t>(absl::ToInt64Milliseconds(window)) << 22;
}

class DeliveryWindow {
 public:
  enum Verdict { kInOrder, kLate, kDuplicate, kTooOld };

  // Starts at `position` (everything at or below it counts as known: a
  // message there is delivered only when its source marks it late).
  DeliveryWindow(uint64_t position, uint64_t window)
      : position_(position), known_floor_(position), window_(window) {}

  // Records `id` as delivered unless it is a duplicate or too old. `marked_late`:
  // the source says the id is late (e.g. a node re-sending the window behind
  // a resume id), so it is delivered even at or below the starting position.
  Verdict Offer(uint64_t id, bool marked_late = false);

  // Whether a receiver whose position was `>= id` may lack `id`: false only
  // when this window delivered `id` in order (a receiver at a larger position
  // had it); true when `id` came late or is unknown here.
  bool MayHaveMissed(uint64_t id) const;

  uint64_t position() const { return position_; }
  // Ids at or below this are older than the window.
  uint64_t floor() const { return position_ > window_ ? position_ - window_ : 0; }
  uint64_t window() const { return window_; }
  size_t remembered() const { return recent_.size(); }

 private:
  uint64_t position_;
  uint64_t known_floor_;
  uint64_t window_;
  absl::btree_map<uint64_t, bool> recent_;  // id -> delivered late
};

}  // namespace ds::live
