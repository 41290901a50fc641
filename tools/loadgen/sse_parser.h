// Incremental parsers for ds-loadgen's live subscribers (--mode subscribe):
// the body of an HTTP/1.1 Server-Sent Events response (chunked transfer
// coding, then the text/event-stream format) and the few fields of a message
// JSON the report needs.
//
// Usage:
//   SseParser parser(/*chunked=*/true);
//   bool ok = parser.Feed(bytes,
//       [](const SseEvent& e) { ... e.id, e.event, e.data ... },
//       [](std::string_view comment) { ... });
//   LiveMessageFields f = ScanMessageJson(event.data);
//
// Thread-compatible: one parser per connection.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ds::loadgen {

struct SseEvent {
  std::string id;
  std::string event;  // "" means "message"
  std::string data;
};

class SseParser {
 public:
  explicit SseParser(bool chunked) : chunked_(chunked) {}

  // Feeds response body bytes; calls `on_event` for each complete event and
  // `on_comment` for each comment line (without the leading ':' and space).
  // Returns false when the chunked framing is malformed (drop the connection).
  bool Feed(std::string_view bytes, const std::function<void(const SseEvent&)>& on_event,
            const std::function<void(std::string_view)>& on_comment);

  // The chunked body ended (a zero-size chunk).
  bool ended() const { return ended_; }

 private:
  void FeedText(std::string_view text, const std::function<void(const SseEvent&)>& on_event,
                const std::function<void(std::string_view)>& on_comment);
  void Line(std::string_view line, const std::function<void(const SseEvent&)>& on_event,
            const std::function<void(std::string_view)>& on_comment);

  const bool chunked_;
  // Chunk framing.
  enum class State { kSize, kSizeLf, kData, kDataCr, kDataLf } state_ = State::kSize;
  uint64_t chunk_left_ = 0;
  bool size_seen_ = false;
  bool in_extension_ = false;
  bool ended_ = false;
  // Event text.
  std::string line_;
  bool after_cr_ = false;
  SseEvent event_;
  bool has_field_ = false;
};

// The fields of a message JSON (as the REST API and the SSE data lines
// encode it) that the subscriber report uses. Zero/false when missing.
struct LiveMessageFields {
  uint64_t message_id = 0;
  int64_t created_at_ms = 0;
  bool late = false;
};
LiveMessageFields ScanMessageJson(std::string_view json);

}  // namespace ds::loadgen
