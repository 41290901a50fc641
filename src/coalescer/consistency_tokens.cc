#include "coalescer/consistency_tokens.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace ds::coalescer {

ConsistencyTokens::ConsistencyTokens(ConsistencyTokensOptions options)
    : per_shard_capacity_(
          std::max<size_t>(1, options.max_tokens / std::max<size_t>(1, options.shards))),
      shards_(new Shard[std::max<size_t>(1, options.shards)]),
      shard_count_(std::max<size_t>(1, options.shards)) {}

ConsistencyTokens::Shard& ConsistencyTokens::ShardFor(uint64_t channel_id) const {
  return shards_[absl::Hash<uint64_t>{}(channel_id) % shard_count_];
}

bool ConsistencyTokens::InsertLocked(Shard& shard, const Key& key) {
  if (auto it = shard.index.find(key); it != shard.index.end()) {
    shard.order.splice(shard.order.begin(), shard.order, it->second);
    return false;
  }
  if (shard.order.size() >= per_shard_capacity_) {
    shard.index.erase(shard.order.back());
    shard.order.pop_back();
  }
  shard.order.push_front(key);
  shard.index.emplace(key, shard.order.begin());
  return true;
}

bool ConsistencyTokens::Observe(uint64_t channel_id, uint64_t token,
                                absl::FunctionRef<void(uint64_t)> fence) {
  const Key key{channel_id, token};
  Shard& shard = ShardFor(channel_id);
  {
    MutexLock lock(shard.mu);
    if (auto it = shard.index.find(key); it != shard.index.end()) {
      shard.order.splice(shard.order.begin(), shard.order, it->second);
      return false;
    }
  }
  // Fence first, then remember: whoever finds the pair later (under the
  // mutex) is ordered after this fence.
  fence(channel_id);
  MutexLock lock(shard.mu);
  InsertLocked(shard, key);
  return true;
}

void ConsistencyTokens::Remember(uint64_t channel_id, uint64_t token) {
  Shard& shard = ShardFor(channel_id);
  MutexLock lock(shard.mu);
  InsertLocked(shard, {channel_id, token});
}

bool ConsistencyTokens::Contains(uint64_t channel_id, uint64_t token) const {
  const Shard& shard = ShardFor(channel_id);
  MutexLock lock(shard.mu);
  return shard.index.contains(Key{channel_id, token});
}

size_t ConsistencyTokens::size() const {
  size_t total = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    MutexLock lock(shards_[i].mu);
    total += shards_[i].order.size();
  }
  return total;
}

}  // namespace ds::coalescer
