// A small, allocation-free HTTP/1.1 response parser for the load generator's
// gateway target, plus the two JSON helpers it needs. It parses one response
// in place from the bytes received so far: status, keep-alive and the body
// (Content-Length framed, or chunked — decoded only to find its end).
//
// Usage:
//   HttpResponseView res;
//   ParseResult r = ParseHttpResponse(received, &res);
//   if (r.status == ParseResult::kDone) { use res.status, res.body; drop r.consumed bytes; }
//
// Thread-safe: free functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ds::loadgen {

struct HttpResponseView {
  int status = 0;
  bool keep_alive = true;
  // Points into the parsed bytes. For a chunked body, the raw chunked bytes.
  std::string_view body;
  // `X-DS-Arrived-Us` (the gateway's arrival time of the request), 0 if absent.
  int64_t arrived_us = 0;
};

struct ParseResult {
  enum Status { kNeedMore, kDone, kError } status = kNeedMore;
  size_t consumed = 0;  // kDone: the response's length in bytes
  std::string error;    // kError: why
};

ParseResult ParseHttpResponse(std::string_view data, HttpResponseView* out);

// The newest message id in a GetMessages body {"messages":[{...,"message_id":"N",...}]}
// (the first one; ids are newest first); 0 when there is none.
uint64_t NewestMessageId(std::string_view body);

// {"author_id":"A","content":"...","nonce":"N"} with `content` JSON-escaped.
std::string SendMessageBody(uint64_t author_id, std::string_view content, uint64_t nonce);

}  // namespace ds::loadgen
