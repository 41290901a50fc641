// JwtVerifier: checks a bearer JSON Web Token (RFC 7519) and returns the
// Principal it names. Signatures are verified by libjwt (over OpenSSL); this
// class decides *which* key and algorithm may be used and validates the
// claims, because libjwt 1.x trusts the token's own "alg" header:
// - "alg" must be HS256, RS256 or ES256 and must be the algorithm of the key
//   that verifies it. `alg: none` is refused, and so is algorithm confusion
//   (an HS256 token whose HMAC key is an RSA/EC public key's PEM text): an
//   HS256 token is only ever checked against a configured HS256 secret.
// - With a JWKS, a "kid" in the header selects the key; without one, every
//   key of the token's algorithm is tried.
// - Claims: "exp" (required unless require_exp is false), "nbf", "iss", "aud"
//   (a string or an array), all with a bounded clock skew (`leeway`); "sub"
//   is required; the optional channel claim sets the channel access.
// - Input is bounded: longer than max_token_bytes, not three base64url
//   segments, or not JSON objects → refused before any signature work.
//
// Every refusal is UNAUTHENTICATED with a short reason that is safe to return
// to the client ("token expired", "bad signature", ...).
//
// Usage:
//   auto verifier = ds::auth::JwtVerifier::Create({
//       .keys = {*ds::auth::MakeHmacKey(secret)}, .issuer = "ds", .audience = "ds-api"});
//   absl::StatusOr<ds::auth::Principal> who = (*verifier)->Verify(token, absl::Now());
//
// Thread-safe: Verify is const and may run on any number of threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/keys.h"
#include "auth/principal.h"

namespace ds::auth {

struct JwtVerifierOptions {
  std::vector<VerificationKey> keys;          // at least one
  std::string issuer;                         // when set, "iss" must equal it
  std::string audience;                       // when set, "aud" must be or contain it
  absl::Duration leeway = absl::Seconds(30);  // clock skew allowed on exp/nbf
  bool require_exp = true;
  size_t max_token_bytes = 8 * 1024;
  // The claim listing the channel ids the subject may use ("*" = all). Absent
  // from a token → all channels.
  std::string channels_claim = "channels";
};

class JwtVerifier {
 public:
  // INVALID_ARGUMENT without keys or with a negative leeway.
  static absl::StatusOr<std::shared_ptr<const JwtVerifier>> Create(JwtVerifierOptions options);

  // The principal the token names, or UNAUTHENTICATED with the reason.
  absl::StatusOr<Principal> Verify(std::string_view token, absl::Time now) const;

  const JwtVerifierOptions& options() const { return options_; }

 private:
  explicit JwtVerifier(JwtVerifierOptions options) : options_(std::move(options)) {}
  absl::Status CheckSignature(const std::string& token, JwtAlgorithm alg,
                              std::string_view kid) const;

  const JwtVerifierOptions options_;
};

// The token of an `Authorization: Bearer <token>` header value (the scheme is
// case-insensitive, RFC 6750 §2.1), or UNAUTHENTICATED.
absl::StatusOr<std::string_view> BearerToken(std::string_view authorization);

}  // namespace ds::auth
