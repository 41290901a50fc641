// HttpClient: the status-returning HTTP/1.1 client of multi-process tests and
// tools (keep-alive, a deadline per request, reconnects after a failure) —
// the sibling of HttpTestClient (testing/http_test_client.h), the raw,
// throwing client of in-process protocol tests; both build their requests
// the same way (http_test_client.cc).
//
// Usage:
//   ds::testing::HttpClient client(gateway_port);
//   absl::StatusOr<ds::testing::HttpResult> r = client.Get("/v1/channels/1/messages");
//   if (r.ok() && r->status == 200) ...
//   auto metrics = ds::testing::HttpGet(admin_port, "/metrics");   // one-shot
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ds::testing {

struct HttpResult {
  int status = 0;  // HTTP status code
  std::string body;
};

// One HTTP/1.1 keep-alive connection to 127.0.0.1:`port`, blocking calls with
// a per-request deadline. A request that fails in any way (connect, write,
// read, timeout) returns an error and closes the connection; the next request
// reconnects. There is no retry: a test counting failed requests sees every
// failure.
//
// Not thread-safe: one thread per client.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // UNAVAILABLE for connection/read/write errors, DEADLINE_EXCEEDED when the
  // whole exchange (including connecting) took longer than `timeout`.
  absl::StatusOr<HttpResult> Get(std::string_view target,
                                 absl::Duration timeout = absl::Seconds(5));
  absl::StatusOr<HttpResult> Post(std::string_view target, std::string_view json_body,
                                  absl::Duration timeout = absl::Seconds(5));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot helpers: a new connection per call.
absl::StatusOr<HttpResult> HttpGet(uint16_t port, std::string_view target,
                                   absl::Duration timeout = absl::Seconds(5));
absl::StatusOr<HttpResult> HttpPost(uint16_t port, std::string_view target,
                                    std::string_view json_body,
                                    absl::Duration timeout = absl::Seconds(5));

}  // namespace ds::testing
