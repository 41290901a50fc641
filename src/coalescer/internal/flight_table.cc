#include "coalescer/internal/flight_table.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace ds::coalescer::internal {
namespace {

// A linger shorter than this is not worth a timer hop.
constexpr absl::Duration kMinLinger = absl::Microseconds(50);

// A store answer that says "too much": the adaptive limit backs off at once.
bool IsDrop(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
      return true;
    default:
      return false;
  }
}

}  // namespace

FlightTable::FlightTable(CoalescerOptions options, Timer* timer, CoalescerProbe* probe,
                         FanOutExecutor executor, const Clock* clock)
    : options_(std::move(options)),
      timer_(timer),
      clock_(clock != nullptr ? clock : &Clock::Real()),
      probe_(probe != nullptr ? probe : &null_probe_),
      executor_(std::move(executor)),
      budget_(options_.retry),
      limit_(options_.adaptive_limit),
      rng_(options_.seed) {
  for (int i = 0; i < std::max(options_.shards, 1); ++i) {
    shards_.emplace_back(options_.linger.tracked_keys_per_shard);
  }
}

FlightTable::~FlightTable() {
  {
    MutexLock lock(life_mu_);
    while (live_flights_ != 0) life_cv_.Wait(life_mu_);
  }
  // Leave() may have run on a transport thread that the caller joined only
  // through an uninstrumented library (gRPC); taking every shard lock once
  // orders all of Leave()'s work before the tables are destroyed.
  for (Shard& shard : shards_) MutexLock lock(shard.mu);
}

size_t FlightTable::live_flights() const {
  MutexLock lock(life_mu_);
  return live_flights_;
}

