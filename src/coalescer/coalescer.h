// Coalescer: turns identical concurrent reads into one store query.
//
// The first request for a key starts a *flight*; identical requests that
// arrive while the flight is joinable join it as waiters, and every waiter gets
// the flight's one result. The store query belongs to the flight, never to one
// caller.
//
// Usage (the node does this per RPC):
//   Coalescer<Payload> coalescer(options, &timer, &probe);
//   auto ticket = coalescer.Join(
//       {.key = key, .channel_id = c, .deadline = d},
//       /*fetch=*/[&](const FetchContext& ctx, auto done) { store.Get(..., ctx, done); },
//       /*done=*/[](const absl::StatusOr<Payload>& r, const WaitInfo& w) { Reply(r); });
//   if (!ticket.ok()) Reply(ticket.status());          // RESOURCE_EXHAUSTED at once
//   ...on the caller's cancellation or deadline: coalescer.Leave(*ticket);
//
// THE CONTRACT (DESIGN.md section 3), point by point:
//  1. Key. The caller builds `Request::key` from the method and every request
//     field that changes the result; the coalescer compares keys bytewise.
//  2. Flights, not leaders. `fetch` of the request that starts a flight is the
//     flight's; it is called with the flight's deadline and cancel token, not
//     with any caller's context. Later joiners' `fetch` is never called.
//  3. Per-caller deadlines and cancellation. A caller leaves with Leave(); its
//     `done` is then never called (the transport answers it DEADLINE_EXCEEDED
//     or CANCELLED itself) and other waiters are unaffected. Each store attempt
//     gets deadline min(now + max_query_timeout, latest live waiter deadline);
//     an attempt that times out while a live waiter still has time is issued
//     again (late joiners may carry later deadlines). When the last waiter
//     leaves, the flight leaves the table (the next request starts afresh) and
//     its cancel token is set; the store may abandon the query; no retry
//     follows. Every flight ends when its store call answers, which the
//     MessageStore contract bounds by the deadline: nobody waits forever.
//  4. Errors fan out and are never cached. Every waiter of a failed flight gets
//     the flight's (mapped) status; a non-OK result is never delivered as OK.
//     The flight leaves the table before fanning out, so the next request
//     starts a new flight.
//  5. Retries inside the flight. IsRetryable() statuses are retried with
//     exponential backoff and jitter (on the Timer, no thread sleeps), within
//     the flight's deadline, max_attempts and a node-wide RetryBudget. The
//     flight stays joinable while it retries: late joiners share the outcome.
//  6. Read-your-writes. OnWriteAcknowledged(channel) must be called after the
//     store acknowledged a write and before the writer is answered. A read
//     that arrives afterwards never joins a flight that started before it: it
//     replaces that flight in the table with a new one (the old flight still
//     answers its own waiters). Channels share 4096 epoch slots by hash, so a
//     write can only make unrelated reads coalesce less, never see staler data.
//  7. Bounded. max_waiters_per_flight, max_total_waiters and
//     max_concurrent_queries (flights with a query running or backing off) are
//     enforced in Join(), which returns RESOURCE_EXHAUSTED at once past a cap.
//  8. Encode once. A flight delivers one `const absl::StatusOr<V>&` to every
//     waiter; with V = shared_ptr<const Encoded> each waiter holds a reference
//     to the same bytes, never a copy.
//  9. Visible. WaitInfo tells each waiter whether it led or joined and how long
//     it waited; CoalescerProbe sees every event (counts, waiters per flight).
//
// Threads: Join/Leave/OnWriteAcknowledged are thread-safe and never block on
// I/O. `fetch` runs on the thread that called Join (first attempt) or on the
// timer thread (retries) with no lock held; it may complete inline or on any
// thread. `done` runs, with no lock held, on the thread that completed the
// store call (or on the FanOutExecutor's thread), each waiter's at most once,
// and never after its Leave() returned true. The destructor waits until every flight has ended, so the store must
// be destroyed after the coalescer, and the Timer after both.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "coalescer/probe.h"
#include "coalescer/retry.h"
#include "coalescer/timer.h"
#include "storage/message_store.h"

