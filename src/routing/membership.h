// Membership: the set of data-service nodes a client routes over, and the
// immutable RingSnapshot of the live ones that request paths read.
//
// The node list is static for now (docs/design.md §4): from a flag value
// ("127.0.0.1:50051,127.0.0.1:50052"), a file (one host:port per line, `#`
// comments), or the DS_NODES environment variable. Health changes (from
// HealthChecker) and outlier ejections (OutlierDetector) flip nodes in and out
// of the live set; every change builds a new RingSnapshot and swaps it in
// whole, so a request sees one consistent view from its first attempt to its
// last failover.
//
// Usage:
//   auto nodes = ds::routing::ResolveNodes(flag_nodes, flag_nodes_file);
//   if (!nodes.ok()) return nodes.status();
//   ds::routing::Membership membership(*nodes);
//   std::shared_ptr<const ds::routing::RingSnapshot> snap = membership.Snapshot();
//   std::vector<int> order = snap->HashOrder(channel_id);  // node ids, failover order
//   membership.SetHealthy(order[0], false);  // a new snapshot; `snap` is unchanged
//
// Threads: Membership is thread-safe; Snapshot() is a mutex-guarded pointer
// copy and never waits for a snapshot build. RingSnapshot is immutable.
//
// Rationale: std::mutex rather than absl::Mutex (here and in the rest of the
// component) because the apt Abseil is not built with ThreadSanitizer, which
// would miss its synchronisation and report false races.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "routing/hash_ring.h"

namespace ds::routing {

inline constexpr char kNodesEnvVar[] = "DS_NODES";

// OK if `address` is host:port with a non-empty host (a name, IPv4, or an IPv6
// literal in brackets: "[::1]:50051") and a port in 1..65535: the API rule of
// common/api_rules.h (ParseHostPort, port 0 rejected).
absl::Status ValidateAddress(std::string_view address);

// Splits a comma- (or whitespace-) separated list, trims, validates each entry
// and rejects duplicates. INVALID_ARGUMENT naming the bad entry; an empty list
// is an error.
absl::StatusOr<std::vector<std::string>> ParseNodeList(std::string_view list);

// Reads one address per line; text after `#` and blank lines are ignored.
// NOT_FOUND if the file cannot be opened; INVALID_ARGUMENT with the line number
// for a bad entry or an empty list.
absl::StatusOr<std::vector<std::string>> ReadNodesFile(const std::string& path);

// The node list from, in order of precedence: `flag_list` if non-empty, else
// the file `flag_file` if non-empty, else `env_value` (by default the value of
// DS_NODES). INVALID_ARGUMENT if all are empty.
absl::StatusOr<std::vector<std::string>> ResolveNodes(
    std::string_view flag_list, std::string_view flag_file,
    std::optional<std::string> env_value = std::nullopt);

// One immutable view of the membership. Node ids are indexes into `nodes`
// (the configured list), stable for the Membership's lifetime.
class RingSnapshot {
 public:
  RingSnapshot(std::shared_ptr<const std::vector<std::string>> nodes, std::vector<bool> healthy,
               uint64_t version);

  const std::vector<std::string>& nodes() const { return *nodes_; }
  bool healthy(int id) const { return healthy_[id]; }
  int live_count() const { return static_cast<int>(live_ids_.size()); }
  // Increases by one with every swap; 0 for the initial snapshot.
  uint64_t version() const { return version_; }

  // The first `k` node ids (all if k < 0) of `channel_id`'s preference list
  // over the live nodes; if no node is live, over all nodes (an ejected node
  // is still better than failing closed).
  std::vector<int> HashOrder(uint64_t channel_id, int k = -1) const;

  // The live node ids (all ids if none is live) in configuration order,
  // rotated to start at position `start` modulo their count: the failover list
  // of the round-robin and random policies.
  std::vector<int> RotationOrder(uint64_t start) const;

  // The live node that owns `channel_id` now; -1 if none is live.
  int LiveOwner(uint64_t channel_id) const;

 private:
  std::shared_ptr<const std::vector<std::string>> nodes_;
  std::vector<bool> healthy_;
  uint64_t version_;
  std::vector<int> live_ids_;  // ids of healthy nodes, ascending
  HashRing live_ring_;         // over nodes()[live_ids_[i]]
  HashRing all_ring_;          // over nodes()
};

class Membership {
 public:
  // `nodes` must be non-empty and duplicate-free (ParseNodeList guarantees
  // both). Every node starts healthy: routing works before the first probe.
  explicit Membership(std::vector<std::string> nodes);

  // The current snapshot; never null.
  std::shared_ptr<const RingSnapshot> Snapshot() const;

  // Marks node `id` healthy or not (the health checker's verdict). If that
  // changes the live set, builds a new snapshot and swaps it in; returns
  // whether it did.
  bool SetHealthy(int id, bool healthy);
  // Marks node `id` ejected or not as a latency outlier (OutlierDetector's
  // verdict). A node is live when it is healthy and not ejected. Returns
  // whether the live set changed.
  bool SetEjected(int id, bool ejected);

  int size() const { return static_cast<int>(nodes_->size()); }

 private:
  const std::shared_ptr<const std::vector<std::string>> nodes_;
  // Serialises writers so that snapshot builds happen outside `mu_`.
  std::mutex write_mu_;  // acquired before mu_
  // Builds and swaps in the snapshot of healthy_ && !ejected_ if the live set
  // changed. Requires write_mu_.
  bool SwapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  std::vector<bool> healthy_ ABSL_GUARDED_BY(write_mu_);
  std::vector<bool> ejected_ ABSL_GUARDED_BY(write_mu_);
  mutable std::mutex mu_;
  std::shared_ptr<const RingSnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ds::routing
