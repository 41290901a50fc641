#include "gateway/json_codec.h"

#include <boost/json.hpp>
#include <charconv>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/api_rules.h"
#include "gateway/internal/strings.h"

namespace ds::gateway {
namespace {

namespace json = boost::json;
using dataservice::v1::Message;

std::string_view KindName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
      return "an integer";
    case json::kind::double_:
      return "a non-integer number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "an unknown value";
}

// Reads an id field of the send body: a decimal string or a JSON integer.
absl::StatusOr<uint64_t> IdFromJson(const json::object& body, std::string_view field) {
  const json::value* v = body.if_contains(json::string_view(field.data(), field.size()));
  if (v == nullptr) return absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), " is required"));
  uint64_t id = 0;
  if (const json::string* s = v->if_string()) {
    return api::ParseId(field, std::string_view(s->data(), s->size()));
  } else if (v->is_uint64()) {
    id = v->get_uint64();
  } else if (v->is_int64()) {
    if (v->get_int64() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), " must not be negative"));
    }
    id = static_cast<uint64_t>(v->get_int64());
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(field), " must be a decimal string or an integer, got ", ToAbsl(KindName(*v))));
  }
  if (id == 0) return absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), " must be non-zero"));
  return id;
}

// Direct serialisation (no DOM): appends to `out`, which the caller reserved.
void AppendEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t run = 0;  // bytes at the end of `text` scanned but not yet copied
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      ++run;
      continue;
    }
    out.append(text.data() + i - run, run);
    run = 0;
    out.push_back('\\');
    switch (c) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default:
        out.append("u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
  }
  out.append(text.data() + text.size() - run, run);
}

template <typename Int>
void AppendInt(std::string& out, Int value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

void AppendIdField(std::string& out, std::string_view name_colon_quote, uint64_t id) {
  out.append(name_colon_quote);
  AppendInt(out, id);
  out.push_back('"');
}

void AppendMessage(std::string& out, const Message& m) {
  AppendIdField(out, "{\"channel_id\":\"", m.channel_id());
  AppendIdField(out, ",\"message_id\":\"", m.message_id());
  AppendIdField(out, ",\"author_id\":\"", m.author_id());
  out.append(",\"content\":\"");
  AppendEscaped(out, m.content());
  out.append("\",\"created_at_ms\":");
  AppendInt(out, m.created_at_ms());
  out.push_back('}');
}

// An upper bound for most messages (escapes aside), so one reservation
// usually suffices.
size_t MessageSizeHint(const Message& m) { return 128 + 3 * 20 + m.content().size() + 16; }

}  // namespace

absl::StatusOr<dataservice::v1::SendMessageRequest> ParseSendMessageBody(uint64_t channel_id,
                                                                         std::string_view body) {
  if (body.empty()) {
    return absl::InvalidArgumentError("request body is empty; expected a JSON object");
  }
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  json::stream_parser parser(json::storage_ptr(), options);
  json::error_code ec;
  const size_t consumed = parser.write(body.data(), body.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("request body is not valid JSON (", ec.message(),
                                                   " near byte ", consumed, ")"));
  }
  const json::value value = parser.release();
  const json::object* object = value.if_object();
  if (object == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("request body must be a JSON object, got ", ToAbsl(KindName(value))));
  }
  dataservice::v1::SendMessageRequest req;
  req.set_channel_id(channel_id);
  absl::StatusOr<uint64_t> author = IdFromJson(*object, "author_id");
  if (!author.ok()) return author.status();
  req.set_author_id(*author);

  const json::value* content = object->if_contains("content");
  if (content == nullptr) return absl::InvalidArgumentError("content is required");
  const json::string* text = content->if_string();
  if (text == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("content must be a string, got ", ToAbsl(KindName(*content))));
  }
  // Boost.JSON has already rejected invalid UTF-8 and lone surrogate escapes.
  if (absl::Status st = api::CheckContent(std::string_view(text->data(), text->size())); !st.ok()) {
    return st;
  }
  req.set_content(text->data(), text->size());

  absl::StatusOr<uint64_t> nonce = IdFromJson(*object, "nonce");
  if (!nonce.ok()) return nonce.status();
  req.set_nonce(*nonce);
  return req;
}

std::string EncodeMessage(const Message& message) {
  std::string out;
  out.reserve(MessageSizeHint(message));
  AppendMessage(out, message);
  return out;
}

std::string EncodeGetMessagesResponse(const dataservice::v1::GetMessagesResponse& response) {
  size_t hint = 16;
  for (const Message& m : response.messages()) hint += MessageSizeHint(m);
  std::string out;
  out.reserve(hint);
  out.append("{\"messages\":[");
  bool first = true;
  for (const Message& m : response.messages()) {
    if (!first) out.push_back(',');
    first = false;
    AppendMessage(out, m);
  }
  out.append("]}");
  return out;
}

std::string EncodeGetMessageResponse(const dataservice::v1::GetMessageResponse& response) {
  std::string out;
  out.reserve(16 + MessageSizeHint(response.message()));
  out.append("{\"message\":");
  AppendMessage(out, response.message());
  out.push_back('}');
  return out;
}

std::string EncodeSendMessageResponse(const dataservice::v1::SendMessageResponse& response) {
  std::string out;
  out.reserve(32 + MessageSizeHint(response.message()));
  out.append("{\"message\":");
  AppendMessage(out, response.message());
  out.append(response.duplicate() ? ",\"duplicate\":true}" : ",\"duplicate\":false}");
  return out;
}

std::string EncodeError(absl::StatusCode code, std::string_view message) {
  std::string out;
  out.reserve(64 + message.size());
  out.append("{\"error\":{\"code\":\"");
  out.append(absl::StatusCodeToString(code));
  out.append("\",\"message\":\"");
  AppendEscaped(out, message);
  out.append("\"}}");
  return out;
}

int HttpStatusForCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

}  // namespace ds::gateway
