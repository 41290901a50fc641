// Coalescer: turns identical concurrent reads into one store query.
//
// A request whose key has no joinable *flight* opens one; requests with the
// same key that come while it is open become its waiters, and all of them get
// its single result. The store query is the flight's own, not any caller's.
//
// Usage (the node does this per RPC):
//   Coalescer<Payload> coalescer(options, &timer, &probe);
//   auto ticket = coalescer.Join(
//       {.key = key, .channel_id = c, .deadline = d, .method = m},
//       /*fetch=*/[&](const FetchContext& ctx, auto done) { store.Get(..., ctx, done); },
//       /*done=*/[](const absl::StatusOr<Payload>& r, const WaitInfo& w) { Reply(r); });
//   if (!ticket.ok()) Reply(ticket.status());          // RESOURCE_EXHAUSTED at once
//   ...on the caller's cancellation or deadline: coalescer.Leave(*ticket);
//
// THE CONTRACT (docs/design.md §3), point by point:
//  1. Key. The caller builds `Request::key` from the method and each request
//     field the answer depends on; the coalescer compares keys bytewise.
//  2. Flights, not leaders. `fetch` of the request that starts a flight is the
//     flight's; it is called with the flight's deadline and cancel token, not
//     with any caller's context. Later joiners' `fetch` is never called.
//  3. Per-caller deadlines and cancellation. A caller leaves with Leave(); its
//     `done` is then never called (the transport answers it DEADLINE_EXCEEDED
//     or CANCELLED itself) and other waiters are unaffected: a waiter is
//     failed only by its own deadline, its own cancellation or a real store
//     error. The flight's query deadline follows the longest remaining waiter,
//     capped: each attempt gets min(now + max_query_timeout, latest live
//     waiter deadline). An attempt sized for a waiter's deadline that times
//     out while a live waiter has a later one was cut short, not failed: it is
//     issued again at once, sized for that waiter, without counting as an
//     attempt or spending retry budget. An attempt cut by max_query_timeout
//     is a real store timeout. When the last waiter leaves, the flight leaves
//     the table (the next request starts afresh) and its cancel token is set;
//     the store may abandon the query; no retry follows. Every flight ends
//     when its store call answers, which the MessageStore contract bounds by
//     the deadline: no waiter is left without an answer.
//  4. Failures reach every waiter and are not remembered. Each waiter of a
//     failed flight gets its (mapped) status; a non-OK result is never
//     delivered as OK. The flight leaves the table before fanning out, so a
//     later request opens a fresh flight.
//  5. The flight retries, not the callers. IsRetryable() statuses (retry.h) are retried
//     with exponential backoff and jitter (on the Timer, no thread sleeps),
//     within the longest waiter's deadline, max_attempts and a node-wide
//     RetryBudget. DEADLINE_EXCEEDED is not retried (see point 3 for the
//     re-issue of an attempt cut short). The flight stays joinable while it
//     retries: late joiners share the outcome.
//  6. Read-your-writes. OnWriteAcknowledged(channel) must be called after the
//     store acknowledged a write and before the writer is answered. A read
//     that comes after that call is never added to a flight opened before it:
//     it replaces that flight in the table with a new one (the old flight still
//     answers its own waiters). Channels share 4096 epoch slots by hash, so a
//     write can only make unrelated reads coalesce less, never see staler data.
//  7. Bounded. max_waiters_per_flight, max_total_waiters and
//     max_concurrent_queries (flights with a query running, backing off or
//     lingering) are enforced in Join(), which returns RESOURCE_EXHAUSTED at
//     once past a cap. Optionally an adaptive limit on concurrent queries
//     (adaptive_limit.h) sits below the fixed cap, and deadline-aware
//     admission refuses a new flight whose caller has less time left than
//     the store currently takes to answer.
//  8. Encode once. A flight delivers one `const absl::StatusOr<V>&` to every
//     waiter; with V = shared_ptr<const Encoded> each waiter holds a reference
//     to the same bytes, never a copy.
//  9. Visible. WaitInfo tells each waiter whether it led or joined and how long
//     it waited; CoalescerProbe sees every event (counts, waiters per flight).
// 10. Hot-key linger (option, off by default). When a key's measured arrival
//     rate says joiners are imminent, a new flight may wait up to
//     linger.max before its first query, collecting them. A lingering
//     flight's query has not started, so a read may join it even after a
//     write to the channel was acknowledged (point 6 holds: the query starts
//     after the join); every joiner gets data from a query that started after
//     it arrived. The linger ends early enough to leave the earliest waiter
//     room for the query before its deadline (linger.deadline_headroom times
//     the measured store latency), and never after that deadline.
//
// Time: every deadline decision reads the injected ds::Clock (the real clock
// by default), and every backoff waits on the injected Timer, so tests drive
// both by hand (testing/fake_clock.h) instead of sleeping.
//
// Threads: Join/Leave/OnWriteAcknowledged are thread-safe and never block on
// I/O. `fetch` runs on the thread that called Join (first attempt) or on the
// timer thread (retries) with no lock held; it may complete inline or on any
// thread. `done` runs, with no lock held, on the thread that completed the
// store call (or on the FanOutExecutor's thread), each waiter's at most once,
// and never after its Leave() returned true. The destructor waits until every
// flight has ended, so the store must be destroyed after the coalescer, and
// the Timer after both.
//
// Rationale: the flight table is type-erased (internal/flight_table.h, in a
// .cc); Coalescer<V> only adapts its callbacks to absl::StatusOr<V>. The
// result is held once per flight and every waiter's `done` gets a reference
// to that one object, so erasure costs nothing per waiter.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coalescer/adaptive_limit.h"
#include "coalescer/probe.h"
#include "coalescer/retry.h"
#include "coalescer/timer.h"
#include "common/cancel_token.h"
#include "common/clock.h"

