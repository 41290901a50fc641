#include "auth/token_minter.h"

#include <jwt.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ds::auth {
namespace {

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};

jwt_alg_t ToLibjwt(JwtAlgorithm alg) {
  switch (alg) {
    case JwtAlgorithm::kHs256:
      return JWT_ALG_HS256;
    case JwtAlgorithm::kRs256:
      return JWT_ALG_RS256;
    case JwtAlgorithm::kEs256:
      return JWT_ALG_ES256;
  }
  return JWT_ALG_INVAL;
}

}  // namespace

absl::StatusOr<std::string> MintToken(const SigningKey& key, const TokenClaims& claims) {
  if (claims.subject.empty()) return absl::InvalidArgumentError("token subject is empty");
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return absl::InternalError("jwt_new failed");
  std::unique_ptr<jwt_t, JwtFree> jwt(raw);
  int rc = jwt_add_grant(jwt.get(), "sub", claims.subject.c_str());
  if (!claims.issuer.empty()) rc |= jwt_add_grant(jwt.get(), "iss", claims.issuer.c_str());
  if (!claims.audience.empty()) rc |= jwt_add_grant(jwt.get(), "aud", claims.audience.c_str());
  rc |=
      jwt_add_grant_int(jwt.get(), "iat", static_cast<long>(absl::ToUnixSeconds(claims.issued_at)));
  rc |= jwt_add_grant_int(jwt.get(), "exp",
                          static_cast<long>(absl::ToUnixSeconds(claims.issued_at + claims.ttl)));
  if (claims.not_before) {
    rc |= jwt_add_grant_int(jwt.get(), "nbf",
                            static_cast<long>(absl::ToUnixSeconds(*claims.not_before)));
  }
  if (claims.channels) {
    const std::string list = claims.channels->empty()
                                 ? "\"*\""
                                 : absl::StrCat("[", absl::StrJoin(*claims.channels, ","), "]");
    rc |= jwt_add_grants_json(jwt.get(),
                              absl::StrCat("{\"", claims.channels_claim, "\":", list, "}").c_str());
  }
  if (!key.kid.empty()) rc |= jwt_add_header(jwt.get(), "kid", key.kid.c_str());
  if (rc != 0) return absl::InvalidArgumentError("cannot set the token's claims");
  if (jwt_set_alg(jwt.get(), ToLibjwt(key.alg),
                  reinterpret_cast<const unsigned char*>(key.key.data()),
                  static_cast<int>(key.key.size())) != 0) {
    return absl::InvalidArgumentError("cannot use this key for the algorithm");
  }
  char* encoded = jwt_encode_str(jwt.get());
  if (encoded == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signing failed (is the key a ", std::string(AlgorithmName(key.alg)), " private key?)"));
  }
  std::string token(encoded);
  std::free(encoded);  // libjwt 1.10 allocates with malloc
  return token;
}

}  // namespace ds::auth
