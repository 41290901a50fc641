// Snowflake message ids: 64-bit, time-ordered, unique per (node, ms, sequence).
//
//   bits 63..22  milliseconds since kEpochMs (2015-01-01T00:00:00Z)
//   bits 21..12  node id (0..1023)
//   bits 11..0   sequence within the millisecond (0..4095)
//
// Usage:
//   ds::SnowflakeGenerator gen(/*node_id=*/7);
//   uint64_t id = gen.Next();
//   int64_t ms = ds::SnowflakeTimestampMs(id);
//   int32_t bucket = ds::BucketOf(id);
//
// Thread-safe: Next() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace ds {

inline constexpr int64_t kSnowflakeEpochMs = 1420070400000;  // 2015-01-01T00:00:00Z
inline constexpr int kSnowflakeNodeBits = 10;
inline constexpr int kSnowflakeSequenceBits = 12;
inline constexpr uint32_t kMaxSnowflakeNode = (1u << kSnowflakeNodeBits) - 1;
// A storage bucket is a fixed 10-day window of the snowflake's timestamp, as in
// Discord's schema: it keeps one channel's partitions bounded in size.
inline constexpr int64_t kBucketMs = 10LL * 24 * 60 * 60 * 1000;

// Unix milliseconds encoded in `id`.
inline int64_t SnowflakeTimestampMs(uint64_t id) {
  return static_cast<int64_t>(id >> (kSnowflakeNodeBits + kSnowflakeSequenceBits)) +
         kSnowflakeEpochMs;
}
// The storage bucket of a message id (also of a channel id, which is a snowflake).
inline int32_t BucketOf(uint64_t id) {
  return static_cast<int32_t>((id >> (kSnowflakeNodeBits + kSnowflakeSequenceBits)) / kBucketMs);
}
// The smallest id whose timestamp is `unix_ms` (node 0, sequence 0).
inline uint64_t SnowflakeFloor(int64_t unix_ms) {
  return static_cast<uint64_t>(unix_ms - kSnowflakeEpochMs)
         << (kSnowflakeNodeBits + kSnowflakeSequenceBits);
}

class SnowflakeGenerator {
 public:
  // `node_id` must be <= kMaxSnowflakeNode (it is masked otherwise). `now_ms`
  // returns Unix milliseconds; injectable for tests.
  explicit SnowflakeGenerator(uint32_t node_id, std::function<int64_t()> now_ms = nullptr);

  // A new id, strictly greater than every id this generator returned before,
  // even if the clock steps back (then it borrows from the future until the
  // clock catches up).
  uint64_t Next();

 private:
  const uint64_t node_bits_;
  const std::function<int64_t()> now_ms_;
  // Last issued (ms since epoch << 12 | sequence); CAS-updated.
  std::atomic<uint64_t> last_{0};
};

}  // namespace ds
