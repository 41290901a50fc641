#include "auth/access_log.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/hash/hash.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ds::auth {
namespace {

// Length of the UTF-8 sequence starting at s[i] when valid, else 0.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  size_t n = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  if (n == 3 && ((c == 0xE0 && b(i + 1) < 0xA0) || (c == 0xED && b(i + 1) >= 0xA0))) return 0;
  if (n == 4 && ((c == 0xF0 && b(i + 1) < 0x90) || (c == 0xF4 && b(i + 1) >= 0x90))) return 0;
  return n;
}

void AppendString(std::string& out, std::string_view key, std::string_view value) {
  out.append(out.size() > 1 ? ",\"" : "\"");
  out.append(key);
  out.append("\":\"");
  for (size_t i = 0; i < value.size();) {
    const auto c = static_cast<uint8_t>(value[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else if (c >= 0x80) {
      const size_t n = Utf8Length(value, i);
      if (n == 0) {
        out.append("\\ufffd");
        ++i;
        continue;
      }
      out.append(value.substr(i, n));
      i += n;
      continue;
    } else {
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  out.push_back('"');
}

}  // namespace

std::string FormatAccessLine(const AccessRecord& r) {
  std::string out = "{";
  out.reserve(320);
  AppendString(out, "ts", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", r.time, absl::UTCTimeZone()));
  AppendString(out, "request_id", r.request_id);
  AppendString(out, "principal", r.principal);
  AppendString(out, "client", r.client);
  AppendString(out, "method", r.method);
  AppendString(out, "route", r.route);
  AppendString(out, "channel", r.channel);
  absl::StrAppend(&out, ",\"status\":", r.status, ",\"bytes\":", r.bytes);
  absl::StrAppendFormat(&out, ",\"latency_ms\":%.3f", absl::ToDoubleMilliseconds(r.latency));
  AppendString(out, "upstream", r.upstream);
  AppendString(out, "coalesced", r.coalesced);
  out.push_back('}');
  return out;
}

AccessLogSampler::AccessLogSampler(double rate) {
  rate = std::clamp(rate, 0.0, 1.0);
  all_ = rate >= 1.0;
  threshold_ =
      all_ ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(std::ldexp(rate, 64));
}

bool AccessLogSampler::Keep(const AccessRecord& record) const {
  if (all_ || record.status >= 500 || record.status == 0) return true;
  return absl::HashOf(record.request_id) < threshold_;
}

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

std::string NewRequestId() {
  thread_local absl::BitGen gen;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

std::string AcceptOrNewRequestId(std::string_view client_id) {
  return ValidRequestId(client_id) ? std::string(client_id) : NewRequestId();
}

}  // namespace ds::auth
