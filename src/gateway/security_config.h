// SecurityConfig: the gateway's security settings as flags, and their loading
// into what the server and the security layer take (TLS credentials, the JWT
// verifier, rate limits, the access log). Composition roots call
// AddSecurityFlags (security_flags.h, CLI11) and then LoadSecurity.
//
// Usage (ds-gateway main.cc):
//   ds::gateway::SecurityConfig sec;
//   ds::gateway::AddSecurityFlags(app, sec);            // after CLI11 parsing:
//   absl::StatusOr<ds::gateway::LoadedSecurity> loaded = ds::gateway::LoadSecurity(sec);
//   http_options.tls = loaded->tls;                       // null without --tls-cert
//   http_options.access_observer = loaded->access_log;    // null without --access-log
//   auto handler = std::make_shared<ds::gateway::SecureHandler>(loaded->options, live, registry);
//   on SIGHUP: loaded->tls->Reload()
//
// Thread-compatible (called once at start-up).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/access_log_writer.h"
#include "gateway/secure_handler.h"
#include "http/tls.h"

namespace ds::gateway {

struct SecurityConfig {
  // TLS (HTTPS/WSS) on the API port.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Authentication: at most one key source; none = authentication off.
  std::string jwt_hs256_secret_file;
  std::string jwt_public_key_file;  // RS256 or ES256 (by the key's type)
  std::string jwt_jwks_file;
  std::string jwt_issuer = "ds";
  std::string jwt_audience = "ds-api";
  double jwt_leeway_seconds = 30;
  std::string jwt_channels_claim = "channels";
  // Rate limits per principal (0 = unlimited).
  double read_rate = 0;
  double read_burst = 0;  // 0: = 2 × read_rate (at least 1)
  double write_rate = 0;
  double write_burst = 0;
  size_t rate_limit_principals = 100'000;
  // Access log: a file, "-" for stdout, "" for none.
  std::string access_log;
  double access_log_sample = 1.0;
};

struct LoadedSecurity {
  SecurityOptions options;
  std::shared_ptr<http::TlsCredentials> tls;    // null: plain HTTP
  std::shared_ptr<AccessLogWriter> access_log;  // null: no access log
};

// INVALID_ARGUMENT / NOT_FOUND naming the flag or file that is wrong.
absl::StatusOr<LoadedSecurity> LoadSecurity(const SecurityConfig& config);

}  // namespace ds::gateway
