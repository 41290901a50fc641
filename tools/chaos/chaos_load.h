// The engine of ds-chaos-load (scripts/chaos): a paced read/write load through
// the HTTP gateway while fault commands run at fixed offsets, then a read-back
// of every acknowledged write, summarised as one row of docs/reliability.md.
//
// Usage:
//   ds::chaos::LoadOptions o;
//   o.gateway_port = 8080;
//   o.faults = {{absl::Seconds(3), "kill -STOP 1234"}, {absl::Seconds(6), "kill -CONT 1234"}};
//   ds::chaos::RunResult r = ds::chaos::Run(o);
//   std::cout << ds::chaos::ToJson(r);
//
// Definitions (also in docs/reliability.md):
// - failed: a request answered with anything but 200, or not at all within
//   `request_timeout`.
// - lost: an acknowledged write (200 with a message id) that reading back by
//   id finds missing (404) once the fleet is healthy again.
// - recovery: from the last fault command (the heal; the only command if
//   there is one) to the start of the first clean second after it: 10
//   consecutive 100 ms buckets of requests (by start time) none of which is
//   "bad" — holding a failed request, or with at least 5 % (and at least 2) of
//   its requests slower than 3× the p99 of the warm phase before the first
//   fault. 0 when the fleet is clean right from the heal.
//
// Threads: Run() blocks; it starts `connections` load threads and one thread
// for the fault commands and joins them before it returns.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace ds::chaos {

struct Fault {
  absl::Duration at;    // offset from the start of the measured phase
  std::string command;  // run with /bin/sh -c; its exit status is reported
};

struct LoadOptions {
  int gateway_port = 0;
  int channels = 30;         // channels 1..channels, uniformly
  int connections = 8;       // keep-alive connections, one thread each
  double rate = 1000;        // requests per second over all connections; 0 = closed loop
  double write_ratio = 0.1;  // fraction of requests that are writes
  absl::Duration warmup = absl::Seconds(2);  // before the measured phase, not counted
  absl::Duration duration = absl::Seconds(10);
  absl::Duration request_timeout = absl::Seconds(5);
  std::vector<Fault> faults;
  // Read-back of acknowledged writes: each id is retried until this passes.
  absl::Duration verify_timeout = absl::Seconds(30);
  uint64_t seed = 1;
};

struct RunResult {
  int64_t sent = 0;
  int64_t failed = 0;
  int64_t writes_acked = 0;
  int64_t writes_lost = 0;        // read back: 404
  int64_t writes_unverified = 0;  // read back: no definite answer by verify_timeout
  absl::Duration p50, p99, max;
  absl::Duration warm_p99;   // before the first fault
  absl::Duration fault_p99;  // requests sent between the first and the last fault command
  absl::Duration recovery;
  absl::Duration disturbed;                // total length of the bad buckets
  std::map<std::string, int64_t> errors;   // failure kind → count
  std::vector<std::string> fault_results;  // "at 3s: kill -STOP 1234 → exit 0"
};

RunResult Run(const LoadOptions& options);

// One JSON object with every figure (durations in milliseconds).
std::string ToJson(const RunResult& result);

}  // namespace ds::chaos
