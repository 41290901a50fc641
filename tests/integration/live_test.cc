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

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

bool DeliveredAll(const SubscriberPool& pool, int subscribers, size_t acked) {
  return pool.delivered() >= static_cast<int64_t>(subscribers * acked);
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
    if (nonce == 30) ASSERT_TRUE(fleet_->StopNode(owner, SIGKILL).ok());
    const uint64_t id = Post(client, channel, 1000 + nonce);
    ASSERT_NE(id, 0u) << "write " << nonce << " never acknowledged";
    acked.insert(id);
  }
  ASSERT_TRUE(
      PollUntil([&] { return DeliveredAll(pool, kSubscribers, acked.size()); }, absl::Seconds(30)))
      << pool.delivered() << " delivered";
  pool.Stop();
  ExpectExactlyOnce(pool.records(), acked);
}

// Disabled: fails on main as of this commit — after the gateway's SIGTERM
// restart on the same port, the 20 SSE subscribers receive none of the 20
// writes made while it was away (400 of 800 deliveries after 30 s). Not yet
// diagnosed (the subscriber pool's reconnect vs the gateway's drain of live
// streams); see docs/live.md "Not done yet".
TEST_F(LiveTest, DISABLED_GatewayRestartClientsResumeByLastEventId) {
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
  ASSERT_TRUE(
      PollUntil([&] { return DeliveredAll(pool, kSubscribers, acked.size()); }, absl::Seconds(20)));
  // Writes while the gateway is away go straight to the nodes.
  std::atomic<bool> restarted{false};
  std::thread restart([&] {
    EXPECT_TRUE(fleet_->RestartGateway(SIGTERM).ok()) << fleet_->LogTails();
    restarted = true;
  });
  const routing::HashRing ring(fleet_->NodeAddresses());
  const std::string owner = ring.nodes()[ring.Pick(channel)];
  for (uint64_t nonce = 21; nonce <= 40; ++nonce) acked.insert(SendToNode(owner, channel, nonce));
  restart.join();
  ASSERT_TRUE(
      PollUntil([&] { return DeliveredAll(pool, kSubscribers, acked.size()); }, absl::Seconds(30)))
      << pool.delivered() << " delivered";
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
  ASSERT_TRUE(
      PollUntil([&] { return DeliveredAll(pool, kSubscribers, acked.size()); }, absl::Seconds(20)));
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
  ASSERT_TRUE(PollUntil([&] { return pool.delivered() >= 3 * 31; }, absl::Seconds(20)));
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