namespace ds::coalescer {

struct CoalescerOptions {
  // false: every request runs its own query (the "coalescing off" baseline);
  // caps, retries and probes still apply.
  bool enabled = true;
  size_t max_waiters_per_flight = 20'000;
  size_t max_total_waiters = 200'000;
  size_t max_concurrent_queries = 1'024;
  absl::Duration max_query_timeout = absl::Seconds(5);
  RetryOptions retry;
  int shards = 32;
  uint64_t seed = 0x5eed;  // jitter randomness
  // Flights that end with at least this many waiters hand their fan-out to
  // the FanOutExecutor given to the constructor (if any) instead of running
  // it on the store thread that completed the query.
  size_t executor_min_waiters = 2;
};

// Runs a flight's fan-out (every waiter's `done`) somewhere else, once per
// flight. The node passes one that runs it on a gRPC callback thread: gRPC
// finishes calls much more cheaply from its own threads than from a store
// thread, and one hand-off per flight replaces one per waiter.
using FanOutExecutor = std::function<void(std::function<void()>)>;

// What the flight hands to its store call.
struct FetchContext {
  absl::Time deadline;
  std::shared_ptr<const storage::CancelToken> cancel;
  int attempt = 0;  // 0 for the first
};

struct WaitInfo {
  Role role = Role::kLeader;
  absl::Duration waited;  // Join() to delivery
};

template <typename V>
class Coalescer {
 private:
  struct Flight;
  struct Waiter;

 public:
  using Result = absl::StatusOr<V>;
  using FetchDone = std::function<void(Result)>;
  using Fetch = std::function<void(const FetchContext&, FetchDone)>;
  using Done = std::function<void(const Result&, const WaitInfo&)>;

  struct Request {
    std::string key;
    uint64_t channel_id = 0;
    absl::Time deadline = absl::InfiniteFuture();
    int method = 0;  // passed to the probe as a label
  };

  // A joined waiter. Copyable; keep it to Leave().
  class Ticket {
   public:
    Role role() const { return waiter_->role; }

   private:
    friend class Coalescer;
    explicit Ticket(std::shared_ptr<Waiter> w) : waiter_(std::move(w)) {}
    std::shared_ptr<Waiter> waiter_;
  };

  // `timer` must outlive the coalescer; `probe` and `executor` may be null.
  Coalescer(CoalescerOptions options, Timer* timer, CoalescerProbe* probe = nullptr,
            FanOutExecutor executor = nullptr)
      : options_(std::move(options)),
        timer_(timer),
        probe_(probe ? probe : &null_probe_),
        executor_(std::move(executor)),
        budget_(options_.retry),
        shards_(options_.shards > 0 ? options_.shards : 1),
        rng_(options_.seed) {}

  ~Coalescer() {
    {
      std::unique_lock lock(life_mu_);
      life_cv_.wait(lock, [this] { return live_flights_ == 0; });
    }
    // Leave() may have run on a transport thread that the caller joined only
    // through an uninstrumented library (gRPC); taking every shard lock once
    // orders all of Leave()'s work before the tables are destroyed.
    for (Shard& shard : shards_) std::lock_guard lock(shard.mu);
  }

  Coalescer(const Coalescer&) = delete;
  Coalescer& operator=(const Coalescer&) = delete;

