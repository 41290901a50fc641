// Live channels with real processes (docs/live.md §4): ds-node processes
// sharing one SQLite file, a ds-gateway in front, and SSE subscribers (the
// load generator's SubscriberPool: it reconnects with Last-Event-ID by itself).
//
// Each test writes while subscribers listen, then checks for every
// subscriber: each acknowledged write arrived, no unmarked id twice, unmarked
// ids ascending; marked (late) ones are re-sends the client drops by id.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dataservice/v1/live.grpc.pb.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "routing/hash_ring.h"
#include "testing/process.h"
#include "tests/integration/fleet.h"
#include "tools/loadgen/subscribers.h"

namespace ds::integration {
namespace {

namespace v1 = ::dataservice::v1;
using ::ds::loadgen::SubscriberOptions;
using ::ds::loadgen::SubscriberPool;
using ::ds::loadgen::SubscriberRecord;
using ::ds::testing::HttpClient;
using ::ds::testing::PollUntil;

FleetOptions LiveFleet(int nodes) {
  FleetOptions o;
  o.nodes = nodes;
  o.channels = 5;
  o.messages = 5;
  o.health_interval = absl::Milliseconds(200);
  o.start_timeout = absl::Seconds(60);  // four processes on a busy 2-core machine
  o.node_args = {"--live-poll-interval-ms", "200", "--live-heartbeat-interval-ms", "1000"};
  return o;
}

// Sends through the gateway's REST API; returns the acknowledged id (0 on
// failure: the writer retries with the same nonce, which is idempotent).
uint64_t Post(HttpClient& client, uint64_t channel, uint64_t nonce) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto res = client.Post(
        absl::StrCat("/v1/channels/", channel, "/messages"),
        absl::StrCat(R"({"author_id":"7","content":"live )", nonce, R"(","nonce":")", nonce, "\"}"),
        absl::Seconds(5));
    if (res.ok() && res->status == 200) {
      auto body = nlohmann::json::parse(res->body);
      uint64_t id = 0;
      if (absl::SimpleAtoi(body["message"]["message_id"].get<std::string>(), &id)) return id;
    }
    PollUntil([] { return false; }, absl::Milliseconds(100));  // back off, then retry
  }
  return 0;
}

