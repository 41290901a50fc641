// Test-only: a throw-away certificate authority and certificates made at run
// time with the `openssl` command line tool, in a fresh temporary directory
// removed at destruction. Certificates are EC P-256, valid two days, with
// subjectAltName IP:127.0.0.1 and DNS:localhost.
//
// Usage:
//   ds::http::testing::TestCerts certs;            // makes ca.crt / ca.key
//   auto server = certs.Issue("server-1");         // server-1.crt / server-1.key
//   ds::http::TlsFiles files{.cert_file = server.cert, .key_file = server.key};
//
// Not thread-safe.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace ds::http::testing {

class TestCerts {
 public:
  struct Pair {
    std::string cert;
    std::string key;
  };

  TestCerts() {
    char tmpl[] = "/tmp/ds-certs-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
        " -subj /CN=ds-test-ca -keyout " +
        Path("ca.key") + " -out " + Path("ca.crt"));
    std::ofstream(Path("ext.cnf")) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  }
  ~TestCerts() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TestCerts(const TestCerts&) = delete;
  TestCerts& operator=(const TestCerts&) = delete;

  // A certificate with common name `name`, signed by this CA.
  Pair Issue(const std::string& name) {
    const std::string key = Path(name + ".key"), csr = Path(name + ".csr"),
                      crt = Path(name + ".crt");
    Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + name +
        " -keyout " + key + " -out " + csr);
    Run("openssl x509 -req -days 2 -in " + csr + " -CA " + Path("ca.crt") + " -CAkey " +
        Path("ca.key") + " -CAcreateserial -extfile " + Path("ext.cnf") + " -out " + crt);
    return {crt, key};
  }

  std::string ca_cert() const { return Path("ca.crt"); }
  std::string Path(const std::string& file) const { return dir_ + "/" + file; }

 private:
  static void Run(const std::string& command) {
    if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) {
      throw std::runtime_error("failed: " + command);
    }
  }

  std::string dir_;
};

}  // namespace ds::http::testing
