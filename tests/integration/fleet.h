// Fleet: a routed Data Services fleet of real processes for integration tests
// — N ds-node processes sharing one seeded SQLite file, and optionally a
// ds-gateway in front of them — all on 127.0.0.1 with ports picked by the
// kernel (port 0), in a fresh temporary directory.
//
// Usage:
//   ds::integration::Fleet fleet({.nodes = 3, .channels = 30});
//   ASSERT_TRUE(fleet.Start().ok());
//   auto res = ds::testing::HttpGet(fleet.gateway_port(), "/v1/channels/7/messages?limit=5");
//   auto counts = fleet.NodeCounters("ds_requests_total", {{"method", "GetMessages"}});
//   ASSERT_TRUE(fleet.KillNode(1, SIGKILL).ok());
//   ASSERT_TRUE(fleet.RestartNode(1).ok());   // same gRPC port, so the gateway finds it
//
// Binaries come from $DS_BIN_DIR (set by ds_test). Every process is killed by
// the destructor (ChildProcess), also when a test fails half-way.
//
// Threads: not thread-safe; the test's main thread owns it. NodeCounters and
// the accessors may be called from other threads while no node is being
// killed or restarted.
#pragma once

#include <signal.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testing/process.h"

namespace ds::integration {

struct FleetOptions {
  int nodes = 3;
  int channels = 30;  // seeded channels 1..channels
  int messages = 20;  // seeded messages per channel
  bool gateway = true;
  // Gateway → nodes health probe interval; zero keeps the gateway's default.
  absl::Duration health_interval = absl::ZeroDuration();
  // Gateway health probe timeout: generous, so that a CPU-starved CI machine
  // does not eject a live node and move its channels mid-test. A killed node
  // still fails its probes at once (connection refused).
  absl::Duration health_timeout = absl::Seconds(1);
  absl::Duration gateway_deadline = absl::Seconds(2);  // per request
  int drain_timeout_ms = 2000;                         // node SIGTERM drain
  std::vector<std::string> node_args;                  // more ds-node flags
  std::vector<std::string> gateway_args;               // more ds-gateway flags
  absl::Duration start_timeout = absl::Seconds(20);
};

class Fleet {
 public:
  explicit Fleet(FleetOptions options);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Seeds the store, starts the nodes, waits until each one's /healthz answers
  // 200, then starts the gateway and waits for its /healthz. The error names
  // the process that failed and carries its log tail.
  absl::Status Start();

  const std::string& dir() const { return dir_.path(); }
  const std::string& store_path() const { return store_; }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  // "127.0.0.1:<grpc_port>"; stays the same across RestartNode.
  std::string NodeAddress(int i) const;
  std::vector<std::string> NodeAddresses() const;
  int NodeAdminPort(int i) const { return nodes_[i].admin_port; }
  testing::ChildProcess& NodeProcess(int i) { return *nodes_[i].process; }
  bool NodeRunning(int i) const { return nodes_[i].running; }
  int gateway_port() const { return gateway_port_; }
  testing::ChildProcess* gateway() { return gateway_.get(); }

  // The node's /metrics text. UNAVAILABLE for a node that is not running.
  absl::StatusOr<std::string> NodeMetrics(int i) const;
  // testing::SumMetric(name, labels) of every node's /metrics, in node order;
  // -1 for a node that is not running. Fails if a running node does not answer.
  absl::StatusOr<std::vector<double>> NodeCounters(
      const std::string& name, const std::map<std::string, std::string>& labels) const;

  // Sends `sig` to node i and waits (up to `timeout`) for it to end.
  absl::StatusOr<testing::ExitStatus> StopNode(int i, int sig,
                                               absl::Duration timeout = absl::Seconds(10));
  // Starts node i again on its previous gRPC port (a new admin port) and waits
  // for its /healthz.
  absl::Status RestartNode(int i);

  // Stops the gateway with `sig` (waiting up to `timeout`), runs
  // `while_stopped` (if any), then starts it again on the same port and waits
  // for its /healthz (live clients reconnect to the same address).
  // Call it (and RestartNode) from a thread that outlives the fleet: a child
  // gets SIGKILL when the thread that spawned it ends (PR_SET_PDEATHSIG
  // follows the spawning thread, not the process).
  absl::Status RestartGateway(int sig = SIGTERM, absl::Duration timeout = absl::Seconds(10),
                              const std::function<void()>& while_stopped = nullptr);

  // The last lines of every process's log, for failure messages.
  std::string LogTails(size_t bytes_each = 1500) const;

 private:
  struct Node {
    std::unique_ptr<testing::ChildProcess> process;
    int grpc_port = 0;
    int admin_port = 0;
    int generation = 0;  // restarts so far; names the port file
    bool running = false;
  };

  absl::Status StartNode(int i, int grpc_port);
  absl::Status StartGateway(int port = 0);
  std::string Bin(const std::string& name) const;

  const FleetOptions options_;
  testing::TempDir dir_;
  std::string store_;
  std::vector<Node> nodes_;
  std::unique_ptr<testing::ChildProcess> gateway_;
  int gateway_port_ = 0;
};

}  // namespace ds::integration
