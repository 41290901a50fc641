// ChannelFeed: one channel's live stream at one gateway — a single upstream
// Subscribe fanned out to every local client of the channel.
//
// - Upstream. The feed subscribes at the channel's owner, live only (from the
//   newest message) the first time and from its own position after that: on
//   failure (the next node of the preference list is tried first), when the
//   ring moves the channel to another owner, or when the stream has been
//   silent for `stale_after`. Its DeliveryWindow drops what a new stream
//   re-sends, so a move costs no loss and no duplicate.
// - Ring. The feed keeps its last `ring_capacity` messages, each encoded once
//   (SSE and WebSocket bytes shared by every client). It holds every message
//   in order above `ring floor` (its start position, raised as the ring
//   drops old entries).
// - Clients keep their own position. A client that joins without a resume id
//   starts at the feed's position. One that resumes after R >= ring floor is
//   served from the ring: every entry above R, plus the late entries within
//   the window behind R (it may have left before they came). One that resumes
//   from further back first reads its backlog: pages of GetMessages after
//   R − window, shared by every client reading from the same cursor (one read
//   in flight per cursor, and recent pages cached), then merges with the ring
//   by id. More than `max_backlog` messages: the client is dropped with
//   OUT_OF_RANGE (reload). Ids at or below R in those pages are re-sent marked
//   late unless this feed delivered them in order.
// - Slow clients: a client whose OnEntry returns false is dropped
//   (RESOURCE_EXHAUSTED); the others never wait for it.
//
// Threads: thread-safe. Client callbacks run with the feed's lock held, on
// whichever thread caused them (a gRPC thread for upstream events, the
// caller's thread for Join, the fan-out ticker for heartbeats); they must not
// block or call back into the feed.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "live/delivery_window.h"
#include "live/gateway/upstream.h"

namespace ds::live {

struct FeedOptions {
  absl::Duration late_window = absl::Seconds(5);  // as the nodes' --live-late-window-ms
  size_t ring_capacity = 1024;
  uint32_t page_size = 100;
  size_t max_backlog = 1000;  // catch-up messages per client
  absl::Duration read_timeout = absl::Seconds(5);
  size_t page_cache = 64;  // catch-up pages kept
  absl::Duration page_cache_ttl = absl::Seconds(10);
  absl::Duration linger = absl::Seconds(10);       // keep the upstream after the last client
  absl::Duration heartbeat = absl::Seconds(15);    // to clients
  absl::Duration stale_after = absl::Seconds(20);  // upstream silent this long: resubscribe
  absl::Duration retry_initial = absl::Milliseconds(100);
  absl::Duration retry_max = absl::Seconds(2);
};

// One message as the feed holds it, encoded once.
struct FeedEntry {
  uint64_t id = 0;
  bool late = false;
  uint64_t position = 0;                    // the feed's position after it: the `id:` of `sse`
  std::shared_ptr<const std::string> json;  // REST JSON of the message
  std::shared_ptr<const std::string> sse;   // frames.h
  std::shared_ptr<const std::string> ws;
};

// A client of a feed (an SSE response, or one channel of a WebSocket). The
// feed calls it with its lock held (see Threads). `position` belongs to the
// feed (read and written under its lock).
class FeedClient {
 public:
  virtual ~FeedClient() = default;
  // Joined the live stream at `position`, after its backlog. Once.
  virtual void OnJoined(uint64_t channel, uint64_t position) = 0;
  // One message; `position` is the client's position after it. Use the
  // entry's shared frames when `position == entry.position`. False: cannot
  // take more (the feed then drops it with RESOURCE_EXHAUSTED).
  virtual bool OnEntry(uint64_t channel, const FeedEntry& entry, uint64_t position) = 0;
  virtual void OnHeartbeat() = 0;
  // Dropped by the feed; no call follows.
  virtual void OnDropped(uint64_t channel, const absl::Status& why) = 0;

