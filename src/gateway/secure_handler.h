// SecureHandler: the gateway's security layer, in front of every other
// handler (live routes, then the API):
//
// 1. Request id: a valid client `X-Request-Id` (common rules in
//    auth/access_log.h) is kept, anything else replaced by a fresh one; the
//    request goes on with that header (the API passes it to the node as gRPC
//    metadata `x-request-id`) and the server echoes it on the answer.
// 2. Authentication (when a verifier is configured): every /v1/ route needs
//    `Authorization: Bearer <JWT>` — or, for the two browser streaming routes
//    (SSE events, WebSocket) that cannot set headers, `?access_token=`.
//    Missing or invalid → 401 with `WWW-Authenticate: Bearer …` (RFC 6750).
//    `/`, `/metrics`, `/healthz` stay open.
// 3. Rate limits per principal ("sub:<subject>", else "ip:<address>"): GET/HEAD
//    take from the read bucket, everything else from the write bucket. Over
//    the limit → 429 with `Retry-After` and `RateLimit-Limit/-Remaining/-Reset`,
//    counted in ds_gateway_rate_limited_total{route}.
// 4. Authorization: a channel in the path must be allowed by the token's
//    channel claim (403); a send's `author_id` must be the token subject (403),
//    and is filled in when omitted. The WebSocket route needs all-channel
//    access and a numeric subject, because its per-message checks are the live
//    session's (docs/security.md).
// 5. Access-log notes: request id, principal, route template, channel.
//
// With neither a verifier nor limits it only does 1 and 5.
//
// Threads: Handle runs on HTTP I/O threads and never blocks (HS256 checks
// take microseconds; RS256/ES256 tens of microseconds). Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "auth/jwt_verifier.h"
#include "auth/rate_limiter.h"
#include "http/server.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace ds::gateway {

struct SecurityOptions {
  std::shared_ptr<const auth::JwtVerifier> verifier;  // null: no authentication
  auth::RateLimiterOptions rate_limits;               // unlimited by default
  std::string realm = "data-services";                // for WWW-Authenticate
};

class SecureHandler final : public http::Handler {
 public:
  // `next` must not be null; `registry` may be (no metric).
  SecureHandler(SecurityOptions options, std::shared_ptr<http::Handler> next,
                std::shared_ptr<prometheus::Registry> registry);

  void Handle(http::Request request, http::Responder responder) override;
  http::Response ProtocolError(int status, std::string_view detail) override {
    return next_->ProtocolError(status, detail);
  }

 private:
  void Unauthorized(const http::Responder& responder, const absl::Status& why) const;
  // False (and answered 429) when over the limit.
  bool Limit(std::string_view route, bool read, const http::Responder& responder,
             const std::string& principal);
  // False (and answered 403 / 400) when the send is refused; else the body
  // carries the token subject as author_id.
  bool CheckAuthor(http::Request& request, const http::Responder& responder,
                   const auth::Principal& principal) const;

  const SecurityOptions options_;
  const std::shared_ptr<http::Handler> next_;
  auth::RateLimiter limiter_;
  const bool limits_on_;
  prometheus::Family<prometheus::Counter>* limited_ = nullptr;
};

}  // namespace ds::gateway
