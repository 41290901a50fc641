#include "coalescer/internal/flight_table.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"

namespace ds::coalescer::internal {

FlightTable::FlightTable(CoalescerOptions options, Timer* timer, CoalescerProbe* probe,
                         FanOutExecutor executor, const Clock* clock)
    : options_(std::move(options)),
      timer_(timer),
      clock_(clock != nullptr ? clock : &Clock::Real()),
      probe_(probe != nullptr ? probe : &null_probe_),
      executor_(std::move(executor)),
      budget_(options_.retry),
      shards_(options_.shards > 0 ? options_.shards : 1),
      rng_(options_.seed) {}

FlightTable::~FlightTable() {
  {
    std::unique_lock lock(life_mu_);
    life_cv_.wait(lock, [this] { return live_flights_ == 0; });
  }
  // Leave() may have run on a transport thread that the caller joined only
  // through an uninstrumented library (gRPC); taking every shard lock once
  // orders all of Leave()'s work before the tables are destroyed.
  for (Shard& shard : shards_) std::lock_guard lock(shard.mu);
}

size_t FlightTable::live_flights() const {
  std::lock_guard lock(life_mu_);
  return live_flights_;
}

size_t FlightTable::EpochSlot(uint64_t channel_id) {
  const uint64_t x = channel_id * 0x9E3779B97F4A7C15ull;
  return static_cast<size_t>(x >> 52) & (kEpochSlots - 1);
}

uint64_t FlightTable::EpochOf(uint64_t channel_id) const {
  return epochs_[EpochSlot(channel_id)].load(std::memory_order_acquire);
}

void FlightTable::OnWriteAcknowledged(uint64_t channel_id) {
  epochs_[EpochSlot(channel_id)].fetch_add(1, std::memory_order_acq_rel);
}

bool FlightTable::TryJoinLocked(Shard& shard, const JoinRequest& req, uint64_t epoch,
                                const std::shared_ptr<Waiter>& waiter, absl::Status* status) {
  auto it = shard.table.find(req.key);
  if (it == shard.table.end() || it->second->epoch != epoch) return false;
  Flight& joined = *it->second;
  if (joined.live >= options_.max_waiters_per_flight) {
    total_waiters_.fetch_sub(1, std::memory_order_relaxed);
    probe_->OnRejected(req.method, RejectReason::kFlightFull);
    *status = absl::ResourceExhaustedError("too many requests waiting for this query");
    return true;
  }
  waiter->role = Role::kJoiner;
  waiter->flight = it->second;
  joined.waiters.push_back(waiter);
  ++joined.live;
  probe_->OnJoin(req.method);
  *status = absl::OkStatus();
  return true;
}

absl::Status FlightTable::Join(JoinRequest req, absl::FunctionRef<Fetch()> make_fetch,
                               std::shared_ptr<Waiter> waiter) {
  if (total_waiters_.fetch_add(1, std::memory_order_relaxed) >= options_.max_total_waiters) {
    total_waiters_.fetch_sub(1, std::memory_order_relaxed);
    probe_->OnRejected(req.method, RejectReason::kTotalWaiters);
    return absl::ResourceExhaustedError("node is at its limit of waiting requests");
  }
  waiter->joined = clock_->Now();
  waiter->deadline = req.deadline;

  const size_t shard_index = absl::Hash<std::string>{}(req.key) % shards_.size();
  Shard& shard = shards_[shard_index];
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(shard.mu);
    const uint64_t epoch = EpochOf(req.channel_id);
    absl::Status joined;
    if (options_.enabled && TryJoinLocked(shard, req, epoch, waiter, &joined)) return joined;
    if (active_queries_.fetch_add(1, std::memory_order_relaxed) >=
        options_.max_concurrent_queries) {
      active_queries_.fetch_sub(1, std::memory_order_relaxed);
      total_waiters_.fetch_sub(1, std::memory_order_relaxed);
      probe_->OnRejected(req.method, RejectReason::kConcurrentQueries);
      return absl::ResourceExhaustedError("node is at its limit of concurrent store queries");
    }
    flight = std::make_shared<Flight>();
    flight->key = std::move(req.key);
    flight->shard = shard_index;
    flight->method = req.method;
    flight->epoch = epoch;
    flight->fetch = make_fetch();
    flight->waiters.push_back(waiter);
    flight->live = 1;
    if (options_.enabled) {
      // Replaces a flight that started before a write to this channel was
      // acknowledged (point 6); that flight still answers its own waiters.
      auto [it, inserted] = shard.table.try_emplace(flight->key, flight);
      if (!inserted) {
        it->second->in_table = false;
        it->second = flight;
      }
      flight->in_table = true;
    }
    waiter->role = Role::kLeader;
    waiter->flight = flight;
  }
  {
    std::lock_guard lock(life_mu_);
    ++live_flights_;
  }
  probe_->OnLeader(flight->method);
  StartAttempt(flight);
  return absl::OkStatus();
}

bool FlightTable::Leave(Waiter& w) {
  uint8_t expected = Waiter::kPending;
  if (!w.state.compare_exchange_strong(expected, Waiter::kLeft, std::memory_order_acq_rel)) {
    return false;
  }
  total_waiters_.fetch_sub(1, std::memory_order_relaxed);
  Flight& flight = *w.flight;
  probe_->OnLeft(flight.method, w.role);
  Shard& shard = shards_[flight.shard];
  std::lock_guard lock(shard.mu);
  if (--flight.live == 0 && !flight.finished) {
    flight.cancel->Cancel();
    RemoveFromTableLocked(shard, flight);
  }
  return true;
}

