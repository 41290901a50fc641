#include "tools/loadgen/http_response_parser.h"

#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ds::loadgen {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;

absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool ContainsIgnoreCase(absl::string_view haystack, absl::string_view needle) {
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (absl::EqualsIgnoreCase(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

bool ParseSize(std::string_view text, int base, size_t* out) {
  const absl::string_view t = absl::StripAsciiWhitespace(A(text));
  if (t.empty()) return false;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), *out, base);
  return ec == std::errc() && (end == t.data() + t.size() || (base == 16 && *end == ';'));
}

// The end of a chunked body starting at data[0], or npos if incomplete; sets
// *bad on a framing error.
size_t ChunkedEnd(std::string_view data, bool* bad) {
  size_t pos = 0;
  while (true) {
    const size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) return std::string_view::npos;
    size_t size = 0;
    if (!ParseSize(data.substr(pos, eol - pos), 16, &size)) {
      *bad = true;
      return std::string_view::npos;
    }
    pos = eol + 2;
    if (size == 0) {
      // Trailers (none expected), then the final CRLF.
      const size_t end = data.find("\r\n", pos);
      if (end == std::string_view::npos) return std::string_view::npos;
      if (end != pos) {
        const size_t trailers_end = data.find("\r\n\r\n", pos);
        return trailers_end == std::string_view::npos ? std::string_view::npos : trailers_end + 4;
      }
      return end + 2;
    }
    if (data.size() < pos + size + 2) return std::string_view::npos;
    pos += size + 2;
  }
}

// What the header fields say about the body.
struct Framing {
  bool chunked = false;
  bool has_length = false;
  size_t content_length = 0;
};

// Reads the header fields of `head` after the status line (which ends at
// `line_end`) into `out` and `framing`; the error if one is malformed.
const char* ParseHeaderFields(std::string_view head, size_t line_end, HttpResponseView* out,
                              Framing* framing) {
  while (line_end != std::string_view::npos) {
    const size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string_view line = head.substr(
        start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const absl::string_view name = A(line.substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(A(line.substr(colon + 1)));
    if (absl::EqualsIgnoreCase(name, "content-length")) {
      if (!ParseSize(std::string_view(value.data(), value.size()), 10, &framing->content_length)) {
        return "malformed Content-Length";
      }
      framing->has_length = true;
    } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      framing->chunked = ContainsIgnoreCase(value, "chunked");
    } else if (absl::EqualsIgnoreCase(name, "x-ds-arrived-us")) {
      int64_t us = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), us);
      if (ec == std::errc()) out->arrived_us = us;
    } else if (absl::EqualsIgnoreCase(name, "connection")) {
      if (ContainsIgnoreCase(value, "close")) out->keep_alive = false;
      if (ContainsIgnoreCase(value, "keep-alive")) out->keep_alive = true;
    }
  }
  return nullptr;
}

}  // namespace

ParseResult ParseHttpResponse(std::string_view data, HttpResponseView* out) {
  ParseResult r;
  const size_t header_end = data.find("\r\n\r\n");
  if (header_end == std::string_view::npos) {
    if (data.size() > kMaxHeaderBytes) {
      r.status = ParseResult::kError;
      r.error = "response header too large";
    }
    return r;
  }
  const std::string_view head = data.substr(0, header_end);
  size_t line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  // "HTTP/1.1 200 OK"
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/" || status_line[8] != ' ') {
    r.status = ParseResult::kError;
    r.error = "malformed status line";
    return r;
  }
  out->status = 0;
  for (char c : status_line.substr(9, 3)) {
    if (c < '0' || c > '9') {
      r.status = ParseResult::kError;
      r.error = "malformed status code";
      return r;
    }
    out->status = out->status * 10 + (c - '0');
  }
  out->keep_alive = status_line.substr(5, 3) == "1.1";
  out->arrived_us = 0;
  Framing framing;
  if (const char* error = ParseHeaderFields(head, line_end, out, &framing); error != nullptr) {
    r.status = ParseResult::kError;
    r.error = error;
    return r;
  }
  const size_t body_start = header_end + 4;
  const std::string_view rest = data.substr(body_start);
  size_t body_len = 0;
  if (framing.chunked) {
    bool bad = false;
    body_len = ChunkedEnd(rest, &bad);
    if (bad) {
      r.status = ParseResult::kError;
      r.error = "malformed chunk";
      return r;
    }
    if (body_len == std::string_view::npos) return r;
  } else if (framing.has_length) {
    if (rest.size() < framing.content_length) return r;
    body_len = framing.content_length;
  } else if (out->status >= 200 && out->status != 204 && out->status != 304) {
    r.status = ParseResult::kError;
    r.error = "response without Content-Length (read-until-close is not supported)";
    return r;
  }
  out->body = rest.substr(0, body_len);
  r.status = ParseResult::kDone;
  r.consumed = body_start + body_len;
  return r;
}

uint64_t NewestMessageId(std::string_view body) {
  constexpr std::string_view kKey = "\"message_id\":";
  const size_t at = body.find(kKey);
  if (at == std::string_view::npos) return 0;
  size_t pos = at + kKey.size();
  if (pos < body.size() && body[pos] == '"') ++pos;
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(body.data() + pos, body.data() + body.size(), id);
  return ec == std::errc() ? id : 0;
}

std::string SendMessageBody(uint64_t author_id, std::string_view content, uint64_t nonce) {
  std::string out = absl::StrCat("{\"author_id\":\"", author_id, "\",\"content\":\"");
  static constexpr char kHex[] = "0123456789abcdef";
  for (char ch : content) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
  absl::StrAppend(&out, "\",\"nonce\":\"", nonce, "\"}");
  return out;
}

}  // namespace ds::loadgen
