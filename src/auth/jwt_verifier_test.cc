#include "auth/jwt_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "auth/test_tokens.h"
#include "auth/token_minter.h"

namespace ds::auth {
namespace {

using ::ds::auth::testing::B64;
using ::ds::auth::testing::KeyPair;
using ::ds::auth::testing::SignToken;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
const std::string kSecret = "0123456789abcdef0123456789abcdef-test-secret";

std::string Claims(absl::Duration exp_from_now = absl::Hours(1), std::string extra = "") {
  return absl::StrCat(R"({"sub":"42","iss":"ds","aud":"ds-api","exp":)",
                      absl::ToUnixSeconds(kNow + exp_from_now), extra, "}");
}

class JwtVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new KeyPair(testing::MakeRsaKey());
    ec_ = new KeyPair(testing::MakeEcKey());
  }

  std::shared_ptr<const JwtVerifier> Verifier(std::vector<VerificationKey> keys) {
    auto v = JwtVerifier::Create({.keys = std::move(keys), .issuer = "ds", .audience = "ds-api"});
    EXPECT_TRUE(v.ok()) << v.status();
    return *v;
  }
  std::shared_ptr<const JwtVerifier> Hs() { return Verifier({*MakeHmacKey(kSecret)}); }
  std::shared_ptr<const JwtVerifier> Rs() { return Verifier({*MakePublicKey(rsa_->public_pem)}); }
  std::shared_ptr<const JwtVerifier> Es() { return Verifier({*MakePublicKey(ec_->public_pem)}); }

  static std::string Hs256(std::string_view payload) {
    return SignToken("HS256", kSecret, R"({"alg":"HS256","typ":"JWT"})", payload);
  }
  // The refusal reason, or "ok".
  static std::string Why(const std::shared_ptr<const JwtVerifier>& v, std::string_view token) {
    absl::StatusOr<Principal> p = v->Verify(token, kNow);
    if (p.ok()) return "ok";
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated) << p.status();
    return std::string(p.status().message());
  }

  static KeyPair* rsa_;
  static KeyPair* ec_;
};
KeyPair* JwtVerifierTest::rsa_ = nullptr;
KeyPair* JwtVerifierTest::ec_ = nullptr;

TEST_F(JwtVerifierTest, AcceptsTokensSignedIndependentlyWithEachAlgorithm) {
  absl::StatusOr<Principal> hs = Hs()->Verify(Hs256(Claims()), kNow);
  ASSERT_TRUE(hs.ok()) << hs.status();
  EXPECT_EQ(hs->subject, "42");
  EXPECT_TRUE(hs->channels.all());
  EXPECT_EQ(hs->expires, kNow + absl::Hours(1));

  EXPECT_EQ(Why(Rs(), SignToken("RS256", rsa_->private_pem, R"({"alg":"RS256"})", Claims())), "ok");
  EXPECT_EQ(Why(Es(), SignToken("ES256", ec_->private_pem, R"({"alg":"ES256"})", Claims())), "ok");
}

TEST_F(JwtVerifierTest, AcceptsTokensMintedByLibjwt) {
  const TokenClaims claims{.subject = "42",
                           .issuer = "ds",
                           .audience = "ds-api",
                           .issued_at = kNow,
                           .channels = std::vector<uint64_t>{7, 9}};
  for (const auto& [alg, key, verifier] :
       {std::tuple{JwtAlgorithm::kHs256, kSecret, Hs()},
        std::tuple{JwtAlgorithm::kRs256, rsa_->private_pem, Rs()},
        std::tuple{JwtAlgorithm::kEs256, ec_->private_pem, Es()}}) {
    absl::StatusOr<std::string> token = MintToken({.alg = alg, .key = key}, claims);
    ASSERT_TRUE(token.ok()) << token.status();
    absl::StatusOr<Principal> p = verifier->Verify(*token, kNow);
    ASSERT_TRUE(p.ok()) << AlgorithmName(alg) << ": " << p.status();
    EXPECT_TRUE(p->channels.Allows(7));
    EXPECT_TRUE(p->channels.Allows(9));
    EXPECT_FALSE(p->channels.Allows(8));
  }
}

