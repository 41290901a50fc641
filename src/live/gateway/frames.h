// The bytes the gateway's live clients receive (docs/live.md, "Frames").
//
// Server-Sent Events, one event per message:
//   id: <position>\n
//   data: <message JSON, as the REST API encodes it>\n
//   \n
// `position` is the stream's position after the message: the message id for a
// message in order; for a late one (its JSON then ends with "late":true) the
// unchanged position, so Last-Event-ID never moves back.
//
// WebSocket text frames are JSON objects with a "type"; message frames:
//   {"type":"message","channel_id":"42","position":"<id>","late":false,
//    "message":{...}}
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "dataservice/v1/messages.pb.h"

namespace ds::live {

// The REST API's JSON for `m` (gateway::EncodeMessage).
std::string MessageJson(const dataservice::v1::Message& m);

std::string SseMessageFrame(uint64_t position, std::string_view json, bool late);
// A comment line: ignored by EventSource, keeps idle connections alive.
std::string SseComment(std::string_view text);
// `event: <name>` with a JSON `data` line, e.g. the "reload" notice.
std::string SseNamedEvent(std::string_view name, std::string_view json);

std::string WsMessageFrame(uint64_t channel, uint64_t position, std::string_view json, bool late);
std::string WsSubscribedFrame(uint64_t channel, uint64_t position);
// {"type":"unsubscribed","channel_id":"42","code":"...","reason":"..."}; code
// "OK" for a client's own unsubscribe.
std::string WsUnsubscribedFrame(uint64_t channel, const absl::Status& why);
std::string WsSentFrame(std::string_view request_id, std::string_view send_response_json);
std::string WsErrorFrame(std::string_view request_id, uint64_t channel, const absl::Status& error);

}  // namespace ds::live
