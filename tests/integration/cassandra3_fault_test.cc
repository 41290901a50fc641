// Fault test on the 3-node Cassandra cluster (label cassandra3): a ds-node on
// keyspace ds_fault3 with replication factor 3 and consistency QUORUM serves
// a read load and a write load while `scripts/cassandra kill --node 2`
// SIGKILLs one Cassandra node.
//  - No read fails from the end of a warm-up, through the kill, until 12 s
//    after it (past the failure detector's conviction of the dead node).
//  - Every write acknowledged (before and during the kill) is readable
//    afterwards, with its content.
// Needs `scripts/cassandra start --nodes 3` (the test runs it first: a no-op
// on a healthy cluster, and it brings back a node killed by an earlier run).
// Node 2 is left killed; `scripts/cassandra start --nodes 3` restores it.
// Hosts: DS_CASSANDRA_HOSTS (default 127.0.0.1,127.0.0.2,127.0.0.3).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/cassandra_fault_helpers.h"

namespace ds::integration {
namespace {

using ::ds::testing::PollUntil;

struct Acked {
  uint64_t channel;
  uint64_t message_id;
  std::string content;
  absl::Time at;
};

// Generous: the claim is "no read fails", not a latency bound, on a 2-core
// machine running three JVMs.
constexpr absl::Duration kReadDeadline = absl::Seconds(5);

// Sends messages to `channels` from `count` threads until stopped, each send
// retried with its nonce until acknowledged, as a client would: only
// acknowledged writes are promised to survive. Thread-safe.
class RetryingWriters {
 public:
  RetryingWriters(CassandraNode* node, std::vector<uint64_t> channels, int count)
      : node_(node), channels_(std::move(channels)) {
    for (int w = 0; w < count; ++w) threads_.emplace_back([this, w] { Write(w); });
  }
  ~RetryingWriters() { StopAndCollect(); }

  int64_t AckedSince(absl::Time t) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::count_if(acked_.begin(), acked_.end(), [&](const Acked& a) { return a.at >= t; });
  }
  int failed_attempts() const { return failed_attempts_.load(); }

  // Stops and joins the writers; the acknowledged writes.
  std::vector<Acked> StopAndCollect() {
    stop_.store(true);
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }

 private:
  void Write(int w) {
    for (uint64_t nonce = 1000 * (w + 1); !stop_.load(); ++nonce) {
      const uint64_t channel = channels_[nonce % channels_.size()];
      const std::string content = absl::StrCat("w", w, " n", nonce);
      while (!stop_.load()) {
        dataservice::v1::Message stored;
        if (node_->Send(channel, nonce, content, kReadDeadline, &stored).ok()) {
          std::lock_guard<std::mutex> lock(mu_);
          acked_.push_back({channel, stored.message_id(), content, absl::Now()});
          break;
        }
        failed_attempts_.fetch_add(1);
      }
    }
  }

