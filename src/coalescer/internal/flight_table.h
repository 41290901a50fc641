// FlightTable: the coalescer's implementation (type-erased; Coalescer<V> in
// coalescer.h adapts it to typed results). Private to the coalescer: the
// contract it implements is stated in coalescer.h.
//
// Structure: the key's shard (one std::mutex each) holds at most one
// joinable flight per key. A flight owns its waiters, its store call (the
// attempt chain: StartAttempt -> fetch -> OnAttemptDone -> retry or Finish)
// and its cancel token. Finish takes the flight out of the table first, then
// fans the one outcome out to every waiter still pending.
//
// Threads: see coalescer.h. The attempt chain of one flight is sequential
// (each attempt starts after the previous one answered), so `Flight::attempt`
// needs no lock; everything else shared is under the shard's mutex or atomic.
//
// Rationale for std::mutex over absl::Mutex: the apt Abseil is not built with
// ThreadSanitizer, which would then miss this synchronisation.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "coalescer/coalescer.h"

namespace ds::coalescer::internal {

struct Flight {
  std::string key;
  size_t shard = 0;
  MethodId method{};
  uint64_t epoch = 0;
  Fetch fetch;
  std::shared_ptr<CancelToken> cancel = std::make_shared<CancelToken>();
  int attempt = 0;  // touched only by the sequential attempt chain
  // Guarded by the shard's mutex (FlightTable::Shard::mu; not expressible as
  // an annotation across the two structs).
  std::vector<std::shared_ptr<Waiter>> waiters;
  size_t live = 0;
  bool in_table = false;
  bool finished = false;
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

 private:
  static constexpr size_t kEpochSlots = 4096;

  struct Shard {
    std::mutex mu;
    absl::flat_hash_map<std::string, std::shared_ptr<Flight>> table ABSL_GUARDED_BY(mu);
  };

  static size_t EpochSlot(uint64_t channel_id);
  uint64_t EpochOf(uint64_t channel_id) const;

  // Joins the shard's flight for `req.key` if one is joinable under the
  // current epoch. Returns true if it did (`*status` is then the outcome).
  bool TryJoinLocked(Shard& shard, const JoinRequest& req, uint64_t epoch,
                     const std::shared_ptr<Waiter>& waiter, absl::Status* status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  void RemoveFromTableLocked(Shard& shard, Flight& flight) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Latest deadline among live waiters, or InfinitePast if none is live.
  absl::Time LatestLiveDeadline(const std::shared_ptr<Flight>& flight);

  void StartAttempt(const std::shared_ptr<Flight>& flight);
  void OnAttemptDone(const std::shared_ptr<Flight>& flight, Outcome outcome);
  bool ShouldRetry(const Flight& flight, const absl::Status& status) const;
  absl::Duration Backoff(int attempt);
  void Finish(const std::shared_ptr<Flight>& flight, Outcome outcome);
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
  std::vector<Shard> shards_;
  std::array<std::atomic<uint64_t>, kEpochSlots> epochs_{};
  std::atomic<size_t> total_waiters_{0};
  std::atomic<size_t> active_queries_{0};

  std::mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);

  mutable std::mutex life_mu_;
  std::condition_variable life_cv_;
  size_t live_flights_ ABSL_GUARDED_BY(life_mu_) = 0;
};

}  // namespace ds::coalescer::internal
