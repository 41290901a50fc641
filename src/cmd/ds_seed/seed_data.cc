#include "cmd/ds_seed/seed_data.h"

#include <string>

#include "common/snowflake.h"

namespace ds::seed {
namespace {

// SplitMix64: a tiny, well-mixed deterministic hash.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr const char* kWords[] = {
    "hello", "everyone", "the",  "server", "is",  "live", "new",  "patch", "notes", "tonight",
    "gg",    "who",      "is",   "up",     "for", "a",    "raid", "at",    "nine",  "check",
    "the",   "pinned",   "post", "thanks", "lol", "brb",  "ship", "it",    "today", "announcement"};
constexpr uint64_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);

std::string Content(uint64_t h) {
  std::string out;
  const int words = 3 + static_cast<int>(h % 6);
  for (int i = 0; i < words; ++i) {
    h = Mix(h);
    if (!out.empty()) out += ' ';
    out += kWords[h % kWordCount];
  }
  return out;
}

// span * i / n without overflow (span < 2^40 ms, i <= n < 2^32 in practice,
// but use 128 bits to be safe).
int64_t Scale(int64_t span, uint64_t i, uint64_t n) {
  return static_cast<int64_t>(static_cast<unsigned __int128>(span) * i / n);
}

}  // namespace

int64_t DefaultEndMs(int64_t now_ms) { return now_ms - now_ms % kDayMs; }

storage::Message ReferenceMessage(uint64_t channel_id) {
  return storage::Message{.channel_id = channel_id,
                          .message_id = channel_id * 1000,
                          .author_id = 4000 + channel_id,
                          .content = "Channel " + std::to_string(channel_id)};
}

std::vector<storage::Message> ChannelMessages(const SeedOptions& o, uint64_t channel_id) {
  std::vector<storage::Message> out;
  out.reserve(o.messages_per_channel + 1);
  const uint64_t n = o.messages_per_channel;
  const int64_t start_ms = o.end_ms - o.span_ms;
  const uint64_t node_bits = static_cast<uint64_t>(o.node_id & kMaxSnowflakeNode)
                             << kSnowflakeSequenceBits;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t h = Mix(o.seed ^ Mix(channel_id) ^ Mix(i + 0x51ed));
    // Slot i of n equal slots; a seeded offset inside the slot. Slots are at
    // least 1 ms wide (n <= span_ms), so timestamps strictly increase with i.
    const int64_t slot_start = start_ms + Scale(o.span_ms, i, n);
    const int64_t slot_width = Scale(o.span_ms, i + 1, n) - Scale(o.span_ms, i, n);
    const int64_t ms = slot_start + static_cast<int64_t>(h % static_cast<uint64_t>(slot_width));
    const uint64_t sequence = (h >> 32) & ((1u << kSnowflakeSequenceBits) - 1);
    out.push_back(storage::Message{.channel_id = channel_id,
                                   .message_id = SnowflakeFloor(ms) | node_bits | sequence,
                                   .author_id = 1 + (h >> 20) % 1000,
                                   .content = Content(h)});
  }
  out.push_back(ReferenceMessage(channel_id));
  return out;
}

}  // namespace ds::seed
