// CircuitBreakerStore: a MessageStore decorator that stops calling a store
// which keeps failing, so a dead or locked database costs callers
// microseconds instead of their whole deadline, and probes it back.
//
// Usage:
//   std::shared_ptr<MessageStore> sqlite = ...;
//   CircuitBreakerStore store(sqlite, {.failures_to_open = 5});
//   store.GetMessages(query, options, done);   // forwarded, or refused fast
//
// Reads (GetMessages, GetMessage) and writes (SendMessage) have a breaker
// each: a locked SQLite file or a full disk refuses writes while reads still
// work, and must not take the reads down with them. BulkInsert (seeding, not
// on the serving path) is forwarded and never counted.
//
// Each breaker is closed, open or half-open:
// - closed: calls are forwarded. `failures_to_open` store failures in a row
//   open it, provided the store has also answered no call of that kind with
//   success for `failure_window`. Under concurrency "in a row" alone is a weak
//   signal: when one Cassandra replica dies, the calls in flight on its
//   connection all fail together while the other replicas keep answering, and
//   the driver (and the node's retry) routes around it; that store works.
// - open: calls are answered UNAVAILABLE ("store circuit open ...") at once,
//   or RESOURCE_EXHAUSTED when that was the last failure (a full disk),
//   without reaching the store, until the open period has passed. The first
//   period is `open_for`; each failed probe doubles it, up to `max_open_for`.
// - half-open: the first call after the open period is forwarded as the
//   probe; the others are still refused until it answers. A probe that
//   succeeds closes the breaker (and resets the period); one that fails opens
//   it again.
//
// Stalls count too: a store that hangs (a locked SQLite file, a frozen
// database) answers nothing until the callers' deadlines, so waiting for
// failures would cost every caller in flight its whole deadline first. When a
// call issued with at least `slow_call_budget` has waited that long and the
// store has answered no call of its kind meanwhile, the breaker opens (seen by
// a watchdog on the timer thread, or by the next call) and answers every call
// in flight UNAVAILABLE at once; the store's later answers to them are
// dropped. (A write answered so may still be committed by the store: an
// unacknowledged write's outcome is unknown, and the client's retry with the
// same nonce is idempotent.)
//
// What counts: a store failure is UNAVAILABLE, INTERNAL, UNKNOWN, DATA_LOSS or
// RESOURCE_EXHAUSTED, or DEADLINE_EXCEEDED for a call that had at least
// `slow_call_budget` of time when it was issued (a store that cannot answer
// in that long is sick; a caller that gave it 5 ms proves nothing). Every other
// answer (OK, NOT_FOUND, INVALID_ARGUMENT, ...) proves the store answers and
// resets the count. CANCELLED and short-budget timeouts count as neither.
//
// The contract of MessageStore is kept: a refusal is answered on the
// decorator's timer thread, never inline from the call.
//
// Thread-safe: every method may be called from any thread. The state change
// callback runs on whichever thread answered the call that changed the state
// (never with a lock held).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "storage/message_store.h"

namespace ds {
class TimerThread;
}  // namespace ds

namespace ds::storage {

struct CircuitBreakerOptions {
  // Store failures in a row that open a breaker; 0 turns the decorator into a
  // plain pass-through.
  int failures_to_open = 5;
  absl::Duration open_for = absl::Milliseconds(250);
  absl::Duration max_open_for = absl::Seconds(2);
  // Failures in a row open a breaker only when no call of its kind has
  // succeeded for this long either.
  absl::Duration failure_window = absl::Milliseconds(250);
  // A call that waits this long while the store answers nothing of its kind
  // is stalled. Above a slow but working store's latency (a 500 ms query must
  // not trip it), below the callers' deadlines (the gateway's is 2 s).
  absl::Duration slow_call_budget = absl::Seconds(1);
  const Clock* clock = &Clock::Real();
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };
std::string_view BreakerStateName(BreakerState state);

// Which breaker: "read" or "write".
using BreakerListener =
    std::function<void(std::string_view breaker, BreakerState to, const absl::Status& last)>;

class CircuitBreakerStore final : public MessageStore {
 public:
  // `inner` must not be null.
  CircuitBreakerStore(std::shared_ptr<MessageStore> inner, CircuitBreakerOptions options,
                      BreakerListener on_change = nullptr);
  ~CircuitBreakerStore() override;