// Sends straight to one node over gRPC (a write that node acknowledges).
uint64_t SendToNode(const std::string& address, uint64_t channel, uint64_t nonce) {
  auto stub =
      v1::MessageService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::SendMessageRequest req;
  req.set_channel_id(channel);
  req.set_author_id(9);
  req.set_content(absl::StrCat("direct ", nonce));
  req.set_nonce(nonce);
  v1::SendMessageResponse resp;
  grpc::Status s = stub->SendMessage(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.message().message_id();
}

SubscriberOptions Subscribers(int port, int n, uint64_t channel,
                              std::optional<uint64_t> after = std::nullopt) {
  SubscriberOptions o;
  o.port = static_cast<uint16_t>(port);
  o.subscribers = n;
  o.first_channel = static_cast<int64_t>(channel);
  o.channels = 1;
  o.after = after;
  o.threads = 1;
  o.reconnect_delay = absl::Milliseconds(300);
  return o;
}

// Every subscriber got every id of `acked` once unmarked (in ascending order
// among the unmarked ones); marked ids are re-sends of ids at or below its
// start, or late writes.
void ExpectExactlyOnce(const std::vector<SubscriberRecord>& records,
                       const std::set<uint64_t>& acked) {
  for (size_t i = 0; i < records.size(); ++i) {
    const SubscriberRecord& r = records[i];
    ASSERT_TRUE(r.joined) << "subscriber " << i;
    std::set<uint64_t> held;
    uint64_t last = 0;
    for (uint64_t id : r.in_order) {
      EXPECT_TRUE(held.insert(id).second) << "subscriber " << i << ": " << id << " twice";
      EXPECT_GT(id, last) << "subscriber " << i << ": out of order";
      last = id;
    }
    for (uint64_t id : r.late) held.insert(id);
    for (uint64_t id : acked) {
      EXPECT_TRUE(held.contains(id)) << "subscriber " << i << " missed " << id;
    }
  }
}

// True once every subscriber holds every id of `acked` (in order or marked
// late): what ExpectExactlyOnce checks, read from the running pool. Counting
// deliveries is not enough: re-sends marked late count too.
bool AllHold(SubscriberPool& pool, const std::set<uint64_t>& acked) {
  for (const SubscriberRecord& r : pool.Snapshot()) {
    std::set<uint64_t> held(r.in_order.begin(), r.in_order.end());
    held.insert(r.late.begin(), r.late.end());
    for (uint64_t id : acked) {
      if (!held.contains(id)) return false;
    }
  }
  return true;
}

// The gateway's ds_gateway_live_* metric lines (for failure messages).
std::string LiveMetrics(int port) {
  auto res = ::ds::testing::HttpGet(static_cast<uint16_t>(port), "/metrics", absl::Seconds(5));
  if (!res.ok()) return res.status().ToString();
  std::string out;
  for (absl::string_view line : absl::StrSplit(res->body, '\n')) {
    if (absl::StartsWith(line, "ds_gateway_live_")) absl::StrAppend(&out, line, "\n");
  }
  return out;
}

class LiveTest : public ::testing::Test {
 protected:
  void StartFleet(FleetOptions o) {
    fleet_ = std::make_unique<Fleet>(std::move(o));
    ASSERT_TRUE(fleet_->Start().ok()) << fleet_->LogTails();
  }
  void TearDown() override {
    if (HasFailure() && fleet_) std::cerr << fleet_->LogTails(3000);
  }
  std::unique_ptr<Fleet> fleet_;
};

TEST_F(LiveTest, OwnerSigkillLosesNoAcknowledgedWriteAndDuplicatesNone) {
  StartFleet(LiveFleet(3));
  const uint64_t channel = 3;
  const routing::HashRing ring(fleet_->NodeAddresses());
  const int owner = ring.Pick(channel);
  constexpr int kSubscribers = 20;
  SubscriberPool pool(Subscribers(fleet_->gateway_port(), kSubscribers, channel));
  pool.Start();
  ASSERT_TRUE(PollUntil([&] { return pool.connected() == kSubscribers; }, absl::Seconds(20)));

  HttpClient client(static_cast<uint16_t>(fleet_->gateway_port()));
  std::set<uint64_t> acked;
  for (uint64_t nonce = 1; nonce <= 60; ++nonce) {
    if (nonce == 30) {
      ASSERT_TRUE(fleet_->StopNode(owner, SIGKILL).ok());
    }
    const uint64_t id = Post(client, channel, 1000 + nonce);
    ASSERT_NE(id, 0u) << "write " << nonce << " never acknowledged";
    acked.insert(id);
  }
  ASSERT_TRUE(PollUntil([&] { return AllHold(pool, acked); }, absl::Seconds(60)))
      << pool.delivered() << " delivered";
  pool.Stop();
  ExpectExactlyOnce(pool.records(), acked);
}

// The only gateway restarts (SIGTERM) on the same port; 20 writes are made
// while it is away; every subscriber reconnects with Last-Event-ID and gets
// them, once, in order.
TEST_F(LiveTest, GatewayRestartClientsResumeByLastEventId) {
  StartFleet(LiveFleet(2));
  const uint64_t channel = 2;
  constexpr int kSubscribers = 20;
  SubscriberPool pool(Subscribers(fleet_->gateway_port(), kSubscribers, channel));
  pool.Start();
  ASSERT_TRUE(PollUntil([&] { return pool.connected() == kSubscribers; }, absl::Seconds(20)));
  std::set<uint64_t> acked;
  {
    HttpClient client(static_cast<uint16_t>(fleet_->gateway_port()));
    for (uint64_t nonce = 1; nonce <= 20; ++nonce) acked.insert(Post(client, channel, nonce));
  }
  ASSERT_TRUE(PollUntil([&] { return AllHold(pool, acked); }, absl::Seconds(60)));
  // Writes while the gateway is away go straight to the owner node. The
  // restart runs on this thread: a child spawned from a thread that ends is
  // killed with it (PR_SET_PDEATHSIG), which is what failed here before.
  const routing::HashRing ring(fleet_->NodeAddresses());
  const std::string owner = ring.nodes()[ring.Pick(channel)];
  auto write_while_away = [&] {
    for (uint64_t nonce = 21; nonce <= 40; ++nonce) {
      acked.insert(SendToNode(owner, channel, nonce));
    }
  };
  ASSERT_TRUE(fleet_->RestartGateway(SIGTERM, absl::Seconds(10), write_while_away).ok())
      << fleet_->LogTails();
  ASSERT_TRUE(PollUntil([&] { return AllHold(pool, acked); }, absl::Seconds(60)))
      << pool.delivered() << " delivered, " << pool.reconnects() << " reconnects, "
      << pool.connected() << " connected; gateway: " << LiveMetrics(fleet_->gateway_port());
  EXPECT_GE(pool.reconnects(), kSubscribers) << "every subscriber resumed";
  pool.Stop();
  ExpectExactlyOnce(pool.records(), acked);
}

TEST_F(LiveTest, WritesAcknowledgedByANonOwnerReachSubscribers) {
  StartFleet(LiveFleet(2));
  const uint64_t channel = 4;
  const routing::HashRing ring(fleet_->NodeAddresses());
  const std::string other = ring.nodes()[1 - ring.Pick(channel)];
  constexpr int kSubscribers = 5;
  SubscriberPool pool(Subscribers(fleet_->gateway_port(), kSubscribers, channel));
  pool.Start();
  ASSERT_TRUE(PollUntil([&] { return pool.connected() == kSubscribers; }, absl::Seconds(20)));
  std::set<uint64_t> acked;
  for (uint64_t nonce = 1; nonce <= 10; ++nonce) acked.insert(SendToNode(other, channel, nonce));
  ASSERT_TRUE(PollUntil([&] { return AllHold(pool, acked); }, absl::Seconds(60)));
  pool.Stop();
  ExpectExactlyOnce(pool.records(), acked);
}

TEST_F(LiveTest, AResumingClientGetsExactlyTheMessagesAfterItsId) {
  StartFleet(LiveFleet(2));
  const uint64_t channel = 5;
  HttpClient client(static_cast<uint16_t>(fleet_->gateway_port()));
  std::vector<uint64_t> ids;
  for (uint64_t nonce = 1; nonce <= 50; ++nonce) ids.push_back(Post(client, channel, nonce));
  SubscriberPool pool(Subscribers(fleet_->gateway_port(), 3, channel, ids[19]));
  pool.Start();
  ASSERT_TRUE(PollUntil([&] { return pool.connected() == 3; }, absl::Seconds(20)));
  ids.push_back(Post(client, channel, 51));
  // Until every subscriber has the newest message in order (the re-sends of
  // the window behind its id, marked late, come first and count as
  // deliveries too).
  ASSERT_TRUE(PollUntil(
      [&] {
        for (const SubscriberRecord& r : pool.Snapshot()) {
          if (r.in_order.empty() || r.in_order.back() < ids.back()) return false;
        }
        return true;
      },
      absl::Seconds(60)))
      << pool.delivered() << " delivered";
  pool.Stop();
  const std::vector<uint64_t> want(ids.begin() + 20, ids.end());
  for (const SubscriberRecord& r : pool.records()) {
    EXPECT_EQ(r.in_order, want);
    for (uint64_t id : r.late) EXPECT_LE(id, ids[19]) << "only the window behind the resume id";
  }
}

TEST_F(LiveTest, ANodeThatJoinsLaterServesFullCatchUp) {
  StartFleet(LiveFleet(2));
  ASSERT_TRUE(fleet_->StopNode(1, SIGTERM).ok());
  const uint64_t channel = 1;
  std::vector<uint64_t> ids;
  for (uint64_t nonce = 1; nonce <= 120; ++nonce) {
    ids.push_back(SendToNode(fleet_->NodeAddress(0), channel, nonce));
  }
  ASSERT_TRUE(fleet_->RestartNode(1).ok());
  auto stub = v1::LiveService::NewStub(
      grpc::CreateChannel(fleet_->NodeAddress(1), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.set_channel_id(channel);
  req.set_after_message_id(ids[0]);
  auto reader = stub->Subscribe(&ctx, req);
  std::vector<uint64_t> got;
  v1::SubscribeEvent e;
  bool live = false;
  while (!live && reader->Read(&e)) {
    if (e.has_message() && !e.late()) got.push_back(e.message().message_id());
    if (e.has_heartbeat() && e.heartbeat().live()) live = true;
  }
  ASSERT_TRUE(live);
  // A write on the other node reaches it through its tail read.
  ids.push_back(SendToNode(fleet_->NodeAddress(0), channel, 121));
  while (got.size() < ids.size() - 1 && reader->Read(&e)) {
    if (e.has_message() && !e.late()) got.push_back(e.message().message_id());
  }
  ctx.TryCancel();
  EXPECT_EQ(got, std::vector<uint64_t>(ids.begin() + 1, ids.end()));
}

}  // namespace
}  // namespace ds::integration
