#include "gateway/security_config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "auth/keys.h"

namespace ds::gateway {
namespace {

absl::StatusOr<std::vector<auth::VerificationKey>> LoadKeys(const SecurityConfig& c) {
  const int sources =
      !c.jwt_hs256_secret_file.empty() + !c.jwt_public_key_file.empty() + !c.jwt_jwks_file.empty();
  if (sources > 1) {
    return absl::InvalidArgumentError(
        "give at most one of --jwt-hs256-secret-file, --jwt-public-key, --jwt-jwks");
  }
  std::vector<auth::VerificationKey> keys;
  if (sources == 0) return keys;
  const std::string& file = !c.jwt_hs256_secret_file.empty() ? c.jwt_hs256_secret_file
                            : !c.jwt_public_key_file.empty() ? c.jwt_public_key_file
                                                             : c.jwt_jwks_file;
  absl::StatusOr<std::string> text = auth::ReadWholeFile(file);
  if (!text.ok()) return text.status();
  if (!c.jwt_jwks_file.empty()) return auth::LoadKeysFromJwks(*text);
  absl::StatusOr<auth::VerificationKey> key = !c.jwt_hs256_secret_file.empty()
                                                  ? auth::MakeHmacKey(*std::move(text))
                                                  : auth::MakePublicKey(*text);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", key.status().message()));
  }
  keys.push_back(*std::move(key));
  return keys;
}

auth::RateLimit Limit(double rate, double burst) {
  if (rate <= 0) return {};
  return {.per_second = rate, .burst = burst > 0 ? burst : std::max(1.0, 2 * rate)};
}

}  // namespace

absl::StatusOr<LoadedSecurity> LoadSecurity(const SecurityConfig& c) {
  LoadedSecurity out;
  if (!c.tls_cert_file.empty() || !c.tls_key_file.empty()) {
    absl::StatusOr<std::shared_ptr<http::TlsCredentials>> tls =
        http::TlsCredentials::Load({.cert_file = c.tls_cert_file,
                                    .key_file = c.tls_key_file,
                                    .client_ca_file = c.tls_client_ca_file});
    if (!tls.ok()) return tls.status();
    out.tls = *std::move(tls);
  }
  absl::StatusOr<std::vector<auth::VerificationKey>> keys = LoadKeys(c);
  if (!keys.ok()) return keys.status();
  if (!keys->empty()) {
    absl::StatusOr<std::shared_ptr<const auth::JwtVerifier>> verifier =
        auth::JwtVerifier::Create({.keys = *std::move(keys),
                                   .issuer = c.jwt_issuer,
                                   .audience = c.jwt_audience,
                                   .leeway = absl::Seconds(c.jwt_leeway_seconds),
                                   .channels_claim = c.jwt_channels_claim});
    if (!verifier.ok()) return verifier.status();
    out.options.verifier = *std::move(verifier);
  }
  out.options.rate_limits.reads = Limit(c.read_rate, c.read_burst);
  out.options.rate_limits.writes = Limit(c.write_rate, c.write_burst);
  out.options.rate_limits.max_principals = c.rate_limit_principals;
  if (!c.access_log.empty()) {
    absl::StatusOr<std::shared_ptr<AccessLogWriter>> log =
        AccessLogWriter::Open(c.access_log, c.access_log_sample);
    if (!log.ok()) return log.status();
    out.access_log = *std::move(log);
  }
  return out;
}

}  // namespace ds::gateway
