// Integration tests of the routed fleet with real processes on port 0: three
// ds-node processes sharing one seeded SQLite file, a ds-gateway in front.
//
// - every request for one channel lands on one node (read from each node's
//   /metrics);
// - SIGKILL of a node during a read load loses no read at the gateway, and the
//   node is re-admitted after it restarts on the same port;
// - a write retried across a failover is stored once (idempotent by nonce);
// - a node given SIGTERM drains its in-flight call and exits 0 within its
//   drain timeout.
//
// Routing is observed only from outside: a channel's owner is the one node
// whose ds_requests_total{method="GetMessages"} rises by exactly the number of
// reads sent for that channel while no other traffic runs.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "routing/routed_client.h"
#include "testing/process.h"
#include "tests/integration/fleet.h"

namespace ds::integration {
namespace {

using ::ds::testing::HttpClient;
using ::ds::testing::HttpResult;
using ::ds::testing::PollUntil;

const std::map<std::string, std::string> kGetMessages = {{"method", "GetMessages"}};
const std::map<std::string, std::string> kSendMessage = {{"method", "SendMessage"}};

std::string MessagesPath(int channel, int limit = 10) {
  return absl::StrCat("/v1/channels/", channel, "/messages?limit=", limit);
}

// OK if `res` is a 200 whose body is a non-empty {"messages": [...]} page.
absl::Status CheckPage(const absl::StatusOr<HttpResult>& res) {
  if (!res.ok()) return res.status();
  if (res->status != 200) {
    return absl::InternalError(absl::StrCat("HTTP ", res->status, ": ", res->body));
  }
  const nlohmann::json body = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("messages") || !body["messages"].is_array() ||
      body["messages"].empty()) {
    return absl::InternalError(absl::StrCat("not a non-empty page: ", res->body.substr(0, 200)));
  }
  return absl::OkStatus();
}

class RoutedFleetTest : public ::testing::Test {
 protected:
  // Use as ASSERT_NO_FATAL_FAILURE(StartFleet(...)).
  void StartFleet(FleetOptions options) {
    fleet_ = std::make_unique<Fleet>(std::move(options));
    const absl::Status started = fleet_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  void TearDown() override {
    if (HasFailure() && fleet_ != nullptr) {
      std::cerr << "fleet directory " << fleet_->dir() << "\n" << fleet_->LogTails();
    }
  }

  // Sends `reads` sequential reads of `channel` through the gateway and
  // returns the one node whose GetMessages counter rose, by exactly `reads`,
  // while every other node's stayed put. Any other outcome is an error that
  // shows the deltas.
  absl::StatusOr<int> ServingNode(HttpClient& client, int channel, int reads) {
    auto before = fleet_->NodeCounters("ds_requests_total", kGetMessages);
    if (!before.ok()) return before.status();
    for (int r = 0; r < reads; ++r) {
      if (absl::Status s = CheckPage(client.Get(MessagesPath(channel))); !s.ok()) {
        return absl::InternalError(absl::StrCat("read of channel ", channel, ": ", s.ToString()));
      }
    }
    auto after = fleet_->NodeCounters("ds_requests_total", kGetMessages);
    if (!after.ok()) return after.status();
    int owner = -1;
    int risen = 0;
    std::vector<double> deltas;
    for (int i = 0; i < fleet_->node_count(); ++i) {
      deltas.push_back((*after)[i] - (*before)[i]);
      if (deltas.back() != 0) {
        owner = i;
        ++risen;
      }
    }
    if (risen != 1 || deltas[owner] != reads) {
      return absl::InternalError(absl::StrCat("channel ", channel, ": ", reads,
                                              " reads changed the nodes' counters by [",
                                              absl::StrJoin(deltas, ", "), "]"));
    }
    return owner;
  }

  std::unique_ptr<Fleet> fleet_;
};

TEST_F(RoutedFleetTest, HashRoutingKeepsEachChannelOnOneNode) {
  constexpr int kChannels = 30;
  ASSERT_NO_FATAL_FAILURE(StartFleet({.nodes = 3, .channels = kChannels}));
  HttpClient client(static_cast<uint16_t>(fleet_->gateway_port()));

  std::vector<int> owner(kChannels + 1, -1);
  std::vector<int> channels_of_node(fleet_->node_count(), 0);
  for (int channel = 1; channel <= kChannels; ++channel) {
    auto node = ServingNode(client, channel, 3);
    ASSERT_TRUE(node.ok()) << node.status();
    owner[channel] = *node;
    ++channels_of_node[*node];
  }
  // Every node serves a share (with 3 nodes and 30 channels, a node owning
  // none has probability ~1e-5 under a uniform hash).
  for (int i = 0; i < fleet_->node_count(); ++i) {
    EXPECT_GE(channels_of_node[i], 1) << "node " << i << " owns no channel of " << kChannels;
  }
  // The mapping is stable: a second round, in another order, lands each
  // channel on the same node.
  for (int channel = kChannels; channel >= 1; --channel) {
    auto node = ServingNode(client, channel, 2);
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ(*node, owner[channel]) << "channel " << channel << " moved";
  }
}

// Many reader threads, each doing sequential GETs over channels 1..channels
// through the gateway, recording every failure.
class ReadLoad {
 public:
  ReadLoad(int port, int threads, int channels) : ok_after_mark_(channels + 1) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, port, t, channels] { Run(port, t, channels); });
    }
  }
  ~ReadLoad() { Stop(); }

  // From now on, successful reads are also counted per channel (after_mark).
  void Mark() { mark_ns_.store(absl::ToUnixNanos(absl::Now())); }

  void Stop() {
    stop_.store(true);
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  int64_t ok() const { return ok_.load(); }
  int64_t failed() const { return failed_.load(); }
  int64_t ok_after_mark(int channel) const { return ok_after_mark_[channel].load(); }
  std::vector<std::string> failures() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  void Run(int port, int id, int channels) {
    HttpClient client(static_cast<uint16_t>(port));
    for (int n = 0; !stop_.load(); ++n) {
      const int channel = 1 + (id * 7 + n) % channels;
      const absl::Time start = absl::Now();
      const absl::Status s = CheckPage(client.Get(MessagesPath(channel), absl::Seconds(2)));
      if (s.ok()) {
        ok_.fetch_add(1);
        const int64_t mark = mark_ns_.load();
        if (mark != 0 && absl::ToUnixNanos(start) >= mark) ok_after_mark_[channel].fetch_add(1);
        continue;
      }
      failed_.fetch_add(1);
      const int64_t mark = mark_ns_.load();
      std::lock_guard<std::mutex> lock(mu_);
      if (failures_.size() < 20) {
        failures_.push_back(absl::StrCat(
            "channel ", channel, " started ",
            mark == 0 ? std::string("before the kill")
                      : absl::FormatDuration(start - absl::FromUnixNanos(mark)) + " after the kill",
            ", took ", absl::FormatDuration(absl::Now() - start), ": ", s.ToString()));
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ok_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<int64_t> mark_ns_{0};
  std::vector<std::atomic<int64_t>> ok_after_mark_;
  mutable std::mutex mu_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

TEST_F(RoutedFleetTest, SigkillDuringReadLoadLosesNoRead) {
  constexpr int kChannels = 20;
  ASSERT_NO_FATAL_FAILURE(StartFleet({.nodes = 3, .channels = kChannels}));
  HttpClient client(static_cast<uint16_t>(fleet_->gateway_port()));

  // Who owns what, before the load.
  std::vector<int> owner(kChannels + 1, -1);
  for (int channel = 1; channel <= kChannels; ++channel) {
    auto node = ServingNode(client, channel, 1);
    ASSERT_TRUE(node.ok()) << node.status();
    owner[channel] = *node;
  }
  const int victim = owner[1];
  std::vector<int> victim_channels;
  for (int channel = 1; channel <= kChannels; ++channel) {
    if (owner[channel] == victim) victim_channels.push_back(channel);
  }

  {
    ReadLoad load(fleet_->gateway_port(), 4, kChannels);
    // The load runs for a while before the kill...
    ASSERT_TRUE(PollUntil([&] { return load.ok() + load.failed() >= 200; }, absl::Seconds(20)))
        << "the read load does not progress: " << load.ok() << " ok, " << load.failed()
        << " failed";
    load.Mark();
    auto killed = fleet_->StopNode(victim, SIGKILL);
    ASSERT_TRUE(killed.ok()) << killed.status();
    EXPECT_EQ(killed->signal, SIGKILL) << killed->ToString();
    const absl::Time kill_time = absl::Now();
    // ...and for at least 2 s after it, until the victim's channels have been
    // read successfully many times (so failover was exercised, not dodged).
    auto victim_reads = [&] {
      int64_t n = 0;
      for (int c : victim_channels) n += load.ok_after_mark(c);
      return n;
    };
    EXPECT_TRUE(PollUntil(
        [&] { return absl::Now() - kill_time >= absl::Seconds(2) && victim_reads() >= 50; },
        absl::Seconds(20)))
        << "reads of the killed node's channels after the kill: " << victim_reads();
    load.Stop();
    EXPECT_EQ(load.failed(), 0) << load.ok() << " reads ok; failures:\n"
                                << absl::StrJoin(load.failures(), "\n");
    std::cerr << "read load: " << load.ok() << " ok, " << load.failed() << " failed, "
              << victim_reads() << " of the killed node's channels after the kill\n";
  }

  // Restarted on the same port, the node is re-admitted: its channels come
  // back to it (its fresh counters rise) within ~10 s.
  ASSERT_TRUE(fleet_->RestartNode(victim).ok());
  const absl::Time restart_time = absl::Now();
  absl::Status last;
  const bool readmitted = PollUntil(
      [&] {
        auto node = ServingNode(client, victim_channels[0], 1);
        last = node.status();
        return node.ok() && *node == victim;
      },
      absl::Seconds(10), absl::Milliseconds(50));
  EXPECT_TRUE(readmitted) << "node " << victim << " not re-admitted within 10 s; last: " << last;
  std::cerr << "re-admitted after " << absl::FormatDuration(absl::Now() - restart_time) << "\n";
  // Once re-admitted, it owns all of its channels again, and reads are clean.
  for (int channel : victim_channels) {
    auto node = ServingNode(client, channel, 2);
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ(*node, victim) << "channel " << channel;
  }
}

TEST_F(RoutedFleetTest, WritesRetriedAcrossFailoverAreStoredOnce) {
  constexpr int kChannel = 7;
  ASSERT_NO_FATAL_FAILURE(StartFleet({.nodes = 3, .channels = 10}));
  HttpClient client(static_cast<uint16_t>(fleet_->gateway_port()));
  const std::string content = "retried across a failover";
  const std::string body =
      nlohmann::json{{"author_id", "1"}, {"content", content}, {"nonce", "8000000000000000001"}}
          .dump();
  const std::string path = absl::StrCat("/v1/channels/", kChannel, "/messages");

  auto before = fleet_->NodeCounters("ds_requests_total", kSendMessage);
  ASSERT_TRUE(before.ok()) << before.status();
  auto first = client.Post(path, body);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->status, 200) << first->body;
  const nlohmann::json first_json = nlohmann::json::parse(first->body);
  EXPECT_FALSE(first_json["duplicate"].get<bool>()) << first->body;
  const std::string message_id = first_json["message"]["message_id"].get<std::string>();

  // The node that stored it.
  auto after = fleet_->NodeCounters("ds_requests_total", kSendMessage);
  ASSERT_TRUE(after.ok()) << after.status();
  int owner = -1;
  for (int i = 0; i < fleet_->node_count(); ++i) {
    if ((*after)[i] != (*before)[i]) {
      ASSERT_EQ(owner, -1) << "the write reached two nodes";
      owner = i;
    }
  }
  ASSERT_GE(owner, 0);

  auto killed = fleet_->StopNode(owner, SIGKILL);
  ASSERT_TRUE(killed.ok()) << killed.status();

  // The client retries (say its first answer was lost): the gateway finds the
  // owner dead and fails over to another node on the same store.
  auto retry = client.Post(path, body);
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_EQ(retry->status, 200) << retry->body;
  const nlohmann::json retry_json = nlohmann::json::parse(retry->body);
  EXPECT_TRUE(retry_json["duplicate"].get<bool>()) << retry->body;
  EXPECT_EQ(retry_json["message"]["message_id"].get<std::string>(), message_id) << retry->body;
  EXPECT_EQ(retry_json["message"]["content"].get<std::string>(), content);
  auto served = fleet_->NodeCounters("ds_requests_total", kSendMessage);
  ASSERT_TRUE(served.ok()) << served.status();
  double elsewhere = 0;
  for (int i = 0; i < fleet_->node_count(); ++i) {
    if (i != owner) elsewhere += (*served)[i] - (*after)[i];
  }
  EXPECT_GE(elsewhere, 1) << "the retry was not served by another node";

  // Exactly one stored copy.
  auto page = client.Get(MessagesPath(kChannel, 100));
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->status, 200) << page->body;
  int copies = 0;
  const nlohmann::json page_json = nlohmann::json::parse(page->body);
  for (const nlohmann::json& m : page_json["messages"]) {
    if (m["content"].get<std::string>() == content) {
      ++copies;
      EXPECT_EQ(m["message_id"].get<std::string>(), message_id);
    }
  }
  EXPECT_EQ(copies, 1) << page->body;
}

TEST_F(RoutedFleetTest, SigtermDrainsInFlightReadAndExitsZero) {
  // Every store call takes 500 ms, so a read is surely in flight when SIGTERM
  // arrives; the drain must let it finish.
  constexpr int kDrainMs = 3000;
  ASSERT_NO_FATAL_FAILURE(StartFleet({.nodes = 1,
                                      .channels = 3,
                                      .gateway = false,
                                      .drain_timeout_ms = kDrainMs,
                                      .node_args = {"--bench-store-latency-ms", "500"}}));
  routing::RoutedClientOptions options;
  options.nodes = fleet_->NodeAddresses();
  auto client = routing::RoutedClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->WaitForHealthy(absl::Seconds(10)).ok());

  // Shared with the callback, which may outlive an early ASSERT return.
  auto answer = std::make_shared<std::promise<std::pair<grpc::Status, int>>>();
  dataservice::v1::GetMessagesRequest req;
  req.set_channel_id(1);
  req.set_limit(5);
  (*client)->GetMessages(req, absl::Now() + absl::Seconds(10),
                         [answer](grpc::Status s, dataservice::v1::GetMessagesResponse r) {
                           answer->set_value({std::move(s), r.messages_size()});
                         });
  ASSERT_TRUE(PollUntil(
      [&] {
        auto counts = fleet_->NodeCounters("ds_requests_total", kGetMessages);
        return counts.ok() && (*counts)[0] >= 1;
      },
      absl::Seconds(10)))
      << "the read never reached the node";

  const absl::Time start = absl::Now();
  auto exit = fleet_->StopNode(0, SIGTERM, absl::Milliseconds(kDrainMs) + absl::Seconds(5));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->exited_ok()) << exit->ToString();
  EXPECT_LT(took, absl::Milliseconds(kDrainMs) + absl::Seconds(1)) << "drain took too long";

  auto future = answer->get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const auto [status, messages] = future.get();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(messages, 5);
  std::cerr << "SIGTERM to exit: " << absl::FormatDuration(took) << "\n";
}

}  // namespace
}  // namespace ds::integration
