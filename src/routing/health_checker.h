// HealthChecker: active (grpc.health.v1 Health/Check) and passive health
// checking of the data-service nodes, deciding ejection and re-admission.
//
// Every `interval` each node is probed with Health/Check (service
// `options.service`, "" = the whole server) on every one of its channels, each
// probe with deadline `timeout`; the node's probe succeeds only if every
// channel answers SERVING, so a re-admitted node has all its connections up.
// Results, together with the outcomes of real calls that the client reports
// (ReportResult), feed a per-node HealthState: `eject_after` consecutive
// failures eject the node, `readmit_after` consecutive successes re-admit it.
// A reported failure also asks for an early probe of that node (at most one
// per interval/5), so a dead node is ejected within about one probe timeout
// of the first failed request instead of one interval.
//
// Usage:
//   HealthChecker checker(names, channels, options,
//       [&](int node, bool healthy) { membership.SetHealthy(node, healthy); });
//   checker.Start();
//   checker.ReportResult(node, /*ok=*/false);   // a call got UNAVAILABLE
//   checker.AwaitAllHealthy(absl::Seconds(5));
//   checker.Stop();                              // also done by the destructor
//
// Threads: thread-safe. Probes run on gRPC callback threads, scheduling on one
// thread of the checker's own (std::mutex, not absl::Mutex: see membership.h).
// The listener is called with the checker's lock held, in the order the
// transitions happen; it must be quick and must not call back into the checker.
// Stop() returns after every probe has finished.
//
// Rationale: HealthState counts results and knows no time, so its policy is
// tested exhaustively without a clock; only the probe scheduler uses time, and
// tests give it a short interval and wait on state changes (Await*), never on
// sleeps.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ds::routing {

// One node's ejection state machine. Not thread-safe (HealthChecker guards it).
class HealthState {
 public:
  // Counts below 1 are treated as 1.
  HealthState(int eject_after, int readmit_after);

  // Records one result; returns true if healthy() changed.
  bool Record(bool ok);

  // In the routing set. Starts true (optimistic), so routing works before the
  // first probe answers.
  bool healthy() const { return healthy_; }
  // At least one success was recorded since construction.
  bool confirmed() const { return confirmed_; }
  int consecutive_failures() const { return failures_; }
  int consecutive_successes() const { return successes_; }

 private:
  int eject_after_;
  int readmit_after_;
  bool healthy_ = true;
  bool confirmed_ = false;
  int failures_ = 0;
  int successes_ = 0;
};

struct HealthCheckerOptions {
  absl::Duration interval = absl::Milliseconds(500);
  absl::Duration timeout = absl::Milliseconds(300);
  int eject_after = 2;
  int readmit_after = 1;
  std::string service;  // the Health/Check service name; "" = whole server
};

class HealthChecker {
 public:
  using Listener = std::function<void(int node, bool healthy)>;

  // `names[i]` (for logs) and `channels[i]` (one or more channels, all probed)
  // describe node i; both vectors have the same size.
  HealthChecker(std::vector<std::string> names,
                std::vector<std::vector<std::shared_ptr<grpc::Channel>>> channels,
                HealthCheckerOptions options, Listener listener);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts probing (every node at once, then every interval). Call once.
  void Start();
  // Stops probing, cancels probes in flight and waits for them. Idempotent.
  void Stop();

  // Records the outcome of a real call to `node` (passive health checking).
  // A failure also schedules an early probe of the node. A success resets the
  // failure count of a healthy node but never re-admits an ejected one (only
  // probes do), so late answers to calls sent before an ejection cannot undo it.
  void ReportResult(int node, bool ok);

  bool Healthy(int node) const;

  // True once every node is confirmed and healthy; false after `timeout`.
  bool AwaitAllHealthy(absl::Duration timeout);
  // True once node `node` is healthy (confirmed) / ejected; false after `timeout`.
  bool AwaitNode(int node, bool healthy, absl::Duration timeout);
  // Names of the nodes not confirmed healthy now.
  std::vector<std::string> UnhealthyNodes() const;

 private:
  struct Probe;

  void Loop();
  void StartProbe(int node, std::shared_ptr<Probe> probe);
  void OnProbeDone(int node, bool ok);
  // Requires mu_ held.
  void RecordLocked(int node, bool ok, std::string_view source);

  const std::vector<std::string> names_;
  const std::vector<std::vector<std::shared_ptr<grpc::Channel>>> channels_;
  std::vector<std::vector<std::unique_ptr<grpc::GenericStub>>> stubs_;  // parallel to channels_
  const HealthCheckerOptions options_;
  const Listener listener_;

  mutable std::mutex mu_;
  // Signalled on every state change: wakes Loop() and the Await*() callers.
  std::condition_variable cv_;
  std::vector<HealthState> states_ ABSL_GUARDED_BY(mu_);
  // Per node, written under mu_, read without it: healthy, confirmed and no
  // failure counted, so a reported success would change nothing.
  std::unique_ptr<std::atomic<bool>[]> settled_;
  std::vector<absl::Time> next_probe_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> last_probe_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> probe_requested_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Probe>> in_flight_ ABSL_GUARDED_BY(mu_);  // null: none
  int in_flight_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ds::routing
