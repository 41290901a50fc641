// gRPC TLS and mutual TLS to the nodes (docs/security.md), with certificates
// made at run time by `openssl` (http/test_certs.h):
// - in one process: a real DataServiceNode on port 0 (FakeMessageStore
//   behind it) serving TLS, and real clients — the routing client (calls and
//   health probes) and plain stubs — with and without the right credentials;
// - with processes: ds-node with --tls-*, ds-gateway with --node-tls-* in
//   front (reads, sends and a live SSE stream through it), ds-loadgen with
//   --node-tls-*, and startup errors for bad files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/grpc_tls.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "http/test_certs.h"
#include "node/node.h"
#include "routing/routed_client.h"
#include "testing/fake_message_store.h"
#include "testing/process.h"
#include "tests/integration/fleet.h"
#include "tools/loadgen/subscribers.h"

namespace ds::integration {
namespace {

namespace v1 = ::dataservice::v1;
using auth::GrpcClientTlsFiles;
using auth::GrpcServerTlsFiles;
using http::testing::TestCerts;

std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const GrpcClientTlsFiles& files) {
  auto creds = auth::LoadChannelCredentials(files);
  EXPECT_TRUE(creds.ok()) << creds.status();
  return creds.ok() ? *creds : nullptr;
}

class NodeTlsTest : public ::testing::Test {
 protected:
  void StartNode(const GrpcServerTlsFiles& tls) {
    auto creds = auth::LoadServerCredentials(tls);
    ASSERT_TRUE(creds.ok()) << creds.status();
    node::NodeOptions options;
    options.listen_address = "127.0.0.1:0";
    options.credentials = *creds;
    auto node =
        node::DataServiceNode::Start(options, &store_, std::make_shared<prometheus::Registry>());
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::move(*node);
  }
  void TearDown() override {
    if (node_) node_->Shutdown(absl::Seconds(1));
  }

  // One SendMessage then one GetMessages over a fresh channel with `creds`;
  // the first failure's status, else OK after checking the message came back.
  grpc::Status SendAndRead(const std::shared_ptr<grpc::ChannelCredentials>& creds) {
    auto stub = v1::MessageService::NewStub(grpc::CreateChannel(node_->address(), creds));
    grpc::ClientContext send_ctx;
    send_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::SendMessageRequest send;
    send.set_channel_id(7);
    send.set_author_id(42);
    send.set_content("over tls");
    send.set_nonce(++nonce_);
    v1::SendMessageResponse sent;
    if (grpc::Status s = stub->SendMessage(&send_ctx, send, &sent); !s.ok()) return s;
    grpc::ClientContext read_ctx;
    read_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::GetMessagesRequest read;
    read.set_channel_id(7);
    read.set_limit(50);
    v1::GetMessagesResponse got;
    if (grpc::Status s = stub->GetMessages(&read_ctx, read, &got); !s.ok()) return s;
    bool found = false;
    for (const v1::Message& m : got.messages()) {
      found |= m.message_id() == sent.message().message_id() && m.content() == "over tls";
    }
    EXPECT_TRUE(found) << "the message sent over TLS reads back";
    return grpc::Status::OK;
  }

