#include "auth/keys.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "auth/internal/base64url.h"
#include "auth/test_tokens.h"

namespace ds::auth {
namespace {

TEST(Base64UrlTest, RoundTripsAndRejectsNonCanonicalText) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    EXPECT_EQ(internal::Base64UrlDecode(internal::Base64UrlEncode(s)), s);
  }
  EXPECT_EQ(internal::Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_FALSE(internal::Base64UrlDecode("Zg==").has_value());  // padding
  EXPECT_FALSE(internal::Base64UrlDecode("Z+8").has_value());   // standard alphabet
  EXPECT_FALSE(internal::Base64UrlDecode("Zh").has_value());    // non-zero spare bits
  EXPECT_FALSE(internal::Base64UrlDecode("Z").has_value());     // impossible length
}

TEST(KeysTest, PublicKeysAreBoundToTheirAlgorithm) {
  EXPECT_EQ(MakePublicKey(testing::MakeRsaKey().public_pem)->alg, JwtAlgorithm::kRs256);
  EXPECT_EQ(MakePublicKey(testing::MakeEcKey().public_pem)->alg, JwtAlgorithm::kEs256);
  EXPECT_FALSE(MakePublicKey("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").ok());
  EXPECT_FALSE(MakePublicKey(testing::MakeRsaKey().private_pem).ok());  // not a public key
}

TEST(KeysTest, ShortHmacSecretsAreRefused) {
  EXPECT_FALSE(MakeHmacKey(std::string(31, 'x')).ok());
  EXPECT_TRUE(MakeHmacKey(std::string(32, 'x')).ok());
}

TEST(KeysTest, JwksErrors) {
  EXPECT_FALSE(LoadKeysFromJwks("not json").ok());
  EXPECT_FALSE(LoadKeysFromJwks(R"({"keys":[]})").ok());
  EXPECT_FALSE(LoadKeysFromJwks(R"({"keys":[{"kty":"oct","k":"AAAA"}]})").ok());  // nothing usable
  const std::string rsa = testing::MakeRsaKey().jwk;
  // An RSA key that claims to be ES256.
  EXPECT_FALSE(LoadKeysFromJwks(absl::StrCat(R"({"keys":[)", rsa.substr(0, rsa.size() - 1),
                                             R"(,"alg":"ES256"}]})"))
                   .ok());
  // Encryption keys are skipped.
  EXPECT_FALSE(LoadKeysFromJwks(absl::StrCat(R"({"keys":[)", rsa.substr(0, rsa.size() - 1),
                                             R"(,"use":"enc"}]})"))
                   .ok());
  EXPECT_FALSE(
      LoadKeysFromJwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]})").ok());
}

TEST(KeysTest, ReadWholeFileNamesAMissingPath) {
  absl::StatusOr<std::string> s = ReadWholeFile("/nonexistent/secret");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("/nonexistent/secret"), std::string::npos);
}

}  // namespace
}  // namespace ds::auth
