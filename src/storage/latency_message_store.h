// LatencyMessageStore — FOR BENCHMARKS AND TESTS ONLY. A decorator that adds a
// fixed latency to every call of a wrapped MessageStore, so an embedded store
// can stand in for a remote database (Cassandra's ~1 ms round trip) when
// measuring what coalescing saves. Never the default; a node uses it only when
// explicitly asked (e.g. a --store-latency flag).
//
// Usage:
//   std::shared_ptr<MessageStore> sqlite = ...;
//   LatencyMessageStore slow(sqlite, absl::Milliseconds(2));
//   slow.GetMessages(query, options, done);  // reaches `sqlite` 2 ms later
//
// Each call waits `latency` on a timer thread (no thread of the wrapped store
// is blocked) and is then forwarded with its CallOptions unchanged. While it
// waits: if its deadline comes first it is answered DEADLINE_EXCEEDED at the
// deadline; if its cancel token is set when the latency has passed it is
// answered CANCELLED; in both cases the wrapped store never sees it. Answers
// come from the timer thread or the wrapped store's threads, never inline.
// The destructor answers every still-waiting call CANCELLED, then releases
// its reference to the wrapped store.
//
// Thread-safe: every method may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "storage/message_store.h"

namespace ds {
class TimerThread;
}  // namespace ds

namespace ds::storage {

class LatencyMessageStore final : public MessageStore {
 public:
  // `inner` must not be null; `latency` < 0 counts as 0.
  LatencyMessageStore(std::shared_ptr<MessageStore> inner, absl::Duration latency);
  ~LatencyMessageStore() override;

  LatencyMessageStore(const LatencyMessageStore&) = delete;
  LatencyMessageStore& operator=(const LatencyMessageStore&) = delete;

  void GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                   Callback<std::vector<Message>> done) override;
  void GetMessage(uint64_t channel_id, uint64_t message_id, const CallOptions& options,
                  Callback<Message> done) override;
  void SendMessage(const NewMessage& message, const CallOptions& options,
                   Callback<SendResult> done) override;
  void BulkInsert(std::vector<Message> messages, const CallOptions& options,
                  Callback<size_t> done) override;

  absl::Duration latency() const { return latency_; }

 private:
  // Runs `forward` after the latency, or answers `fail` with the reason it
  // must not be forwarded (deadline, cancellation, shutdown).
  template <typename T>
  void Delay(const CallOptions& options, Callback<T> done,
             std::function<void(Callback<T>)> forward);

  const std::shared_ptr<MessageStore> inner_;
  const absl::Duration latency_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<TimerThread> timer_;
};

}  // namespace ds::storage
