// SseClient: one `GET /v1/channels/{id}/events` response as a feed client —
// Server-Sent Events over a ds::http::ResponseStream (frames.h has the bytes).
//
// A client with more than `max_queued_bytes` not yet written is slow: OnEntry
// refuses, the feed drops it, and it gets a comment saying why before the
// response ends (EventSource then reconnects with Last-Event-ID). A client
// the feed drops because its backlog is too deep gets `event: reload`.
//
// Threads: called by its feed (see ChannelFeed); the stream is thread-safe.
#pragma once

#include <memory>

#include "http/server.h"
#include "live/gateway/channel_feed.h"

namespace ds::live {

class SseClient final : public FeedClient {
 public:
  SseClient(std::shared_ptr<http::ResponseStream> stream, size_t max_queued_bytes)
      : stream_(std::move(stream)), max_queued_bytes_(max_queued_bytes) {}

  void OnJoined(uint64_t channel, uint64_t position) override;
  bool OnEntry(uint64_t channel, const FeedEntry& entry, uint64_t position) override;
  void OnHeartbeat() override;
  void OnDropped(uint64_t channel, const absl::Status& why) override;

 private:
  const std::shared_ptr<http::ResponseStream> stream_;
  const size_t max_queued_bytes_;
};

}  // namespace ds::live
