#include "http/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ds::http {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 keeps OpenSSL's
// defaults (all AEAD).
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnHttp11, sizeof(kAlpnHttp11), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // the client offers no HTTP/1.1: carry on without ALPN
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

absl::Status Failed(const std::string& what, const std::string& file,
                    const boost::system::error_code& ec) {
  return absl::InvalidArgumentError(absl::StrCat(what, " ", file, ": ", ec.message()));
}

absl::Status Harden(ssl::context& ctx) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::no_compression | ssl::context::single_dh_use);
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    return absl::InternalError("OpenSSL refused the TLS protocol settings");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<ssl::context>> Build(const TlsFiles& files) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  if (absl::Status s = Harden(*ctx); !s.ok()) return s;
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(files.cert_file, ec);
  if (ec) return Failed("TLS certificate", files.cert_file, ec);
  ctx->use_private_key_file(files.key_file, ssl::context::pem, ec);
  if (ec) return Failed("TLS private key", files.key_file, ec);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS private key ", files.key_file, " does not match certificate ", files.cert_file));
  }
  if (!files.client_ca_file.empty()) {
    ctx->load_verify_file(files.client_ca_file, ec);
    if (ec) return Failed("TLS client CA", files.client_ca_file, ec);
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  SSL_CTX_set_alpn_select_cb(ctx->native_handle(), SelectAlpn, nullptr);
  return ctx;
}

}  // namespace

absl::StatusOr<std::shared_ptr<TlsCredentials>> TlsCredentials::Load(TlsFiles files) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate file and a key file");
  }
  auto creds = std::shared_ptr<TlsCredentials>(new TlsCredentials(std::move(files)));
  if (absl::Status s = creds->Reload(); !s.ok()) return s;
  return creds;
}

absl::Status TlsCredentials::Reload() {
  absl::StatusOr<std::shared_ptr<ssl::context>> ctx = Build(files_);
  if (!ctx.ok()) return ctx.status();
  std::lock_guard<std::mutex> lock(mu_);
  current_ = *std::move(ctx);
  ++generation_;
  return absl::OkStatus();
}

std::shared_ptr<ssl::context> TlsCredentials::context() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

uint64_t TlsCredentials::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

absl::StatusOr<std::shared_ptr<ssl::context>> MakeClientTlsContext(const std::string& ca_file,
                                                                   const std::string& cert_file,
                                                                   const std::string& key_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (absl::Status s = Harden(*ctx); !s.ok()) return s;
  boost::system::error_code ec;
  ctx->load_verify_file(ca_file, ec);
  if (ec) return Failed("TLS CA", ca_file, ec);
  ctx->set_verify_mode(ssl::verify_peer);
  if (!cert_file.empty()) {
    ctx->use_certificate_chain_file(cert_file, ec);
    if (ec) return Failed("TLS client certificate", cert_file, ec);
    ctx->use_private_key_file(key_file, ssl::context::pem, ec);
    if (ec) return Failed("TLS client key", key_file, ec);
  }
  return ctx;
}

}  // namespace ds::http
