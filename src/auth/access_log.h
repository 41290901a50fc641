// Access log: one structured line per request (a JSON object on one line),
// with a sampling option for high request rates, and the request-id rules.
//
//   {"ts":"2026-11-29T18:01:02.345Z","request_id":"9f2c…","principal":"sub:42",
//    "client":"127.0.0.1:51234","method":"GET","route":"/v1/channels/{id}/messages",
//    "channel":"42","status":200,"bytes":1234,"latency_ms":1.234,"upstream":"127.0.0.1:50051",
//    "coalesced":"leader"}
//
// Every field is always present ("" or 0 when unknown), so a line parses the
// same way whatever the request was.
//
// Usage:
//   ds::auth::AccessLogSampler sampler(0.1);      // keep ~10 % of ordinary lines
//   if (sampler.Keep(record)) sink->info(ds::auth::FormatAccessLine(record));
//
// Thread-safe: pure functions; the sampler is immutable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace ds::auth {

struct AccessRecord {
  absl::Time time;  // when the request's headers were read
  std::string_view request_id;
  std::string_view principal;  // "sub:<subject>" or "ip:<address>"; "" before auth
  std::string_view client;     // peer address:port
  std::string_view method;
  std::string_view route;  // the route template, or the path when no route matched
  std::string_view channel;
  int status = 0;      // 0: never answered (client went away, connection timed out)
  uint64_t bytes = 0;  // response body bytes written
  absl::Duration latency;
  std::string_view upstream;   // the node that answered
  std::string_view coalesced;  // "leader", "node-joiner", "gateway-joiner" or ""
};

// The JSON line, without a trailing newline. Strings are escaped (control
// characters, quotes, backslashes; bytes that are not UTF-8 become \ufffd), so
// nothing a client sends can forge a line.
std::string FormatAccessLine(const AccessRecord& record);

// Keeps every line with status >= 500 or 0, and a `rate` fraction (0..1) of the
// others, chosen by a hash of the request id so a request is kept or dropped
// consistently wherever it is logged.
class AccessLogSampler {
 public:
  explicit AccessLogSampler(double rate);
  bool Keep(const AccessRecord& record) const;

 private:
  uint64_t threshold_;  // keep when hash < threshold_ (all when max)
  bool all_;
};

// Request ids: at most kMaxRequestIdBytes of [A-Za-z0-9._:-]. A client's
// `X-Request-Id` that follows the rules is kept; anything else is replaced.
inline constexpr size_t kMaxRequestIdBytes = 64;
bool ValidRequestId(std::string_view id);
// 32 lowercase hex digits from a per-thread random generator.
std::string NewRequestId();
// `client_id` when valid, else NewRequestId().
std::string AcceptOrNewRequestId(std::string_view client_id);

}  // namespace ds::auth
