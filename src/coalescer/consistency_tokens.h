// ConsistencyTokens: read-your-writes across gateways and nodes.
//
// A write's consistency token is the id of the message it wrote. A client
// that wrote (through any gateway, to any node) presents the token on later
// reads: HTTP header `X-DS-Consistency-Token`, gRPC metadata
// `x-ds-consistency-token`. The node that serves the read must not answer it
// from a flight that started before the write was acknowledged — but it may
// never have heard of that write (another node took it, or the read failed
// over). This class is how it finds out cheaply: a bounded set of
// (channel, token) pairs this node has already fenced for.
//
// Usage (node, per read carrying a token; per acknowledged local write):
//   ConsistencyTokens tokens;
//   tokens.Observe(coalescer, channel_id, token);   // before coalescer.Join()
//   ...
//   coalescer.OnWriteAcknowledged(channel_id);      // after the store acked
//   tokens.Remember(channel_id, message_id);
//
// Why it is correct. Observe() of a token not in the set calls the
// coalescer's read-your-writes fence for the channel (contract point 6)
// BEFORE inserting the token. The write was acknowledged before the client
// got its token, so the fence comes after the write; a flight the reader may
// join afterwards started after the fence and so reads the write. A reader
// that finds the token already in the set knows (through the set's mutex)
// that the fence for it already happened. An evicted token is simply not
// found: the next reader fences again, which costs coalescing (one new
// flight), never correctness. Remember() is for writes acknowledged on this
// node, whose fence the write path already made.
//
// Bounded: at most `max_tokens` pairs, least recently used evicted first
// (per shard). Thread-safe; Observe/Remember take one shard mutex for a hash
// lookup and a list splice, never block on I/O and never call the coalescer
// with a lock held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "coalescer/coalescer.h"
#include "common/mutex.h"

namespace ds::coalescer {

// Where a token travels.
inline constexpr char kConsistencyTokenHttpHeader[] = "X-DS-Consistency-Token";
inline constexpr char kConsistencyTokenMetadata[] = "x-ds-consistency-token";

struct ConsistencyTokensOptions {
  size_t max_tokens = 65'536;  // across all channels; at least one per shard
  size_t shards = 16;
};

class ConsistencyTokens {
 public:
  explicit ConsistencyTokens(ConsistencyTokensOptions options = {});

  ConsistencyTokens(const ConsistencyTokens&) = delete;
  ConsistencyTokens& operator=(const ConsistencyTokens&) = delete;

  // A reader on `channel_id` presents `token`. If the pair is not in the set,
  // calls `fence(channel_id)` and then remembers the pair; returns true if it
  // fenced. A known pair is refreshed (most recently used) and nothing else
  // happens. Call it before joining a flight for the read.
  bool Observe(uint64_t channel_id, uint64_t token, absl::FunctionRef<void(uint64_t)> fence);
  template <typename V>
  bool Observe(Coalescer<V>& coalescer, uint64_t channel_id, uint64_t token) {
    return Observe(channel_id, token,
                   [&coalescer](uint64_t channel) { coalescer.OnWriteAcknowledged(channel); });
  }

  // Records a pair whose fence already happened: a write acknowledged on this
  // node, after coalescer.OnWriteAcknowledged(channel_id).
  void Remember(uint64_t channel_id, uint64_t token);

  // Whether the pair is in the set now (for tests and metrics; no refresh).
  bool Contains(uint64_t channel_id, uint64_t token) const;
  size_t size() const;

 private:
  using Key = std::pair<uint64_t, uint64_t>;  // (channel, token)

  // One LRU: `order` front is the most recently used; `index` maps a key to
  // its node in `order`.
  struct Shard {
    mutable Mutex mu;
    std::list<Key> order ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<Key, std::list<Key>::iterator> index ABSL_GUARDED_BY(mu);
  };

  Shard& ShardFor(uint64_t channel_id) const;
  // Inserts or refreshes; true if the key was new.
  bool InsertLocked(Shard& shard, const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const size_t per_shard_capacity_;
  std::unique_ptr<Shard[]> shards_;
  const size_t shard_count_;
};

}  // namespace ds::coalescer
