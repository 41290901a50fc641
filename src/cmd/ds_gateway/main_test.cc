// Integration: the real ds-gateway binary (from $DS_BIN_DIR) on port 0 in
// front of an in-process fake data-service node: flags, environment, port
// file, log line, serving, graceful SIGTERM, the live page, and the security
// wiring (JWT authentication, access log, HTTPS with reload on SIGHUP).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "auth/token_minter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/test_certs.h"
#include "http/tls.h"
#include "testing/fake_data_node.h"
#include "testing/http_test_client.h"
#include "testing/https_test_client.h"

extern char** environ;

namespace ds::gateway {
namespace {

using ::ds::testing::FakeDataNode;
using ::ds::testing::HttpsTestClient;
using ::ds::testing::HttpTestClient;

namespace http = boost::beast::http;
using ::testing::HasSubstr;

std::string BinDir() {
  const char* dir = std::getenv("DS_BIN_DIR");
  return dir != nullptr ? dir : ".";
}

// A child process with stdout+stderr captured through one pipe.
class Process {
 public:
  Process(std::vector<std::string> args, std::vector<std::string> env_overrides) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<std::string> env = std::move(env_overrides);
    for (char** e = environ; *e != nullptr; ++e) {
      // The test's own environment minus any DS_* setting the test did not choose.
      if (std::string_view(*e).substr(0, 3) != "DS_") env.emplace_back(*e);
    }
    std::vector<char*> argv, envp;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data()), 0)
        << argv[0];
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_fd_ = fds[0];
  }

  ~Process() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_fd_);
  }

  // Reads output until a line containing `needle` arrives (returned), the
  // process closes its output, or `timeout` passes (nullopt).
  std::optional<std::string> WaitForLine(std::string_view needle,
                                         absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      size_t newline;
      while ((newline = pending_.find('\n')) != std::string::npos) {
        std::string line = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        output_ += line + "\n";
        if (line.find(needle) != std::string::npos) return line;
      }
      const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left_ms <= 0) return std::nullopt;
      pollfd pfd{out_fd_, POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(left_ms)) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(out_fd_, buf, sizeof(buf));
      if (n <= 0) return std::nullopt;
      pending_.append(buf, static_cast<size_t>(n));
    }
  }

  // Everything the process wrote, once it has exited.
  std::string DrainOutput() {
    WaitForLine("\x01never\x01", absl::Seconds(10));
    return output_ + pending_;
  }

  void Signal(int sig) { kill(pid_, sig); }

  // The exit code (or 128 + signal).
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool exited_ = false;
  std::string pending_;
  std::string output_;
};

std::string Gateway() { return BinDir() + "/ds-gateway"; }

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "ds_gateway_test_" + std::to_string(getpid()) + "_" + name;
}

uint16_t PortFromListeningLine(const std::string& line) {
  const size_t at = line.find("listening on 127.0.0.1:");
  EXPECT_NE(at, std::string::npos) << line;
  std::string digits;
  for (size_t i = at + 23; i < line.size() && isdigit(static_cast<unsigned char>(line[i])); ++i) {
    digits += line[i];
  }
  uint32_t port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(digits, &port)) << line;
  return static_cast<uint16_t>(port);
}

TEST(DsGatewayBinaryTest, HelpListsEveryFlagWithItsEnvironmentVariable) {
  Process p({Gateway(), "--help"}, {});
  const std::string out = p.DrainOutput();
  EXPECT_EQ(p.Wait(), 0);
  for (const char* text : {"--listen",
                           "DS_GATEWAY_LISTEN",
                           "--admin-listen",
                           "--port-file",
                           "--nodes",
                           "DS_NODES",
                           "--nodes-file",
                           "DS_NODES_FILE",
                           "--policy",
                           "--io-threads",
                           "--deadline-ms",
                           "DS_GATEWAY_DEADLINE_MS",
                           "--max-body-bytes",
                           "--max-header-bytes",
                           "--read-timeout-ms",
                           "--write-timeout-ms",
                           "--max-connections",
                           "--health-interval-ms",
                           "--health-timeout-ms",
                           "--idle-timeout-ms",
                           "--max-pipelined",
                           "--coalescing",
                           "DS_GATEWAY_COALESCING",
                           "--max-waiters-per-flight",
                           "--max-total-waiters",
                           "--max-concurrent-upstream",
                           "--eject-after",
                           "--readmit-after",
                           "--channels-per-node",
                           "--seed",
                           "--wait-healthy-ms",
                           "--shutdown-grace-ms",
                           "DS_LOG_LEVEL",
                           "--hedge-reads",
                           "DS_GATEWAY_HEDGE_READS",
                           "--live-max-streams",
                           "--tls-cert",
                           "--tls-key",
                           "--jwt-hs256-secret-file",
                           "--access-log",
                           "--read-rate"}) {
    EXPECT_THAT(out, HasSubstr(text));
  }
}

