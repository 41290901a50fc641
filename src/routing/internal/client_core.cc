#include "routing/internal/client_core.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/log.h"
#include "routing/hash_ring.h"

namespace ds::routing::internal {
namespace {

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = ds::Logger("routing");
  return *logger;
}

// Answers between two recomputations of the published latency values.
constexpr int kPublishEvery = 16;
constexpr int64_t kMilli = 1000;

}  // namespace

ClientCore::ClientCore(RoutedClientOptions options, std::vector<std::unique_ptr<Node>> nodes)
    : options_(std::move(options)),
      nodes_(std::move(nodes)),
      membership_(options_.nodes),
      random_state_(HashRing::Mix64(options_.seed)),
      read_latency_(options_.gray.latency_generation),
      write_latency_(options_.gray.latency_generation),
      detector_(static_cast<int>(nodes_.size()), options_.gray.outlier),
      hedge_tokens_milli_(int64_t{options_.gray.hedge_burst} * kMilli) {
  std::vector<std::vector<std::shared_ptr<grpc::Channel>>> channels;
  for (const auto& n : nodes_) channels.push_back(n->channels);
  HealthCheckerOptions health;
  health.interval = options_.health_interval;
  health.timeout = options_.health_timeout;
  health.eject_after = options_.eject_after;
  health.readmit_after = options_.readmit_after;
  health_ = std::make_unique<HealthChecker>(
      options_.nodes, std::move(channels), health,
      // Runs under the checker's lock; Membership never calls back.
      [this](int node, bool healthy) { membership_.SetHealthy(node, healthy); });
  timer_ = std::make_unique<RoutingTimer>(options_.gray.timer_resolution,
                                          options_.gray.sweep_interval, [this] { Sweep(); });
}

ClientCore::~ClientCore() { Shutdown(); }

void ClientCore::Start() {
  health_->Start();
  timer_->Start();
}

void ClientCore::Shutdown() {
  timer_->Stop();
  health_->Stop();
}

std::vector<int> ClientCore::FailoverOrder(uint64_t channel_id) {
  std::shared_ptr<const RingSnapshot> snapshot = membership_.Snapshot();
  switch (options_.policy) {
    case Policy::kHash:
      return snapshot->HashOrder(channel_id);
    case Policy::kRoundRobin:
      return snapshot->RotationOrder(round_robin_.fetch_add(1, std::memory_order_relaxed));
    case Policy::kRandom: {
      // A counter-based stream (splitmix64): seeded, lock-free, reproducible
      // for a given sequence of calls.
      const uint64_t r = HashRing::Mix64(
          random_state_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed));
      return snapshot->RotationOrder(r);
    }
  }
  return snapshot->HashOrder(channel_id);
}

dataservice::v1::MessageService::Stub* ClientCore::StubFor(int node) {
  Node& n = *nodes_[node];
  n.requests.fetch_add(1, std::memory_order_relaxed);
  const uint64_t i = n.next_stub.fetch_add(1, std::memory_order_relaxed);
  return n.stubs[i % n.stubs.size()].get();
}

void ClientCore::OnCallStart() {
  calls_.fetch_add(1, std::memory_order_relaxed);
  const int64_t credit = static_cast<int64_t>(options_.gray.hedge_budget_ratio * kMilli);
  const int64_t cap = int64_t{options_.gray.hedge_burst} * kMilli;
  int64_t tokens = hedge_tokens_milli_.load(std::memory_order_relaxed);
  while (tokens < cap && !hedge_tokens_milli_.compare_exchange_weak(
                             tokens, std::min(cap, tokens + credit), std::memory_order_relaxed)) {
  }
}

