// gRPC transport security between the gateway / load generator and the nodes,
// and between nodes (live pokes): PEM files → gRPC channel and server
// credentials, checked when loaded so that a wrong path, a malformed PEM file
// or a key that does not match its certificate fails at startup with the file
// named, instead of as a handshake failure on the first call.
//
// Usage (a client: ds-gateway, ds-loadgen):
//   ds::auth::GrpcClientTlsFiles files{.ca_file = "ca.crt"};   // + cert/key for mTLS
//   absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
//       ds::auth::LoadChannelCredentials(files);
//   routing_options.credentials = *creds;
// (a node: ds-node)
//   ds::auth::GrpcServerTlsFiles tls{.cert_file = "node.crt", .key_file = "node.key",
//                                    .client_ca_file = "ca.crt"};   // require client certs
//   node_options.credentials = *ds::auth::LoadServerCredentials(tls);
//
// Everything is off by default: empty files give insecure (plaintext)
// credentials. Certificates are read once; a node or client restart picks up
// new files (no SIGHUP reload on the gRPC side, unlike the gateway's HTTPS).
//
// Threads: free functions without shared state; thread-safe.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ds::auth {

// A client's view of the nodes. TLS is on when any field is set.
struct GrpcClientTlsFiles {
  // PEM CA bundle the node certificates must chain to; "" = the system roots.
  std::string ca_file;
  // PEM certificate chain and private key presented to nodes that require
  // client certificates (mutual TLS). Both or neither.
  std::string cert_file;
  std::string key_file;

  bool enabled() const { return !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
};

// A node's serving side. TLS is on when cert_file and key_file are set.
struct GrpcServerTlsFiles {
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle: require every client to present a certificate signed by it.
  std::string client_ca_file;
  // The CA bundle a node verifies its peers' server certificates with when it
  // pokes them (live channels); "" = client_ca_file, else the system roots.
  std::string peer_ca_file;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Insecure credentials when !files.enabled(); else SSL credentials.
// NOT_FOUND / PERMISSION_DENIED when a file cannot be read; INVALID_ARGUMENT
// when it holds no PEM certificate / unencrypted private key, the key does not
// belong to the certificate, or only one of cert_file/key_file is set. The
// message names the file and its role.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> LoadChannelCredentials(
    const GrpcClientTlsFiles& files);

// Insecure credentials when !files.enabled(); else SSL server credentials that
// require and verify a client certificate when client_ca_file is set, and ask
// for none otherwise. Errors as LoadChannelCredentials, plus client_ca_file or
// peer_ca_file without a certificate.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> LoadServerCredentials(
    const GrpcServerTlsFiles& files);

// What a TLS node dials its peers with: insecure when !files.enabled();
// else SSL credentials rooted at peer_ca_file (or client_ca_file, or the
// system roots) that present the node's own certificate, so that peers
// requiring client certificates accept it (the certificate must then allow
// client authentication: no extendedKeyUsage, or one with clientAuth).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> LoadPeerCredentials(
    const GrpcServerTlsFiles& files);

}  // namespace ds::auth
