// Keys that verify JSON Web Tokens: an HS256 shared secret, an RS256 or ES256
// public key (PEM), or the RS256/ES256 keys of a JSON Web Key Set (RFC 7517).
// Each key is bound to exactly one algorithm when it is loaded; the verifier
// (jwt_verifier.h) only ever uses a key with its own algorithm, which is what
// defeats algorithm confusion (an HS256 token "signed" with an RSA public key).
//
// Usage:
//   absl::StatusOr<std::vector<ds::auth::VerificationKey>> keys =
//       ds::auth::LoadKeysFromJwks(jwks_json);
//
// Thread-safe (pure functions; OpenSSL 3 is thread-safe).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ds::auth {

enum class JwtAlgorithm { kHs256, kRs256, kEs256 };

// "HS256", "RS256", "ES256".
std::string_view AlgorithmName(JwtAlgorithm alg);

struct VerificationKey {
  JwtAlgorithm alg = JwtAlgorithm::kHs256;
  std::string kid;       // the JWKS "kid"; empty for a key from a file
  std::string material;  // HS256: the secret bytes; RS256/ES256: a PEM public key
};

// Shortest HS256 secret accepted: RFC 7518 §3.2 asks for at least the hash
// size (256 bits).
inline constexpr size_t kMinHmacSecretBytes = 32;

// An HS256 key. INVALID_ARGUMENT when the secret is shorter than
// kMinHmacSecretBytes (a trailing newline from `echo` is not stripped: write
// the file with printf or head -c).
absl::StatusOr<VerificationKey> MakeHmacKey(std::string secret);

// A PEM public key (SubjectPublicKeyInfo, "BEGIN PUBLIC KEY"): RSA of at
// least 2048 bits becomes RS256, EC on P-256 becomes ES256; anything else is
// INVALID_ARGUMENT.
absl::StatusOr<VerificationKey> MakePublicKey(std::string_view pem);

// The signing keys of a JWKS document. Keys of types or curves other than
// RSA / EC P-256, or marked "use" other than "sig", are skipped (RFC 7517
// §5); a key whose "alg" disagrees with its type is an error, and so is a set
// with no usable key.
absl::StatusOr<std::vector<VerificationKey>> LoadKeysFromJwks(std::string_view json);

// The whole file; NOT_FOUND / PERMISSION_DENIED naming the path.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace ds::auth