TEST(DsGatewayBinaryTest, BadConfigurationExitsWithUsageError) {
  {
    Process p({Gateway(), "--listen", "127.0.0.1:0"}, {});
    EXPECT_THAT(p.DrainOutput(), HasSubstr("no data-service nodes"));
    EXPECT_EQ(p.Wait(), 2);
  }
  {
    Process p({Gateway(), "--listen", "127.0.0.1:0", "--policy", "sideways"},
              {"DS_NODES=127.0.0.1:1"});
    EXPECT_THAT(p.DrainOutput(), HasSubstr("sideways"));
    EXPECT_EQ(p.Wait(), 2);
  }
  {
    Process p({Gateway(), "--listen", "127.0.0.1:99999", "--nodes", "127.0.0.1:1"}, {});
    EXPECT_EQ(p.Wait(), 2);
  }
}

TEST(DsGatewayBinaryTest, ServesFromEnvConfigAndDrainsOnSigterm) {
  FakeDataNode fake;
  ASSERT_TRUE(fake.Start().ok());
  const std::string port_file = TempPath("port");
  Process p({Gateway(), "--listen", "127.0.0.1:0", "--wait-healthy-ms", "10000"},
            {"DS_NODES=" + fake.address(), "DS_GATEWAY_PORT_FILE=" + port_file,
             "DS_GATEWAY_SHUTDOWN_GRACE_MS=10000"});
  std::optional<std::string> line = p.WaitForLine("listening on");
  ASSERT_TRUE(line.has_value()) << p.DrainOutput();
  const uint16_t port = PortFromListeningLine(*line);
  ASSERT_NE(port, 0);
  std::ifstream in(port_file);
  std::string file_port, file_admin_port;
  in >> file_port >> file_admin_port;
  EXPECT_EQ(file_port, std::to_string(port));
  EXPECT_EQ(file_admin_port, std::to_string(port));

  HttpTestClient client(port);
  EXPECT_EQ(client.Get("/healthz").result(), http::status::ok);
  auto sent = client.Post("/v1/channels/31/messages",
                          R"({"author_id":"1","content":"via the binary","nonce":"5"})");
  ASSERT_EQ(sent.result(), http::status::ok) << sent.body();
  auto list = client.Get("/v1/channels/31/messages");
  EXPECT_THAT(list.body(), HasSubstr("via the binary"));

  // A request in flight when SIGTERM arrives still gets its answer.
  fake.HoldNext();
  HttpTestClient busy(port);
  busy.SendRaw("GET /v1/channels/31/messages/77 HTTP/1.1\r\nx-request-timeout-ms: 1500\r\n\r\n");
  ASSERT_TRUE(fake.WaitForCalls(3, std::chrono::seconds(10)));
  p.Signal(SIGTERM);
  auto res = busy.Read();
  EXPECT_EQ(res.result(), http::status::gateway_timeout);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(p.Wait(), 0);
  EXPECT_THAT(p.DrainOutput(), HasSubstr("stopped"));
  std::remove(port_file.c_str());
}

TEST(DsGatewayBinaryTest, NodesFileAndSeparateAdminPort) {
  FakeDataNode fake;
  ASSERT_TRUE(fake.Start().ok());
  const std::string nodes_file = TempPath("nodes");
  const std::string port_file = TempPath("port2");
  {
    std::ofstream out(nodes_file);
    out << "# the fleet\n" << fake.address() << "  # only node\n\n";
  }
  Process p({Gateway(), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--nodes-file",
             nodes_file, "--port-file", port_file, "--wait-healthy-ms", "10000", "--policy",
             "round-robin"},
            {});
  ASSERT_TRUE(p.WaitForLine("listening on").has_value()) << p.DrainOutput();
  std::ifstream in(port_file);
  int api_port = 0, admin_port = 0;
  in >> api_port >> admin_port;
  ASSERT_GT(api_port, 0);
  ASSERT_GT(admin_port, 0);
  EXPECT_NE(api_port, admin_port);
  HttpTestClient admin(static_cast<uint16_t>(admin_port));
  auto metrics = admin.Get("/metrics");
  EXPECT_EQ(metrics.result(), http::status::ok);
  EXPECT_THAT(metrics.body(), HasSubstr("ds_gateway_in_flight_requests"));
  EXPECT_EQ(admin.Get("/healthz").result(), http::status::ok);
  HttpTestClient api(static_cast<uint16_t>(api_port));
  EXPECT_EQ(api.Get("/v1/channels/3/messages/4").result(), http::status::not_found);
  p.Signal(SIGINT);
  EXPECT_EQ(p.Wait(), 0);
  std::remove(nodes_file.c_str());
  std::remove(port_file.c_str());
}

