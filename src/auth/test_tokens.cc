#include "auth/test_tokens.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "auth/internal/base64url.h"
#include "auth/internal/strings.h"

namespace ds::auth::testing {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "test_tokens: %s failed\n", what);
  std::abort();
}

std::string BioString(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(len));
  BIO_free(bio);
  return s;
}

std::string BnBytes(const EVP_PKEY* key, const char* name, int pad) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) Die(name);
  std::string out(pad > 0 ? static_cast<size_t>(pad) : static_cast<size_t>(BN_num_bytes(bn)), '\0');
  if (pad > 0) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad);
  } else {
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  BN_free(bn);
  return out;
}

KeyPair Export(EVP_PKEY* key) {
  KeyPair kp;
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  if (PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub, key) != 1) {
    Die("PEM export");
  }
  kp.private_pem = BioString(priv);
  kp.public_pem = BioString(pub);
  return kp;
}

std::string DigestSign(std::string_view pem, std::string_view input, bool ecdsa) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) Die("PEM_read_bio_PrivateKey");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    Die("EVP_DigestSign");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    Die("EVP_DigestSign");
  }
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ecdsa) return sig;
  // JOSE wants R || S (32 bytes each), not DER (RFC 7518 §3.4).
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  if (es == nullptr) Die("d2i_ECDSA_SIG");
  std::string rs(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(rs.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(rs.data()) + 32, 32);
  ECDSA_SIG_free(es);
  return rs;
}

}  // namespace

std::string B64(std::string_view bytes) { return internal::Base64UrlEncode(bytes); }

KeyPair MakeRsaKey() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  if (key == nullptr) Die("EVP_RSA_gen");
  KeyPair kp = Export(key);
  kp.jwk = absl::StrCat(R"({"kty":"RSA","n":")", B64(BnBytes(key, OSSL_PKEY_PARAM_RSA_N, 0)),
                        R"(","e":")", B64(BnBytes(key, OSSL_PKEY_PARAM_RSA_E, 0)), R"("})");
  EVP_PKEY_free(key);
  return kp;
}

KeyPair MakeEcKey() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) Die("EVP_EC_gen");
  KeyPair kp = Export(key);
  kp.jwk = absl::StrCat(R"({"kty":"EC","crv":"P-256","x":")",
                        B64(BnBytes(key, OSSL_PKEY_PARAM_EC_PUB_X, 32)), R"(","y":")",
                        B64(BnBytes(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32)), R"("})");
  EVP_PKEY_free(key);
  return kp;
}

std::string SignToken(std::string_view alg, std::string_view key, std::string_view header_json,
                      std::string_view payload_json) {
  const std::string input = absl::StrCat(B64(header_json), ".", B64(payload_json));
  std::string sig;
  if (alg == "HS256") {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    sig.assign(reinterpret_cast<const char*>(mac), len);
  } else if (alg == "RS256" || alg == "ES256") {
    sig = DigestSign(key, input, alg == "ES256");
  }
  return absl::StrCat(input, ".", B64(sig));
}

}  // namespace ds::auth::testing