bool ClientCore::TryTakeHedge() {
  int64_t tokens = hedge_tokens_milli_.load(std::memory_order_relaxed);
  while (tokens >= kMilli) {
    if (hedge_tokens_milli_.compare_exchange_weak(tokens, tokens - kMilli,
                                                  std::memory_order_relaxed)) {
      hedges_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

absl::Time ClientCore::AttemptDeadline(CallKind kind, absl::Time now,
                                       absl::Time caller_deadline) const {
  if (options_.gray.attempt_timeout_multiplier <= 0) return caller_deadline;
  const int64_t us = (kind == CallKind::kRead ? read_timeout_us_ : write_timeout_us_)
                         .load(std::memory_order_relaxed);
  const absl::Duration timeout =
      us == 0 ? options_.gray.cold_attempt_timeout : absl::Microseconds(us);
  return std::min(caller_deadline, now + timeout);
}

absl::Duration ClientCore::HedgeDelay() const {
  if (!options_.gray.hedge_reads) return absl::InfiniteDuration();
  const int64_t us = hedge_delay_us_.load(std::memory_order_relaxed);
  return us == 0 ? absl::InfiniteDuration() : absl::Microseconds(us);
}

void ClientCore::OnAttemptStart(int node, absl::Time now) {
  attempts_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(gray_mu_);
  detector_.OnAttemptStart(node, now);
}

void ClientCore::OnAttemptEnd(int node, CallKind kind, absl::Time start, absl::Time now,
                              AttemptOutcome outcome) {
  {
    std::lock_guard<std::mutex> lock(gray_mu_);
    const bool answered = outcome == AttemptOutcome::kAnswered;
    detector_.OnAttemptEnd(node, start, now, answered);
    if (answered) {
      (kind == CallKind::kRead ? read_latency_ : write_latency_).Record(now - start);
      if (++answers_since_publish_ >= kPublishEvery) PublishLocked();
    }
  }
  switch (outcome) {
    case AttemptOutcome::kAnswered:
      health_->ReportResult(node, true);
      break;
    case AttemptOutcome::kTransportFailure:
      nodes_[node]->failures.fetch_add(1, std::memory_order_relaxed);
      health_->ReportResult(node, false);
      break;
    case AttemptOutcome::kTimedOut:
      // Slowness is the outlier detector's business, not a health failure.
      nodes_[node]->timeouts.fetch_add(1, std::memory_order_relaxed);
      attempt_timeouts_.fetch_add(1, std::memory_order_relaxed);
      break;
    case AttemptOutcome::kAbandoned:
      break;
  }
}

void ClientCore::PublishLocked() {
  answers_since_publish_ = 0;
  const GrayFailureOptions& g = options_.gray;
  if (read_latency_.count() >= g.min_samples) {
    const absl::Duration p99 = read_latency_.Quantile(0.99);
    const absl::Duration hedge =
        std::max(g.min_hedge_delay, read_latency_.Quantile(g.hedge_quantile));
    const absl::Duration timeout =
        std::max(g.min_attempt_timeout, p99 * g.attempt_timeout_multiplier);
    const absl::Duration stall =
        std::clamp(p99 * g.stall_multiplier, g.min_stall_after, g.max_stall_after);
    hedge_delay_us_.store(absl::ToInt64Microseconds(hedge), std::memory_order_relaxed);
    read_timeout_us_.store(absl::ToInt64Microseconds(timeout), std::memory_order_relaxed);
    stall_after_us_.store(absl::ToInt64Microseconds(stall), std::memory_order_relaxed);
  }
  if (write_latency_.count() >= g.min_samples) {
    const absl::Duration timeout = std::max(
        g.min_attempt_timeout, write_latency_.Quantile(0.99) * g.attempt_timeout_multiplier);
    write_timeout_us_.store(absl::ToInt64Microseconds(timeout), std::memory_order_relaxed);
  }
}

void ClientCore::Sweep() {
  const absl::Time now = absl::Now();
  const int64_t stall_us = stall_after_us_.load(std::memory_order_relaxed);
  const absl::Duration stall_after =
      stall_us == 0 ? options_.gray.max_stall_after : absl::Microseconds(stall_us);
  std::vector<OutlierDetector::Change> changes;
  {
    std::lock_guard<std::mutex> lock(gray_mu_);
    changes = detector_.Sweep(now, stall_after);
  }
  for (const OutlierDetector::Change& change : changes) {
    Node& n = *nodes_[change.node];
    // Routing first, the flag observers poll last.
    membership_.SetEjected(change.node, change.ejected);
    if (change.ejected) outlier_ejections_.fetch_add(1, std::memory_order_relaxed);
    n.outlier.store(change.ejected, std::memory_order_release);
    if (change.ejected) {
      Log().warn("node {} ejected as an outlier ({})", n.address, change.reason);
    } else {
      Log().info("node {} back from outlier ejection ({})", n.address, change.reason);
    }
  }
}

RoutedClientStats ClientCore::Stats() const {
  RoutedClientStats s;
  s.calls = calls_.load(std::memory_order_relaxed);
  s.attempts = attempts_.load(std::memory_order_relaxed);
  s.failovers = failovers_.load(std::memory_order_relaxed);
  s.hedges = hedges_.load(std::memory_order_relaxed);
  s.hedge_wins = hedge_wins_.load(std::memory_order_relaxed);
  s.attempt_timeouts = attempt_timeouts_.load(std::memory_order_relaxed);
  s.outlier_ejections = outlier_ejections_.load(std::memory_order_relaxed);
  s.hedge_delay = HedgeDelay();
  s.read_attempt_timeout = absl::Microseconds(read_timeout_us_.load(std::memory_order_relaxed));
  s.write_attempt_timeout = absl::Microseconds(write_timeout_us_.load(std::memory_order_relaxed));
  return s;
}

}  // namespace ds::routing::internal
