// LiveUpstream: what the gateway's live fan-out needs from the fleet — a
// Subscribe stream per channel at the channel's owner, catch-up reads, and
// sends (for WebSocket clients). RoutedUpstream (routed_upstream.h) is the
// production implementation over the routing library; tests may fake it.
//
// Usage:
//   auto stream = upstream->Subscribe(channel, /*after=*/std::nullopt, {
//       .on_message = [](const dataservice::v1::Message& m, bool late) {...},
//       .on_heartbeat = [](uint64_t position, bool live) {...},
//       .on_end = [](const absl::Status& s) {...}});
//   stream->Cancel();   // on_end(CANCELLED) follows, unless it already ran
//
// Threads: implementations are thread-safe; callbacks run on transport
// threads, one at a time per stream, and must not block. When no node can
// take a stream, on_end runs inline from Subscribe: do not hold a lock that
// the callbacks take while calling it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dataservice/v1/messages.pb.h"

namespace ds::live {

struct UpstreamEvents {
  std::function<void(const dataservice::v1::Message&, bool late)> on_message;
  std::function<void(uint64_t position, bool live)> on_heartbeat;
  // Exactly once, last.
  std::function<void(const absl::Status&)> on_end;
};

class UpstreamStream {
 public:
  virtual ~UpstreamStream() = default;
  // Ends the stream; on_end runs (CANCELLED) unless it already did. Any thread.
  virtual void Cancel() = 0;
  // The node serving it ("" if unknown).
  virtual std::string node() const = 0;
};

class LiveUpstream {
 public:
  virtual ~LiveUpstream() = default;
  // A Subscribe stream at the channel's owner (the first healthy node of its
  // preference list other than `avoid`, if any other is healthy).
  virtual std::unique_ptr<UpstreamStream> Subscribe(uint64_t channel, std::optional<uint64_t> after,
                                                    UpstreamEvents events,
                                                    const std::string& avoid = "") = 0;
  // The `limit` oldest messages of `channel` with id > after (GetMessages).
  virtual void ReadAfter(
      uint64_t channel, uint64_t after, uint32_t limit, absl::Time deadline,
      std::function<void(absl::StatusOr<std::vector<dataservice::v1::Message>>)> done) = 0;
  virtual void Send(
      const dataservice::v1::SendMessageRequest& request, absl::Time deadline,
      std::function<void(absl::StatusOr<dataservice::v1::SendMessageResponse>)> done) = 0;
  // The node that owns `channel` now ("" if none is healthy).
  virtual std::string OwnerOf(uint64_t channel) const = 0;
};

}  // namespace ds::live