size_t FlightTable::concurrency_limit() const {
  return std::min(options_.max_concurrent_queries, limit_.limit());
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

std::optional<FlightTable::Joined> FlightTable::TryJoinLocked(
    Shard& shard, const JoinRequest& req, uint64_t epoch, absl::Time now,
    const std::shared_ptr<Waiter>& waiter) {
  auto it = shard.table.find(req.key);
  if (it == shard.table.end()) return std::nullopt;
  Flight& flight = *it->second;
  // A lingering flight's query starts after this join, so it reads every
  // write acknowledged before it: joinable whatever the epoch (point 6).
  if (flight.epoch != epoch && !flight.lingering) return std::nullopt;
  if (flight.live >= options_.max_waiters_per_flight) {
    total_waiters_.fetch_sub(1, std::memory_order_relaxed);
    probe_->OnRejected(req.method, RejectReason::kFlightFull);
    return Joined{absl::ResourceExhaustedError("too many requests waiting for this query")};
  }
  Joined joined;
  if (flight.lingering) {
    flight.epoch = std::max(flight.epoch, epoch);
    // Never linger past what this joiner's deadline leaves room for.
    const absl::Time latest_start = std::max(now, req.deadline - LingerHeadroom());
    if (latest_start < flight.linger_until) {
      flight.linger_until = latest_start;
      joined.start_sooner = latest_start - now;
    }
  }
  waiter->role = Role::kJoiner;
  waiter->flight = it->second;
  flight.waiters.push_back(waiter);
  ++flight.live;
  probe_->OnJoin(req.method);
  return joined;
}

absl::Status FlightTable::AdmitFlight(const JoinRequest& req, absl::Time now) {
  const size_t limit = concurrency_limit();
  if (active_queries_.fetch_add(1, std::memory_order_relaxed) >= limit) {
    active_queries_.fetch_sub(1, std::memory_order_relaxed);
    const bool adaptive = limit < options_.max_concurrent_queries;
    probe_->OnRejected(req.method,
                       adaptive ? RejectReason::kAdaptiveLimit : RejectReason::kConcurrentQueries);
    return absl::ResourceExhaustedError(
        absl::StrCat("node is at its limit of ", limit, " concurrent store queries"));
  }
  if (options_.deadline_admission) {
    const absl::Duration expected = limit_.expected_latency() * options_.deadline_admission_factor;
    if (req.deadline - now < expected) {
      active_queries_.fetch_sub(1, std::memory_order_relaxed);
      probe_->OnRejected(req.method, RejectReason::kDeadlineTooShort);
      return absl::ResourceExhaustedError(absl::StrCat(
          "the store answers in about ", absl::FormatDuration(expected),
          ", more than the request's remaining ", absl::FormatDuration(req.deadline - now)));
    }
  }
  return absl::OkStatus();
}

absl::Duration FlightTable::LingerHeadroom() const {
  return limit_.expected_latency() * options_.linger.deadline_headroom;
}

absl::Duration FlightTable::LingerFor(double rate, absl::Time now, absl::Time deadline) const {
  const LingerOptions& linger = options_.linger;
  if (linger.max <= absl::ZeroDuration() || rate <= 0) return absl::ZeroDuration();
  const double max_seconds = absl::ToDoubleSeconds(linger.max);
  if (rate * max_seconds < linger.min_expected_joiners) return absl::ZeroDuration();
  absl::Duration wait = std::min(linger.max, absl::Seconds(linger.target_joiners / rate));
  // Never beyond the waiter's deadline: leave it room for the query.
  wait = std::min(wait, deadline - now - LingerHeadroom());
  return wait >= kMinLinger ? wait : absl::ZeroDuration();
}

absl::Status FlightTable::Join(JoinRequest req, absl::FunctionRef<Fetch()> make_fetch,
                               std::shared_ptr<Waiter> waiter) {
  if (total_waiters_.fetch_add(1, std::memory_order_relaxed) >= options_.max_total_waiters) {
    total_waiters_.fetch_sub(1, std::memory_order_relaxed);
    probe_->OnRejected(req.method, RejectReason::kTotalWaiters);
    return absl::ResourceExhaustedError("node is at its limit of waiting requests");
  }
  const absl::Time now = clock_->Now();
  waiter->joined = now;
  waiter->deadline = req.deadline;

  const size_t shard_index = absl::Hash<std::string>{}(req.key) % shards_.size();
  Shard& shard = shards_[shard_index];
  std::shared_ptr<Flight> flight;
  std::optional<Joined> joined;
  absl::Status admitted;
  absl::Duration linger;
  {
    MutexLock lock(shard.mu);
    const uint64_t epoch = EpochOf(req.channel_id);
    const double rate =
        options_.linger.max > absl::ZeroDuration() ? shard.rates.OnArrival(req.key, now) : 0;
    if (options_.enabled) joined = TryJoinLocked(shard, req, epoch, now, waiter);
    if (!joined) admitted = AdmitFlight(req, now);
    if (!joined && admitted.ok()) {
      flight = std::make_shared<Flight>();
      flight->key = std::move(req.key);
      flight->shard = shard_index;
      flight->method = req.method;
      flight->epoch = epoch;
      flight->fetch = make_fetch();
      flight->waiters.push_back(waiter);
      flight->live = 1;
      linger = options_.enabled ? LingerFor(rate, now, req.deadline) : absl::ZeroDuration();
      flight->lingering = linger > absl::ZeroDuration();
      flight->linger_until = now + linger;
      if (options_.enabled) InsertLocked(shard, flight);
      waiter->role = Role::kLeader;
      waiter->flight = flight;
    }
  }
  if (joined) {
    if (joined->start_sooner) {
      timer_->RunAfter(*joined->start_sooner, [this, f = waiter->flight] { EndLinger(f); });
    }
    return joined->status;
  }
  if (!admitted.ok()) {
    total_waiters_.fetch_sub(1, std::memory_order_relaxed);
    return admitted;
  }
  {
    MutexLock lock(life_mu_);
    ++live_flights_;
  }
  probe_->OnLeader(flight->method);
  if (linger > absl::ZeroDuration()) {
    probe_->OnLinger(flight->method, linger);
    timer_->RunAfter(linger, [this, flight] { EndLinger(flight); });
  } else {
    StartAttempt(flight);
  }
  return absl::OkStatus();
}

void FlightTable::EndLinger(const std::shared_ptr<Flight>& flight) {
  {
    MutexLock lock(shards_[flight->shard].mu);
    if (!flight->lingering) return;  // an earlier timer started it
    flight->lingering = false;
  }
  StartAttempt(flight);
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
  MutexLock lock(shard.mu);
  if (--flight.live == 0 && !flight.finished) {
    flight.cancel->Cancel();
    RemoveFromTableLocked(shard, flight);
  }
  return true;
}

// Replaces a flight that started before a write to this channel was
// acknowledged (point 6); that flight still answers its own waiters.
void FlightTable::InsertLocked(Shard& shard, const std::shared_ptr<Flight>& flight) {
  auto [it, inserted] = shard.table.try_emplace(flight->key, flight);
  if (!inserted) {
    it->second->in_table = false;
    it->second = flight;
  }
  flight->in_table = true;
}

void FlightTable::RemoveFromTableLocked(Shard& shard, Flight& flight) {
  if (!flight.in_table) return;
  flight.in_table = false;
  auto it = shard.table.find(flight.key);
  if (it != shard.table.end() && it->second.get() == &flight) shard.table.erase(it);
}

absl::Time FlightTable::LatestLiveDeadlineLocked(const Flight& flight) {
  absl::Time latest = absl::InfinitePast();
  for (const auto& w : flight.waiters) {
    if (w->state.load(std::memory_order_acquire) == Waiter::kPending) {
      latest = std::max(latest, w->deadline);
    }
  }
  return latest;
}

void FlightTable::PruneLocked(Flight& flight) {
  std::erase_if(flight.waiters, [](const std::shared_ptr<Waiter>& w) {
    return w->state.load(std::memory_order_acquire) != Waiter::kPending;
  });
}

std::vector<std::shared_ptr<Waiter>> FlightTable::CloseLocked(Shard& shard, Flight& flight) {
  flight.finished = true;
  RemoveFromTableLocked(shard, flight);
  std::vector<std::shared_ptr<Waiter>> waiters;
  waiters.swap(flight.waiters);
  return waiters;
}

// The attempt's deadline follows the longest remaining waiter, capped by
// max_query_timeout (point 3).
void FlightTable::StartAttempt(const std::shared_ptr<Flight>& flight) {
  const absl::Time now = clock_->Now();
  absl::Time latest;
  {
    MutexLock lock(shards_[flight->shard].mu);
    latest = LatestLiveDeadlineLocked(*flight);
  }
  const absl::Time cap = now + options_.max_query_timeout;
  if (flight->cancel->cancelled()) {
    Finish(flight, {absl::CancelledError("every caller left before the query started"), nullptr});
    return;
  }
  flight->attempt_started = now;
  flight->attempt_deadline = std::min(cap, latest);
  flight->attempt_sized_by_waiter = latest < cap;
  flight->inflight_at_start = active_queries_.load(std::memory_order_relaxed);
  probe_->OnStoreAttempt(flight->method, flight->attempt);
  const FetchContext ctx{flight->attempt_deadline, flight->cancel, flight->attempt};
  flight->fetch(ctx,
                [this, flight](Outcome outcome) { OnAttemptDone(flight, std::move(outcome)); });
}

bool FlightTable::ReissueOrClose(const std::shared_ptr<Flight>& flight,
                                 std::vector<std::shared_ptr<Waiter>>* waiters) {
  Shard& shard = shards_[flight->shard];
  MutexLock lock(shard.mu);
  if (!flight->cancel->cancelled() &&
      LatestLiveDeadlineLocked(*flight) > flight->attempt_deadline) {
    PruneLocked(*flight);
    return true;
  }
  *waiters = CloseLocked(shard, *flight);
  return false;
}

void FlightTable::OnAttemptDone(const std::shared_ptr<Flight>& flight, Outcome outcome) {
  const absl::Duration took = clock_->Now() - flight->attempt_started;
  probe_->OnStoreResult(flight->method, took, outcome.status);
  const bool cut_short = outcome.status.code() == absl::StatusCode::kDeadlineExceeded &&
                         flight->attempt_sized_by_waiter;
  // An attempt cut short by a caller's deadline says nothing about the
  // store's latency; neither does one nobody waited for.
  if (!cut_short && !flight->cancel->cancelled()) {
    limit_.OnSample(took, flight->inflight_at_start, IsDrop(outcome.status));
  }
  if (cut_short) {
    // Not a failed attempt: no retry budget, no attempt count, no backoff.
    std::vector<std::shared_ptr<Waiter>> waiters;
    if (ReissueOrClose(flight, &waiters)) {
      probe_->OnReissue(flight->method);
      StartAttempt(flight);
    } else {
      Deliver(flight, std::move(waiters), std::move(outcome));
    }
    return;
  }
  if (!outcome.status.ok() && ShouldRetry(*flight, outcome.status)) {
    const absl::Duration backoff = Backoff(flight->attempt);
    absl::Time latest;
    {
      MutexLock lock(shards_[flight->shard].mu);
      latest = LatestLiveDeadlineLocked(*flight);
      PruneLocked(*flight);
    }
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
  return IsRetryable(status);
}

absl::Duration FlightTable::Backoff(int attempt) {
  double u;
  {
    MutexLock lock(rng_mu_);
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
    MutexLock lock(shard.mu);
    waiters = CloseLocked(shard, *flight);
  }
  Deliver(flight, std::move(waiters), std::move(outcome));
}

void FlightTable::Deliver(const std::shared_ptr<Flight>& flight,
                          std::vector<std::shared_ptr<Waiter>> waiters, Outcome outcome) {
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
  MutexLock lock(life_mu_);
  if (--live_flights_ == 0) life_cv_.NotifyAll();
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
