// CLI11 flags for gRPC TLS (auth/grpc_tls.h), shared by the binaries:
//   AddNodeTlsClientFlags  ds-gateway, ds-loadgen: --node-tls-ca/-cert/-key
//   AddNodeTlsServerFlags  ds-node: --tls-cert/--tls-key/--tls-client-ca/--peer-tls-ca
//   AddServerCertificateFlags  --tls-cert/--tls-key/--tls-client-ca (ds-node, ds-gateway)
// Include from a main.cc only: CLI11's header is slow to compile.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "auth/grpc_tls.h"

namespace ds::auth {

inline void AddNodeTlsClientFlags(CLI::App& app, GrpcClientTlsFiles& f) {
  const std::string g = "TLS to the nodes (docs/security.md)";
  app.add_option("--node-tls-ca", f.ca_file,
                 "dial the nodes with TLS, verifying their certificates against this PEM CA "
                 "bundle (TLS is also on, with the system roots, when only --node-tls-cert is set)")
      ->envname("DS_NODE_TLS_CA")
      ->group(g);
  app.add_option("--node-tls-cert", f.cert_file,
                 "PEM client certificate chain for nodes that require one (mutual TLS)")
      ->envname("DS_NODE_TLS_CERT")
      ->group(g);
  app.add_option("--node-tls-key", f.key_file, "PEM private key of --node-tls-cert")
      ->envname("DS_NODE_TLS_KEY")
      ->group(g);
}

// A server's own certificate flags, the same names for every server binary:
// --tls-cert (`serves`: what it serves over TLS), --tls-key (`key_note`
// appended to its help), --tls-client-ca.
inline void AddServerCertificateFlags(CLI::App& app, const std::string& group,
                                      const std::string& serves, const std::string& key_note,
                                      std::string& cert, std::string& key, std::string& client_ca) {
  app.add_option("--tls-cert", cert, "PEM certificate chain: serve " + serves)
      ->envname("DS_TLS_CERT")
      ->group(group);
  app.add_option("--tls-key", key, "PEM private key of --tls-cert" + key_note)
      ->envname("DS_TLS_KEY")
      ->group(group);
  app.add_option("--tls-client-ca", client_ca,
                 "PEM CA bundle: require client certificates signed by it (mutual TLS)")
      ->envname("DS_TLS_CLIENT_CA")
      ->group(group);
}

inline void AddNodeTlsServerFlags(CLI::App& app, GrpcServerTlsFiles& f) {
  const std::string g = "gRPC TLS (docs/security.md)";
  AddServerCertificateFlags(app, g, "gRPC over TLS", "", f.cert_file, f.key_file, f.client_ca_file);
  app.add_option("--peer-tls-ca", f.peer_ca_file,
                 "PEM CA bundle the --peers' certificates are checked against when this node "
                 "pokes them (default: --tls-client-ca, else the system roots); the node "
                 "presents its own --tls-cert to them")
      ->envname("DS_PEER_TLS_CA")
      ->group(g);
}

}  // namespace ds::auth