TEST_F(JwtVerifierTest, ExpiredTokenIsRefusedBeyondTheLeewayOnly) {
  EXPECT_EQ(Why(Hs(), Hs256(Claims(-absl::Seconds(31)))), "token expired");
  EXPECT_EQ(Why(Hs(), Hs256(Claims(-absl::Seconds(29)))), "ok");  // within 30 s of skew
}

TEST_F(JwtVerifierTest, NotYetValidTokenIsRefusedBeyondTheLeewayOnly) {
  const auto nbf = [](absl::Duration d) {
    return Claims(absl::Hours(1), absl::StrCat(",\"nbf\":", absl::ToUnixSeconds(kNow + d)));
  };
  EXPECT_EQ(Why(Hs(), Hs256(nbf(absl::Seconds(31)))), "token not yet valid");
  EXPECT_EQ(Why(Hs(), Hs256(nbf(absl::Seconds(29)))), "ok");
}

TEST_F(JwtVerifierTest, WrongIssuerOrAudienceIsRefused) {
  const std::string exp = absl::StrCat(absl::ToUnixSeconds(kNow + absl::Hours(1)));
  EXPECT_EQ(
      Why(Hs(), Hs256(absl::StrCat(R"({"sub":"1","iss":"evil","aud":"ds-api","exp":)", exp, "}"))),
      "wrong issuer");
  EXPECT_EQ(Why(Hs(), Hs256(absl::StrCat(R"({"sub":"1","aud":"ds-api","exp":)", exp, "}"))),
            "wrong issuer");
  EXPECT_EQ(
      Why(Hs(), Hs256(absl::StrCat(R"({"sub":"1","iss":"ds","aud":"other","exp":)", exp, "}"))),
      "wrong audience");
  EXPECT_EQ(Why(Hs(), Hs256(absl::StrCat(R"({"sub":"1","iss":"ds","aud":["x","ds-api"],"exp":)",
                                         exp, "}"))),
            "ok");
}

TEST_F(JwtVerifierTest, BadSignatureIsRefused) {
  std::string token = Hs256(Claims());
  token[token.size() - 3] = token[token.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Why(Hs(), token), "bad signature");
  EXPECT_EQ(Why(Hs(), SignToken("HS256", "another-secret-of-at-least-32-bytes!!",
                                R"({"alg":"HS256"})", Claims())),
            "bad signature");
  // A payload changed after signing.
  const std::string good = Hs256(Claims());
  const size_t dot1 = good.find('.'), dot2 = good.rfind('.');
  const std::string forged = absl::StrCat(
      good.substr(0, dot1), ".", B64(R"({"sub":"1","iss":"ds","aud":"ds-api","exp":9999999999})"),
      good.substr(dot2));
  EXPECT_EQ(Why(Hs(), forged), "bad signature");
  // An RS256 token signed by another key.
  const KeyPair other = testing::MakeRsaKey();
  EXPECT_EQ(Why(Rs(), SignToken("RS256", other.private_pem, R"({"alg":"RS256"})", Claims())),
            "bad signature");
}

TEST_F(JwtVerifierTest, AlgNoneIsRefused) {
  EXPECT_THAT(Why(Hs(), SignToken("none", "", R"({"alg":"none"})", Claims())),
              HasSubstr("unsigned"));
  EXPECT_THAT(Why(Hs(), SignToken("none", "", R"({"alg":"NONE"})", Claims())),
              HasSubstr("unsigned"));
  // alg none with a signature attached anyway.
  EXPECT_THAT(Why(Hs(), absl::StrCat(B64(R"({"alg":"none"})"), ".", B64(Claims()), ".AAAA")),
              HasSubstr("alg none"));
}

