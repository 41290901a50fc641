// Runner: drives a Target with a Workload in one of three modes and records
// every request's key, issue time, latency and status.
//
//   burst   all `requests` issued at once from one thread, then wait for the
//           completions (like the reference client, without a thread per
//           request: completions are counted).
//   closed  `concurrency` requests kept in flight for `duration`.
//   open    `rate` requests per second for `duration` on a fixed schedule;
//           latency counts from the scheduled send time, so a stalled server
//           cannot hide its queueing (no coordinated omission).
//
// Usage:
//   Runner runner(target.get(), &workload, RunOptions{.mode = Mode::kBurst}, RealClock());
//   std::thread bar([&] { ... runner.progress() ... });
//   RunResult result = runner.Run();
//
// Threading: Run() is called once, from one thread, and blocks; it issues
// every request from that thread. Completions arrive on the target's threads.
// progress() may be called from any thread. Not copyable.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tools/loadgen/config.h"
#include "tools/loadgen/target.h"
#include "tools/loadgen/workload.h"

namespace ds::loadgen {

// Time source of a run. Implementations must be thread-safe: Now() is also
// called from completion callbacks.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Returns at (or after) `t`.
  virtual void SleepUntil(absl::Time t) = 0;
};

// The process-wide wall clock (absl::Now / absl::SleepFor).
Clock* RealClock();

struct RunOptions {
  Mode mode = Mode::kBurst;
  int64_t requests = 10000;
  int64_t concurrency = 64;
  absl::Duration duration = absl::Seconds(10);
  double rate = 1000;
  absl::Duration deadline = absl::Seconds(10);
  // After the last issue, how long past the deadline to wait for stragglers
  // before reporting them as unfinished.
  absl::Duration completion_grace = absl::Seconds(5);
};

// One completed request.
struct RequestRecord {
  int32_t key = -1;  // index into RunResult::read_keys; -1 for writes
  RequestKind kind = RequestKind::kGetMessages;
  uint16_t code = 0;            // index into RunResult::codes; 0 is "OK"
  int64_t issue_ns = 0;         // actual send time, since RunResult::start
  int64_t latency_ns = 0;       // from the send (open mode: scheduled) time
  int64_t node_arrived_us = 0;  // Outcome::node_arrived_us (0 = not reported)
};

struct RunResult {
  std::vector<RequestRecord> records;                      // completed requests, completion order
  std::vector<std::string> codes;                          // codes[0] == "OK"
  std::map<std::string, std::string> first_error_message;  // by code
  std::vector<std::string> read_keys;  // distinct read keys, e.g. "GetMessages/7/50"
  int64_t issued = 0;
  int64_t unfinished = 0;         // issued but not completed when Run() gave up
  absl::Time start;               // just before the first request
  absl::Duration elapsed;         // start → every request completed (or gave up)
  absl::Duration arrival_window;  // first → last request issued
};

struct Progress {
  int64_t issued = 0;
  int64_t completed = 0;
  int64_t errors = 0;
  absl::Time start = absl::InfinitePast();  // InfinitePast until Run() starts
};

class Runner {
 public:
  // `target`, `workload` and `clock` must outlive Run().
  Runner(Target* target, Workload* workload, RunOptions options, Clock* clock);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  RunResult Run();

  Progress progress() const;

 private:
  struct Shared;

  // Issues the workload's next request; latency counts from `scheduled` when
  // given (open mode), else from the actual send time.
  void IssueOne(std::optional<absl::Time> scheduled);
  void WaitForCompletions();

  Target* target_;
  Workload* workload_;
  RunOptions options_;
  Clock* clock_;
  // Shared with completion callbacks, which may outlive a Run() that gave up.
  std::shared_ptr<Shared> shared_;
  std::map<std::string, int32_t> key_index_;  // dispatcher thread only
  std::vector<std::string> read_keys_;        // dispatcher thread only
  absl::Time first_issue_ = absl::InfinitePast();
  absl::Time last_issue_ = absl::InfinitePast();
};

// For GetMessage runs against our API: the newest message id of each channel
// 1..channels (index channel-1), learned with GetMessages(limit 1) before the
// run, at most `window` at a time; 0 where a channel is empty or the read
// failed. Blocks; each read gets `deadline` from its start.
std::vector<uint64_t> DiscoverNewestMessageIds(Target* target, int64_t channels,
                                               absl::Duration deadline, int window = 256);

// "GetMessages/<channel>/<limit>", "GetMessage/<channel>/<id>"; "" for writes.
std::string ReadKeyOf(const RequestSpec& r);

}  // namespace ds::loadgen
