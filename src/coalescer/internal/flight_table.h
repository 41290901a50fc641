// FlightTable: the coalescer's implementation (type-erased; Coalescer<V> in
// coalescer.h adapts it to typed results). Private to the coalescer: the
// contract it implements is stated in coalescer.h.
//
// Structure: the key's shard (one std::mutex each) holds at most one
// joinable flight per key. A flight owns its waiters, its store call (the
// attempt chain: [linger] -> StartAttempt -> fetch -> OnAttemptDone -> retry,
// re-issue or Finish) and its cancel token. Finishing takes the flight out of
// the table first (under the shard lock, so nobody joins a flight that has
// decided its outcome), then fans the one outcome out to every waiter still
// pending.
//
// Threads: see coalescer.h. The attempt chain of one flight is sequential
// (each step starts after the previous one answered), so the attempt fields
// of Flight need no lock; everything else shared is under the shard's mutex
// or atomic.
//
// Locks are ds::Mutex (common/mutex.h): std::mutex, which ThreadSanitizer
// understands, with the annotations clang's -Wthread-safety checks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "coalescer/adaptive_limit.h"
#include "coalescer/coalescer.h"
#include "coalescer/internal/arrival_rates.h"
#include "common/mutex.h"

namespace ds::coalescer::internal {

struct Flight {
  std::string key;
  size_t shard = 0;
  MethodId method{};
  uint64_t epoch = 0;
  Fetch fetch;
  std::shared_ptr<CancelToken> cancel = std::make_shared<CancelToken>();

  // The attempt chain's own state (sequential: no lock).
  int attempt = 0;  // failed attempts so far; re-issues do not count
  absl::Time attempt_started;
  absl::Time attempt_deadline;
  bool attempt_sized_by_waiter = false;  // deadline was a waiter's, not the cap
  size_t inflight_at_start = 0;

  // Guarded by the shard's mutex (FlightTable::Shard::mu; not expressible as
  // an annotation across the two structs).
  std::vector<std::shared_ptr<Waiter>> waiters;
  size_t live = 0;
  bool in_table = false;
  bool finished = false;
  bool lingering = false;   // waiting for joiners before its first query
  absl::Time linger_until;  // the first query starts by then
};

class FlightTable {
 public:
  FlightTable(CoalescerOptions options, Timer* timer, CoalescerProbe* probe,
              FanOutExecutor executor, const Clock* clock);
  // Waits until every flight has ended.
  ~FlightTable();

  absl::Status Join(JoinRequest req, absl::FunctionRef<Fetch()> make_fetch,
                    std::shared_ptr<Waiter> waiter);
  bool Leave(Waiter& waiter);
  void OnWriteAcknowledged(uint64_t channel_id);

  size_t total_waiters() const { return total_waiters_.load(std::memory_order_relaxed); }
  size_t active_queries() const { return active_queries_.load(std::memory_order_relaxed); }
  size_t live_flights() const;
  size_t concurrency_limit() const;
  absl::Duration expected_store_latency() const { return limit_.expected_latency(); }

 private:
  static constexpr size_t kEpochSlots = 4096;

  struct Shard {
    explicit Shard(size_t tracked_keys) : rates(tracked_keys) {}
    Mutex mu;
    absl::flat_hash_map<std::string, std::shared_ptr<Flight>> table ABSL_GUARDED_BY(mu);
    ArrivalRates rates ABSL_GUARDED_BY(mu);
  };

  // What joining a running flight decided.
  struct Joined {
    absl::Status status;
    std::optional<absl::Duration> start_sooner;  // the linger must end earlier
  };

  static size_t EpochSlot(uint64_t channel_id);
  uint64_t EpochOf(uint64_t channel_id) const;

  // Joins the shard's flight for `req.key` if one is joinable: started under
  // the current epoch, or still lingering (its query starts after this join).
  std::optional<Joined> TryJoinLocked(Shard& shard, const JoinRequest& req, uint64_t epoch,
                                      absl::Time now, const std::shared_ptr<Waiter>& waiter)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // RESOURCE_EXHAUSTED if a new flight may not start now (caps, adaptive
  // limit, deadline-aware admission); reserves a query slot otherwise.
  absl::Status AdmitFlight(const JoinRequest& req, absl::Time now);
  // How long a new flight for a key arriving at `rate` per second lingers.
  absl::Duration LingerFor(double rate, absl::Time now, absl::Time deadline) const;
  // Time a lingering flight leaves before a waiter's deadline for its query.
  absl::Duration LingerHeadroom() const;
  void EndLinger(const std::shared_ptr<Flight>& flight);

  void InsertLocked(Shard& shard, const std::shared_ptr<Flight>& flight)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  void RemoveFromTableLocked(Shard& shard, Flight& flight) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Latest deadline among live waiters, or InfinitePast if none is live.
  static absl::Time LatestLiveDeadlineLocked(const Flight& flight);
  // Drops waiters that left from the flight's list (a long-lived flight must
  // not accumulate them).
  static void PruneLocked(Flight& flight);
  // Marks the flight finished, takes it out of the table and returns its
  // waiters: from here on nobody can join it.
  std::vector<std::shared_ptr<Waiter>> CloseLocked(Shard& shard, Flight& flight)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  void StartAttempt(const std::shared_ptr<Flight>& flight);
  void OnAttemptDone(const std::shared_ptr<Flight>& flight, Outcome outcome);
  // An attempt sized for a waiter timed out: re-issues it (true) if a live
  // waiter has a later deadline, else closes the flight into `*waiters`.
  bool ReissueOrClose(const std::shared_ptr<Flight>& flight,
                      std::vector<std::shared_ptr<Waiter>>* waiters);
  bool ShouldRetry(const Flight& flight, const absl::Status& status) const;
  absl::Duration Backoff(int attempt);
  void Finish(const std::shared_ptr<Flight>& flight, Outcome outcome);
  void Deliver(const std::shared_ptr<Flight>& flight, std::vector<std::shared_ptr<Waiter>> waiters,
               Outcome outcome);
  void FanOut(const Flight& flight, const std::vector<std::shared_ptr<Waiter>>& waiters,
              const Outcome& outcome);
  void EndFlight();

  const CoalescerOptions options_;
  Timer* const timer_;
  const Clock* const clock_;
  CoalescerProbe null_probe_;
  CoalescerProbe* const probe_;
  const FanOutExecutor executor_;
  RetryBudget budget_;
  AdaptiveConcurrencyLimit limit_;
  std::deque<Shard> shards_;  // a deque: Shard is neither copyable nor movable
  std::array<std::atomic<uint64_t>, kEpochSlots> epochs_{};
  std::atomic<size_t> total_waiters_{0};
  std::atomic<size_t> active_queries_{0};

  Mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);

  mutable Mutex life_mu_;
  CondVar life_cv_;
  size_t live_flights_ ABSL_GUARDED_BY(life_mu_) = 0;
};

}  // namespace ds::coalescer::internal
