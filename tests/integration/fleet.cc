#include "tests/integration/fleet.h"

#include <signal.h>
#include <stdlib.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ds::integration {

using testing::ChildProcess;
using testing::HttpGet;

namespace {

// Polls `port`'s /healthz until it answers 200; `process` ending first is an
// error with its log.
absl::Status AwaitHealthy(int port, ChildProcess& process, absl::Duration timeout,
                          const std::string& what) {
  std::string last = "no answer yet";
  bool died = false;
  const bool ok = testing::PollUntil(
      [&] {
        if (!process.Running()) {
          died = true;
          return true;
        }
        auto res = HttpGet(static_cast<uint16_t>(port), "/healthz", absl::Seconds(1));
        if (!res.ok()) {
          last = res.status().ToString();
          return false;
        }
        last = absl::StrCat("HTTP ", res->status, " ", res->body);
        return res->status == 200;
      },
      timeout, absl::Milliseconds(20));
  if (died) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ended (", process.Wait(absl::ZeroDuration())->ToString(),
                     ") before /healthz answered; log:\n", process.LogTail()));
  }
  if (!ok) {
    return absl::DeadlineExceededError(absl::StrCat(what, " /healthz not 200 after ",
                                                    absl::FormatDuration(timeout), ": ", last,
                                                    "; log:\n", process.LogTail()));
  }
  return absl::OkStatus();
}

}  // namespace

Fleet::Fleet(FleetOptions options)
    : options_(std::move(options)), dir_("ds_fleet_"), nodes_(options_.nodes) {
  store_ = dir_.File("store.db");
  // Keep the logs of a failed run when asked to (DS_KEEP_TEST_DIRS=1).
  const char* keep = getenv("DS_KEEP_TEST_DIRS");
  dir_.set_keep(keep != nullptr && *keep != '\0' && *keep != '0');
}

Fleet::~Fleet() {
  // The gateway first, so it does not log a storm of node failures; the
  // ChildProcess destructors SIGKILL and reap.
  gateway_.reset();
  nodes_.clear();
}

std::string Fleet::Bin(const std::string& name) const {
  const char* dir = getenv("DS_BIN_DIR");
  return absl::StrCat(dir != nullptr ? dir : ".", "/", name);
}

std::string Fleet::NodeAddress(int i) const {
  return absl::StrCat("127.0.0.1:", nodes_[i].grpc_port);
}

std::vector<std::string> Fleet::NodeAddresses() const {
  std::vector<std::string> out;
  for (int i = 0; i < node_count(); ++i) out.push_back(NodeAddress(i));
  return out;
}

absl::Status Fleet::Start() {
  {
    auto seed =
        ChildProcess::Spawn(Bin("ds-seed"),
                            {"--store", store_, "--channels", std::to_string(options_.channels),
                             "--messages", std::to_string(options_.messages)},
                            dir_.File("seed.log"));
    if (!seed.ok()) return seed.status();
    auto exit = (*seed)->Wait(options_.start_timeout);
    if (!exit.ok()) return exit.status();
    if (!exit->exited_ok()) {
      return absl::InternalError(
          absl::StrCat("ds-seed ", exit->ToString(), "; log:\n", (*seed)->LogTail()));
    }
  }
  for (int i = 0; i < node_count(); ++i) {
    if (absl::Status s = StartNode(i, 0); !s.ok()) return s;
  }
  if (options_.gateway) return StartGateway();
  return absl::OkStatus();
}

absl::Status Fleet::StartNode(int i, int grpc_port) {
  Node& node = nodes_[i];
  const std::string port_file = dir_.File(absl::StrCat("node", i, ".", node.generation, ".port"));
  std::vector<std::string> args = {"--listen",
                                   absl::StrCat("127.0.0.1:", grpc_port),
                                   "--admin-listen",
                                   "127.0.0.1:0",
                                   "--store",
                                   store_,
                                   "--node-id",
                                   std::to_string(i + 1),
                                   "--drain-timeout-ms",
                                   std::to_string(options_.drain_timeout_ms),
                                   "--port-file",
                                   port_file};
  args.insert(args.end(), options_.node_args.begin(), options_.node_args.end());
  auto process =
      ChildProcess::Spawn(Bin("ds-node"), args, dir_.File(absl::StrCat("node", i, ".log")));
  if (!process.ok()) return process.status();
  node.process = std::move(*process);
  node.running = true;
  auto ports = testing::WaitForPortFile(port_file, options_.start_timeout, node.process.get());
  if (!ports.ok()) return ports.status();
  if (ports->size() != 2) {
    return absl::InternalError(
        absl::StrCat("port file ", port_file, " has ", ports->size(), " numbers, want 2"));
  }
  node.grpc_port = (*ports)[0];
  node.admin_port = (*ports)[1];
  if (grpc_port != 0 && node.grpc_port != grpc_port) {
    return absl::InternalError(
        absl::StrCat("node ", i, " restarted on port ", node.grpc_port, ", asked for ", grpc_port));
  }
  return AwaitHealthy(node.admin_port, *node.process, options_.start_timeout,
                      absl::StrCat("node ", i));
}

