#include "live/gateway/sse_client.h"

#include "absl/strings/str_cat.h"
#include "live/gateway/frames.h"

namespace ds::live {

namespace {
const std::shared_ptr<const std::string>& HeartbeatFrame() {
  static const auto* frame = new std::shared_ptr<const std::string>(
      std::make_shared<const std::string>(SseComment("heartbeat")));
  return *frame;
}
}  // namespace

void SseClient::OnJoined(uint64_t channel, uint64_t position) {
  stream_->Write(SseComment(absl::StrCat("live ", position)));
}

bool SseClient::OnEntry(uint64_t channel, const FeedEntry& entry, uint64_t position) {
  if (stream_->queued_bytes() > max_queued_bytes_) return false;
  if (entry.sse != nullptr && position == entry.position) return stream_->Write(entry.sse);
  return stream_->Write(SseMessageFrame(position, *entry.json, entry.late));
}

void SseClient::OnHeartbeat() { stream_->Write(HeartbeatFrame()); }

void SseClient::OnDropped(uint64_t channel, const absl::Status& why) {
  if (why.code() == absl::StatusCode::kOutOfRange) {
    stream_->Write(SseNamedEvent(
        "reload", absl::StrCat(R"({"channel_id":")", channel, R"(","reason":"too far behind"})")));
  }
  stream_->Write(SseComment(absl::StrCat("closing: ", why.message())));
  stream_->Close();
}

}  // namespace ds::live
