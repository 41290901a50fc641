// The API's input rules, in one place. The node (gRPC requests), the gateway
// (HTTP paths, queries and bodies), the routing membership parser and the
// binaries' flag parsing all check input with these functions, so they cannot
// disagree (docs/design.md, "API").
//
// Every failure is INVALID_ARGUMENT naming the field and the reason, so a
// client (or an operator reading a flag error) can fix the input without
// reading our code:
//   absl::StatusOr<uint64_t> channel = ds::api::ParseId("channel_id", "42");
//   absl::Status limit = ds::api::CheckPageLimit(500);
//       // "limit: must be between 1 and 100 (0 means 50), got 500"
//   absl::StatusOr<ds::api::HostPort> listen =
//       ds::api::ParseHostPort("--admin-listen", "127.0.0.1:0", ds::api::PortZero::kAllowed);
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ds::api {

// ---- Pages: GetMessages.limit -----------------------------------------------

inline constexpr uint32_t kDefaultPageLimit = 50;
inline constexpr uint32_t kMaxPageLimit = 100;

// 0 means "not given" (proto3 cannot tell the two apart) and is the default;
// 1..kMaxPageLimit are taken as given; anything larger is refused.
absl::Status CheckPageLimit(uint64_t limit);
// The page size a valid `limit` means.
uint32_t EffectivePageLimit(uint32_t limit);
// The text form (an HTTP query parameter): decimal digits, then CheckPageLimit.
absl::StatusOr<uint32_t> ParsePageLimit(std::string_view text);

// ---- Message content -----------------------------------------------------------

inline constexpr size_t kMaxContentBytes = 4000;

// Non-empty, at most `max_bytes` bytes, valid UTF-8.
absl::Status CheckContent(std::string_view content, size_t max_bytes = kMaxContentBytes);

// ---- Ids and numbers in text (paths, queries, headers, JSON strings, flags) -----

// A decimal id: 1-20 ASCII digits (leading zeros allowed), value 1..2^64-1.
absl::StatusOr<uint64_t> ParseId(std::string_view field, std::string_view text);
// An unsigned decimal integer in [min, max].
absl::StatusOr<uint64_t> ParseUintInRange(std::string_view field, std::string_view text,
                                          uint64_t min, uint64_t max);
// `text` made safe to echo in an error message: at most 32 bytes, anything
// outside printable ASCII replaced by '?', "..." when cut.
std::string EchoForError(std::string_view text);

// ---- Network addresses ------------------------------------------------------------

struct HostPort {
  std::string host;  // without IPv6 brackets
  uint16_t port = 0;

  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// Port 0 means "pick a free port" when listening; an address to dial needs a
// real one.
enum class PortZero { kAllowed, kRejected };

// "host:port", or "[ipv6]:port" (a bare IPv6 host must be bracketed). The
// host is not resolved. Errors name `field` (a flag, or "node address").
absl::StatusOr<HostPort> ParseHostPort(std::string_view field, std::string_view text,
                                       PortZero zero);
// The inverse: brackets an IPv6 host.
std::string FormatHostPort(const HostPort& address);

}  // namespace ds::api
