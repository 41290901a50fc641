// HTTPS on ds::http::Server: the handshake, protocol floor, mutual TLS, the
// handshake timeout, and certificate reload under live connections.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "http/server.h"
#include "http/test_certs.h"
#include "http/test_handler.h"
#include "testing/https_test_client.h"

namespace ds::http {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using ::ds::http::testing::TestCerts;
using ::ds::http::testing::TestHandler;
using ::ds::testing::HttpsTestClient;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    first_ = certs_.Issue("server-1");
    files_ = {.cert_file = certs_.Path("live.crt"), .key_file = certs_.Path("live.key")};
    Install(first_);
  }

  // Puts `pair` where the server's files are (as a deploy would).
  void Install(const TestCerts::Pair& pair) {
    std::filesystem::copy_file(pair.cert, files_.cert_file,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(pair.key, files_.key_file,
                               std::filesystem::copy_options::overwrite_existing);
  }

  void StartServer(ServerOptions options = {}) {
    auto tls = TlsCredentials::Load(files_);
    ASSERT_TRUE(tls.ok()) << tls.status();
    tls_ = *tls;
    options.io_threads = 2;
    options.tls = tls_;
    auto server = Server::Start(options, handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::shared_ptr<ssl::context> ClientContext() {
    auto ctx = MakeClientTlsContext(certs_.ca_cert());
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    return *ctx;
  }

  TestCerts certs_;
  TestCerts::Pair first_;
  TlsFiles files_;
  std::shared_ptr<TlsCredentials> tls_;
  std::shared_ptr<TestHandler> handler_ = std::make_shared<TestHandler>();
  std::unique_ptr<Server> server_;
};

TEST_F(TlsTest, ServesHttpsWithAVerifiedCertificate) {
  StartServer();
  HttpsTestClient client(server_->port(), ClientContext());
  ASSERT_FALSE(client.handshake_error()) << client.handshake_error().message();
  EXPECT_EQ(client.PeerName(), "server-1");
  EXPECT_EQ(client.Get("/echo"), std::make_pair(200, std::string("GET ")));
  EXPECT_EQ(client.Get("/echo"), std::make_pair(200, std::string("GET ")));  // keep-alive
}

TEST_F(TlsTest, PlainHttpAndOldProtocolsAreRefused) {
  StartServer();
  {
    // Plain HTTP on the TLS port: the handshake fails, nothing is served.
    net::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
    const std::string req = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
    net::write(s, net::buffer(req));
    char buf[64];
    boost::system::error_code ec;
    size_t n = 0;
    while (!ec) n += s.read_some(net::buffer(buf), ec);
    EXPECT_EQ(std::string(buf, std::min<size_t>(n, 4)).find("HTTP"), std::string::npos);
  }
  // A client that only speaks TLS 1.1.
  auto old = ClientContext();
  SSL_CTX_set_min_proto_version(old->native_handle(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(old->native_handle(), TLS1_1_VERSION);
  HttpsTestClient client(server_->port(), old);
  EXPECT_TRUE(client.handshake_error().failed());
  EXPECT_EQ(handler_->requests(), 0);
  // A client that does not trust the server's CA fails too (the certificate
  // is really checked by the client context used in these tests).
  TestCerts other;
  auto untrusting = MakeClientTlsContext(other.ca_cert());
  ASSERT_TRUE(untrusting.ok());
  EXPECT_TRUE(HttpsTestClient(server_->port(), *untrusting).handshake_error().failed());
}

TEST_F(TlsTest, ReloadServesTheNewCertificateWithoutDroppingOpenConnections) {
  StartServer();
  HttpsTestClient old_idle(server_->port(), ClientContext());
  HttpsTestClient old_busy(server_->port(), ClientContext());
  ASSERT_EQ(old_idle.Get("/echo").first, 200);
  // A request in flight across the reload.
  std::thread busy(
      [&] { EXPECT_EQ(old_busy.Get("/later"), std::make_pair(200, std::string("done"))); });
  ASSERT_TRUE(handler_->WaitForParked(1));

  Install(certs_.Issue("server-2"));
  ASSERT_TRUE(tls_->Reload().ok());
  EXPECT_EQ(tls_->generation(), 2u);

  handler_->Release(0, "done");
  busy.join();
  // Both old connections still work, still on the old certificate.
  EXPECT_EQ(old_idle.Get("/echo").first, 200);
  EXPECT_EQ(old_busy.Get("/echo").first, 200);
  EXPECT_EQ(old_idle.PeerName(), "server-1");
  // New connections get the new one.
  HttpsTestClient fresh(server_->port(), ClientContext());
  ASSERT_FALSE(fresh.handshake_error()) << fresh.handshake_error().message();
  EXPECT_EQ(fresh.PeerName(), "server-2");
  EXPECT_EQ(fresh.Get("/echo").first, 200);
  EXPECT_EQ(server_->connections(), 3);
}

TEST_F(TlsTest, AFailedReloadKeepsTheCurrentCertificate) {
  StartServer();
  const TestCerts::Pair second = certs_.Issue("server-2");
  // A key that does not match the certificate (a half-finished deploy).
  std::filesystem::copy_file(second.cert, files_.cert_file,
                             std::filesystem::copy_options::overwrite_existing);
  absl::Status reload = tls_->Reload();
  EXPECT_EQ(reload.code(), absl::StatusCode::kInvalidArgument) << reload;
  std::filesystem::remove(files_.key_file);
  EXPECT_FALSE(tls_->Reload().ok());
  EXPECT_EQ(tls_->generation(), 1u);
  HttpsTestClient client(server_->port(), ClientContext());
  ASSERT_FALSE(client.handshake_error());
  EXPECT_EQ(client.PeerName(), "server-1");
  EXPECT_EQ(client.Get("/echo").first, 200);
}

TEST_F(TlsTest, ASilentClientIsClosedByTheHeaderTimeout) {
  StartServer({.header_timeout = absl::Milliseconds(200)});
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
  char byte;
  boost::system::error_code ec;
  s.read_some(net::buffer(&byte, 1), ec);  // returns when the server closes
  EXPECT_TRUE(ec.failed());
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  files_.client_ca_file = certs_.ca_cert();
  StartServer();
  // Without a certificate: with TLS 1.3 the client's handshake completes and
  // the server's refusal arrives as an alert on the first read.
  EXPECT_EQ(HttpsTestClient(server_->port(), ClientContext()).Get("/echo").first, 0);
  EXPECT_EQ(handler_->requests(), 0);
  const TestCerts::Pair client_cert = certs_.Issue("client-1");
  auto ctx = MakeClientTlsContext(certs_.ca_cert(), client_cert.cert, client_cert.key);
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  HttpsTestClient client(server_->port(), *ctx);
  ASSERT_FALSE(client.handshake_error()) << client.handshake_error().message();
  EXPECT_EQ(client.Get("/echo").first, 200);
}

TEST(TlsCredentialsTest, LoadNamesTheBadFile) {
  absl::StatusOr<std::shared_ptr<TlsCredentials>> tls =
      TlsCredentials::Load({.cert_file = "/nonexistent.crt", .key_file = "/nonexistent.key"});
  ASSERT_FALSE(tls.ok());
  EXPECT_NE(tls.status().message().find("/nonexistent.crt"), std::string::npos);
  EXPECT_FALSE(TlsCredentials::Load({.cert_file = "x"}).ok());
}

}  // namespace
}  // namespace ds::http
