#include "common/snowflake.h"

#include <chrono>

namespace ds {

namespace {
int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

SnowflakeGenerator::SnowflakeGenerator(uint32_t node_id, std::function<int64_t()> now_ms)
    : node_bits_(static_cast<uint64_t>(node_id & kMaxSnowflakeNode) << kSnowflakeSequenceBits),
      now_ms_(now_ms ? std::move(now_ms) : SystemNowMs) {}

uint64_t SnowflakeGenerator::Next() {
  // State packs (elapsed ms << 12 | sequence). Taking max(now, last + 1) keeps
  // ids strictly increasing; a sequence overflow carries into the ms field,
  // which is exactly "borrow the next millisecond".
  const uint64_t now = static_cast<uint64_t>(now_ms_() - kSnowflakeEpochMs)
                       << kSnowflakeSequenceBits;
  uint64_t last = last_.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = now > last ? now : last + 1;
  } while (!last_.compare_exchange_weak(last, next, std::memory_order_relaxed));
  const uint64_t ms = next >> kSnowflakeSequenceBits;
  const uint64_t seq = next & ((1u << kSnowflakeSequenceBits) - 1);
  return (ms << (kSnowflakeNodeBits + kSnowflakeSequenceBits)) | node_bits_ | seq;
}

}  // namespace ds
