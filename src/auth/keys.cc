#include "auth/keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "auth/internal/base64url.h"
#include "auth/internal/openssl_ptr.h"
#include "auth/internal/strings.h"

namespace ds::auth {
namespace {

namespace json = boost::json;

using internal::OsslPtr;
using Pkey = OsslPtr<EVP_PKEY, EVP_PKEY_free>;

absl::StatusOr<std::string> ToPem(EVP_PKEY* key) {
  OsslPtr<BIO, BIO_free> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    return absl::InternalError("cannot encode a public key as PEM");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// Which algorithm a public key can verify, or INVALID_ARGUMENT.
absl::StatusOr<JwtAlgorithm> AlgorithmOf(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    if (EVP_PKEY_get_bits(key) < 2048) {
      return absl::InvalidArgumentError(
          absl::StrCat("RSA key of ", EVP_PKEY_get_bits(key), " bits: at least 2048 required"));
    }
    return JwtAlgorithm::kRs256;
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) != 1 ||
        std::string_view(group, len) != "prime256v1") {
      return absl::InvalidArgumentError("EC key not on P-256 (ES256 needs prime256v1)");
    }
    return JwtAlgorithm::kEs256;
  }
  return absl::InvalidArgumentError("public key is neither RSA nor EC");
}

absl::StatusOr<Pkey> FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OsslPtr<OSSL_PARAM, OSSL_PARAM_free> params(OSSL_PARAM_BLD_to_param(bld));
  OsslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("JWKS: invalid ", type, " key parameters"));
  }
  return Pkey(raw);
}

absl::StatusOr<std::string> Member(const json::object& jwk, std::string_view name) {
  const json::value* v = jwk.if_contains(name);
  if (v == nullptr || !v->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWKS: key member \"", internal::Av(name), "\" missing"));
  }
  std::optional<std::string> bytes = internal::Base64UrlDecode(v->as_string());
  if (!bytes || bytes->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWKS: key member \"", internal::Av(name), "\" is not base64url"));
  }
  return *std::move(bytes);
}

absl::StatusOr<Pkey> RsaFromJwk(const json::object& jwk) {
  absl::StatusOr<std::string> n = Member(jwk, "n");
  if (!n.ok()) return n.status();
  absl::StatusOr<std::string> e = Member(jwk, "e");
  if (!e.ok()) return e.status();
  OsslPtr<BIGNUM, BN_free> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                                          static_cast<int>(n->size()), nullptr));
  OsslPtr<BIGNUM, BN_free> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                                          static_cast<int>(e->size()), nullptr));
  OsslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free> bld(OSSL_PARAM_BLD_new());
  if (bn_n == nullptr || bn_e == nullptr || bld == nullptr ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return absl::InternalError("JWKS: cannot build RSA parameters");
  }
  return FromParams("RSA", bld.get());
}

absl::StatusOr<Pkey> EcFromJwk(const json::object& jwk) {
  absl::StatusOr<std::string> x = Member(jwk, "x");
  if (!x.ok()) return x.status();
  absl::StatusOr<std::string> y = Member(jwk, "y");
  if (!y.ok()) return y.status();
  if (x->size() != 32 || y->size() != 32) {
    return absl::InvalidArgumentError("JWKS: P-256 coordinates must be 32 bytes");
  }
  const std::string point = absl::StrCat("\x04", *x, *y);  // uncompressed SEC1 point
  OsslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return absl::InternalError("JWKS: cannot build EC parameters");
  }
  return FromParams("EC", bld.get());
}

std::string_view StringOr(const json::object& o, std::string_view name, std::string_view dflt) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || !v->is_string()) return dflt;
  return std::string_view(v->as_string().data(), v->as_string().size());
}

// One JWK: a key, or nullopt when it is to be skipped.
absl::StatusOr<std::optional<VerificationKey>> KeyFromJwk(const json::object& jwk) {
  const std::string_view kty = StringOr(jwk, "kty", "");
  const std::string_view use = StringOr(jwk, "use", "sig");
  if (use != "sig") return std::nullopt;
  absl::StatusOr<Pkey> key = absl::InvalidArgumentError("unsupported");
  if (kty == "RSA") {
    key = RsaFromJwk(jwk);
  } else if (kty == "EC" && StringOr(jwk, "crv", "") == "P-256") {
    key = EcFromJwk(jwk);
  } else {
    return std::nullopt;
  }
  if (!key.ok()) return key.status();
  absl::StatusOr<JwtAlgorithm> alg = AlgorithmOf(key->get());
  if (!alg.ok()) return alg.status();
  const std::string_view declared = StringOr(jwk, "alg", AlgorithmName(*alg));
  if (declared != AlgorithmName(*alg)) {
    return absl::InvalidArgumentError(absl::StrCat("JWKS: key of type ", internal::Av(kty),
                                                   " declares alg ", internal::Av(declared)));
  }
  absl::StatusOr<std::string> pem = ToPem(key->get());
  if (!pem.ok()) return pem.status();
  return VerificationKey{*alg, std::string(StringOr(jwk, "kid", "")), *std::move(pem)};
}

}  // namespace

std::string_view AlgorithmName(JwtAlgorithm alg) {
  switch (alg) {
    case JwtAlgorithm::kHs256:
      return "HS256";
    case JwtAlgorithm::kRs256:
      return "RS256";
    case JwtAlgorithm::kEs256:
      return "ES256";
  }
  return "?";
}

absl::StatusOr<VerificationKey> MakeHmacKey(std::string secret) {
  if (secret.size() < kMinHmacSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HS256 secret of ", secret.size(), " bytes: at least ", kMinHmacSecretBytes, " required"));
  }
  return VerificationKey{JwtAlgorithm::kHs256, "", std::move(secret)};
}

absl::StatusOr<VerificationKey> MakePublicKey(std::string_view pem) {
  OsslPtr<BIO, BIO_free> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Pkey key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (key == nullptr) {
    return absl::InvalidArgumentError("not a PEM public key (expected BEGIN PUBLIC KEY)");
  }
  absl::StatusOr<JwtAlgorithm> alg = AlgorithmOf(key.get());
  if (!alg.ok()) return alg.status();
  absl::StatusOr<std::string> normalized = ToPem(key.get());
  if (!normalized.ok()) return normalized.status();
  return VerificationKey{*alg, "", *std::move(normalized)};
}

absl::StatusOr<std::vector<VerificationKey>> LoadKeysFromJwks(std::string_view text) {
  boost::system::error_code ec;
  json::value doc = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec || !doc.is_object()) return absl::InvalidArgumentError("JWKS: not a JSON object");
  const json::value* keys = doc.as_object().if_contains("keys");
  if (keys == nullptr || !keys->is_array()) {
    return absl::InvalidArgumentError("JWKS: no \"keys\" array");
  }
  std::vector<VerificationKey> out;
  for (const json::value& k : keys->as_array()) {
    if (!k.is_object()) return absl::InvalidArgumentError("JWKS: a key is not an object");
    absl::StatusOr<std::optional<VerificationKey>> key = KeyFromJwk(k.as_object());
    if (!key.ok()) return key.status();
    if (key->has_value()) out.push_back(**std::move(key));
  }
  if (out.empty()) return absl::InvalidArgumentError("JWKS: no RS256 or ES256 signing key");
  return out;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string why = absl::StrCat("cannot read ", path, ": ", std::strerror(err));
    if (err == EACCES) return absl::PermissionDeniedError(why);
    return absl::NotFoundError(why);
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace ds::auth