absl::Status Fleet::StartGateway(int port) {
  const std::string port_file = dir_.File(absl::StrCat("gateway.", port, ".port"));
  std::vector<std::string> args = {
      "--listen",      absl::StrCat("127.0.0.1:", port),
      "--nodes",       absl::StrJoin(NodeAddresses(), ","),
      "--deadline-ms", std::to_string(absl::ToInt64Milliseconds(options_.gateway_deadline)),
      "--port-file",   port_file};
  if (options_.health_timeout > absl::ZeroDuration()) {
    args.push_back("--health-timeout-ms");
    args.push_back(std::to_string(absl::ToInt64Milliseconds(options_.health_timeout)));
  }
  if (options_.health_interval > absl::ZeroDuration()) {
    args.push_back("--health-interval-ms");
    args.push_back(std::to_string(absl::ToInt64Milliseconds(options_.health_interval)));
  }
  args.insert(args.end(), options_.gateway_args.begin(), options_.gateway_args.end());
  auto process = ChildProcess::Spawn(Bin("ds-gateway"), args,
                                     dir_.File(absl::StrCat("gateway.", port, ".log")));
  if (!process.ok()) return process.status();
  gateway_ = std::move(*process);
  auto ports = testing::WaitForPortFile(port_file, options_.start_timeout, gateway_.get());
  if (!ports.ok()) return ports.status();
  if (ports->empty()) return absl::InternalError("empty gateway port file");
  gateway_port_ = (*ports)[0];
  return AwaitHealthy(gateway_port_, *gateway_, options_.start_timeout, "gateway");
}

absl::StatusOr<std::string> Fleet::NodeMetrics(int i) const {
  if (!nodes_[i].running) return absl::UnavailableError(absl::StrCat("node ", i, " is stopped"));
  auto res = HttpGet(static_cast<uint16_t>(nodes_[i].admin_port), "/metrics", absl::Seconds(5));
  if (!res.ok()) return res.status();
  if (res->status != 200) {
    return absl::InternalError(absl::StrCat("node ", i, " /metrics: HTTP ", res->status));
  }
  return std::move(res->body);
}

absl::StatusOr<std::vector<double>> Fleet::NodeCounters(
    const std::string& name, const std::map<std::string, std::string>& labels) const {
  std::vector<double> out;
  for (int i = 0; i < node_count(); ++i) {
    if (!nodes_[i].running) {
      out.push_back(-1);
      continue;
    }
    auto text = NodeMetrics(i);
    if (!text.ok()) return text.status();
    out.push_back(testing::SumMetric(*text, name, labels));
  }
  return out;
}

absl::StatusOr<testing::ExitStatus> Fleet::StopNode(int i, int sig, absl::Duration timeout) {
  Node& node = nodes_[i];
  if (absl::Status s = node.process->Signal(sig); !s.ok()) return s;
  auto exit = node.process->Wait(timeout);
  if (exit.ok()) node.running = false;
  return exit;
}

absl::Status Fleet::RestartNode(int i) {
  Node& node = nodes_[i];
  if (node.running) return absl::FailedPreconditionError(absl::StrCat("node ", i, " is running"));
  ++node.generation;
  return StartNode(i, node.grpc_port);
}

absl::Status Fleet::RestartGateway(int sig, absl::Duration timeout,
                                   const std::function<void()>& while_stopped) {
  if (gateway_ == nullptr) return absl::FailedPreconditionError("no gateway");
  if (absl::Status s = gateway_->Signal(sig); !s.ok()) return s;
  if (auto exit = gateway_->Wait(timeout); !exit.ok()) return exit.status();
  if (while_stopped) while_stopped();
  return StartGateway(gateway_port_);
}

std::string Fleet::LogTails(size_t bytes_each) const {
  std::string out;
  for (int i = 0; i < node_count(); ++i) {
    if (nodes_[i].process == nullptr) continue;
    absl::StrAppend(&out, "--- node ", i, " (", NodeAddress(i), ") ---\n",
                    nodes_[i].process->LogTail(bytes_each), "\n");
  }
  if (gateway_ != nullptr) {
    absl::StrAppend(&out, "--- gateway ---\n", gateway_->LogTail(bytes_each), "\n");
  }
  return out;
}

}  // namespace ds::integration
