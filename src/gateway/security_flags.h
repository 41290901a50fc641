// AddSecurityFlags: registers SecurityConfig's fields as CLI11 flags (and
// DS_* environment variables). Include from a main.cc only: CLI11's header is
// slow to compile.
#pragma once

#include <CLI/CLI.hpp>

#include "auth/grpc_tls_flags.h"
#include "gateway/security_config.h"

namespace ds::gateway {

inline void AddSecurityFlags(CLI::App& app, SecurityConfig& c) {
  const std::string g = "Security (docs/security.md)";
  auth::AddServerCertificateFlags(app, g, "HTTPS/WSS", " (SIGHUP reloads both)", c.tls_cert_file,
                                  c.tls_key_file, c.tls_client_ca_file);
  app.add_option("--jwt-hs256-secret-file", c.jwt_hs256_secret_file,
                 "turn authentication on: HS256 shared secret (>= 32 bytes)")
      ->envname("DS_JWT_HS256_SECRET_FILE")
      ->group(g);
  app.add_option("--jwt-public-key", c.jwt_public_key_file,
                 "turn authentication on: PEM public key (RSA >= 2048 → RS256, EC P-256 → ES256)")
      ->envname("DS_JWT_PUBLIC_KEY")
      ->group(g);
  app.add_option("--jwt-jwks", c.jwt_jwks_file, "turn authentication on: JWKS file (RS256/ES256)")
      ->envname("DS_JWT_JWKS")
      ->group(g);
  app.add_option("--jwt-issuer", c.jwt_issuer, "required iss (empty: not checked)")
      ->capture_default_str()
      ->envname("DS_JWT_ISSUER")
      ->group(g);
  app.add_option("--jwt-audience", c.jwt_audience, "required aud (empty: not checked)")
      ->capture_default_str()
      ->envname("DS_JWT_AUDIENCE")
      ->group(g);
  app.add_option("--jwt-leeway-s", c.jwt_leeway_seconds, "clock skew allowed on exp/nbf")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0))
      ->group(g);
  app.add_option("--jwt-channels-claim", c.jwt_channels_claim,
                 "claim listing the allowed channel ids (absent or \"*\": all)")
      ->capture_default_str()
      ->group(g);
  app.add_option("--read-rate", c.read_rate, "reads per second per principal (0: unlimited)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->envname("DS_READ_RATE")
      ->group(g);
  app.add_option("--read-burst", c.read_burst, "read bucket size (0: 2 x --read-rate)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->group(g);
  app.add_option("--write-rate", c.write_rate, "writes per second per principal (0: unlimited)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->envname("DS_WRITE_RATE")
      ->group(g);
  app.add_option("--write-burst", c.write_burst, "write bucket size (0: 2 x --write-rate)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->group(g);
  app.add_option("--rate-limit-principals", c.rate_limit_principals,
                 "principals whose buckets are remembered (LRU)")
      ->capture_default_str()
      ->check(CLI::Range(16, 100'000'000))
      ->group(g);
  app.add_option("--access-log", c.access_log, "access log file, - for stdout (default: none)")
      ->envname("DS_ACCESS_LOG")
      ->group(g);
  app.add_option("--access-log-sample", c.access_log_sample,
                 "fraction of ordinary lines kept (errors always)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0))
      ->group(g);
}

}  // namespace ds::gateway