  // Joins the flight for `req.key`, or starts one (calling `fetch`). Returns
  // RESOURCE_EXHAUSTED without side effects when a cap is reached.
  absl::StatusOr<Ticket> Join(Request req, Fetch fetch, Done done) {
    if (total_waiters_.fetch_add(1, std::memory_order_relaxed) >= options_.max_total_waiters) {
      total_waiters_.fetch_sub(1, std::memory_order_relaxed);
      probe_->OnRejected(req.method, RejectReason::kTotalWaiters);
      return absl::ResourceExhaustedError("node is at its limit of waiting requests");
    }
    auto waiter = std::make_shared<Waiter>();
    waiter->joined = absl::Now();
    waiter->deadline = req.deadline;
    waiter->done = std::move(done);

    const size_t shard_index = absl::Hash<std::string>{}(req.key) % shards_.size();
    Shard& shard = shards_[shard_index];
    std::shared_ptr<Flight> flight;
    {
      std::lock_guard lock(shard.mu);
      const uint64_t epoch = EpochOf(req.channel_id);
      if (options_.enabled) {
        auto it = shard.table.find(req.key);
        if (it != shard.table.end() && it->second->epoch == epoch) {
          Flight& joined = *it->second;
          if (joined.live >= options_.max_waiters_per_flight) {
            total_waiters_.fetch_sub(1, std::memory_order_relaxed);
            probe_->OnRejected(req.method, RejectReason::kFlightFull);
            return absl::ResourceExhaustedError("too many requests waiting for this query");
          }
          waiter->role = Role::kJoiner;
          waiter->flight = it->second;
          joined.waiters.push_back(waiter);
          ++joined.live;
          probe_->OnJoin(req.method);
          return Ticket(std::move(waiter));
        }
      }
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
      flight->fetch = std::move(fetch);
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
    return Ticket(std::move(waiter));
  }

  // The caller no longer wants the answer. Returns true if its `done` will
  // never run; false if it already ran or is running.
  bool Leave(const Ticket& ticket) {
    Waiter& w = *ticket.waiter_;
    uint8_t expected = kPending;
    if (!w.state.compare_exchange_strong(expected, kLeft, std::memory_order_acq_rel)) return false;
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

  // Read-your-writes fence for `channel_id` (contract point 6).
  void OnWriteAcknowledged(uint64_t channel_id) {
    epochs_[EpochSlot(channel_id)].fetch_add(1, std::memory_order_acq_rel);
  }

  // Point-in-time gauges (for metrics and tests).
  size_t total_waiters() const { return total_waiters_.load(std::memory_order_relaxed); }
  size_t active_queries() const { return active_queries_.load(std::memory_order_relaxed); }
  size_t live_flights() const {
    std::lock_guard lock(life_mu_);
    return live_flights_;
  }
  double retry_budget() const { return budget_.balance(); }

 private:
  static constexpr uint8_t kPending = 0, kDelivered = 1, kLeft = 2;
  static constexpr size_t kEpochSlots = 4096;

  struct Waiter {
    std::atomic<uint8_t> state{kPending};
    Role role = Role::kLeader;
    absl::Time joined;
    absl::Time deadline;
    Done done;
    // Owning: a Ticket keeps its flight alive. The flight's `waiters` vector
    // owns the waiters in turn; that cycle is broken when the flight ends and
    // moves the vector out (Finish).
    std::shared_ptr<Flight> flight;
  };

  struct Flight {
    std::string key;
    size_t shard = 0;
    int method = 0;
    uint64_t epoch = 0;
    Fetch fetch;
    std::shared_ptr<storage::CancelToken> cancel = std::make_shared<storage::CancelToken>();
    int attempt = 0;  // touched only by the sequential attempt chain
    // Guarded by shards_[shard].mu (not expressible as an annotation here).
    std::vector<std::shared_ptr<Waiter>> waiters;
    size_t live = 0;
    bool in_table = false;
    bool finished = false;
  };

  struct Shard {
    std::mutex mu;
    absl::flat_hash_map<std::string, std::shared_ptr<Flight>> table ABSL_GUARDED_BY(mu);
  };

  static size_t EpochSlot(uint64_t channel_id) {
    uint64_t x = channel_id * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(x >> 52) & (kEpochSlots - 1);
  }
  uint64_t EpochOf(uint64_t channel_id) const {
    return epochs_[EpochSlot(channel_id)].load(std::memory_order_acquire);
  }

  void RemoveFromTableLocked(Shard& shard, Flight& flight) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    if (!flight.in_table) return;
    flight.in_table = false;
    auto it = shard.table.find(flight.key);
    if (it != shard.table.end() && it->second.get() == &flight) shard.table.erase(it);
  }

  // Latest deadline among live waiters, or InfinitePast if none is live.
  absl::Time LatestLiveDeadline(const std::shared_ptr<Flight>& flight) {
    Shard& shard = shards_[flight->shard];
    std::lock_guard lock(shard.mu);
    absl::Time latest = absl::InfinitePast();
    for (const auto& w : flight->waiters) {
      if (w->state.load(std::memory_order_acquire) == kPending) latest = std::max(latest, w->deadline);
    }
    return latest;
  }

  void StartAttempt(const std::shared_ptr<Flight>& flight) {
    const absl::Time now = absl::Now();
    const absl::Time deadline =
        std::min(now + options_.max_query_timeout, LatestLiveDeadline(flight));
    if (flight->cancel->cancelled()) {
      Finish(flight, absl::CancelledError("every caller left before the query started"));
      return;
    }
    probe_->OnStoreAttempt(flight->method, flight->attempt);
    FetchContext ctx{deadline, flight->cancel, flight->attempt};
    flight->fetch(ctx, [this, flight, started = now](Result result) {
      probe_->OnStoreResult(flight->method, absl::Now() - started, result.status());
      OnAttemptDone(flight, std::move(result));
    });
  }

  void OnAttemptDone(const std::shared_ptr<Flight>& flight, Result result) {
    if (!result.ok() && ShouldRetry(*flight, result.status())) {
      const absl::Duration backoff = Backoff(flight->attempt);
      const absl::Time latest = LatestLiveDeadline(flight);
      if (absl::Now() + backoff < latest && budget_.TryWithdraw()) {
        ++flight->attempt;
        probe_->OnRetry(flight->method);
        timer_->RunAfter(backoff, [this, flight] { StartAttempt(flight); });
        return;
      }
    }
    if (result.ok()) budget_.OnSuccess();
    Finish(flight, std::move(result));
  }

  bool ShouldRetry(const Flight& flight, const absl::Status& status) const {
    if (flight.cancel->cancelled()) return false;
    if (flight.attempt + 1 >= options_.retry.max_attempts) return false;
    // A timed-out attempt is worth repeating only for a waiter that still has
    // time (one that joined after the attempt started, with a later deadline);
    // the caller checks the remaining time.
    return IsRetryable(status) || status.code() == absl::StatusCode::kDeadlineExceeded;
  }

  absl::Duration Backoff(int attempt) {
    double u;
    {
      std::lock_guard lock(rng_mu_);
      u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    }
    return BackoffFor(options_.retry, attempt, u);
  }

  // Ends the flight: out of the table first (so a new request starts a new
  // flight, point 4), then one result to every waiter still pending.
  void Finish(const std::shared_ptr<Flight>& flight, Result result) {
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
      executor_([this, flight, parties, waiters = std::move(waiters), result = std::move(result)] {
        FanOut(*flight, waiters, result);
        if (parties->fetch_sub(1, std::memory_order_acq_rel) == 1) EndFlight();
      });
      if (parties->fetch_sub(1, std::memory_order_acq_rel) == 1) EndFlight();
    } else {
      FanOut(*flight, waiters, result);
      EndFlight();
    }
  }