void FlightTable::RemoveFromTableLocked(Shard& shard, Flight& flight) {
  if (!flight.in_table) return;
  flight.in_table = false;
  auto it = shard.table.find(flight.key);
  if (it != shard.table.end() && it->second.get() == &flight) shard.table.erase(it);
}

absl::Time FlightTable::LatestLiveDeadline(const std::shared_ptr<Flight>& flight) {
  Shard& shard = shards_[flight->shard];
  std::lock_guard lock(shard.mu);
  absl::Time latest = absl::InfinitePast();
  for (const auto& w : flight->waiters) {
    if (w->state.load(std::memory_order_acquire) == Waiter::kPending) {
      latest = std::max(latest, w->deadline);
    }
  }
  return latest;
}

void FlightTable::StartAttempt(const std::shared_ptr<Flight>& flight) {
  const absl::Time now = clock_->Now();
  const absl::Time deadline =
      std::min(now + options_.max_query_timeout, LatestLiveDeadline(flight));
  if (flight->cancel->cancelled()) {
    Finish(flight, {absl::CancelledError("every caller left before the query started"), nullptr});
    return;
  }
  probe_->OnStoreAttempt(flight->method, flight->attempt);
  const FetchContext ctx{deadline, flight->cancel, flight->attempt};
  flight->fetch(ctx, [this, flight, started = now](Outcome outcome) {
    probe_->OnStoreResult(flight->method, clock_->Now() - started, outcome.status);
    OnAttemptDone(flight, std::move(outcome));
  });
}

void FlightTable::OnAttemptDone(const std::shared_ptr<Flight>& flight, Outcome outcome) {
  if (!outcome.status.ok() && ShouldRetry(*flight, outcome.status)) {
    const absl::Duration backoff = Backoff(flight->attempt);
    const absl::Time latest = LatestLiveDeadline(flight);
    if (clock_->Now() + backoff < latest && budget_.TryWithdraw()) {
      ++flight->attempt;
      probe_->OnRetry(flight->method);
      timer_->RunAfter(backoff, [this, flight] { StartAttempt(flight); });
      return;
    }
  }
  if (outcome.status.ok()) budget_.OnSuccess();
  Finish(flight, std::move(outcome));
}

bool FlightTable::ShouldRetry(const Flight& flight, const absl::Status& status) const {
  if (flight.cancel->cancelled()) return false;
  if (flight.attempt + 1 >= options_.retry.max_attempts) return false;
  // A timed-out attempt is worth repeating only for a waiter that still has
  // time (one that joined after the attempt started, with a later deadline);
  // the caller checks the remaining time.
  return IsRetryable(status) || status.code() == absl::StatusCode::kDeadlineExceeded;
}

absl::Duration FlightTable::Backoff(int attempt) {
  double u;
  {
    std::lock_guard lock(rng_mu_);
    u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }
  return BackoffFor(options_.retry, attempt, u);
}

// Ends the flight: out of the table first (so a new request starts a new
// flight, point 4), then one outcome to every waiter still pending.
void FlightTable::Finish(const std::shared_ptr<Flight>& flight, Outcome outcome) {
  std::vector<std::shared_ptr<Waiter>> waiters;
  {
    Shard& shard = shards_[flight->shard];
    std::lock_guard lock(shard.mu);
    flight->finished = true;
    RemoveFromTableLocked(shard, *flight);
    waiters.swap(flight->waiters);
  }
  active_queries_.fetch_sub(1, std::memory_order_relaxed);
  // Release the fetch closure now: it may hold request-sized state.
  flight->fetch = nullptr;
  if (executor_ && waiters.size() >= options_.executor_min_waiters) {
    // Two parties finish this flight: the executor's fan-out and this
    // thread's return from executor_(). The flight ends (and the destructor
    // may proceed) only when both are done.
    auto parties = std::make_shared<std::atomic<int>>(2);
    executor_([this, flight, parties, waiters = std::move(waiters), outcome = std::move(outcome)] {
      FanOut(*flight, waiters, outcome);
      if (parties->fetch_sub(1, std::memory_order_acq_rel) == 1) EndFlight();
    });
    if (parties->fetch_sub(1, std::memory_order_acq_rel) == 1) EndFlight();
  } else {
    FanOut(*flight, waiters, outcome);
    EndFlight();
  }
}

void FlightTable::EndFlight() {
  std::lock_guard lock(life_mu_);
  if (--live_flights_ == 0) life_cv_.notify_all();
}

void FlightTable::FanOut(const Flight& flight, const std::vector<std::shared_ptr<Waiter>>& waiters,
                         const Outcome& outcome) {
  const absl::Time now = clock_->Now();
  size_t delivered = 0;
  for (const auto& w : waiters) {
    uint8_t expected = Waiter::kPending;
    if (!w->state.compare_exchange_strong(expected, Waiter::kDelivered,
                                          std::memory_order_acq_rel)) {
      continue;  // left earlier
    }
    total_waiters_.fetch_sub(1, std::memory_order_relaxed);
    ++delivered;
    const WaitInfo info{w->role, now - w->joined};
    probe_->OnDelivered(flight.method, info.role, info.waited);
    w->Deliver(outcome, info);
  }
  probe_->OnFlightDone(flight.method, delivered, outcome.status);
}

}  // namespace ds::coalescer::internal
