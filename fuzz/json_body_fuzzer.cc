// libFuzzer target: the gateway's JSON body decoder for POST
// /v1/channels/{id}/messages (ds::gateway::ParseSendMessageBody).
//
// Checks, beyond "no crash, no sanitizer report": an accepted body yields a
// request with the channel it was given, non-zero author_id and nonce, and a
// non-empty content within the size limit; a refused one says why.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/api_rules.h"
#include "gateway/json_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto req = ds::gateway::ParseSendMessageBody(42, body);
  if (req.ok()) {
    if (req->channel_id() != 42 || req->author_id() == 0 || req->nonce() == 0 ||
        req->content().empty() || req->content().size() > ds::api::kMaxContentBytes) {
      std::abort();
    }
  } else if (req.status().message().empty()) {
    std::abort();  // a 400 must name the problem
  }
  return 0;
}