  uint64_t position = 0;
};

// The feed's events for metrics. Any thread; may be null.
class FeedProbe {
 public:
  virtual ~FeedProbe() = default;
  virtual void OnUpstream(int delta) {}
  virtual void OnResubscribe(const char* reason) {}
  virtual void OnUpstreamMessage(bool late) {}
  virtual void OnFanOut(size_t clients) {}
  virtual void OnDropped(absl::StatusCode code) {}
  virtual void OnCatchUpRead(const char* source) {}  // upstream | joined | cached
};

class ChannelFeed : public std::enable_shared_from_this<ChannelFeed> {
 public:
  ChannelFeed(uint64_t channel, FeedOptions options, LiveUpstream* upstream, FeedProbe* probe);
  ~ChannelFeed();

  // Adds `client` from `after` (nullopt: from now). False if the feed was
  // closed (make a new one).
  bool Join(std::shared_ptr<FeedClient> client, std::optional<uint64_t> after);
  // Removes `client` (no callback). Idempotent.
  void Leave(FeedClient* client);
  // Housekeeping, about every 100 ms: starts or moves the upstream, sends
  // heartbeats. Returns false once the feed closed itself (no client for
  // `linger`).
  bool Tick(absl::Time now);
  // Drops every client with `why`, ends the upstream, refuses new clients.
  void Close(const absl::Status& why);

  size_t clients() const;
  uint64_t position() const;

 private:
  struct CatchUp;
  struct Page;
  using PagePtr = std::shared_ptr<const Page>;

  // Opens the upstream stream if there is none and it is time. Not under mu_.
  void EnsureUpstream(absl::Time now);
  // Issues the catch-up reads RequestPage queued. Not under mu_.
  void IssueReads(std::vector<uint64_t> cursors);
  void OnMessage(uint64_t gen, const dataservice::v1::Message& m, bool late);
  void OnHeartbeat(uint64_t gen, uint64_t position);
  void OnEnd(uint64_t gen, const absl::Status& status);

  void Admit(std::shared_ptr<FeedClient> client, std::optional<uint64_t> after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void JoinFromRing(std::shared_ptr<FeedClient> client, uint64_t after,
                    const absl::flat_hash_set<uint64_t>* sent) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RequestPage(FeedClient* client, uint64_t cursor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnPage(uint64_t cursor, absl::StatusOr<std::vector<dataservice::v1::Message>> page);
  void ContinueCatchUp(FeedClient* client, const absl::StatusOr<PagePtr>& page)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Send(FeedClient& client, const FeedEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Drop(FeedClient* client, const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropAll(const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasClients() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  FeedEntry MakeEntry(const dataservice::v1::Message& m, bool late, uint64_t position) const;

  const uint64_t channel_;
  const FeedOptions options_;
  const uint64_t window_ids_;
  LiveUpstream* const upstream_;
  FeedProbe* const probe_;

  mutable std::mutex mu_;  // std::mutex: visible to ThreadSanitizer
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Upstream.
  std::unique_ptr<UpstreamStream> stream_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // of stream_; older events are ignored
  bool starting_ ABSL_GUARDED_BY(mu_) = false;
  std::string avoid_ ABSL_GUARDED_BY(mu_);        // the node that just failed
  std::string failed_node_ ABSL_GUARDED_BY(mu_);  // not moved back to for stale_after
  absl::Time failed_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  absl::Time last_event_ ABSL_GUARDED_BY(mu_);
  // What the feed delivered.
  std::optional<DeliveryWindow> window_ ABSL_GUARDED_BY(mu_);
  std::deque<FeedEntry> ring_ ABSL_GUARDED_BY(mu_);
  uint64_t ring_floor_ ABSL_GUARDED_BY(mu_) = 0;
  // Clients.
  absl::flat_hash_map<FeedClient*, std::shared_ptr<FeedClient>> live_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::shared_ptr<FeedClient>, std::optional<uint64_t>>> waiting_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<FeedClient*, std::unique_ptr<CatchUp>> catching_up_ ABSL_GUARDED_BY(mu_);
  absl::Time last_client_ ABSL_GUARDED_BY(mu_);
  absl::Time next_heartbeat_ ABSL_GUARDED_BY(mu_);
  // Catch-up reads: clients waiting per cursor, and recent pages.
  std::map<uint64_t, std::vector<std::pair<FeedClient*, uint64_t>>> reads_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, PagePtr> pages_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> reads_to_issue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ds::live
