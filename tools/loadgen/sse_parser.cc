#include "tools/loadgen/sse_parser.h"

#include <cctype>

namespace ds::loadgen {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Digits after `key` in `json` (a quoted or bare number).
uint64_t NumberAfter(std::string_view json, std::string_view key) {
  const size_t at = json.find(key);
  if (at == std::string_view::npos) return 0;
  size_t i = at + key.size();
  while (i < json.size() && (json[i] == '"' || json[i] == ' ')) ++i;
  uint64_t v = 0;
  while (i < json.size() && json[i] >= '0' && json[i] <= '9') v = v * 10 + (json[i++] - '0');
  return v;
}

}  // namespace

bool SseParser::Feed(std::string_view bytes, const std::function<void(const SseEvent&)>& on_event,
                     const std::function<void(std::string_view)>& on_comment) {
  if (!chunked_) {
    FeedText(bytes, on_event, on_comment);
    return true;
  }
  if (ended_) return true;  // trailers and anything after the last chunk are ignored
  size_t i = 0;
  while (i < bytes.size()) {
    const char c = bytes[i];
    switch (state_) {
      case State::kSize:
        if (c == '\r') {
          if (!size_seen_) return false;
          state_ = State::kSizeLf;
        } else if (c == ';') {
          in_extension_ = true;
        } else if (!in_extension_) {
          const int h = HexValue(c);
          if (h < 0 || chunk_left_ > (uint64_t{1} << 40)) return false;
          chunk_left_ = chunk_left_ * 16 + static_cast<uint64_t>(h);
          size_seen_ = true;
        }
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') return false;
        ++i;
        size_seen_ = in_extension_ = false;
        if (chunk_left_ == 0) {
          ended_ = true;
          return true;  // trailers ignored: the stream is over
        }
        state_ = State::kData;
        break;
      case State::kData: {
        const size_t n = std::min<uint64_t>(chunk_left_, bytes.size() - i);
        FeedText(bytes.substr(i, n), on_event, on_comment);
        i += n;
        chunk_left_ -= n;
        if (chunk_left_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (c != '\r') return false;
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') return false;
        state_ = State::kSize;
        ++i;
        break;
    }
  }
  return true;
}

void SseParser::FeedText(std::string_view text,
                         const std::function<void(const SseEvent&)>& on_event,
                         const std::function<void(std::string_view)>& on_comment) {
  for (char c : text) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // CRLF: the line already ended at CR
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      Line(line_, on_event, on_comment);
      line_.clear();
    } else {
      line_ += c;
    }
  }
}

void SseParser::Line(std::string_view line, const std::function<void(const SseEvent&)>& on_event,
                     const std::function<void(std::string_view)>& on_comment) {
  if (line.empty()) {
    if (has_field_) on_event(event_);
    event_ = SseEvent();
    has_field_ = false;
    return;
  }
  if (line.front() == ':') {
    line.remove_prefix(1);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    on_comment(line);
    return;
  }
  const size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value =
      colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (!event_.data.empty()) event_.data += '\n';
    event_.data.append(value);
    has_field_ = true;
  } else if (field == "id") {
    event_.id = std::string(value);
    has_field_ = true;
  } else if (field == "event") {
    event_.event = std::string(value);
    has_field_ = true;
  }
}

LiveMessageFields ScanMessageJson(std::string_view json) {
  LiveMessageFields f;
  f.message_id = NumberAfter(json, "\"message_id\":");
  f.created_at_ms = static_cast<int64_t>(NumberAfter(json, "\"created_at_ms\":"));
  f.late = json.find("\"late\":true") != std::string_view::npos;
  return f;
}

}  // namespace ds::loadgen