TEST_F(JwtVerifierTest, AlgorithmConfusionIsRefused) {
  // HS256 "signed" with the RSA public key's PEM text — the bytes the verifier
  // holds as its RS256 key.
  const VerificationKey rsa_key = *MakePublicKey(rsa_->public_pem);
  const std::string confused = SignToken("HS256", rsa_key.material, R"({"alg":"HS256"})", Claims());
  EXPECT_EQ(Why(Rs(), confused), "no key for alg HS256");
  // With an HS256 secret configured as well, the token is checked against
  // that secret only.
  EXPECT_EQ(Why(Verifier({rsa_key, *MakeHmacKey(kSecret)}), confused), "bad signature");
  // Also with the EC key, and with the public key as given in the file.
  const std::string ec_confused =
      SignToken("HS256", MakePublicKey(ec_->public_pem)->material, R"({"alg":"HS256"})", Claims());
  EXPECT_EQ(Why(Es(), ec_confused), "no key for alg HS256");
  EXPECT_EQ(Why(Rs(), SignToken("HS256", rsa_->public_pem, R"({"alg":"HS256"})", Claims())),
            "no key for alg HS256");
  // An RS256 header on a token for an ES256-only verifier.
  EXPECT_EQ(Why(Es(), SignToken("RS256", rsa_->private_pem, R"({"alg":"RS256"})", Claims())),
            "no key for alg RS256");
}

TEST_F(JwtVerifierTest, MalformedTokensAreRefusedBeforeAnySignatureWork) {
  const std::string good = Hs256(Claims());
  EXPECT_EQ(Why(Hs(), ""), "empty token");
  EXPECT_THAT(Why(Hs(), good.substr(0, good.size() / 2)), HasSubstr("malformed"));  // truncated
  EXPECT_THAT(Why(Hs(), good.substr(0, good.rfind('.'))), HasSubstr("three segments"));
  EXPECT_THAT(Why(Hs(), good.substr(0, good.rfind('.') + 1)), HasSubstr("empty signature"));
  EXPECT_THAT(Why(Hs(), "garbage"), HasSubstr("three segments"));
  EXPECT_THAT(Why(Hs(), "a.b.c.d"), HasSubstr("three segments"));
  EXPECT_THAT(Why(Hs(), "..."), HasSubstr("three segments"));
  EXPECT_THAT(Why(Hs(), "@@@.###.$$$"), HasSubstr("not base64url"));
  EXPECT_THAT(Why(Hs(), absl::StrCat(B64("not json"), ".", B64(Claims()), ".AAAA")),
              HasSubstr("not JSON"));
  EXPECT_THAT(Why(Hs(), absl::StrCat(B64(R"({"alg":"HS256"})"), ".", B64("[1,2]"), ".AAAA")),
              HasSubstr("not JSON"));
  EXPECT_THAT(Why(Hs(), SignToken("HS256", kSecret, R"({"typ":"JWT"})", Claims())),
              HasSubstr("no \"alg\""));
  EXPECT_THAT(Why(Hs(), SignToken("HS256", kSecret, R"({"alg":"HS512"})", Claims())),
              HasSubstr("unsupported alg"));
  // Oversized: refused on its length, even when correctly signed.
  const std::string big =
      Hs256(Claims(absl::Hours(1), absl::StrCat(",\"pad\":\"", std::string(9000, 'x'), "\"")));
  EXPECT_EQ(Why(Hs(), big), "token too large");
  // Binary junk of every byte value.
  std::string junk;
  for (int i = 0; i < 256; ++i) junk.push_back(static_cast<char>(i));
  EXPECT_NE(Why(Hs(), junk), "ok");
}

TEST_F(JwtVerifierTest, RequiredClaimsMustBePresentAndWellTyped) {
  EXPECT_EQ(Why(Hs(), Hs256(R"({"sub":"42","iss":"ds","aud":"ds-api"})")),
            "token without exp refused");
  EXPECT_EQ(Why(Hs(), Hs256(absl::StrCat(R"({"iss":"ds","aud":"ds-api","exp":)",
                                         absl::ToUnixSeconds(kNow + absl::Hours(1)), "}"))),
            "token without sub");
  EXPECT_THAT(Why(Hs(), Hs256(R"({"sub":"42","iss":"ds","aud":"ds-api","exp":"tomorrow"})")),
              HasSubstr("not a number"));
  EXPECT_THAT(Why(Hs(), Hs256(Claims(absl::Hours(1), R"(,"channels":{"a":1})"))),
              HasSubstr("channels"));
  EXPECT_THAT(Why(Hs(), SignToken("HS256", kSecret, R"({"alg":"HS256","crit":["exp"]})", Claims())),
              HasSubstr("critical"));
}

