// Helpers for the Cassandra fault tests (cassandra_fault_test.cc,
// cassandra3_fault_test.cc): a ds-node process on the Cassandra backend with
// a blocking gRPC client, a read load that records every call's outcome and
// latency, and scripts/cassandra.
//
// Usage:
//   CassandraNode node({"--cassandra-hosts", "127.0.0.1"});
//   ASSERT_TRUE(node.Start().ok());
//   ReadLoad load(&node, {.threads = 4, .deadline = absl::Seconds(1)}, channels);
//   load.Start();
//   ASSERT_EQ(RunCassandraScript("stop"), 0);
//   ReadLoad::Stats stats = load.StopAndCollect();
//
// Threads: CassandraNode's calls (Read, Send, Get) are thread-safe (one gRPC
// channel); Start and the destructor belong to the test's main thread.
// ReadLoad runs its own threads; Stats are read after StopAndCollect.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "testing/process.h"

namespace ds::integration {

// Runs `scripts/cassandra ARGS` of this source tree (DS_RUN and the other
// DS_CASSANDRA_* variables pass through), its output appended to `log_path`
// (or the test's output if empty). Returns its exit code.
int RunCassandraScript(const std::string& args, const std::string& log_path = "");

// DS_CASSANDRA_HOSTS, or `fallback`.
std::string CassandraHostsFromEnv(const std::string& fallback);

// The outcome of one call as a client sees it.
struct CallRecord {
  absl::Time start;
  absl::Duration elapsed;
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
};

class CassandraNode {
 public:
  // `args`: the Cassandra flags (--cassandra-hosts ...); the rest is added.
  explicit CassandraNode(std::vector<std::string> args);
  ~CassandraNode();

  // Spawns ds-node and waits for its port file (Open connects to Cassandra
  // and creates the schema first).
  absl::Status Start(absl::Duration timeout = absl::Seconds(60));
  testing::ChildProcess& process() { return *process_; }
  bool Running() { return process_ != nullptr && process_->Running(); }
  std::string LogTail() const;

  // One GetMessages(channel, limit 20) with `deadline` from now.
  CallRecord Read(uint64_t channel, absl::Duration deadline);
  // SendMessage; `out` gets the stored message on success.
  grpc::Status Send(uint64_t channel, uint64_t nonce, const std::string& content,
                    absl::Duration deadline, dataservice::v1::Message* out);
  grpc::Status Get(uint64_t channel, uint64_t message_id, absl::Duration deadline,
                   dataservice::v1::Message* out);

 private:
  const std::vector<std::string> args_;
  testing::TempDir dir_{"ds-cassandra-fault."};
  std::unique_ptr<testing::ChildProcess> process_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<dataservice::v1::MessageService::Stub> stub_;
};

// Reads on `threads` threads until stopped, round-robin over `channels`,
// recording every call. Each thread starts at most `per_thread_rate` calls a
// second (a paced load: without it, calls that fail in microseconds would
// spin and starve the Cassandra JVM restarting on the same 2 cores).
class ReadLoad {
 public:
  struct Options {
    int threads = 4;
    absl::Duration deadline = absl::Seconds(1);
    int per_thread_rate = 50;
  };
  ReadLoad(CassandraNode* node, Options options, std::vector<uint64_t> channels);
  ~ReadLoad();

  void Start();
  // Records of the calls so far that started at or after `since`.
  std::vector<CallRecord> Since(absl::Time since);
  std::vector<CallRecord> StopAndCollect();

 private:
  CassandraNode* const node_;
  const Options options_;
  const std::vector<uint64_t> channels_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<CallRecord> records_ ABSL_GUARDED_BY(mu_);
};

std::string CodeName(grpc::StatusCode code);
// "OK 120, UNAVAILABLE 30" for failure messages.
std::string CountByCode(const std::vector<CallRecord>& records);
// How many of `records` ended OK.
size_t CountOk(const std::vector<CallRecord>& records);

}  // namespace ds::integration
