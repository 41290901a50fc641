// Fault test on ONE Cassandra node (labels cassandra;integration): a ds-node
// on the Cassandra backend serves a read load while Cassandra is stopped and
// started again.
//  - While Cassandra is down every call ends within its deadline (plus a
//    small grace) as UNAVAILABLE or DEADLINE_EXCEEDED — most of them
//    UNAVAILABLE answered by the node itself, well before the deadline — and
//    the ds-node process stays alive.
//  - After `scripts/cassandra start` the SAME ds-node process serves reads
//    and writes again (the driver reconnects), without a restart.
// It stops the shared node that scripts/test (or the ctest fixture) started,
// and leaves it running again at the end — also when an assertion fails.
// Hosts: DS_CASSANDRA_HOSTS (default 127.0.0.1); run directory: DS_RUN.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/cassandra_fault_helpers.h"

namespace ds::integration {
namespace {

using ::ds::testing::PollUntil;

constexpr absl::Duration kDeadline = absl::Seconds(1);
// A call may end this much after its deadline (a busy 2-core machine).
constexpr absl::Duration kGrace = absl::Milliseconds(500);

// Whatever happens in the test, the shared node is running when it ends.
struct RestartCassandraAtExit {
  ~RestartCassandraAtExit() {
    if (RunCassandraScript("start") != 0) ADD_FAILURE() << "could not restart Cassandra";
  }
};

// Calls while Cassandra is down end within their deadline (plus kGrace), as
// UNAVAILABLE or DEADLINE_EXCEEDED, mostly UNAVAILABLE from the node itself.
void ExpectEndedInTimeWithoutCassandra(const std::vector<CallRecord>& down,
                                       absl::Duration stop_took) {
  size_t unavailable = 0;
  absl::Duration slowest = absl::ZeroDuration();
  for (const CallRecord& r : down) {
    EXPECT_TRUE(r.code == grpc::StatusCode::UNAVAILABLE ||
                r.code == grpc::StatusCode::DEADLINE_EXCEEDED)
        << CodeName(r.code) << ": " << r.message;
    if (r.code == grpc::StatusCode::UNAVAILABLE) ++unavailable;
    slowest = std::max(slowest, r.elapsed);
  }
  EXPECT_LE(slowest, kDeadline + kGrace);
  // The node answers by itself, not only the client's deadline timer.
  EXPECT_GE(unavailable * 2, down.size()) << CountByCode(down);
  std::cerr << "Cassandra stopped in " << stop_took << "; while down: " << CountByCode(down)
            << ", slowest " << slowest << "\n";
}

TEST(CassandraSingleNodeFaultTest, StoppedCassandraGivesUnavailableInTimeAndRestartServesAgain) {
  ASSERT_EQ(RunCassandraScript("start"), 0) << "no Cassandra node (scripts/cassandra start)";
  RestartCassandraAtExit restart_at_exit;
  CassandraNode node({"--cassandra-hosts", CassandraHostsFromEnv("127.0.0.1"),
                      "--cassandra-keyspace", "ds_fault", "--cassandra-replication-factor", "1",
                      "--cassandra-timeout-ms", "1000"});
  absl::Status started = node.Start();
  ASSERT_TRUE(started.ok()) << started << "\n" << node.LogTail();
  const pid_t pid = node.process().pid();

  // Fresh channels for this run, each with a few messages.
  const uint64_t base =
      (uint64_t{1} << 44) + static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  std::vector<uint64_t> channels;
  for (uint64_t c = base; c < base + 4; ++c) {
    channels.push_back(c);
    for (uint64_t nonce = 1; nonce <= 3; ++nonce) {
      grpc::Status sent = node.Send(c, nonce, absl::StrCat("m", nonce), absl::Seconds(10), nullptr);
      ASSERT_TRUE(sent.ok()) << sent.error_message() << "\n" << node.LogTail();
    }
  }

  ReadLoad load(&node, {.threads = 4, .deadline = kDeadline}, channels);
  const absl::Time load_start = absl::Now();
  load.Start();
  ASSERT_TRUE(PollUntil([&] { return CountOk(load.Since(load_start)) >= 20; }, absl::Seconds(30)))
      << CountByCode(load.Since(load_start));
  EXPECT_EQ(CountOk(load.Since(load_start)), load.Since(load_start).size())
      << "reads failed before any fault: " << CountByCode(load.Since(load_start));

  // Stop Cassandra under the load, then keep reading against nothing.
  const absl::Time stop_begin = absl::Now();
  ASSERT_EQ(RunCassandraScript("stop"), 0);
  const absl::Time stopped = absl::Now();
  ASSERT_TRUE(PollUntil([&] { return load.Since(stopped).size() >= 40; }, absl::Seconds(30)))
      << "the load stalled while Cassandra was down: " << CountByCode(load.Since(stopped));
  std::vector<CallRecord> down = load.Since(stopped);
  EXPECT_TRUE(node.Running()) << "ds-node died without Cassandra:\n" << node.LogTail();
  ExpectEndedInTimeWithoutCassandra(down, stopped - stop_begin);
  // Calls that overlapped the shutdown itself also ended in time.
  for (const CallRecord& r : load.Since(stop_begin)) {
    EXPECT_LE(r.elapsed, kDeadline + kGrace) << CodeName(r.code) << ": " << r.message;
  }

  // Start Cassandra again: the same ds-node serves again by itself.
  ASSERT_EQ(RunCassandraScript("start"), 0);
  const absl::Time restarted = absl::Now();
  ASSERT_TRUE(PollUntil(
      [&] {
        std::vector<CallRecord> after = load.Since(restarted);
        return after.size() >= 20 &&
               std::all_of(after.end() - 20, after.end(),
                           [](const CallRecord& r) { return r.code == grpc::StatusCode::OK; });
      },
      absl::Seconds(60)))
      << "no recovery after restart: " << CountByCode(load.Since(restarted)) << "\n"
      << node.LogTail();
  const absl::Time recovered = absl::Now();
  std::vector<CallRecord> all = load.StopAndCollect();
  std::cerr << "serving again " << (recovered - restarted)
            << " after start returned; whole run: " << CountByCode(all) << "\n";
  for (const CallRecord& r : all) {
    EXPECT_LE(r.elapsed, kDeadline + kGrace) << CodeName(r.code) << ": " << r.message;
    EXPECT_TRUE(r.code == grpc::StatusCode::OK || r.code == grpc::StatusCode::UNAVAILABLE ||
                r.code == grpc::StatusCode::DEADLINE_EXCEEDED)
        << CodeName(r.code) << ": " << r.message;
  }
  // Writes work again too, and the process is the one started above.
  grpc::Status sent = node.Send(channels[0], 99, "after restart", absl::Seconds(10), nullptr);
  EXPECT_TRUE(sent.ok()) << sent.error_message();
  ASSERT_TRUE(node.Running());
  EXPECT_EQ(node.process().pid(), pid);
}

}  // namespace
}  // namespace ds::integration