  void EndFlight() {
    std::lock_guard lock(life_mu_);
    if (--live_flights_ == 0) life_cv_.notify_all();
  }

  void FanOut(const Flight& flight, const std::vector<std::shared_ptr<Waiter>>& waiters,
              const Result& result) {
    const absl::Time now = absl::Now();
    size_t delivered = 0;
    for (const auto& w : waiters) {
      uint8_t expected = kPending;
      if (!w->state.compare_exchange_strong(expected, kDelivered, std::memory_order_acq_rel)) {
        continue;  // left earlier
      }
      total_waiters_.fetch_sub(1, std::memory_order_relaxed);
      ++delivered;
      const WaitInfo info{w->role, now - w->joined};
      probe_->OnDelivered(flight.method, info.role, info.waited);
      Done done = std::move(w->done);
      done(result, info);
    }
    probe_->OnFlightDone(flight.method, delivered, result.status());
  }

  const CoalescerOptions options_;
  Timer* const timer_;
  CoalescerProbe null_probe_;
  CoalescerProbe* const probe_;
  const FanOutExecutor executor_;
  RetryBudget budget_;
  std::vector<Shard> shards_;
  std::array<std::atomic<uint64_t>, kEpochSlots> epochs_{};
  std::atomic<size_t> total_waiters_{0};
  std::atomic<size_t> active_queries_{0};

  std::mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);

  // Rationale for std::mutex over absl's: the apt Abseil is not built with
  // ThreadSanitizer, which would then miss this synchronisation.
  mutable std::mutex life_mu_;
  std::condition_variable life_cv_;
  size_t live_flights_ ABSL_GUARDED_BY(life_mu_) = 0;
};

}  // namespace ds::coalescer
