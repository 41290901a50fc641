// LiveHub: the node's side of live channels — every Subscribe stream of this
// node, grouped by channel. It decides what each stream carries and when:
//
// - Catch-up. A stream that resumes after id R first gets the backlog: pages
//   of "the oldest `page_size` messages after the cursor", read through the
//   node's coalescer (PageReader), so streams resuming from the same id share
//   one store query per page. The read starts at R − window: a message in
//   (R − window, R] is re-sent, marked late, unless the channel delivered it
//   in order (then a receiver at R has it). More than `max_backlog` messages
//   end the stream with OUT_OF_RANGE ("reload with GetMessages").
// - Hand-off. The stream is registered with its channel *before* its first
//   page is read; live events that arrive meanwhile are buffered. When a page
//   comes back short the buffer is merged by id (DeliveryWindow drops what the
//   backlog already sent) and the stream is live. No gap: a write
//   acknowledged before registration is in the store, and the page read starts
//   after registration (and after the coalescer's read-your-writes fence);
//   one acknowledged after registration is in the buffer.
// - Live events. Publish() (a write this node acknowledged) reaches every
//   stream of the channel at once. For every channel with a live stream the
//   hub also reads the tail — messages after position − window — every
//   `poll_interval` (Poke() brings the next read forward): writes
//   acknowledged by other nodes, or written straight into the database, reach
//   the streams within that interval. Cost: one coalesced store query per
//   poll per subscribed channel, more only when the window holds more than a
//   page.
// - Ordering. The channel's DeliveryWindow turns each message into in-order
//   (id above the position), late (at most `window` below, not yet sent:
//   delivered once, marked late) or dropped (duplicate or too old).
// - Heartbeats carry the position: one opens every stream (its start: the
//   resume id, or the channel's newest id), one marks the end of the backlog
//   (`live`), then one every `heartbeat_interval`.
//
// Usage:
//   LiveHub hub(options, reader, &probe);
//   auto id = hub.Subscribe(channel, /*after=*/std::nullopt, sink);  // sink: a StreamSink
//   hub.Publish(message);      // after the store acknowledged it
//   hub.Unsubscribe(*id);
//
// Threads: thread-safe. Sinks are called with the hub's lock held, from the
// thread of whatever caused the event (a store thread, the hub's own thread,
// or a Subscribe caller), never concurrently for one hub; they must not block
// or call back into the hub. The hub owns one thread (polls, heartbeats).
// The PageReader is never called with the lock held and may answer inline.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "live/delivery_window.h"
#include "storage/message_store.h"

namespace ds::live {

struct HubOptions {
  absl::Duration poll_interval = absl::Seconds(1);
  absl::Duration heartbeat_interval = absl::Seconds(5);
  // How far below the position a late write is still delivered (docs/live.md).
  absl::Duration late_window = absl::Seconds(5);
  size_t max_subscribers = 10'000;
  // Messages a resuming stream may need before it is told to reload.
  size_t max_backlog = 10'000;
  uint32_t page_size = 100;  // 1..100 (the API's page limit)
  // Live events buffered for one stream while it catches up.
  size_t max_buffered = 10'000;
};

// Why a read is made (metrics: ds_live_store_reads_total{purpose}).
enum class ReadPurpose { kCatchUp, kTail, kHead };

// Reads the `limit` oldest messages of `channel` with id > *after, or the
// `limit` newest when `after` is empty, in any order. `done` runs once, on
// any thread, possibly inline.
using PageReader = std::function<void(
    uint64_t channel, std::optional<uint64_t> after, uint32_t limit, ReadPurpose purpose,
    std::function<void(absl::StatusOr<std::vector<storage::Message>>)> done)>;

// One stream's receiving end. Called with the hub's lock held (see Threads).
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Returns false if the stream cannot take it (its queue is full): the hub
  // then ends the stream with RESOURCE_EXHAUSTED.
  virtual bool OnMessage(const storage::Message& message, bool late) = 0;
  virtual void OnHeartbeat(uint64_t position, bool live) = 0;
  // The hub ended the stream; no call follows.
  virtual void OnEnd(const absl::Status& status) = 0;
};

// Events counted by the node's metrics. Any thread; may be null.
class HubProbe {
 public:
  virtual ~HubProbe() = default;
  virtual void OnSubscribers(int64_t delta) {}
  virtual void OnChannels(int64_t delta) {}
  virtual void OnDelivered(bool late, size_t streams) {}
  virtual void OnStreamEnded(absl::StatusCode code) {}
};

class LiveHub {
 public:
  using SubscriptionId = uint64_t;

  LiveHub(HubOptions options, PageReader reader, HubProbe* probe = nullptr);
  ~LiveHub();  // Stop(UNAVAILABLE)
  LiveHub(const LiveHub&) = delete;
  LiveHub& operator=(const LiveHub&) = delete;

  // Registers a stream of `channel` from `after` (nullopt: from the newest
  // message now). RESOURCE_EXHAUSTED past max_subscribers, UNAVAILABLE once
  // stopped. The sink gets its events from then on, until Unsubscribe or
  // OnEnd.
  absl::StatusOr<SubscriptionId> Subscribe(uint64_t channel, std::optional<uint64_t> after,
                                           std::shared_ptr<StreamSink> sink);
  // Idempotent. When it returns, the sink is never called again.
  void Unsubscribe(SubscriptionId id);

  // A write this node acknowledged (call before answering the writer).
  void Publish(const storage::Message& message);
  // Read `channel`'s tail soon (another node acknowledged a write in it).
  void Poke(uint64_t channel);

  // Ends every stream with `status` (their sinks' OnEnd) and refuses new
  // ones; stops the thread. Idempotent.
  void Stop(const absl::Status& status);

  size_t subscribers() const;
  size_t channels() const;

 private:
  struct Sub;
  struct Channel;

  void Run();
  void ReadHead(std::shared_ptr<Sub> sub);
  void ReadPage(std::shared_ptr<Sub> sub);
  void OnPage(std::shared_ptr<Sub> sub, absl::StatusOr<std::vector<storage::Message>> page);
  void Poll(uint64_t channel_id, uint64_t after, int pages_left, std::vector<storage::Message> acc);
  void OnPollDone(uint64_t channel_id, absl::StatusOr<std::vector<storage::Message>> result);

  void GoLive(Channel& ch, Sub& sub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Deliver(Channel& ch, const storage::Message& m, bool marked_late)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Offer(Sub& sub, const storage::Message& m, bool marked_late)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks `sub` ended and tells its sink; Sweep() then forgets it.
  void End(Sub& sub, const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets the channel's ended streams, and the channel once it has none.
  void Sweep(uint64_t channel) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadDone() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const HubOptions options_;
  const uint64_t window_;  // late_window in id units
  const PageReader reader_;
  HubProbe* const probe_;

  mutable std::mutex mu_;                         // std::mutex: visible to ThreadSanitizer
  std::condition_variable wake_;                  // the thread: a poll is due sooner, or stop
  std::condition_variable idle_;                  // reads_in_flight_ reached 0
  int reads_in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // reader calls not answered yet
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  SubscriptionId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<SubscriptionId, std::shared_ptr<Sub>> subs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::unique_ptr<Channel>> channels_ ABSL_GUARDED_BY(mu_);
  absl::Time next_heartbeat_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace ds::live