TEST(DsGatewayBinaryTest, AuthOnRefusesARequestWithoutATokenAndLogsEveryRequest) {
  FakeDataNode fake;
  ASSERT_TRUE(fake.Start().ok());
  const std::string secret = "binary-test-secret-of-at-least-32-bytes";
  const std::string secret_file = TempPath("secret");
  const std::string access_log = TempPath("access.log");
  std::ofstream(secret_file) << secret;
  Process p({Gateway(), "--listen", "127.0.0.1:0", "--nodes", fake.address(), "--wait-healthy-ms",
             "10000", "--jwt-hs256-secret-file", secret_file, "--access-log", access_log},
            {});
  std::optional<std::string> line = p.WaitForLine("listening on");
  ASSERT_TRUE(line.has_value()) << p.DrainOutput();
  HttpTestClient client(PortFromListeningLine(*line));

  auto refused = client.Get("/v1/channels/7/messages");
  EXPECT_EQ(refused.result(), http::status::unauthorized) << refused.body();
  EXPECT_THAT(std::string(refused[http::field::www_authenticate]), HasSubstr("Bearer"));
  EXPECT_EQ(fake.calls(), 0u) << "a refused request reached the node";
  const std::string token = *auth::MintToken(
      {.key = secret},
      {.subject = "7", .issuer = "ds", .audience = "ds-api", .issued_at = absl::Now()});
  auto ok = client.Get("/v1/channels/7/messages", {{"authorization", "Bearer " + token}});
  EXPECT_EQ(ok.result(), http::status::ok) << ok.body();
  // Open without a token: health, and the live page (the live routes are wired).
  EXPECT_EQ(client.Get("/healthz").result(), http::status::ok);
  auto page = client.Get("/");
  EXPECT_EQ(page.result(), http::status::ok);
  EXPECT_THAT(std::string(page[http::field::content_type]), HasSubstr("text/html"));

  p.Signal(SIGTERM);
  EXPECT_EQ(p.Wait(), 0);
  std::ifstream in(access_log);
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(log, HasSubstr(R"("status":401)"));
  EXPECT_THAT(log, HasSubstr(R"("principal":"sub:7")"));
  EXPECT_THAT(log, HasSubstr(R"("upstream":")" + fake.address()));  // noted by the API
  EXPECT_THAT(log, HasSubstr(R"("coalesced":"leader")"));
  EXPECT_EQ(log.find(token), std::string::npos) << "the token leaked into the access log";
  std::remove(secret_file.c_str());
  std::remove(access_log.c_str());
}

// One HTTPS GET on a fresh connection: the status (0 if the handshake or the
// exchange failed) and the common name of the server's certificate.
std::pair<int, std::string> HttpsGet(uint16_t port, const std::string& ca,
                                     const std::string& target) {
  auto ctx = ds::http::MakeClientTlsContext(ca);
  if (!ctx.ok()) return {0, std::string(ctx.status().message())};
  HttpsTestClient client(port, *ctx);
  if (client.handshake_error()) return {0, client.handshake_error().message()};
  std::string name = client.PeerName();
  return {client.Get(target).first, std::move(name)};
}

TEST(DsGatewayBinaryTest, ServesHttpsAndReloadsTheCertificateOnSighup) {
  FakeDataNode fake;
  ASSERT_TRUE(fake.Start().ok());
  ds::http::testing::TestCerts certs;
  const std::string cert = certs.Path("gateway.crt"), key = certs.Path("gateway.key");
  auto install = [&](const ds::http::testing::TestCerts::Pair& pair) {
    std::filesystem::copy_file(pair.cert, cert, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(pair.key, key, std::filesystem::copy_options::overwrite_existing);
  };
  install(certs.Issue("gateway-1"));
  Process p({Gateway(), "--listen", "127.0.0.1:0", "--nodes", fake.address(), "--wait-healthy-ms",
             "10000", "--tls-cert", cert, "--tls-key", key},
            {});
  std::optional<std::string> line = p.WaitForLine("listening on");
  ASSERT_TRUE(line.has_value()) << p.DrainOutput();
  const uint16_t port = PortFromListeningLine(*line);
  EXPECT_EQ(HttpsGet(port, certs.ca_cert(), "/healthz"),
            std::make_pair(200, std::string("gateway-1")));
  // Plain HTTP on the HTTPS port gets no HTTP answer.
  HttpTestClient plain(port);
  boost::beast::error_code ec;
  plain.SendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  plain.Read(&ec);
  EXPECT_TRUE(ec) << "plain HTTP was answered on the HTTPS port";

  install(certs.Issue("gateway-2"));
  p.Signal(SIGHUP);
  ASSERT_TRUE(p.WaitForLine("TLS credentials reloaded (generation 2)").has_value())
      << p.DrainOutput();
  EXPECT_EQ(HttpsGet(port, certs.ca_cert(), "/healthz"),
            std::make_pair(200, std::string("gateway-2")));
  p.Signal(SIGTERM);
  EXPECT_EQ(p.Wait(), 0);
}

}  // namespace
}  // namespace ds::gateway
