// ds-token: mints a JSON Web Token the gateway accepts — for demos, scripts
// and tests. Prints the token on stdout.
//
//   ds-token --hs256-secret-file secret.key --sub 42 --iss ds --aud ds-api
//   ds-token --private-key es256.pem --alg ES256 --sub 42 --channels 1,2,3 --ttl 15m
//   ds-token --hs256-secret-file secret.key --sub 42 --not-before-in 1h
//
// Exit status: 0 and the token; 2 for bad flags or keys.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "auth/keys.h"
#include "auth/token_minter.h"

namespace {

struct Flags {
  std::string secret_file;
  std::string private_key_file;
  std::string alg;
  std::string kid;
  std::string sub;
  std::string iss = "ds";
  std::string aud = "ds-api";
  std::string ttl = "1h";
  std::string not_before_in;
  std::string channels;
  std::string channels_claim = "channels";
};

int Fail(const std::string& why) {
  std::fprintf(stderr, "ds-token: %s\n", why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app("ds-token: mint a JWT for the Data Services gateway");
  app.add_option("--hs256-secret-file", f.secret_file, "HS256: file holding the shared secret");
  app.add_option("--private-key", f.private_key_file, "RS256/ES256: PEM private key file");
  app.add_option("--alg", f.alg,
                 "HS256, RS256 or ES256 (default: HS256 with a secret, else RS256)");
  app.add_option("--kid", f.kid, "key id written to the header (JWKS key selection)");
  app.add_option("--sub", f.sub, "subject: the author id the token acts as")->required();
  app.add_option("--iss", f.iss, "issuer (empty: omitted)")->capture_default_str();
  app.add_option("--aud", f.aud, "audience (empty: omitted)")->capture_default_str();
  app.add_option("--ttl", f.ttl, "lifetime, e.g. 90s, 15m, 1h (negative: already expired)")
      ->capture_default_str();
  app.add_option("--not-before-in", f.not_before_in, "nbf = now + this duration");
  app.add_option(
      "--channels", f.channels,
      "comma-separated channel ids the token allows, or * (default: claim omitted = all)");
  app.add_option("--channels-claim", f.channels_claim, "name of the channel claim")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  ds::auth::SigningKey key;
  if (!f.secret_file.empty() == !f.private_key_file.empty()) {
    return Fail("give exactly one of --hs256-secret-file and --private-key");
  }
  const std::string& file = f.secret_file.empty() ? f.private_key_file : f.secret_file;
  absl::StatusOr<std::string> material = ds::auth::ReadWholeFile(file);
  if (!material.ok()) return Fail(std::string(material.status().message()));
  key.key = *std::move(material);
  key.kid = f.kid;
  const std::string alg = f.alg.empty() ? (f.secret_file.empty() ? "RS256" : "HS256") : f.alg;
  if (alg == "HS256") {
    key.alg = ds::auth::JwtAlgorithm::kHs256;
    if (key.key.size() < ds::auth::kMinHmacSecretBytes)
      return Fail("HS256 secret shorter than 32 bytes");
  } else if (alg == "RS256") {
    key.alg = ds::auth::JwtAlgorithm::kRs256;
  } else if (alg == "ES256") {
    key.alg = ds::auth::JwtAlgorithm::kEs256;
  } else {
    return Fail("--alg must be HS256, RS256 or ES256");
  }

  ds::auth::TokenClaims claims{.subject = f.sub,
                               .issuer = f.iss,
                               .audience = f.aud,
                               .issued_at = absl::Now(),
                               .channels_claim = f.channels_claim};
  if (!absl::ParseDuration(f.ttl, &claims.ttl)) return Fail("bad --ttl: " + f.ttl);
  if (!f.not_before_in.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(f.not_before_in, &d)) return Fail("bad --not-before-in");
    claims.not_before = claims.issued_at + d;
  }
  if (!f.channels.empty()) {
    std::vector<uint64_t> ids;
    if (f.channels != "*") {
      for (absl::string_view part : absl::StrSplit(f.channels, ',', absl::SkipWhitespace())) {
        uint64_t id = 0;
        if (!absl::SimpleAtoi(part, &id)) return Fail("bad --channels: " + f.channels);
        ids.push_back(id);
      }
    }
    claims.channels = std::move(ids);  // empty = "*"
  }
  absl::StatusOr<std::string> token = ds::auth::MintToken(key, claims);
  if (!token.ok()) return Fail(std::string(token.status().message()));
  std::printf("%s\n", token->c_str());
  return 0;
}
