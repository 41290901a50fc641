// MintToken: signs a JSON Web Token with libjwt — for the `ds-token` tool and
// for tests. Not used by the serving path.
//
// Usage:
//   absl::StatusOr<std::string> token = ds::auth::MintToken(
//       {.alg = ds::auth::JwtAlgorithm::kHs256, .key = secret},
//       {.subject = "42", .issuer = "ds", .audience = "ds-api", .issued_at = absl::Now()});
//
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/keys.h"

namespace ds::auth {

struct SigningKey {
  JwtAlgorithm alg = JwtAlgorithm::kHs256;
  std::string key;  // HS256: the secret; RS256/ES256: a PEM private key
  std::string kid;  // written to the header when not empty
};

struct TokenClaims {
  std::string subject;
  std::string issuer;    // omitted when empty
  std::string audience;  // omitted when empty
  absl::Time issued_at = absl::UnixEpoch();
  absl::Duration ttl = absl::Hours(1);  // exp = issued_at + ttl
  std::optional<absl::Time> not_before;
  // The channel claim: nullopt → omitted (all channels); empty → "*".
  std::optional<std::vector<uint64_t>> channels;
  std::string channels_claim = "channels";
};

absl::StatusOr<std::string> MintToken(const SigningKey& key, const TokenClaims& claims);

}  // namespace ds::auth
