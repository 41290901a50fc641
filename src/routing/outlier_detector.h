// OutlierDetector: latency-based ejection of nodes that still accept
// connections but answer slowly or not at all (a frozen process, a stuck disk,
// a CPU-starved VM) — the gray failures the health checker's probes notice late
// or never. It sits next to the health checker: a node is routed to only while
// the checker finds it healthy AND the detector has not ejected it.
//
// Two rules, evaluated by Sweep():
// - Stall: at least `stall_min_unanswered` attempts were sent to the node
//   since its last answer, the first of them `stall_after` ago or more (the
//   caller passes a value derived from the fleet's recent latency), and some
//   other node answered an attempt sent after that first one. Attempts that
//   ended without an answer (cancelled because a hedge won elsewhere, timed
//   out) keep counting, so a frozen node whose reads are all won by hedges is
//   still found. The last condition keeps a pause of the whole machine (or of
//   the client) from ejecting anyone: then no node answers.
// - Latency: over its recent window (at least `min_samples` answers) the
//   node's median latency is more than `latency_factor` times the median of
//   the other nodes' medians and at least `latency_min_gap` above it.
// An ejected node returns by itself after its ejection time: `base_ejection`
// doubled for each ejection in a row (capped at `max_ejection`); the streak
// ends once the node has stayed in for `max_ejection`. If it is still bad it is
// detected again. At most `max_ejected_fraction` of the nodes (at least one,
// never all) are ejected by this detector at a time.
//
// Usage:
//   OutlierDetector detector(3, OutlierOptions());
//   detector.OnAttemptStart(node, now);
//   detector.OnAttemptEnd(node, start, now, /*answered=*/true);
//   for (const auto& change : detector.Sweep(now, stall_after)) apply(change);
//
// Threads: not thread-safe (the routing client guards it with its lock).
// Knows no clock: every time is passed in, so tests are exact.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "routing/latency_window.h"

namespace ds::routing {

struct OutlierOptions {
  bool enabled = true;
  int stall_min_unanswered = 2;
  double latency_factor = 3.0;
  absl::Duration latency_min_gap = absl::Milliseconds(5);
  int min_samples = 50;
  int window_generation = 128;  // per-node LatencyWindow generation size
  absl::Duration base_ejection = absl::Seconds(1);
  absl::Duration max_ejection = absl::Seconds(10);
  double max_ejected_fraction = 0.34;
};

class OutlierDetector {
 public:
  struct Change {
    int node;
    bool ejected;        // true: ejected now; false: its ejection time ended
    std::string reason;  // for the log
  };

  OutlierDetector(int nodes, OutlierOptions options);

  void OnAttemptStart(int node, absl::Time now);
  // `answered`: the node sent an answer (OK or a status of its own), as
  // opposed to a transport failure, an attempt timeout or a cancellation.
  void OnAttemptEnd(int node, absl::Time start, absl::Time now, bool answered);

  // Applies both rules and ends ejections whose time is over; returns the
  // transitions in node order (re-admissions first).
  std::vector<Change> Sweep(absl::Time now, absl::Duration stall_after);

  bool ejected(int node) const { return nodes_[node].ejected; }
  int unanswered(int node) const { return nodes_[node].unanswered; }
  // How many ejections at most may hold at once.
  int max_ejected() const { return max_ejected_; }

 private:
  struct NodeState {
    explicit NodeState(int generation) : window(generation) {}
    int unanswered = 0;                             // attempts sent since the last answer
    absl::Time quiet_since = absl::InfinitePast();  // when the first of them was sent
    absl::Time last_answered_start = absl::InfinitePast();
    LatencyWindow window;
    bool ejected = false;
    absl::Time ejected_until = absl::InfinitePast();
    absl::Time readmitted_at = absl::InfinitePast();
    int streak = 0;  // ejections in a row
  };

  bool Stalled(int node, absl::Time now, absl::Duration stall_after) const;
  bool SlowOutlier(int node) const;
  void Eject(int node, absl::Time now);

  const OutlierOptions options_;
  std::vector<NodeState> nodes_;
  int max_ejected_;
  int ejected_count_ = 0;
};

}  // namespace ds::routing