namespace ds::coalescer {

// Hot-key linger (contract point 10).
struct LingerOptions {
  absl::Duration max = absl::ZeroDuration();  // L; zero: off
  // Linger only when the key's arrival rate promises at least this many
  // joiners within `max`.
  double min_expected_joiners = 1.0;
  // Linger about as long as it takes this many joiners to arrive (capped by
  // `max`): a hotter key lingers less.
  double target_joiners = 16.0;
  // The linger ends this many store latencies (as recently measured) before
  // the earliest waiter's deadline, leaving it room for the query.
  double deadline_headroom = 2.0;
  size_t tracked_keys_per_shard = 4096;  // arrival-rate memory, per shard
};

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
  // Adaptive limit on concurrent store queries, below max_concurrent_queries
  // (off by default; adaptive_limit.h).
  AdaptiveLimitOptions adaptive_limit;
  // Deadline-aware admission (off by default): refuse a new flight at once
  // when the caller's remaining time is below the store's recent latency
  // times this factor.
  bool deadline_admission = false;
  double deadline_admission_factor = 1.0;
  LingerOptions linger;
};

// Runs a flight's fan-out (every waiter's `done`) somewhere else, once per
// flight. The node passes one that runs it on a gRPC callback thread: gRPC
// finishes calls much more cheaply from its own threads than from a store
// thread, and one hand-off per flight replaces one per waiter.
using FanOutExecutor = std::function<void(std::function<void()>)>;

// What the flight hands to its store call.
struct FetchContext {
  absl::Time deadline;
  std::shared_ptr<const CancelToken> cancel;
  int attempt = 0;  // 0 for the first
};

struct WaitInfo {
  Role role = Role::kLeader;
  absl::Duration waited;  // Join() to delivery
};

// One caller's request, as the coalescer sees it.
struct JoinRequest {
  std::string key;
  uint64_t channel_id = 0;  // read-your-writes scope (point 6)
  absl::Time deadline = absl::InfiniteFuture();
  MethodId method{};  // passed to the probe as a label
};

namespace internal {

struct Flight;  // internal/flight_table.h

// A flight's result as the type-erased table holds it: `typed` points at the
// Coalescer<V>'s absl::StatusOr<V> (whose status is `status`), or is null
// when the table made the (never OK) status itself.
struct Outcome {
  absl::Status status;
  std::shared_ptr<const void> typed;
};

using FetchDone = std::function<void(Outcome)>;
using Fetch = std::function<void(const FetchContext&, FetchDone)>;

// A waiter as the flight table sees it; Coalescer<V> adds the typed `done`.
// The fields belong to the flight table.
class Waiter {
 public:
  virtual ~Waiter() = default;
  // Called at most once, with no lock held.
  virtual void Deliver(const Outcome& outcome, const WaitInfo& info) = 0;

  static constexpr uint8_t kPending = 0, kDelivered = 1, kLeft = 2;
  std::atomic<uint8_t> state{kPending};
  Role role = Role::kLeader;
  absl::Time joined;
  absl::Time deadline;
  // Owning: a Ticket keeps its flight alive. The flight's waiter list owns
  // the waiters in turn; that cycle is broken when the flight ends.
  std::shared_ptr<Flight> flight;
};

class FlightTable;  // internal/flight_table.h

// The type-erased coalescer behind Coalescer<V> (coalescer.cc).
class CoalescerCore {
 public:
  CoalescerCore(CoalescerOptions options, Timer* timer, CoalescerProbe* probe,
                FanOutExecutor executor, const Clock* clock);
  ~CoalescerCore();
  CoalescerCore(const CoalescerCore&) = delete;
  CoalescerCore& operator=(const CoalescerCore&) = delete;

