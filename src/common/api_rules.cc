#include "common/api_rules.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/utf8.h"

namespace ds::api {
namespace {

// Abseil's string_view is its own type in the Debian build.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr size_t kMaxDecimalDigits = 20;  // 2^64-1 has 20 digits

absl::Status Invalid(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(Absl(field), ": ", Absl(why)));
}

}  // namespace

absl::Status CheckPageLimit(uint64_t limit) {
  if (limit <= kMaxPageLimit) return absl::OkStatus();
  return Invalid("limit", absl::StrCat("must be between 1 and ", kMaxPageLimit, " (0 means ",
                                       kDefaultPageLimit, "), got ", limit));
}

uint32_t EffectivePageLimit(uint32_t limit) { return limit == 0 ? kDefaultPageLimit : limit; }

absl::StatusOr<uint32_t> ParsePageLimit(std::string_view text) {
  absl::StatusOr<uint64_t> limit =
      ParseUintInRange("limit", text, 0, std::numeric_limits<uint64_t>::max());
  if (!limit.ok()) {
    return Invalid("limit",
                   absl::StrCat("must be an integer between 1 and ", kMaxPageLimit, " (0 means ",
                                kDefaultPageLimit, "), got '", EchoForError(text), "'"));
  }
  if (absl::Status st = CheckPageLimit(*limit); !st.ok()) return st;
  return static_cast<uint32_t>(*limit);
}

absl::Status CheckContent(std::string_view content, size_t max_bytes) {
  if (content.empty()) return Invalid("content", "must not be empty");
  if (content.size() > max_bytes) {
    return Invalid("content",
                   absl::StrCat("must be at most ", max_bytes, " bytes, got ", content.size()));
  }
  if (!IsValidUtf8(content)) return Invalid("content", "must be valid UTF-8");
  return absl::OkStatus();
}

std::string EchoForError(std::string_view text) {
  std::string out(text.substr(0, 32));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  if (text.size() > 32) out += "...";
  return out;
}

absl::StatusOr<uint64_t> ParseUintInRange(std::string_view field, std::string_view text,
                                          uint64_t min, uint64_t max) {
  auto error = [&] {
    return absl::InvalidArgumentError(absl::StrCat(Absl(field), " must be an integer in ", min,
                                                   "..", max, ", got '", EchoForError(text), "'"));
  };
  if (text.empty() || text.size() > kMaxDecimalDigits) return error();
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return error();
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return error();
    value = value * 10 + digit;
  }
  if (value < min || value > max) return error();
  return value;
}

absl::StatusOr<uint64_t> ParseId(std::string_view field, std::string_view text) {
  absl::StatusOr<uint64_t> id =
      ParseUintInRange(field, text, 0, std::numeric_limits<uint64_t>::max());
  if (!id.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Absl(field), " must be a decimal 64-bit unsigned integer, got '", EchoForError(text), "'"));
  }
  if (*id == 0) return absl::InvalidArgumentError(absl::StrCat(Absl(field), " must be non-zero"));
  return id;
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view field, std::string_view text,
                                       PortZero zero) {
  auto error = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(Absl(field), " \"", EchoForError(text), "\": ", Absl(why)));
  };
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return error("expected [ipv6]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return error("expected host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return error("put an IPv6 host in brackets, [::1]:port");
    }
  }
  if (host.empty()) return error("empty host");
  // "[[x]:1" would give the host "[x", which formats back to an unparsable
  // address (found by id_text_fuzzer, crash-495e6479).
  if (host.find_first_of("[]") != std::string_view::npos) {
    return error("brackets only around a whole IPv6 host");
  }
  const uint64_t min_port = zero == PortZero::kAllowed ? 0 : 1;
  absl::StatusOr<uint64_t> number = ParseUintInRange("port", port, min_port, 65535);
  if (!number.ok()) return error(absl::StrCat("port must be ", min_port, "..65535"));
  return HostPort{std::string(host), static_cast<uint16_t>(*number)};
}

std::string FormatHostPort(const HostPort& address) {
  if (address.host.find(':') != std::string::npos) {
    return absl::StrCat("[", address.host, "]:", address.port);
  }
  return absl::StrCat(address.host, ":", address.port);
}

}  // namespace ds::api
