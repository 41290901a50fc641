// Routing policies: how a RoutedClient orders the nodes it tries for a request.
//
//   kHash        consistent hashing on channel_id (rendezvous; see hash_ring.h):
//                every request of a channel goes to the same node while it is
//                healthy, so the node can coalesce them.
//   kRoundRobin  the next node in turn, then the following ones (benchmark
//                baseline: spreads load, defeats coalescing).
//   kRandom      a uniformly random first node, then the following ones; the
//                randomness is a seeded counter-based stream (reproducible).
//
// Usage:
//   absl::StatusOr<ds::routing::Policy> p = ds::routing::ParsePolicy("round-robin");
//   std::string_view name = ds::routing::PolicyName(*p);  // "round-robin"
//
// Thread-safe: free functions over values.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace ds::routing {

enum class Policy { kHash, kRoundRobin, kRandom };

// Parses "hash" | "round-robin" | "random" (case-insensitive; "round_robin" and
// "rr" are accepted too). INVALID_ARGUMENT naming the accepted values otherwise.
absl::StatusOr<Policy> ParsePolicy(std::string_view name);

// The canonical name ParsePolicy accepts: "hash", "round-robin" or "random".
std::string_view PolicyName(Policy policy);

}  // namespace ds::routing
