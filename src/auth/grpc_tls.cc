#include "auth/grpc_tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "auth/internal/openssl_ptr.h"
#include "auth/keys.h"

namespace ds::auth {
namespace {

using BioPtr = internal::OsslPtr<BIO, BIO_free>;
using X509Ptr = internal::OsslPtr<X509, X509_free>;
using PkeyPtr = internal::OsslPtr<EVP_PKEY, EVP_PKEY_free>;

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The file's text when it holds at least one PEM certificate (the first is
// returned in `first` when not null).
absl::StatusOr<std::string> ReadCertificates(const std::string& role, const std::string& path,
                                             X509Ptr* first = nullptr) {
  absl::StatusOr<std::string> pem = ReadWholeFile(path);
  if (!pem.ok())
    return absl::Status(pem.status().code(), absl::StrCat(role, ": ", pem.status().message()));
  BioPtr bio = MemBio(*pem);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(role, ": no PEM certificate in ", path));
  }
  if (first != nullptr) *first = std::move(cert);
  return pem;
}

struct KeyPair {
  std::string cert_chain;
  std::string private_key;
};

// Both files, checked: the key parses and belongs to the first certificate.
absl::StatusOr<KeyPair> ReadKeyPair(const std::string& role, const std::string& cert_file,
                                    const std::string& key_file) {
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(role, ": a certificate and its private key go together (both or neither)"));
  }
  X509Ptr cert;
  absl::StatusOr<std::string> chain = ReadCertificates(role + " certificate", cert_file, &cert);
  if (!chain.ok()) return chain.status();
  absl::StatusOr<std::string> key = ReadWholeFile(key_file);
  if (!key.ok()) {
    return absl::Status(key.status().code(), absl::StrCat(role, " key: ", key.status().message()));
  }
  BioPtr bio = MemBio(*key);
  PkeyPtr pkey(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(role, " key: no unencrypted PEM private key in ", key_file));
  }
  if (X509_check_private_key(cert.get(), pkey.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(role, ": the key in ", key_file, " does not belong to ", cert_file));
  }
  return KeyPair{*std::move(chain), *std::move(key)};
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> SslChannel(const std::string& role,
                                                                     const std::string& ca_file,
                                                                     const std::string& cert_file,
                                                                     const std::string& key_file) {
  grpc::SslCredentialsOptions ssl;
  if (!ca_file.empty()) {
    absl::StatusOr<std::string> roots = ReadCertificates(role + " CA", ca_file);
    if (!roots.ok()) return roots.status();
    ssl.pem_root_certs = *std::move(roots);
  }
  if (!cert_file.empty() || !key_file.empty()) {
    absl::StatusOr<KeyPair> pair = ReadKeyPair(role, cert_file, key_file);
    if (!pair.ok()) return pair.status();
    ssl.pem_cert_chain = std::move(pair->cert_chain);
    ssl.pem_private_key = std::move(pair->private_key);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> LoadChannelCredentials(
    const GrpcClientTlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureChannelCredentials();
  return SslChannel("node TLS (client)", files.ca_file, files.cert_file, files.key_file);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> LoadServerCredentials(
    const GrpcServerTlsFiles& files) {
  if (!files.enabled()) {
    if (!files.client_ca_file.empty() || !files.peer_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "gRPC TLS: a client or peer CA needs the node's own certificate and key");
    }
    return grpc::InsecureServerCredentials();
  }
  absl::StatusOr<KeyPair> pair = ReadKeyPair("gRPC TLS", files.cert_file, files.key_file);
  if (!pair.ok()) return pair.status();
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back({pair->private_key, pair->cert_chain});
  if (!files.client_ca_file.empty()) {
    absl::StatusOr<std::string> roots =
        ReadCertificates("gRPC TLS client CA", files.client_ca_file);
    if (!roots.ok()) return roots.status();
    ssl.pem_root_certs = *std::move(roots);
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> LoadPeerCredentials(
    const GrpcServerTlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureChannelCredentials();
  const std::string& ca = !files.peer_ca_file.empty() ? files.peer_ca_file : files.client_ca_file;
  return SslChannel("gRPC TLS (peers)", ca, files.cert_file, files.key_file);
}

}  // namespace ds::auth
