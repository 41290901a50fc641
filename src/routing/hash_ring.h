// HashRing: consistent hashing of channel ids over an immutable list of nodes,
// by rendezvous hashing (highest random weight, HRW).
//
// Every (channel, node) pair gets a pseudo-random 64-bit score; a channel's
// preference list is the nodes sorted by descending score, and it belongs to
// the first one. Removing a node moves exactly the channels that node owned
// (each to its own second choice, spread evenly over the survivors); adding a
// node moves exactly the channels it now wins, ~1/(N+1) of them. docs/routing.md
// compares this with a ring of virtual nodes and Maglev, with measurements.
//
// Usage:
//   ds::routing::HashRing ring({"10.0.0.1:50051", "10.0.0.2:50051"});
//   int owner = ring.Pick(channel_id);                   // index into ring.nodes()
//   std::vector<int> order = ring.Preference(channel_id, 2);  // owner first
//
// A node's identity is its address string, so two rings built from lists that
// share addresses agree on those nodes whatever the list order.
//
// Thread-safe: immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ds::routing {

class HashRing {
 public:
  // `nodes` are addresses; duplicates are the caller's bug (Membership rejects
  // them) and would simply receive twice the traffic.
  explicit HashRing(std::vector<std::string> nodes);

  const std::vector<std::string>& nodes() const { return nodes_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  bool empty() const { return nodes_.empty(); }

  // Index of the node that owns `channel_id`; -1 if the ring is empty.
  int Pick(uint64_t channel_id) const;

  // The first min(k, size()) distinct nodes for `channel_id` in failover order;
  // element 0 is Pick(channel_id). k <= 0 yields an empty list.
  std::vector<int> Preference(uint64_t channel_id, int k) const;

  // A 64-bit finalizer with full avalanche (every input bit flips each output
  // bit with probability ~1/2). Bijective.
  static uint64_t Mix64(uint64_t x);
  // A hash of an address string (FNV-1a followed by Mix64).
  static uint64_t HashAddress(const std::string& address);

 private:
  std::vector<std::string> nodes_;
  std::vector<uint64_t> node_hashes_;  // HashAddress(nodes_[i])
};

}  // namespace ds::routing
