// Process harness for multi-process integration tests: start real binaries
// (ds-node, ds-gateway, ds-seed) as child processes, signal them, wait for them
// with timeouts, read the port files they write, and talk to their HTTP ports
// (/metrics, /healthz, the gateway's JSON API) with HttpClient/HttpGet from
// testing/http_client.h, which this header includes.
//
// Usage:
//   auto node = ds::testing::ChildProcess::Spawn(
//       bin_dir + "/ds-node",
//       {"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
//        "--store", db, "--port-file", dir + "/node0.port"},
//       dir + "/node0.log");
//   ASSERT_TRUE(node.ok()) << node.status();
//   auto ports = ds::testing::WaitForPortFile(dir + "/node0.port", absl::Seconds(10),
//                                             node->get());
//   ASSERT_TRUE(ports.ok()) << ports.status();           // {grpc_port, admin_port}
//   auto metrics = ds::testing::HttpGet((*ports)[1], "/metrics");
//   double reads = ds::testing::SumMetric(metrics->body, "ds_requests_total",
//                                         {{"method", "GetMessages"}});
//   (*node)->Signal(SIGTERM);
//   auto exit = (*node)->Wait(absl::Seconds(10));          // ExitStatus, or DEADLINE_EXCEEDED
//
// No process is left behind: the ChildProcess destructor SIGKILLs the child's
// whole process group and reaps it, so a failing ASSERT that returns early
// still cleans up; and each child asks the kernel to SIGKILL it if the thread
// that spawned it dies (PR_SET_PDEATHSIG), which covers a crashing or
// timed-out test binary. Spawn children from a thread that outlives them (the
// test's own thread): PR_SET_PDEATHSIG fires when the spawning *thread* exits.
//
// Nothing here sleeps to synchronise: waits poll a condition with a deadline.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testing/http_client.h"

namespace ds::testing {

// How a child process ended.
struct ExitStatus {
  int exit_code = -1;  // exit(code) / return from main; -1 if killed by a signal
  int signal = 0;      // the terminating signal, 0 if it exited normally

  bool exited_ok() const { return signal == 0 && exit_code == 0; }
  std::string ToString() const;  // "exit 0", "killed by signal 9 (Killed)"
};

// One child process in its own process group, with stdout and stderr
// appended to a log file.
//
// Threads: not thread-safe; one thread owns it (Signal() and pid() may be
// called from other threads while the owner waits). The destructor kills the
// child's process group with SIGKILL unless it was already reaped.
class ChildProcess {
 public:
  // Starts `binary` with `args` (argv[1..]); stdout+stderr are appended to
  // `log_path` (created if missing). INTERNAL if the fork or the exec fails
  // (an exec failure is detected synchronously and reported with errno).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::string& binary,
                                                             const std::vector<std::string>& args,
                                                             const std::string& log_path);

  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // Sends `sig` to the child's process group. FAILED_PRECONDITION once the
  // child has been reaped (its pid may belong to someone else by then).
  absl::Status Signal(int sig);

  // Waits up to `timeout` for the child to end and reaps it; the result is
  // remembered, so later calls return it at once. DEADLINE_EXCEEDED if it is
  // still running after `timeout` (it is left running).
  absl::StatusOr<ExitStatus> Wait(absl::Duration timeout);

  // True until the child has ended (reaps it if it has).
  bool Running();

  // The last `max_bytes` of the child's log, for failure messages.
  std::string LogTail(size_t max_bytes = 4000) const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}

  // Non-blocking reap; true if the child has ended (result in exit_).
  bool TryReap();

  pid_t pid_;
  std::string log_path_;
  std::optional<ExitStatus> exit_;
};

// Polls `predicate` until it returns true or `timeout` passes; returns whether
// it became true. Polls every `every` (a poll interval, not a synchronisation
// sleep: the condition decides, the interval only bounds the latency).
bool PollUntil(const std::function<bool()>& predicate, absl::Duration timeout,
               absl::Duration every = absl::Milliseconds(10));

// Waits until `path` holds a complete line of whitespace-separated integers
// (ds-node writes "<grpc_port> <admin_port>\n" atomically) and returns them.
// DEADLINE_EXCEEDED after `timeout`; if `process` is given and ends first,
// FAILED_PRECONDITION with its exit status and log tail.
absl::StatusOr<std::vector<int>> WaitForPortFile(const std::string& path, absl::Duration timeout,
                                                 ChildProcess* process = nullptr);

// A fresh directory under $TMPDIR (or /tmp) named `prefix`XXXXXX; removed,
// with everything inside, by the destructor unless `keep` is set (for
// looking at logs after a failure).
class TempDir {
 public:
  explicit TempDir(std::string_view prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }
  void set_keep(bool keep) { keep_ = keep; }

 private:
  std::string path_;
  bool keep_ = false;
};

// --- Binaries and commands ---------------------------------------------------

// The path of the project's binary `name`: in $DS_BIN_DIR (ds_test sets it),
// else next to the running test binary.
std::string BinaryPath(std::string_view name);

struct CommandResult {
  int exit_code = -1;  // -1: did not exit normally (or could not start)
  std::string out;     // what the command wrote to stdout
};

// Runs `shell_command` with /bin/sh and waits for it; its stdout is captured
// (redirect stderr in the command: "2>&1", "2>file").
CommandResult RunCommand(const std::string& shell_command);

// --- HTTP --------------------------------------------------------------------
// HttpClient, HttpGet, HttpPost and HttpResult: testing/http_client.h.

// --- Prometheus text format --------------------------------------------------

// The sum of every sample of metric `name` (exact name: "ds_requests_total"
// does not match "ds_requests_total_created" or histogram "_bucket" series)
// whose labels include all of `labels` (label=value pairs; other labels may
// have any value). 0 if there is none. Lines that do not parse are skipped.
// Parsed with ds-loadgen's parser (tools/loadgen/prometheus_text.h).
double SumMetric(std::string_view prometheus_text, std::string_view name,
                 const std::map<std::string, std::string>& labels = {});

}  // namespace ds::testing
