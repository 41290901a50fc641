#include "auth/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/hash/hash.h"

namespace ds::auth {
namespace {

int64_t CeilSeconds(absl::Duration d) {
  return absl::ToInt64Seconds(absl::Ceil(d, absl::Seconds(1)));
}

// One GCRA step on `tat` (the bucket's theoretical arrival time).
RateDecision Step(const RateLimit& limit, absl::Time now, absl::Time& tat) {
  RateDecision d;
  if (limit.unlimited()) return d;
  d.limited = true;
  const double burst = std::max(1.0, limit.burst);
  d.limit = static_cast<int64_t>(burst);
  const absl::Duration interval = absl::Seconds(1) / limit.per_second;
  const absl::Duration capacity = interval * burst;
  const absl::Time start = std::max(tat, now);
  const absl::Time next = start + interval;
  if (next - now > capacity) {
    d.allowed = false;
    d.retry_after = next - now - capacity;
    d.reset = start - now;
    d.remaining = 0;
    return d;
  }
  tat = next;
  d.reset = next - now;
  d.remaining = static_cast<int64_t>(absl::FDivDuration(capacity - (next - now), interval) + 1e-9);
  return d;
}

}  // namespace

int64_t RateDecision::RetryAfterSeconds() const {
  return std::max<int64_t>(1, CeilSeconds(retry_after));
}
int64_t RateDecision::ResetSeconds() const { return CeilSeconds(reset); }

RateLimiter::RateLimiter(RateLimiterOptions options)
    : options_(std::move(options)),
      per_shard_cap_(std::max<size_t>(1, (options_.max_principals + kShards - 1) / kShards)) {}

RateDecision RateLimiter::Admit(std::string_view principal, RequestKind kind) {
  const RateLimit& limit = kind == RequestKind::kRead ? options_.reads : options_.writes;
  if (limit.unlimited()) return RateDecision{};
  const absl::Time now = options_.clock->Now();
  Shard& shard = shards_[absl::HashOf(principal) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.index.find(principal);
  std::list<Entry>::iterator entry;
  if (it != shard.index.end()) {
    entry = it->second;
    shard.lru.splice(shard.lru.begin(), shard.lru, entry);
  } else {
    if (shard.lru.size() >= per_shard_cap_) {
      shard.index.erase(shard.lru.back().principal);
      shard.lru.pop_back();
      ++shard.evictions;
    }
    shard.lru.push_front(Entry{std::string(principal)});
    entry = shard.lru.begin();
    shard.index.emplace(entry->principal, entry);
  }
  absl::Time& tat = kind == RequestKind::kRead ? entry->read_tat : entry->write_tat;
  return Step(limit, now, tat);
}

size_t RateLimiter::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.lru.size();
  }
  return n;
}

uint64_t RateLimiter::evictions() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.evictions;
  }
  return n;
}

}  // namespace ds::auth