  // `make_fetch` is called only when the request starts a flight.
  absl::Status Join(JoinRequest req, absl::FunctionRef<Fetch()> make_fetch,
                    std::shared_ptr<Waiter> waiter);
  bool Leave(Waiter& waiter);
  void OnWriteAcknowledged(uint64_t channel_id);
  size_t total_waiters() const;
  size_t active_queries() const;
  size_t live_flights() const;
  size_t concurrency_limit() const;
  absl::Duration expected_store_latency() const;

 private:
  std::unique_ptr<FlightTable> table_;
};

}  // namespace internal

// V is a shared, immutable result: std::shared_ptr<const T>.
template <typename V>
class Coalescer {
 public:
  using Result = absl::StatusOr<V>;
  using FetchDone = std::function<void(Result)>;
  using Fetch = std::function<void(const FetchContext&, FetchDone)>;
  using Done = std::function<void(const Result&, const WaitInfo&)>;
  using Request = JoinRequest;

 private:
  class TypedWaiter;

 public:
  // A joined waiter. Copyable; keep it to Leave().
  class Ticket {
   public:
    Role role() const { return waiter_->role; }

   private:
    friend class Coalescer;
    explicit Ticket(std::shared_ptr<TypedWaiter> w) : waiter_(std::move(w)) {}
    std::shared_ptr<TypedWaiter> waiter_;
  };

  // `timer` must outlive the coalescer; `probe` and `executor` may be null;
  // a null `clock` is the real clock.
  Coalescer(CoalescerOptions options, Timer* timer, CoalescerProbe* probe = nullptr,
            FanOutExecutor executor = nullptr, const Clock* clock = nullptr)
      : core_(std::move(options), timer, probe, std::move(executor), clock) {}

  Coalescer(const Coalescer&) = delete;
  Coalescer& operator=(const Coalescer&) = delete;

  // Joins the flight for `req.key`, or starts one (calling `fetch`). Returns
  // RESOURCE_EXHAUSTED without side effects when a cap is reached.
  absl::StatusOr<Ticket> Join(Request req, Fetch fetch, Done done) {
    auto waiter = std::make_shared<TypedWaiter>(std::move(done));
    absl::Status joined = core_.Join(
        std::move(req), [&fetch] { return Erase(std::move(fetch)); }, waiter);
    if (!joined.ok()) return joined;
    return Ticket(std::move(waiter));
  }

  // The caller no longer wants the answer. Returns true if its `done` will
  // never run; false if it already ran or is running.
  bool Leave(const Ticket& ticket) { return core_.Leave(*ticket.waiter_); }

  // Read-your-writes fence for `channel_id` (contract point 6).
  void OnWriteAcknowledged(uint64_t channel_id) { core_.OnWriteAcknowledged(channel_id); }

  // Point-in-time gauges (for metrics and tests).
  size_t total_waiters() const { return core_.total_waiters(); }
  size_t active_queries() const { return core_.active_queries(); }
  size_t live_flights() const { return core_.live_flights(); }
  // min(max_concurrent_queries, the adaptive limit when enabled).
  size_t concurrency_limit() const { return core_.concurrency_limit(); }
  // The store's recent latency, as admission and linger see it.
  absl::Duration expected_store_latency() const { return core_.expected_store_latency(); }

 private:
  class TypedWaiter final : public internal::Waiter {
   public:
    explicit TypedWaiter(Done done) : done_(std::move(done)) {}
    void Deliver(const internal::Outcome& outcome, const WaitInfo& info) override {
      Done done = std::move(done_);  // released after the call, not with the ticket
      if (outcome.typed != nullptr) {
        done(*static_cast<const Result*>(outcome.typed.get()), info);
      } else {
        done(Result(outcome.status), info);
      }
    }

   private:
    Done done_;
  };

  static internal::Fetch Erase(Fetch fetch) {
    return [fetch = std::move(fetch)](const FetchContext& ctx, internal::FetchDone done) {
      fetch(ctx, [done = std::move(done)](Result result) {
        auto typed = std::make_shared<const Result>(std::move(result));
        absl::Status status = typed->status();
        done(internal::Outcome{std::move(status), std::move(typed)});
      });
    };
  }

  internal::CoalescerCore core_;
};

}  // namespace ds::coalescer
