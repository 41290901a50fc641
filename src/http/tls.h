// TlsCredentials: the certificate and key an HTTPS (and WSS) port serves,
// loaded from PEM files and reloadable while the server runs.
//
// Each TLS connection keeps the OpenSSL context it was accepted with, so a
// Reload() changes what *new* connections see and never touches open ones:
// reloading on SIGHUP drops no connection. A Reload() that fails (missing
// file, key not matching the certificate) keeps the current credentials.
//
// Protocol defaults ("modern"/"intermediate" in the Mozilla server-side TLS
// sense): TLS 1.2 and 1.3 only, TLS 1.2 restricted to ECDHE with AES-GCM or
// ChaCha20-Poly1305, no compression, no renegotiation, ALPN "http/1.1".
// Optionally (client_ca_file) clients must present a certificate signed by
// that CA (mutual TLS).
//
// Usage:
//   auto tls = ds::http::TlsCredentials::Load({.cert_file = "gw.crt", .key_file = "gw.key"});
//   if (!tls.ok()) return tls.status();
//   ds::http::ServerOptions options{.port = 8443, .tls = *tls};
//   ... on SIGHUP: if (absl::Status s = (*tls)->Reload(); !s.ok()) log it;
//
// Thread-safe: Reload and context may be called from any thread.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace ds::http {

struct TlsFiles {
  std::string cert_file;       // PEM: the certificate, then any intermediates
  std::string key_file;        // PEM: its private key
  std::string client_ca_file;  // PEM CA bundle; when set, client certificates are required
};

class TlsCredentials {
 public:
  // INVALID_ARGUMENT naming the file and OpenSSL's reason when the files
  // cannot be used.
  static absl::StatusOr<std::shared_ptr<TlsCredentials>> Load(TlsFiles files);

  // Re-reads the files. On error the current credentials stay in use.
  absl::Status Reload();

  // The context new connections use.
  std::shared_ptr<boost::asio::ssl::context> context() const;
  // How many times the credentials were (re)loaded successfully.
  uint64_t generation() const;

 private:
  explicit TlsCredentials(TlsFiles files) : files_(std::move(files)) {}

  const TlsFiles files_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

// A client-side context with the same protocol floor, trusting `ca_file`
// (PEM); with `cert_file`/`key_file` it presents a client certificate. For
// tests and tools.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeClientTlsContext(
    const std::string& ca_file, const std::string& cert_file = "",
    const std::string& key_file = "");

}  // namespace ds::http
