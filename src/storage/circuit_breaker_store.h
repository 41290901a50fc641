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
//   open it.
// - open: calls are answered UNAVAILABLE ("store circuit open ...") at once,
//   without reaching the store, until the open period has passed. The first
//   period is `open_for`; each failed probe doubles it, up to `max_open_for`.
// - half-open: the first call after the open period is forwarded as the
//   probe; the others are still refused until it answers. A probe that
//   succeeds closes the breaker (and resets the period); one that fails opens
//   it again.
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
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

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
  absl::Duration slow_call_budget = absl::Milliseconds(250);
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
  class Breaker {
   public:
    Breaker(std::string name, const CircuitBreakerOptions& options, BreakerListener on_change)
        : name_(std::move(name)),
          options_(options),
          on_change_(std::move(on_change)),
          period_(options.open_for) {}

    // OK: forward the call (`probe` says whether it is the half-open probe);
    // otherwise the refusal to answer with.
    absl::Status Admit(bool* probe);
    // The answer of a forwarded call issued with `budget` of time.
    void Record(const absl::Status& status, absl::Duration budget, bool probe);
    BreakerState state() const;

   private:
    enum class Outcome { kSuccess, kFailure, kNeutral };
    Outcome Classify(const absl::Status& status, absl::Duration budget) const;

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
  };

  // Forwards `call` through `breaker`, or answers `done` with the refusal on
  // the timer thread.
  template <typename T, typename Call>
  void Guard(const std::shared_ptr<Breaker>& breaker, const CallOptions& options, Callback<T> done,
             Call call);

  const std::shared_ptr<MessageStore> inner_;
  const CircuitBreakerOptions options_;
  const std::shared_ptr<Breaker> reads_;
  const std::shared_ptr<Breaker> writes_;
  std::unique_ptr<TimerThread> timers_;  // answers refusals off the caller's thread
};

}  // namespace ds::storage
