// LiveHandler: the gateway's live routes on the shared HTTP server, in front
// of the rest of the API (`next`, the gateway's ApiHandler):
//
//   GET /                                   the chat page (page.h)
//   GET /v1/channels/{channel_id}/events    Server-Sent Events; resumes from the
//                                           Last-Event-ID header, else ?after=<id>,
//                                           else starts at the newest message
//   GET /v1/ws                              WebSocket (ws_session.h)
//   anything else                           `next`
//
// Limits: at most `max_streams` SSE responses and WebSocket connections at a
// time; past it a new one is refused at once with 503 and `Retry-After` (the
// composition root sets it below the process's open-file limit, so the
// gateway refuses cleanly instead of running out of descriptors).
//
// Threads: Handle runs on HTTP I/O threads and never blocks. Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string_view>

#include "http/server.h"
#include "live/gateway/fanout.h"
#include "live/gateway/ws_session.h"

namespace ds::live {

struct LiveHandlerOptions {
  size_t max_streams = 10'000;
  // An SSE client with more than this much unwritten is slow (dropped).
  size_t sse_max_queued_bytes = 256 * 1024;
  WsOptions ws;
  int retry_after_seconds = 5;
};

class LiveHandler final : public http::Handler {
 public:
  // `fanout` and `next` must not be null.
  LiveHandler(LiveHandlerOptions options, std::shared_ptr<LiveFanout> fanout,
              std::shared_ptr<http::Handler> next);

  void Handle(http::Request request, http::Responder responder) override;
  http::Response ProtocolError(int status, std::string_view detail) override {
    return next_->ProtocolError(status, detail);
  }

  // SSE responses and WebSocket connections open now.
  size_t streams() const { return streams_->load(); }

 private:
  void ServeEvents(uint64_t channel, const http::Request& request, http::Responder responder);
  void ServeWebSocket(http::Request request, http::Responder responder);
  bool AcquireStream();

  const LiveHandlerOptions options_;
  const std::shared_ptr<LiveFanout> fanout_;
  const std::shared_ptr<http::Handler> next_;
  // Shared with streams that may end after the handler.
  const std::shared_ptr<std::atomic<size_t>> streams_ = std::make_shared<std::atomic<size_t>>(0);
};

}  // namespace ds::live
