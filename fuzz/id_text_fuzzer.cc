// libFuzzer target: the text rules every entry point shares (common/api_rules.h)
// — path ids, query numbers, the page limit, host:port — checked against a
// reference: an accepted id is 1..20 ASCII digits whose value fits in 64 bits,
// is non-zero and lies in the range; anything else is refused; a parsed
// host:port formats back to an address that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/api_rules.h"

namespace {

// The reference: plain decimal, no sign, no spaces, no overflow.
bool Reference(std::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  unsigned __int128 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > UINT64_MAX) return false;
  *value = static_cast<uint64_t>(v);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first two bytes pick the range of ParseUintInRange; the rest is the text.
  uint64_t max = 100;
  if (size >= 2) {
    max = (static_cast<uint64_t>(data[0]) << 8 | data[1]) + 1;
    data += 2;
    size -= 2;
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  uint64_t expected = 0;
  const bool valid = Reference(text, &expected);

  auto id = ds::api::ParseId("channel_id", text);
  if (id.ok() != (valid && expected != 0)) std::abort();
  if (id.ok() && *id != expected) std::abort();
  if (!id.ok() && id.status().message().empty()) std::abort();

  auto in_range = ds::api::ParseUintInRange("limit", text, 1, max);
  if (in_range.ok() != (valid && expected >= 1 && expected <= max)) std::abort();
  if (in_range.ok() && *in_range != expected) std::abort();

  auto limit = ds::api::ParsePageLimit(text);
  if (limit.ok() && (!valid || *limit > ds::api::kMaxPageLimit)) std::abort();

  (void)ds::api::EchoForError(text).size();

  for (auto zero : {ds::api::PortZero::kAllowed, ds::api::PortZero::kRejected}) {
    auto hp = ds::api::ParseHostPort("node address", text, zero);
    if (!hp.ok()) continue;
    if (zero == ds::api::PortZero::kRejected && hp->port == 0) std::abort();
    auto again = ds::api::ParseHostPort("node address", ds::api::FormatHostPort(*hp), zero);
    if (!again.ok() || !(*again == *hp)) std::abort();
  }
  return 0;
}
