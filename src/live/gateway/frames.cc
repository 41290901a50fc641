#include "live/gateway/frames.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_names.h"
#include "gateway/json_codec.h"

namespace ds::live {

namespace {

absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string_view S(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// `json` with ,"late":true before its closing brace.
std::string MarkLate(std::string_view json) {
  if (json.empty() || json.back() != '}') return std::string(json);
  return absl::StrCat(A(json.substr(0, json.size() - 1)), ",\"late\":true}");
}

// A JSON string literal for `s` (control characters, quotes, backslashes escaped).
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string CodeName(absl::StatusCode code) { return StatusCodeName(code); }

}  // namespace

std::string MessageJson(const dataservice::v1::Message& m) { return gateway::EncodeMessage(m); }

std::string SseMessageFrame(uint64_t position, std::string_view json, bool late) {
  return absl::StrCat("id: ", position, "\ndata: ", late ? MarkLate(json) : std::string(json),
                      "\n\n");
}

std::string SseComment(std::string_view text) { return absl::StrCat(": ", A(text), "\n\n"); }

std::string SseNamedEvent(std::string_view name, std::string_view json) {
  return absl::StrCat("event: ", A(name), "\ndata: ", A(json), "\n\n");
}

std::string WsMessageFrame(uint64_t channel, uint64_t position, std::string_view json, bool late) {
  return absl::StrCat(R"({"type":"message","channel_id":")", channel, R"(","position":")", position,
                      R"(","late":)", late ? "true" : "false", R"(,"message":)", A(json), "}");
}

std::string WsSubscribedFrame(uint64_t channel, uint64_t position) {
  return absl::StrCat(R"({"type":"subscribed","channel_id":")", channel, R"(","position":")",
                      position, "\"}");
}

std::string WsUnsubscribedFrame(uint64_t channel, const absl::Status& why) {
  return absl::StrCat(R"({"type":"unsubscribed","channel_id":")", channel, R"(","code":")",
                      CodeName(why.code()), R"(","reason":)", Quote(S(why.message())), "}");
}

std::string WsSentFrame(std::string_view request_id, std::string_view send_response_json) {
  // send_response_json is {"message":{...},"duplicate":b}: splice in the type.
  std::string_view body = send_response_json;
  if (!body.empty() && body.front() == '{') body.remove_prefix(1);
  return absl::StrCat(R"({"type":"sent","request_id":)", Quote(request_id), ",", A(body));
}

std::string WsErrorFrame(std::string_view request_id, uint64_t channel, const absl::Status& error) {
  std::string out = R"({"type":"error")";
  if (!request_id.empty()) absl::StrAppend(&out, R"(,"request_id":)", Quote(request_id));
  if (channel != 0) absl::StrAppend(&out, R"(,"channel_id":")", channel, "\"");
  absl::StrAppend(&out, R"(,"code":")", CodeName(error.code()), R"(","message":)",
                  Quote(S(error.message())), "}");
  return out;
}

}  // namespace ds::live
