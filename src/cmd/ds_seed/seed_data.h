// Deterministic demo/benchmark data for ds-seed: the same (options, channel)
// always yields the same messages, so seeding twice adds nothing new.
//
// Usage:
//   ds::seed::SeedOptions o{.messages_per_channel = 1000, .end_ms = DefaultEndMs(now_ms)};
//   std::vector<ds::storage::Message> rows = ds::seed::ChannelMessages(o, /*channel_id=*/7);
//
// Per channel: `messages_per_channel` messages with snowflake ids whose
// timestamps are spread evenly (with seeded jitter) over the `span` before
// `end_ms` — 30 days by default, so each channel spans several 10-day buckets —
// plus the reference client's message: id channel_id * 1000, author
// 4000 + channel_id, content "Channel <channel_id>" (the reference Go client
// calls getMessage(channel, channel * 1000)).
//
// Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <vector>

#include "storage/message_store.h"

namespace ds::seed {

inline constexpr int64_t kDayMs = 24LL * 60 * 60 * 1000;

struct SeedOptions {
  uint64_t messages_per_channel = 1000;  // <= span_ms (one slot per ms at most)
  int64_t end_ms = 0;                    // Unix ms; newest message is just before it
  int64_t span_ms = 30 * kDayMs;         // messages spread over [end_ms - span_ms, end_ms)
  uint32_t node_id = 0;                  // snowflake node bits of the seeded ids
  uint64_t seed = 1;                     // varies authors, contents and jitter
};

// Today's UTC midnight: the default end of the window, stable for a whole day
// so that repeated runs on one day are idempotent.
int64_t DefaultEndMs(int64_t now_ms);

// The reference client's message for `channel_id`.
storage::Message ReferenceMessage(uint64_t channel_id);

// Every message of `channel_id`: the seeded ones in ascending id order, then
// the reference message.
std::vector<storage::Message> ChannelMessages(const SeedOptions& options, uint64_t channel_id);

}  // namespace ds::seed