  TestCerts certs_;
  storage::FakeMessageStore store_;
  std::unique_ptr<node::DataServiceNode> node_;
  uint64_t nonce_ = 0;
};

TEST_F(NodeTlsTest, RoutedClientReachesATlsNodeWithTheCaForProbesAndCalls) {
  const TestCerts::Pair server = certs_.Issue("node");
  StartNode({.cert_file = server.cert, .key_file = server.key});

  routing::RoutedClientOptions options;
  options.nodes = {node_->address()};
  options.health_interval = absl::Milliseconds(100);
  options.credentials = ClientCredentials({.ca_file = certs_.ca_cert()});
  auto client = routing::RoutedClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  // Health probes go over the same TLS channels: the node is admitted.
  ASSERT_TRUE((*client)->WaitForHealthy(absl::Seconds(10)).ok());

  v1::GetMessagesRequest req;
  req.set_channel_id(3);
  req.set_limit(10);
  std::promise<grpc::Status> done;
  (*client)->GetMessages(req, absl::Now() + absl::Seconds(5),
                         [&](grpc::Status s, v1::GetMessagesResponse) { done.set_value(s); });
  grpc::Status status = done.get_future().get();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ((*client)->Stats().calls, 1u);
}

TEST_F(NodeTlsTest, PlaintextClientToATlsNodeFailsUnavailableAndIsNeverAdmitted) {
  const TestCerts::Pair server = certs_.Issue("node");
  StartNode({.cert_file = server.cert, .key_file = server.key});

  grpc::Status s = SendAndRead(grpc::InsecureChannelCredentials());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();

  routing::RoutedClientOptions options;
  options.nodes = {node_->address()};
  options.health_interval = absl::Milliseconds(100);
  auto client = routing::RoutedClient::Create(options);  // no credentials: plaintext
  ASSERT_TRUE(client.ok());
  absl::Status healthy = (*client)->WaitForHealthy(absl::Seconds(1));
  EXPECT_EQ(healthy.code(), absl::StatusCode::kDeadlineExceeded) << healthy;
  EXPECT_EQ(store_.calls(), 0) << "nothing reached the store";
}

TEST_F(NodeTlsTest, ANodeCertificateFromAnotherCaIsRefusedByTheClient) {
  TestCerts other;
  const TestCerts::Pair server = other.Issue("node");
  StartNode({.cert_file = server.cert, .key_file = server.key});
  grpc::Status s = SendAndRead(ClientCredentials({.ca_file = certs_.ca_cert()}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // The node's own CA works (so the refusal above was the chain, not the node).
  EXPECT_TRUE(SendAndRead(ClientCredentials({.ca_file = other.ca_cert()})).ok());
}

TEST_F(NodeTlsTest, MutualTlsServesOnlyClientsWithACertificateFromTheClientCa) {
  const TestCerts::Pair server = certs_.Issue("node");
  StartNode({.cert_file = server.cert, .key_file = server.key, .client_ca_file = certs_.ca_cert()});

  // No client certificate: the handshake fails.
  grpc::Status none = SendAndRead(ClientCredentials({.ca_file = certs_.ca_cert()}));
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAVAILABLE) << none.error_message();
  // A client certificate from another CA: refused too.
  TestCerts other;
  const TestCerts::Pair stranger = other.Issue("stranger");
  grpc::Status foreign = SendAndRead(ClientCredentials(
      {.ca_file = certs_.ca_cert(), .cert_file = stranger.cert, .key_file = stranger.key}));
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::UNAVAILABLE) << foreign.error_message();
  EXPECT_EQ(store_.calls(), 0) << "refused clients reached nothing";

  // A certificate from the client CA: served.
  const TestCerts::Pair gateway = certs_.Issue("gateway");
  grpc::Status ok = SendAndRead(ClientCredentials(
      {.ca_file = certs_.ca_cert(), .cert_file = gateway.cert, .key_file = gateway.key}));
  EXPECT_TRUE(ok.ok()) << ok.error_message();
}

TEST_F(NodeTlsTest, BadFilesAreRefusedAtLoadNamingTheFile) {
  const TestCerts::Pair a = certs_.Issue("a");
  const TestCerts::Pair b = certs_.Issue("b");
  std::ofstream(certs_.Path("junk.pem")) << "not a certificate\n";

  auto mismatched = auth::LoadServerCredentials({.cert_file = a.cert, .key_file = b.key});
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(mismatched.status().message().find("does not belong"), std::string::npos)
      << mismatched.status();

  auto missing = auth::LoadChannelCredentials({.ca_file = certs_.Path("absent.crt")});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("absent.crt"), std::string::npos);