  CircuitBreakerStore(const CircuitBreakerStore&) = delete;
  CircuitBreakerStore& operator=(const CircuitBreakerStore&) = delete;

  void GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                   Callback<std::vector<Message>> done) override;
  void GetMessage(uint64_t channel_id, uint64_t message_id, const CallOptions& options,
                  Callback<Message> done) override;
  void SendMessage(const NewMessage& message, const CallOptions& options,
                   Callback<SendResult> done) override;
  void BulkInsert(std::vector<Message> messages, const CallOptions& options,
                  Callback<size_t> done) override;

  BreakerState read_state() const { return reads_->state(); }
  BreakerState write_state() const { return writes_->state(); }

 private:
  // One breaker (reads or writes). Shared with the callbacks of calls in
  // flight, which may outlive the decorator.
  class Breaker : public std::enable_shared_from_this<Breaker> {
   public:
    Breaker(std::string name, const CircuitBreakerOptions& options, BreakerListener on_change,
            TimerThread* timers)
        : timers_(timers),
          name_(std::move(name)),
          options_(options),
          on_change_(std::move(on_change)),
          period_(options.open_for) {}

    // What Admit decided.
    struct Decision {
      absl::Status refusal;  // not OK: answer the call with it, do not forward
      bool probe = false;    // forwarded as the half-open probe
      uint64_t id = 0;       // the forwarded call's entry among the calls in flight
      // Calls in flight to answer with `stalled` (the breaker opened on them).
      std::vector<std::function<void(const absl::Status&)>> to_fail;
      absl::Status stalled;
    };
    // Decides on a call issued with `budget` of time; a forwarded call is
    // registered as in flight with `fail`, which answers it early.
    Decision Admit(absl::Duration budget, std::function<void(const absl::Status&)> fail);
    // The answer of forwarded call `id`.
    void Record(const absl::Status& status, absl::Duration budget, bool probe, uint64_t id);
    BreakerState state() const;
    // The watchdog: opens on a stall and answers the calls in flight.
    void CheckStalls();
    // The store is going away: the watchdog stops re-arming.
    void Stop();

   private:
    enum class Outcome { kSuccess, kFailure, kNeutral };
    struct InFlight {
      absl::Time started;
      bool counts;  // issued with at least slow_call_budget
      std::function<void(const absl::Status&)> fail;
    };
    Outcome Classify(const absl::Status& status, absl::Duration budget) const;
    // Closed and `failures_to_open` calls stalled: opens, hands back the
    // calls in flight to fail.
    void OpenOnStalls(absl::Time now, Decision& decision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
    // Schedules CheckStalls one slow_call_budget from now, if calls are in
    // flight and none is scheduled.
    void ArmWatchdog() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

    TimerThread* const timers_;  // the store's; used only while not stopped_
    absl::Status Refusal(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

    const std::string name_;
    const CircuitBreakerOptions options_;
    const BreakerListener on_change_;
    mutable std::mutex mu_;
    BreakerState state_ ABSL_GUARDED_BY(mu_) = BreakerState::kClosed;
    int failures_ ABSL_GUARDED_BY(mu_) = 0;
    absl::Duration period_ ABSL_GUARDED_BY(mu_);
    absl::Time open_until_ ABSL_GUARDED_BY(mu_);
    bool probe_in_flight_ ABSL_GUARDED_BY(mu_) = false;
    absl::Status last_failure_ ABSL_GUARDED_BY(mu_);
    uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
    std::map<uint64_t, InFlight> in_flight_ ABSL_GUARDED_BY(mu_);  // oldest first
    absl::Time last_answer_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
    absl::Time last_success_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
    bool watchdog_armed_ ABSL_GUARDED_BY(mu_) = false;
    bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  };

  // Forwards `call` through `breaker`, or answers `done` with the refusal on
  // the timer thread.
  template <typename T, typename Call>
  void Guard(const std::shared_ptr<Breaker>& breaker, const CallOptions& options, Callback<T> done,
             Call call);

  const std::shared_ptr<MessageStore> inner_;
  const CircuitBreakerOptions options_;
  // Answers refusals off the caller's thread; runs the breakers' watchdogs.
  std::unique_ptr<TimerThread> timers_;
  const std::shared_ptr<Breaker> reads_;
  const std::shared_ptr<Breaker> writes_;
};

}  // namespace ds::storage
