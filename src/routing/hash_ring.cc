#include "routing/hash_ring.h"

#include <algorithm>
#include <utility>

namespace ds::routing {
namespace {

// Channel ids are snowflakes: consecutive ids differ only in low bits. Mixing
// the key once before combining it with a node hash makes neighbouring ids
// unrelated; the odd constant keeps id 0 off Mix64's fixed point.
inline uint64_t KeyHash(uint64_t channel_id) {
  return HashRing::Mix64(channel_id + 0x9e3779b97f4a7c15ULL);
}

inline uint64_t Combine(uint64_t key_hash, uint64_t node_hash) {
  return HashRing::Mix64(key_hash ^ node_hash);
}

}  // namespace

uint64_t HashRing::Mix64(uint64_t x) {
  // The MurmurHash3 64-bit finalizer constants (public domain).
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

uint64_t HashRing::HashAddress(const std::string& address) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64-bit offset basis
  for (unsigned char c : address) {
    h ^= c;
    h *= 0x100000001b3ULL;  // FNV-1a 64-bit prime
  }
  return Mix64(h);
}

HashRing::HashRing(std::vector<std::string> nodes) : nodes_(std::move(nodes)) {
  node_hashes_.reserve(nodes_.size());
  for (const std::string& n : nodes_) node_hashes_.push_back(HashAddress(n));
}

int HashRing::Pick(uint64_t channel_id) const {
  const uint64_t key = KeyHash(channel_id);
  int best = -1;
  uint64_t best_score = 0;
  for (int i = 0; i < size(); ++i) {
    const uint64_t s = Combine(key, node_hashes_[i]);
    // Ties (probability ~N^2/2^64) go to the lower node hash so that the
    // answer does not depend on list order.
    if (best < 0 || s > best_score || (s == best_score && node_hashes_[i] < node_hashes_[best])) {
      best = i;
      best_score = s;
    }
  }
  return best;
}

std::vector<int> HashRing::Preference(uint64_t channel_id, int k) const {
  if (k <= 0 || empty()) return {};
  k = std::min(k, size());
  if (k == 1) return {Pick(channel_id)};
  const uint64_t key = KeyHash(channel_id);
  std::vector<std::pair<uint64_t, int>> scored;
  scored.reserve(nodes_.size());
  for (int i = 0; i < size(); ++i) scored.emplace_back(Combine(key, node_hashes_[i]), i);
  auto higher = [this](const std::pair<uint64_t, int>& a, const std::pair<uint64_t, int>& b) {
    if (a.first != b.first) return a.first > b.first;
    return node_hashes_[a.second] < node_hashes_[b.second];
  };
  std::partial_sort(scored.begin(), scored.begin() + k, scored.end(), higher);
  std::vector<int> out;
  out.reserve(k);
  for (int i = 0; i < k; ++i) out.push_back(scored[i].second);
  return out;
}

}  // namespace ds::routing