  auto junk = auth::LoadChannelCredentials({.ca_file = certs_.Path("junk.pem")});
  EXPECT_EQ(junk.status().code(), absl::StatusCode::kInvalidArgument) << junk.status();
  auto key_as_cert = auth::LoadServerCredentials({.cert_file = a.key, .key_file = a.key});
  EXPECT_EQ(key_as_cert.status().code(), absl::StatusCode::kInvalidArgument);

  auto half = auth::LoadChannelCredentials({.cert_file = a.cert});
  EXPECT_EQ(half.status().code(), absl::StatusCode::kInvalidArgument) << half.status();
  auto ca_alone = auth::LoadServerCredentials({.client_ca_file = certs_.ca_cert()});
  EXPECT_EQ(ca_alone.status().code(), absl::StatusCode::kInvalidArgument) << ca_alone.status();

  // Nothing configured: plaintext, not an error.
  EXPECT_TRUE(auth::LoadChannelCredentials({}).ok());
  EXPECT_TRUE(auth::LoadServerCredentials({}).ok());
  EXPECT_TRUE(auth::LoadPeerCredentials({}).ok());
}

// ---------------------------------------------------------------- processes

std::string BinPath(const std::string& name) {
  const char* dir = std::getenv("DS_BIN_DIR");
  return absl::StrCat(dir != nullptr ? dir : ".", "/", name);
}

// Runs a binary to its end; its exit status and log.
struct Finished {
  testing::ExitStatus exit;
  std::string log;
};
Finished RunToEnd(const std::string& binary, const std::vector<std::string>& args,
                  const std::string& log_path) {
  Finished r;
  auto p = testing::ChildProcess::Spawn(BinPath(binary), args, log_path);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return r;
  auto exit = (*p)->Wait(absl::Seconds(60));
  EXPECT_TRUE(exit.ok()) << exit.status();
  if (exit.ok()) r.exit = *exit;
  r.log = (*p)->LogTail(20000);
  return r;
}

class NodeTlsFleetTest : public ::testing::Test {
 protected:
  TestCerts certs_;
  const TestCerts::Pair node_ = certs_.Issue("node");
  const TestCerts::Pair client_ = certs_.Issue("gateway");
  const std::vector<std::string> client_flags_ = {"--node-tls-ca",   certs_.ca_cert(),
                                                  "--node-tls-cert", client_.cert,
                                                  "--node-tls-key",  client_.key};
};

// ds-node with mutual TLS, ds-gateway with a client certificate: the gateway
// admits the nodes (its /healthz, which Fleet::Start waits for, is 503 until
// a health probe over TLS succeeded), serves reads and sends, and streams a
// live event (Subscribe over the same credentials).
TEST_F(NodeTlsFleetTest, GatewayOverMutualTlsServesReadsSendsAndLiveEvents) {
  FleetOptions o;
  o.nodes = 2;
  o.channels = 4;
  o.messages = 3;
  o.health_interval = absl::Milliseconds(200);
  o.node_args = {"--tls-cert",
                 node_.cert,
                 "--tls-key",
                 node_.key,
                 "--tls-client-ca",
                 certs_.ca_cert(),
                 "--live-poll-interval-ms",
                 "200",
                 "--live-heartbeat-interval-ms",
                 "1000"};
  o.gateway_args = client_flags_;
  Fleet fleet(o);
  ASSERT_TRUE(fleet.Start().ok()) << fleet.LogTails();
  const auto port = static_cast<uint16_t>(fleet.gateway_port());

  auto read = testing::HttpGet(port, "/v1/channels/2/messages?limit=10");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->status, 200) << read->body;
  EXPECT_NE(read->body.find("\"messages\""), std::string::npos) << read->body;

  loadgen::SubscriberOptions so;
  so.port = port;
  so.subscribers = 1;
  so.first_channel = 3;
  so.channels = 1;
  so.threads = 1;
  loadgen::SubscriberPool pool(so);
  pool.Start();
  ASSERT_TRUE(testing::PollUntil([&] { return pool.connected() == 1; }, absl::Seconds(20)))
      << fleet.LogTails();

  auto sent = testing::HttpPost(port, "/v1/channels/3/messages",
                                R"({"author_id":"42","content":"tls live","nonce":"9"})");
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->status, 200) << sent->body;
  EXPECT_TRUE(testing::PollUntil([&] { return pool.delivered() >= 1; }, absl::Seconds(20)))
      << "the send reaches the SSE subscriber through Subscribe over mutual TLS\n"
      << fleet.LogTails();
  pool.Stop();
  ASSERT_EQ(pool.records().size(), 1u);
  EXPECT_EQ(pool.records()[0].in_order.size(), 1u) << "exactly the one message sent";
  EXPECT_NE(sent->body.find(absl::StrCat(
                pool.records()[0].in_order.empty() ? 0 : pool.records()[0].in_order[0])),
            std::string::npos)
      << sent->body;
  EXPECT_EQ(pool.reconnects(), 0) << fleet.LogTails();
}