  CassandraNode* const node_;
  const std::vector<uint64_t> channels_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failed_attempts_{0};
  std::vector<std::thread> threads_;  // only the test's thread touches it
  std::mutex mu_;
  std::vector<Acked> acked_ ABSL_GUARDED_BY(mu_);
};

// Reads every acknowledged write back; how many are missing or changed
// (each one also a test failure).
size_t CountMissing(CassandraNode& node, const std::vector<Acked>& acked) {
  size_t missing = 0;
  for (const Acked& a : acked) {
    dataservice::v1::Message got;
    grpc::Status s = node.Get(a.channel, a.message_id, absl::Seconds(5), &got);
    if (!s.ok() || got.content() != a.content) {
      ++missing;
      ADD_FAILURE() << "acknowledged message " << a.message_id << " in channel " << a.channel
                    << ": " << CodeName(s.error_code()) << " " << s.error_message() << " content '"
                    << got.content() << "' want '" << a.content << "'";
    }
  }
  return missing;
}

TEST(CassandraThreeNodeFaultTest, KillingOneNodeLosesNoAcknowledgedWriteAndFailsNoRead) {
  ASSERT_EQ(RunCassandraScript("start --nodes 3"), 0)
      << "needs the 3-node cluster: scripts/cassandra start --nodes 3";
  CassandraNode node({"--cassandra-hosts", CassandraHostsFromEnv("127.0.0.1,127.0.0.2,127.0.0.3"),
                      "--cassandra-keyspace", "ds_fault3", "--cassandra-replication-factor", "3",
                      "--cassandra-consistency", "QUORUM", "--cassandra-timeout-ms", "2000"});
  absl::Status started = node.Start();
  ASSERT_TRUE(started.ok()) << started << "\n" << node.LogTail();

  const uint64_t base =
      (uint64_t{1} << 45) + static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  std::vector<uint64_t> channels;
  for (uint64_t c = base; c < base + 4; ++c) {
    channels.push_back(c);
    grpc::Status sent = node.Send(c, 1, "seed", absl::Seconds(10), nullptr);
    ASSERT_TRUE(sent.ok()) << sent.error_message() << "\n" << node.LogTail();
  }

  // Writers: each send is retried with its nonce until acknowledged, as a
  // client would; only acknowledged ones are promised to survive.
  RetryingWriters writers(&node, channels, 2);
  auto acked_since = [&](absl::Time t) { return writers.AckedSince(t); };

  ReadLoad load(&node, {.threads = 4, .deadline = kReadDeadline}, channels);
  const absl::Time load_start = absl::Now();
  load.Start();
  // Warm up (a fresh cluster's first requests are slow on a busy machine):
  // the measured window starts once 40 reads in a row succeeded.
  ASSERT_TRUE(PollUntil(
      [&] {
        std::vector<CallRecord> so_far = load.Since(load_start);
        return so_far.size() >= 40 && acked_since(load_start) >= 10 &&
               std::all_of(so_far.end() - 40, so_far.end(),
                           [](const CallRecord& r) { return r.code == grpc::StatusCode::OK; });
      },
      absl::Seconds(60)))
      << CountByCode(load.Since(load_start)) << "\n"
      << node.LogTail();
  const absl::Time measured_from = absl::Now();
  std::cerr << "warm-up: " << CountByCode(load.Since(load_start)) << " in "
            << (measured_from - load_start) << "\n";
  ASSERT_TRUE(
      PollUntil([&] { return load.Since(measured_from).size() >= 100; }, absl::Seconds(30)));

  const absl::Time kill_time = absl::Now();
  ASSERT_EQ(RunCassandraScript("kill --node 2"), 0);
  // Keep both loads running through the failure detector's conviction of
  // node 2 (~10 s), and until enough writes were acknowledged meanwhile.
  ASSERT_TRUE(PollUntil(
      [&] {
        return absl::Now() - kill_time >= absl::Seconds(12) && acked_since(kill_time) >= 20 &&
               load.Since(kill_time).size() >= 100;
      },
      absl::Seconds(60)))
      << "loads stalled after the kill: reads " << CountByCode(load.Since(kill_time))
      << ", writes acknowledged " << acked_since(kill_time) << "\n"
      << node.LogTail();
  const std::vector<Acked> acked = writers.StopAndCollect();
  load.StopAndCollect();
  const std::vector<CallRecord> reads = load.Since(measured_from);
  const std::vector<CallRecord> during = load.Since(kill_time);
  absl::Duration slowest = absl::ZeroDuration();
  for (const CallRecord& r : during) slowest = std::max(slowest, r.elapsed);
  EXPECT_EQ(CountOk(reads), reads.size()) << "failed reads: " << CountByCode(reads);
  std::cerr << "reads from warm to end: " << CountByCode(reads)
            << " (after the kill: " << CountByCode(during) << ", slowest " << slowest
            << "); writes acknowledged: " << acked.size()
            << " (after the kill: " << acked_since(kill_time)
            << "), failed send attempts (retried): " << writers.failed_attempts() << "\n";

  // Every acknowledged write is there, with its content, read at QUORUM with
  // node 2 still down.
  const size_t missing = CountMissing(node, acked);
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged writes";
  EXPECT_TRUE(node.Running()) << node.LogTail();
}

}  // namespace
}  // namespace ds::integration
