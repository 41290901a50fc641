// The request stream of a ds-loadgen run: which channel each request reads
// or writes (round-robin like the reference client, uniform, zipf, or a hot
// channel over uniform background), and whether it is a read or a write.
// Everything is derived from one seed, so a run's key sequence is repeatable.
//
// Usage:
//   absl::StatusOr<Workload> w = Workload::Create(WorkloadOptions{...});
//   RequestSpec r = w->Next();   // request 0, 1, 2, ...
//
// Thread-safety: not thread-safe; one thread (the runner's dispatcher) draws.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/loadgen/config.h"

namespace ds::loadgen {

enum class RequestKind : uint8_t { kGetMessages, kGetMessage, kSendMessage };

struct RequestSpec {
  RequestKind kind = RequestKind::kGetMessages;
  uint64_t channel_id = 0;
  uint64_t message_id = 0;  // kGetMessage
  uint32_t limit = 0;       // kGetMessages
  uint64_t nonce = 0;       // kSendMessage; unique per request
  uint64_t author_id = 0;   // kSendMessage
  std::string content;      // kSendMessage
};

// Returns true for the reads a node coalesces (identical reads share a query).
inline bool IsRead(RequestKind k) { return k != RequestKind::kSendMessage; }

// Draws channel ids in [1, channels].
//
// Rationale: randomness comes from a seeded std::mt19937_64 turned into
// doubles by hand (53 high bits), not std::uniform_*_distribution, whose output
// differs between standard libraries; the same seed gives the same keys
// everywhere.
class KeySampler {
 public:
  struct Options {
    KeyDistribution distribution = KeyDistribution::kRoundRobin;
    int64_t channels = 20;
    double zipf_s = 1.1;
    double hot_fraction = 0.9;
    int64_t hot_channel = 1;
    uint64_t seed = 1;
  };
  // INVALID_ARGUMENT for channels < 1, zipf_s <= 0 (zipf), a hot channel
  // outside [1, channels] or a hot fraction outside [0, 1] (hot).
  static absl::StatusOr<KeySampler> Create(const Options& options);

  // The channel of request number `index` (round-robin uses it:
  // (index % channels) + 1, like the reference client; the random
  // distributions draw from the generator and ignore it).
  uint64_t Next(uint64_t index);

  // A uniform double in [0, 1) from the sampler's generator.
  double NextUnit();

 private:
  explicit KeySampler(const Options& options);

  Options options_;
  std::mt19937_64 rng_;
  std::vector<double> zipf_cdf_;  // zipf: cdf[k-1] = P(channel <= k)
};

struct WorkloadOptions {
  KeySampler::Options keys;
  double write_ratio = 0;
  ReadMethod read_method = ReadMethod::kMessages;
  uint32_t limit = 50;
  // First nonce; request i that is a write uses nonce_base + i. Callers pass a
  // value derived from the wall clock so that two runs never share nonces
  // (a shared nonce would make the second run's writes idempotent replays).
  uint64_t nonce_base = 1;
  // GetMessage ids per channel (index channel-1); a channel without one (or an
  // empty vector) reads message channel_id * 1000, the reference's convention.
  std::vector<uint64_t> message_ids;
};

class Workload {
 public:
  static absl::StatusOr<Workload> Create(WorkloadOptions options);

  // The next request (request numbers count from 0).
  RequestSpec Next();

  uint64_t issued() const { return next_index_; }

 private:
  Workload(WorkloadOptions options, KeySampler sampler);

  WorkloadOptions options_;
  KeySampler sampler_;
  uint64_t next_index_ = 0;
};

}  // namespace ds::loadgen
