// Test helpers: fresh keys made at run time, and tokens signed directly with
// OpenSSL — independently of libjwt, so the verifier is checked against
// another implementation of the same RFCs, and so tests can sign anything
// (alg none, HS256 keyed with a public key, broken segments).
//
// Not thread-safe to share a TestKeys across threads while generating.
#pragma once

#include <string>
#include <string_view>

namespace ds::auth::testing {

struct KeyPair {
  std::string private_pem;  // PKCS#8
  std::string public_pem;   // SubjectPublicKeyInfo
  std::string jwk;          // the public key as one JWK object (without kid)
};

// 2048-bit RSA and P-256 EC key pairs (aborts the test binary on failure).
KeyPair MakeRsaKey();
KeyPair MakeEcKey();

std::string B64(std::string_view bytes);  // base64url, unpadded

// header.payload.signature, where the signature is computed over
// B64(header_json) + "." + B64(payload_json) by `alg` ("HS256" with `key` as
// the secret bytes, "RS256"/"ES256" with `key` as a PEM private key, "none" →
// empty signature).
std::string SignToken(std::string_view alg, std::string_view key, std::string_view header_json,
                      std::string_view payload_json);

}  // namespace ds::auth::testing
