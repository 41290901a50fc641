#include "routing/health_checker.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <mutex>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "testing/fake_data_node.h"

namespace ds::routing {
namespace {

using testing::FakeDataNode;

TEST(HealthStateTest, StartsHealthyButUnconfirmed) {
  HealthState s(2, 1);
  EXPECT_TRUE(s.healthy());
  EXPECT_FALSE(s.confirmed());
  EXPECT_FALSE(s.Record(true));
  EXPECT_TRUE(s.confirmed());
}

TEST(HealthStateTest, EjectsAfterConsecutiveFailuresOnly) {
  HealthState s(3, 1);
  EXPECT_FALSE(s.Record(false));
  EXPECT_FALSE(s.Record(false));
  EXPECT_FALSE(s.Record(true));  // a success resets the count
  EXPECT_FALSE(s.Record(false));
  EXPECT_FALSE(s.Record(false));
  EXPECT_TRUE(s.healthy());
  EXPECT_TRUE(s.Record(false));  // third in a row
  EXPECT_FALSE(s.healthy());
  EXPECT_FALSE(s.Record(false));  // already ejected: no transition
}

TEST(HealthStateTest, ReadmitsAfterConsecutiveSuccesses) {
  HealthState s(1, 2);
  EXPECT_TRUE(s.Record(false));
  EXPECT_FALSE(s.Record(true));
  EXPECT_FALSE(s.Record(false));  // resets the success count
  EXPECT_FALSE(s.Record(true));
  EXPECT_FALSE(s.healthy());
  EXPECT_TRUE(s.Record(true));
  EXPECT_TRUE(s.healthy());
}

TEST(HealthStateTest, CountsBelowOneMeanOne) {
  HealthState s(0, 0);
  EXPECT_TRUE(s.Record(false));
  EXPECT_TRUE(s.Record(true));
}

// Transitions seen by the listener, in order.
class Transitions {
 public:
  void Add(int node, bool healthy) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.emplace_back(node, healthy);
  }
  std::vector<std::pair<int, bool>> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<int, bool>> events_ ABSL_GUARDED_BY(mu_);
};

std::vector<std::vector<std::shared_ptr<grpc::Channel>>> ChannelsFor(
    const std::vector<std::string>& addresses, int per_node) {
  std::vector<std::vector<std::shared_ptr<grpc::Channel>>> out;
  for (const auto& a : addresses) {
    std::vector<std::shared_ptr<grpc::Channel>> chans;
    for (int i = 0; i < per_node; ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
      chans.push_back(grpc::CreateCustomChannel(a, grpc::InsecureChannelCredentials(), args));
    }
    out.push_back(std::move(chans));
  }
  return out;
}

HealthCheckerOptions FastOptions() {
  HealthCheckerOptions o;
  o.interval = absl::Milliseconds(30);
  o.timeout = absl::Milliseconds(500);
  o.eject_after = 2;
  o.readmit_after = 2;
  return o;
}

TEST(HealthCheckerTest, NotServingEjectsAndServingReadmits) {
  FakeDataNode a, b;
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  std::vector<std::string> names = {a.address(), b.address()};
  Transitions seen;
  HealthChecker checker(names, ChannelsFor(names, 2), FastOptions(),
                        [&](int node, bool healthy) { seen.Add(node, healthy); });
  checker.Start();
  ASSERT_TRUE(checker.AwaitAllHealthy(absl::Seconds(5))) << checker.UnhealthyNodes()[0];
  EXPECT_TRUE(seen.events().empty());  // nodes start healthy: no transition

  b.SetServing(false);
  ASSERT_TRUE(checker.AwaitNode(1, false, absl::Seconds(5)));
  EXPECT_TRUE(checker.Healthy(0));
  EXPECT_EQ(checker.UnhealthyNodes(), std::vector<std::string>{names[1]});

  b.SetServing(true);
  ASSERT_TRUE(checker.AwaitNode(1, true, absl::Seconds(5)));
  checker.Stop();
  EXPECT_EQ(seen.events(), (std::vector<std::pair<int, bool>>{{1, false}, {1, true}}));
}

TEST(HealthCheckerTest, StoppedServerIsEjectedAndReadmittedAfterRestartOnSamePort) {
  FakeDataNode a;
  ASSERT_TRUE(a.Start().ok());
  std::vector<std::string> names = {a.address()};
  HealthChecker checker(names, ChannelsFor(names, 2), FastOptions(), nullptr);
  checker.Start();
  ASSERT_TRUE(checker.AwaitAllHealthy(absl::Seconds(5)));
  a.Stop();
  ASSERT_TRUE(checker.AwaitNode(0, false, absl::Seconds(5)));
  ASSERT_TRUE(a.Start().ok());
  EXPECT_EQ(a.address(), names[0]);
  ASSERT_TRUE(checker.AwaitNode(0, true, absl::Seconds(5)));
}

TEST(HealthCheckerTest, NodeThatNeverAnsweredIsNotConfirmed) {
  FakeDataNode a;
  ASSERT_TRUE(a.Start().ok());
  const std::string address = a.address();
  a.Stop();  // nothing listens on this port now
  std::vector<std::string> names = {address};
  HealthChecker checker(names, ChannelsFor(names, 1), FastOptions(), nullptr);
  checker.Start();
  ASSERT_TRUE(checker.AwaitNode(0, false, absl::Seconds(5)));
  EXPECT_FALSE(checker.AwaitAllHealthy(absl::Milliseconds(50)));
}

// Passive ejection: failures of real calls count, without waiting for a probe.
TEST(HealthCheckerTest, ReportedFailuresEjectWithoutAProbe) {
  std::vector<std::string> names = {"127.0.0.1:1", "127.0.0.1:2"};
  Transitions seen;
  // Never started: no probe can interfere.
  HealthChecker checker(names, ChannelsFor(names, 1), FastOptions(),
                        [&](int node, bool healthy) { seen.Add(node, healthy); });
  checker.ReportResult(1, false);
  EXPECT_TRUE(checker.Healthy(1));
  checker.ReportResult(1, false);
  EXPECT_FALSE(checker.Healthy(1));
  // Successes of calls (late answers to calls sent before the ejection) do
  // not re-admit: only probes do.
  checker.ReportResult(1, true);
  checker.ReportResult(1, true);
  checker.ReportResult(1, true);
  EXPECT_FALSE(checker.Healthy(1));
  // On a healthy node a success resets the failure count.
  checker.ReportResult(0, false);
  checker.ReportResult(0, true);
  checker.ReportResult(0, false);
  EXPECT_TRUE(checker.Healthy(0));
  checker.ReportResult(7, false);  // unknown node: ignored
  EXPECT_EQ(seen.events(), (std::vector<std::pair<int, bool>>{{1, false}}));
}

}  // namespace
}  // namespace ds::routing
