// FakeMessageStore: an in-memory MessageStore with fault hooks, for tests of
// everything above the storage layer (coalescer, node, gateway).
//
// It keeps the MessageStore contract (the storage contract suite runs against
// it in testing/fake_message_store_test.cc): callbacks run on the fake's own
// worker threads, never inline; SendMessage is idempotent by (channel, nonce);
// GetMessages pages newest first. On top of that a test can shape every call:
//
//   ds::storage::FakeMessageStore store;
//   store.SetLatency(absl::Milliseconds(5));      // every call answers >= 5 ms later
//   store.FailNext(2, absl::UnavailableError("db down"));  // next 2 calls fail
//   store.Hold();                                  // park every call ...
//   StartThreeIdenticalReads();
//   ASSERT_TRUE(store.WaitForCalls(StoreMethod::kGetMessages, 1, absl::Seconds(5)));
//   EXPECT_EQ(store.parked(), 1);                  // ... they overlapped: one query
//   store.Release();                               // ... and let them go
//   EXPECT_EQ(store.calls(StoreMethod::kGetMessages), 1);
//
// Call lifecycle. A call is counted (calls()) and decides whether it fails
// (FailNext) when it arrives; then it is parked until its latency has passed
// and the store is not held. A parked call whose cancel token is set is
// answered CANCELLED (checked every millisecond: CancelToken has no
// notification), one whose deadline passes is answered DEADLINE_EXCEEDED at
// the deadline; neither touches the data. A call that is ready runs against the
// data (or returns its injected failure) on a worker thread. The destructor
// answers every still-parked call CANCELLED and then joins its threads.
//
// Threading: thread-safe; every method may be called from any thread,
// including from inside a callback (no lock is held while a callback runs).
// Callbacks run on `FakeMessageStoreOptions::threads` worker threads.
//
// Rationale: std::mutex/condition_variable rather than absl::Mutex, because
// the apt Abseil is not built with ThreadSanitizer, which would then miss the
// synchronisation and report false races in code that uses the fake.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/snowflake.h"
#include "storage/message_store.h"

namespace ds::storage {

enum class StoreMethod { kGetMessages = 0, kGetMessage, kSendMessage, kBulkInsert };
inline constexpr int kStoreMethodCount = 4;

struct FakeMessageStoreOptions {
  int threads = 2;       // worker threads that run calls and callbacks (>= 1)
  uint32_t node_id = 1;  // snowflake node bits of ids SendMessage assigns
};

class FakeMessageStore final : public MessageStore {
 public:
  explicit FakeMessageStore(FakeMessageStoreOptions options = {});
  ~FakeMessageStore() override;

  FakeMessageStore(const FakeMessageStore&) = delete;
  FakeMessageStore& operator=(const FakeMessageStore&) = delete;

  // MessageStore.
  void GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                   Callback<std::vector<Message>> done) override;
  void GetMessage(uint64_t channel_id, uint64_t message_id, const CallOptions& options,
                  Callback<Message> done) override;
  void SendMessage(const NewMessage& message, const CallOptions& options,
                   Callback<SendResult> done) override;
  void BulkInsert(std::vector<Message> messages, const CallOptions& options,
                  Callback<size_t> done) override;

  // ---- Fault hooks. ----

  // Every call arriving from now on is answered no earlier than `latency`
  // after it arrived. Zero (the default) answers as soon as a worker is free.
  void SetLatency(absl::Duration latency);
  // The next `n` calls (of any method / of `method`) answer `status` instead
  // of touching the data. A method-specific failure is used before a generic
  // one. `status` must not be OK.
  void FailNext(int n, absl::Status status);
  void FailNext(StoreMethod method, int n, absl::Status status);
  // Hold parks every call (already parked or arriving later) until Release();
  // cancellation and deadlines still answer parked calls. Lets a test make
  // calls overlap deterministically.
  void Hold();
  void Release();

  // ---- Observations. ----

  // Calls that arrived, per method / in total (failed and cancelled included).
  int64_t calls(StoreMethod method) const;
  int64_t calls() const;
  // Calls that actually ran against the data ("queries executed").
  int64_t executed(StoreMethod method) const;
  // Calls answered CANCELLED / DEADLINE_EXCEEDED because of their CallOptions.
  int64_t cancelled_calls() const;
  int64_t deadline_exceeded_calls() const;
  // Calls that arrived but have not been answered yet.
  int parked() const;

  // Block until calls() (resp. calls(method)) >= n or `timeout` passes; true if
  // reached. Condition-variable based.
  bool WaitForCalls(int64_t n, absl::Duration timeout);
  bool WaitForCalls(StoreMethod method, int64_t n, absl::Duration timeout);
  // Block until parked() >= n (e.g. "all 3 flights are in the database").
  bool WaitForParked(int n, absl::Duration timeout);

  // ---- Direct, synchronous data access for test setup and checks. ----

  // Inserts (or overwrites) messages immediately, bypassing hooks and counters.
  void Put(std::vector<Message> messages);
  // Number of stored messages in `channel_id`.
  size_t RowCount(uint64_t channel_id) const;

 private:
  struct Pending {
    StoreMethod method;
    absl::Time ready;  // arrival + latency
    absl::Time deadline;
    std::shared_ptr<const CancelToken> cancel;
    std::optional<absl::Status> failure;  // injected at arrival
    // Runs the call against the data and answers (status OK), or answers
    // `status` without touching the data.
    std::function<void(const absl::Status& status)> finish;
  };
  struct Channel {
    std::map<uint64_t, Message> messages;  // by id
    std::map<uint64_t, uint64_t> nonces;   // nonce -> message id
  };

  void Enqueue(StoreMethod method, const CallOptions& options,
               std::function<void(const absl::Status&)> finish);
  void WorkerLoop();
  // Ids < before (or the oldest > after), newest first, at most limit.
  std::vector<Message> Query(const GetMessagesQuery& q) const;
  absl::StatusOr<Message> Lookup(uint64_t channel_id, uint64_t message_id) const;
  SendResult Send(const NewMessage& m);
  size_t Insert(std::vector<Message> messages);

  SnowflakeGenerator ids_;

  mutable std::mutex mu_;                       // call queue, hooks and counters
  std::condition_variable work_cv_;             // workers: queue changed / stop
  mutable std::condition_variable observe_cv_;  // Wait* observers: counters changed
  std::list<Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration latency_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::deque<absl::Status> fail_any_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::Status> fail_method_[kStoreMethodCount] ABSL_GUARDED_BY(mu_);
  int64_t calls_[kStoreMethodCount] ABSL_GUARDED_BY(mu_) = {};
  int64_t executed_[kStoreMethodCount] ABSL_GUARDED_BY(mu_) = {};
  int64_t cancelled_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t deadline_exceeded_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // arrived, not yet answered

  mutable std::mutex data_mu_;  // the stored messages
  std::map<uint64_t, Channel> channels_ ABSL_GUARDED_BY(data_mu_);

  std::vector<std::thread> workers_;
};

}  // namespace ds::storage
