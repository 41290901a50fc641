#include "routing/outlier_detector.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace ds::routing {

OutlierDetector::OutlierDetector(int nodes, OutlierOptions options) : options_(options) {
  nodes_.reserve(nodes);
  for (int i = 0; i < nodes; ++i) nodes_.emplace_back(options_.window_generation);
  // Never all: a fleet with every node ejected would route to all of them anyway.
  const int by_fraction = static_cast<int>(std::floor(nodes * options_.max_ejected_fraction));
  max_ejected_ = std::min(nodes - 1, std::max(1, by_fraction));
}

void OutlierDetector::OnAttemptStart(int node, absl::Time now) {
  NodeState& n = nodes_[node];
  if (n.unanswered++ == 0) n.quiet_since = now;
}

void OutlierDetector::OnAttemptEnd(int node, absl::Time start, absl::Time now, bool answered) {
  if (!answered) return;
  NodeState& n = nodes_[node];
  n.unanswered = 0;
  n.last_answered_start = std::max(n.last_answered_start, start);
  n.window.Record(now - start);
}

bool OutlierDetector::Stalled(int node, absl::Time now, absl::Duration stall_after) const {
  const NodeState& n = nodes_[node];
  if (n.unanswered < std::max(1, options_.stall_min_unanswered)) return false;
  if (now - n.quiet_since < stall_after) return false;
  for (int m = 0; m < static_cast<int>(nodes_.size()); ++m) {
    if (m != node && !nodes_[m].ejected && nodes_[m].last_answered_start >= n.quiet_since) {
      return true;
    }
  }
  return false;
}

bool OutlierDetector::SlowOutlier(int node) const {
  const NodeState& n = nodes_[node];
  if (n.window.count() < options_.min_samples) return false;
  std::vector<absl::Duration> others;
  for (int m = 0; m < static_cast<int>(nodes_.size()); ++m) {
    const NodeState& o = nodes_[m];
    if (m != node && !o.ejected && o.window.count() >= options_.min_samples) {
      others.push_back(o.window.Quantile(0.5));
    }
  }
  if (others.empty()) return false;
  std::sort(others.begin(), others.end());
  const absl::Duration reference = others[others.size() / 2];
  const absl::Duration median = n.window.Quantile(0.5);
  return median > reference * options_.latency_factor &&
         median - reference >= options_.latency_min_gap;
}

void OutlierDetector::Eject(int node, absl::Time now) {
  NodeState& n = nodes_[node];
  if (now - n.readmitted_at >= options_.max_ejection) n.streak = 0;
  const absl::Duration length = std::min(
      options_.max_ejection, options_.base_ejection * (int64_t{1} << std::min(n.streak, 20)));
  ++n.streak;
  n.ejected = true;
  n.ejected_until = now + length;
  n.window.Clear();
  ++ejected_count_;
}

std::vector<OutlierDetector::Change> OutlierDetector::Sweep(absl::Time now,
                                                            absl::Duration stall_after) {
  std::vector<Change> changes;
  if (!options_.enabled) return changes;
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    NodeState& n = nodes_[i];
    if (!n.ejected || now < n.ejected_until) continue;
    n.ejected = false;
    n.readmitted_at = now;
    n.unanswered = 0;  // attempts stuck from before do not count against it
    --ejected_count_;
    changes.push_back({i, false, "ejection time over"});
  }
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    if (nodes_[i].ejected || ejected_count_ >= max_ejected_) continue;
    std::string reason;
    if (Stalled(i, now, stall_after)) {
      reason = absl::StrCat("stalled: ", nodes_[i].unanswered, " attempts unanswered for ",
                            absl::FormatDuration(now - nodes_[i].quiet_since));
    } else if (SlowOutlier(i)) {
      reason = absl::StrCat("slow: median ", absl::FormatDuration(nodes_[i].window.Quantile(0.5)));
    } else {
      continue;
    }
    Eject(i, now);
    absl::StrAppend(&reason, "; ejected for ", absl::FormatDuration(nodes_[i].ejected_until - now));
    changes.push_back({i, true, std::move(reason)});
  }
  return changes;
}

}  // namespace ds::routing
