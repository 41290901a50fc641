// RateLimiter: per-principal token buckets, one for reads and one for writes,
// each with its own rate and burst, in bounded memory.
//
// Each bucket is kept as a GCRA "theoretical arrival time" (one timestamp),
// which behaves exactly like a token bucket of `burst` tokens refilled at
// `per_second`: starting full, a principal gets `burst` requests at once and
// then one every 1/per_second; over any window W it gets at most
// burst + W × per_second. Durations are exact (absl::Duration), so the counts
// are exact too — tests check them with an injected clock.
//
// Memory: at most `max_principals` principals are remembered (an LRU per
// shard). A principal evicted for lack of room comes back with a full
// bucket; size the cap above the number of principals active within
// burst/per_second seconds (docs/security.md).
//
// Usage:
//   ds::auth::RateLimiter limiter({.reads = {.per_second = 50, .burst = 100},
//                                  .writes = {.per_second = 5, .burst = 10}});
//   ds::auth::RateDecision d = limiter.Admit("sub:42", ds::auth::RequestKind::kRead);
//   if (!d.allowed) reply 429 with Retry-After: d.RetryAfterSeconds();
//
// Thread-safe: Admit may be called from any thread (sharded locks).
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace ds::auth {

struct RateLimit {
  double per_second = 0;  // <= 0: unlimited
  double burst = 1;       // bucket size, >= 1
  bool unlimited() const { return per_second <= 0; }
};

struct RateLimiterOptions {
  RateLimit reads;
  RateLimit writes;
  size_t max_principals = 100'000;
  const Clock* clock = &Clock::Real();  // must outlive the limiter
};

enum class RequestKind { kRead, kWrite };

struct RateDecision {
  bool allowed = true;
  bool limited = false;        // false when the kind is unlimited (no headers)
  int64_t limit = 0;           // the burst
  int64_t remaining = 0;       // requests allowed right now after this one
  absl::Duration retry_after;  // when refused: until one request is allowed
  absl::Duration reset;        // until the bucket is full again

  // For `Retry-After` / `RateLimit-Reset`: whole seconds, rounded up (at
  // least 1 for a refusal).
  int64_t RetryAfterSeconds() const;
  int64_t ResetSeconds() const;
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimiterOptions options);

  // Takes one request of `kind` from `principal`'s bucket if it has one.
  RateDecision Admit(std::string_view principal, RequestKind kind);

  // Principals remembered now; principals forgotten to make room so far.
  size_t size() const;
  uint64_t evictions() const;

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    std::string principal;
    absl::Time read_tat = absl::InfinitePast();
    absl::Time write_tat = absl::InfinitePast();
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> lru ABSL_GUARDED_BY(mu);  // most recently used first
    absl::flat_hash_map<std::string_view, std::list<Entry>::iterator> index ABSL_GUARDED_BY(mu);
    uint64_t evictions ABSL_GUARDED_BY(mu) = 0;
  };

  const RateLimiterOptions options_;
  const size_t per_shard_cap_;
  std::array<Shard, kShards> shards_;
};

}  // namespace ds::auth
