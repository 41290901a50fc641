// Response: what an HTTP handler answers with. A status, header fields and a
// body that is either owned (a std::string) or shared and immutable
// (std::shared_ptr<const std::string>), so that one encoded body can be sent to
// many clients without a copy.
//
// Usage:
//   ds::http::Response res(200);
//   res.SetStaticHeader("Content-Type", "application/json");   // literals: no copy
//   res.AddHeader("X-Request-Id", request_id);                  // copied
//   res.SetSharedBody(flight_body);                             // a reference, not a copy
//
// The server adds the framing fields itself: the status line, `Server`,
// `Content-Length` (or `Transfer-Encoding: chunked` for a stream) and
// `Connection` when it closes or the client speaks HTTP/1.0. Handlers must not
// set those.
//
// Thread-compatible: a Response is built on one thread and then moved.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/inlined_vector.h"

namespace ds::http {

class Response {
 public:
  explicit Response(int status = 200) : status_(status) {}

  int status() const { return status_; }
  void set_status(int status) { status_ = status; }

  // Adds a header whose name and value outlive every copy of the response
  // (string literals, or static tables). Costs no allocation for the first
  // four such headers.
  Response& SetStaticHeader(std::string_view name, std::string_view value) {
    static_headers_.emplace_back(name, value);
    return *this;
  }
  // Adds a header, copying name and value. Neither may contain CR or LF (the
  // server drops a header that does, rather than let it split the response).
  Response& AddHeader(std::string_view name, std::string_view value);

  // The body, owned by the response.
  Response& SetBody(std::string body) {
    body_ = std::move(body);
    shared_body_.reset();
    return *this;
  }
  // The body, shared: the response keeps a reference until it is written.
  Response& SetSharedBody(std::shared_ptr<const std::string> body) {
    shared_body_ = std::move(body);
    body_.clear();
    return *this;
  }
  std::string_view body() const { return shared_body_ ? *shared_body_ : body_; }

  // The value of the first header named `name` (ASCII case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;

  // Appends "Name: value\r\n" for every header to `out` (no framing fields).
  void AppendHeaders(std::string& out) const;

 private:
  int status_;
  absl::InlinedVector<std::pair<std::string_view, std::string_view>, 4> static_headers_;
  std::string dynamic_headers_;  // "Name: value\r\n" lines
  std::string body_;
  std::shared_ptr<const std::string> shared_body_;
};

// "OK", "Not Found", ...; "Unknown" for a status without a registered reason.
std::string_view ReasonPhrase(int status);

}  // namespace ds::http