TEST_F(JwtVerifierTest, ChannelClaimForms) {
  const auto channels = [&](std::string claim) {
    return *Hs()->Verify(Hs256(Claims(absl::Hours(1), absl::StrCat(",\"channels\":", claim))),
                         kNow);
  };
  EXPECT_TRUE(channels(R"("*")").channels.all());
  EXPECT_TRUE(channels(R"([1,"*"])").channels.all());
  const Principal p = channels(R"([5,"6"])");
  EXPECT_FALSE(p.channels.all());
  EXPECT_TRUE(p.channels.Allows(5));
  EXPECT_TRUE(p.channels.Allows(6));
  EXPECT_FALSE(p.channels.Allows(7));
  EXPECT_FALSE(channels("[]").channels.Allows(1));
}

TEST_F(JwtVerifierTest, JwksSelectsTheKeyByKid) {
  const KeyPair rsa2 = testing::MakeRsaKey();
  const auto with_kid = [](const std::string& jwk, const char* kid) {
    return absl::StrCat(jwk.substr(0, jwk.size() - 1), R"(,"kid":")", kid, R"("})");
  };
  const std::string jwks =
      absl::StrCat(R"({"keys":[)", with_kid(rsa_->jwk, "r1"), ",", with_kid(rsa2.jwk, "r2"), ",",
                   with_kid(ec_->jwk, "e1"), R"(,{"kty":"oct","k":"c2VjcmV0"}]})");
  absl::StatusOr<std::vector<VerificationKey>> keys = LoadKeysFromJwks(jwks);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 3u);  // the symmetric key is skipped
  auto v = Verifier(*keys);
  EXPECT_EQ(Why(v, SignToken("RS256", rsa2.private_pem, R"({"alg":"RS256","kid":"r2"})", Claims())),
            "ok");
  EXPECT_EQ(Why(v, SignToken("ES256", ec_->private_pem, R"({"alg":"ES256","kid":"e1"})", Claims())),
            "ok");
  // Without a kid every key of the algorithm is tried.
  EXPECT_EQ(Why(v, SignToken("RS256", rsa_->private_pem, R"({"alg":"RS256"})", Claims())), "ok");
  // The right key under the wrong kid fails; an unknown kid has no key.
  EXPECT_EQ(Why(v, SignToken("RS256", rsa2.private_pem, R"({"alg":"RS256","kid":"r1"})", Claims())),
            "bad signature");
  EXPECT_EQ(Why(v, SignToken("RS256", rsa2.private_pem, R"({"alg":"RS256","kid":"zz"})", Claims())),
            "no key for alg RS256 and kid zz");
  // A kid naming an EC key on an RS256 token: confusion again.
  EXPECT_EQ(
      Why(v, SignToken("RS256", rsa_->private_pem, R"({"alg":"RS256","kid":"e1"})", Claims())),
      "no key for alg RS256 and kid e1");
}

TEST(BearerTokenTest, ParsesTheSchemeCaseInsensitively) {
  EXPECT_EQ(*BearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(*BearerToken("bearer   abc"), "abc");
  EXPECT_FALSE(BearerToken("").ok());
  EXPECT_FALSE(BearerToken("Basic dXNlcjpwYXNz").ok());
  EXPECT_FALSE(BearerToken("Bearer ").ok());
  EXPECT_FALSE(BearerToken("Bearerabc").ok());
}

TEST(AuthorForTest, TheSubjectIsTheAuthor) {
  Principal anonymous;
  EXPECT_EQ(*AuthorFor(anonymous, 7), std::optional<uint64_t>(7));
  EXPECT_EQ(*AuthorFor(anonymous, std::nullopt), std::nullopt);
  Principal p;
  p.subject = "42";
  EXPECT_EQ(*AuthorFor(p, 42), std::optional<uint64_t>(42));
  EXPECT_EQ(*AuthorFor(p, std::nullopt), std::optional<uint64_t>(42));  // filled in
  EXPECT_EQ(AuthorFor(p, 43).status().code(), absl::StatusCode::kPermissionDenied);
  p.subject = "alice";
  EXPECT_EQ(AuthorFor(p, std::nullopt).status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace ds::auth