// ds-loadgen's --node-tls-* flags, for the routed (nodes) and the reference
// targets; without a client certificate every node is unhealthy and every
// request fails.
TEST_F(NodeTlsFleetTest, LoadgenReachesMutualTlsNodesWithItsFlagsOnly) {
  FleetOptions o;
  o.nodes = 2;
  o.channels = 4;
  o.gateway = false;
  o.node_args = {"--tls-cert", node_.cert,        "--tls-key",
                 node_.key,    "--tls-client-ca", certs_.ca_cert()};
  Fleet fleet(o);
  ASSERT_TRUE(fleet.Start().ok()) << fleet.LogTails();
  const std::string nodes = absl::StrJoin(fleet.NodeAddresses(), ",");
  for (const std::string target : {"nodes", "reference"}) {
    std::vector<std::string> args = {"--target",      target,         "--nodes",       nodes,
                                     "--requests",    "200",          "--channels",    "4",
                                     "--no-progress", "--no-metrics", "--read-method", "message"};
    args.insert(args.end(), client_flags_.begin(), client_flags_.end());
    Finished ok = RunToEnd("ds-loadgen", args, fleet.dir() + "/loadgen-" + target + ".log");
    EXPECT_TRUE(ok.exit.exited_ok()) << ok.exit.ToString() << "\n" << ok.log;
    EXPECT_NE(ok.log.find("Errors by status: none"), std::string::npos) << target << "\n" << ok.log;
  }
  Finished refused =
      RunToEnd("ds-loadgen",
               {"--target", "nodes", "--nodes", nodes, "--requests", "20", "--no-progress",
                "--no-metrics", "--health-timeout", "1s", "--node-tls-ca", certs_.ca_cert()},
               fleet.dir() + "/loadgen-refused.log");
  EXPECT_EQ(refused.log.find("Errors by status: none"), std::string::npos) << refused.log;
}

TEST_F(NodeTlsFleetTest, NodeAndGatewayRefuseToStartOnBadTlsFiles) {
  testing::TempDir dir("ds-node-tls");
  const TestCerts::Pair other = certs_.Issue("other");
  Finished node = RunToEnd("ds-node",
                           {"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--store",
                            dir.File("db"), "--tls-cert", node_.cert, "--tls-key", other.key},
                           dir.File("node.log"));
  EXPECT_EQ(node.exit.exit_code, 2) << node.log;
  EXPECT_NE(node.log.find("does not belong"), std::string::npos) << node.log;

  Finished gateway = RunToEnd("ds-gateway",
                              {"--listen", "127.0.0.1:0", "--nodes", "127.0.0.1:1", "--node-tls-ca",
                               dir.File("missing-ca.crt")},
                              dir.File("gateway.log"));
  EXPECT_EQ(gateway.exit.exit_code, 2) << gateway.log;
  EXPECT_NE(gateway.log.find("missing-ca.crt"), std::string::npos) << gateway.log;
}

}  // namespace
}  // namespace ds::integration
