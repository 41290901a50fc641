// ds-loadgen: the Data Services load generator and benchmark driver.
//
// Composition root: flags and environment → config → target → node metrics
// baseline → run (with a progress bar on a terminal) → node metrics → report.
// Accepts the reference Go client's flags (-channels, -requests) and prints its
// summary lines first. docs/loadgen.md describes every flag and output field.
//
// Exit status: 0 the run happened (request errors are reported, not fatal);
// 1 the target or the requested node metrics could not be reached; 2 usage.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/grpc_tls.h"
#include "auth/grpc_tls_flags.h"
#include "tools/loadgen/config.h"
#include "tools/loadgen/node_metrics.h"
#include "tools/loadgen/progress.h"
#include "tools/loadgen/report.h"
#include "tools/loadgen/runner.h"
#include "tools/loadgen/subscribe_mode.h"
#include "tools/loadgen/targets.h"
#include "tools/loadgen/workload.h"

namespace ds::loadgen {
namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

void Warn(const std::string& msg) { std::fprintf(stderr, "ds-loadgen: %s\n", msg.c_str()); }

int UsageError(const std::string& msg) {
  std::fprintf(stderr, "ds-loadgen: %s\nRun 'ds-loadgen --help' for the flags.\n", msg.c_str());
  return kExitUsage;
}

// Raw flag values that need parsing before they land in LoadgenConfig.
struct RawFlags {
  std::string mode = "burst";
  std::string keys = "round-robin";
  std::string target = "nodes";
  std::string read_method = "messages";
  std::string duration = "10s";
  std::string health_timeout = "5s";
  std::string nodes = "localhost:50051";
  std::string hedge = "off";
  std::string metrics;
  int64_t deadline_ms = 10000;
  bool no_discover_ids = false;
  bool no_progress = false;
  // --mode subscribe (subscribe_mode.h).
  SubscribeConfig subscribe;
  std::string transport = "sse";
  std::string after;
  std::string source_addresses;
  std::string settle = "2s";
  std::string connect_timeout = "120s";
  ds::auth::GrpcClientTlsFiles node_tls;  // --node-tls-* (auth/grpc_tls_flags.h)
};

// The workload flags (and the help layout).
void DefineWorkloadFlags(CLI::App& app, LoadgenConfig& c, RawFlags& raw) {
  app.get_formatter()->column_width(34);
  app.set_help_flag("-h,--help", "Print this help and exit");
  const char* kWorkload = "Workload";
  app.add_option("--channels", c.channels,
                 "Distinct channels 1..N to spread requests over (the reference's -channels)")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--requests", c.requests,
                 "Burst mode: total requests, all issued at once (the reference's -requests)")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--mode", raw.mode, "burst | closed | open | subscribe (live channels)")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--concurrency", c.concurrency, "Closed mode: requests kept in flight")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--duration", raw.duration, "Closed/open mode: run time (10s, 1m30s, 500ms)")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--rate", c.rate, "Open mode: requests per second (fixed schedule)")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--keys", raw.keys,
                 "Channel choice: round-robin (the reference: (i % channels)+1) | uniform | "
                 "zipf | hot")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--zipf-s", c.zipf_s, "zipf: exponent s (> 0; larger = more skewed)")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--hot-fraction", c.hot_fraction,
                 "hot: share of requests for the hot channel, rest uniform")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--hot-channel", c.hot_channel, "hot: the hot channel id")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--seed", c.seed, "Seed of every random choice (keys, read/write mix)")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--write-ratio", c.write_ratio,
                 "Share of requests that are SendMessage writes (unique nonces), 0..1")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--read-method", raw.read_method,
                 "Reads: messages (GetMessages, --limit) | message (GetMessage)")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--limit", c.limit, "GetMessages page size (1..100)")
      ->capture_default_str()
      ->group(kWorkload);
  app.add_option("--deadline-ms", raw.deadline_ms, "Per-request deadline in milliseconds")
      ->capture_default_str()
      ->group(kWorkload);
}

// --target and how to reach it.
void DefineTargetFlags(CLI::App& app, LoadgenConfig& c, RawFlags& raw) {
  const char* kTarget = "Target";
  app.add_option("--target", raw.target,
                 "nodes (dataservice.v1 gRPC, routed) | gateway (HTTP/JSON) | reference "
                 "(messages.MessagesService/getMessage, like the reference client)")
      ->capture_default_str()
      ->group(kTarget);
  app.add_option("--nodes", raw.nodes, "Data-service nodes, host:port,... (nodes, reference)")
      ->capture_default_str()
      ->envname("DS_NODES")
      ->group(kTarget);
  app.add_option("--policy", c.policy, "nodes: routing policy hash | round-robin | random")
      ->capture_default_str()
      ->group(kTarget);
  app.add_option("--channels-per-node", c.channels_per_node,
                 "gRPC connections per node (nodes, reference)")
      ->capture_default_str()
      ->group(kTarget);
  app.add_option(
         "--hedge", raw.hedge,
         "nodes: hedged reads of the routing client on | off (off by default: a benchmark measures "
         "the fleet; hedges add store queries; docs/reliability.md measures their cost)")
      ->capture_default_str()
      ->group(kTarget);
  app.add_option("--health-timeout", raw.health_timeout,
                 "nodes: how long to wait for healthy nodes before starting")
      ->capture_default_str()
      ->group(kTarget);
  app.add_option("--gateway", c.gateway, "gateway: host:port of the HTTP gateway")
      ->capture_default_str()
      ->envname("DS_GATEWAY")
      ->group(kTarget);
  app.add_option("--connections", c.connections, "gateway: keep-alive HTTP connections")
      ->capture_default_str()
      ->group(kTarget);
  app.add_option("--http-threads", c.http_threads,
                 "gateway: I/O threads of the HTTP client (the connections are split among them)")
      ->capture_default_str()
      ->group(kTarget);
  app.add_option("--pipeline", c.pipeline,
                 "gateway: requests in flight per connection (HTTP/1.1 pipelining; 1 = none)")
      ->capture_default_str()
      ->group(kTarget);
  app.add_flag("--no-discover-ids", raw.no_discover_ids,
               "GetMessage reads: skip learning each channel's newest id first and read "
               "message channel_id*1000 (the reference's convention)")
      ->group(kTarget);
}

// Node metrics.
void DefineMetricsFlags(CLI::App& app, LoadgenConfig& c, RawFlags& raw) {
  const char* kMetrics = "Node metrics";
  app.add_option("--metrics", raw.metrics,
                 "Nodes' Prometheus endpoints, http://HOST:ADMIN/metrics,... (host:port means "
                 "/metrics); scraped before and after the run")
      ->envname("DS_METRICS_URLS")
      ->group(kMetrics);
  app.add_flag("--no-metrics", c.no_metrics, "Do not read node metrics (query figures: n/a)")
      ->group(kMetrics);
  app.add_option("--query-time-ms", c.query_time_ms,
                 "Mean store query time for the ideal-queries simulation, overriding the "
                 "nodes' ds_store_query_seconds (default: measured)")
      ->group(kMetrics);
}

// --mode subscribe.
void DefineSubscribeFlags(CLI::App& app, RawFlags& raw) {
  const char* kSubscribe =
      "Subscribe mode (--mode subscribe; also --channels, --rate, --duration, "
      "--gateway, --metrics)";
  SubscribeConfig& sub = raw.subscribe;
  app.add_option("--subscribers", sub.subscribers, "Live subscribers in this process")
      ->capture_default_str()
      ->group(kSubscribe);
  app.add_option("--transport", raw.transport, "sse | websocket")
      ->capture_default_str()
      ->group(kSubscribe);
  app.add_option("--first-channel", sub.first_channel,
                 "Subscribers and writers use channels first..first+channels-1")
      ->capture_default_str()
      ->group(kSubscribe);
  app.add_option("--after", raw.after,
                 "Every subscriber resumes after this message id (a mass reconnect with one "
                 "Last-Event-ID); default: start at the newest message")
      ->group(kSubscribe);
  app.add_option("--writers", sub.writers, "Writer connections (REST POST through the gateway)")
      ->capture_default_str()
      ->group(kSubscribe);
  app.add_option("--source-addresses", raw.source_addresses,
                 "Local addresses to connect from, round robin (127.0.0.2,127.0.0.3,...)")
      ->group(kSubscribe);
  app.add_option("--connect-rate", sub.connect_rate, "New subscriber connections per second")
      ->capture_default_str()
      ->group(kSubscribe);
  app.add_option("--io-threads", sub.io_threads, "Subscriber I/O threads")
      ->capture_default_str()
      ->group(kSubscribe);
  app.add_option("--settle", raw.settle,
                 "Messages younger than this when the run stops are not counted as expected")
      ->capture_default_str()
      ->group(kSubscribe);
  app.add_option("--connect-timeout", raw.connect_timeout,
                 "How long every subscriber may take to join before writes start")
      ->capture_default_str()
      ->group(kSubscribe);
}

// Output.
void DefineOutputFlags(CLI::App& app, LoadgenConfig& c, RawFlags& raw) {
  const char* kOutput = "Output";
  app.add_flag("--json", c.json, "Print one JSON object with every figure instead of text")
      ->group(kOutput);
  app.add_flag("-q,--quiet", c.quiet,
               "Only the reference's four summary lines; no progress bar, no warnings")
      ->group(kOutput);
  app.add_flag("--no-progress", raw.no_progress, "No progress bar (it is drawn only on a TTY)")
      ->group(kOutput);
}

void DefineFlags(CLI::App& app, LoadgenConfig& c, RawFlags& raw) {
  DefineWorkloadFlags(app, c, raw);
  DefineTargetFlags(app, c, raw);
  DefineMetricsFlags(app, c, raw);
  DefineSubscribeFlags(app, raw);
  DefineOutputFlags(app, c, raw);
}

// Turns raw strings into the config; INVALID_ARGUMENT names the flag.
absl::Status Finish(const RawFlags& raw, LoadgenConfig& c) {
  absl::StatusOr<Mode> mode = ParseMode(raw.mode);
  if (!mode.ok()) return mode.status();
  c.mode = *mode;
  absl::StatusOr<KeyDistribution> keys = ParseKeyDistribution(raw.keys);
  if (!keys.ok()) return keys.status();
  c.keys = *keys;
  absl::StatusOr<TargetKind> target = ParseTargetKind(raw.target);
  if (!target.ok()) return target.status();
  c.target = *target;
  absl::StatusOr<ReadMethod> read = ParseReadMethod(raw.read_method);
  if (!read.ok()) return read.status();
  c.read_method = *read;
  absl::StatusOr<absl::Duration> d = ParseDurationFlag(raw.duration);
  if (!d.ok())
    return absl::InvalidArgumentError(absl::StrCat("--duration: ", d.status().message()));
  c.duration = *d;
  absl::StatusOr<absl::Duration> h = ParseDurationFlag(raw.health_timeout);
  if (!h.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--health-timeout: ", h.status().message()));
  }
  c.health_timeout = *h;
  if (raw.deadline_ms <= 0) return absl::InvalidArgumentError("--deadline-ms must be > 0");
  c.deadline = absl::Milliseconds(raw.deadline_ms);
  c.nodes = SplitList(raw.nodes);
  c.metrics_urls = SplitList(raw.metrics);
  c.discover_ids = !raw.no_discover_ids;
  c.progress = !raw.no_progress;
  if (raw.hedge != "on" && raw.hedge != "off") {
    return absl::InvalidArgumentError("--hedge must be on or off");
  }
  c.hedge_reads = raw.hedge == "on";
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      ds::auth::LoadChannelCredentials(raw.node_tls);
  if (!creds.ok()) return absl::InvalidArgumentError(creds.status().message());
  if (raw.node_tls.enabled()) c.node_credentials = *std::move(creds);
  return ValidateConfig(c);
}

absl::StatusOr<std::unique_ptr<Target>> MakeTarget(const LoadgenConfig& c) {
  switch (c.target) {
    case TargetKind::kNodes:
      return MakeNodesTarget({.nodes = c.nodes,
                              .policy = c.policy,
                              .channels_per_node = static_cast<int>(c.channels_per_node),
                              .seed = c.seed,
                              .hedge_reads = c.hedge_reads,
                              .credentials = c.node_credentials});
    case TargetKind::kReference:
      return MakeReferenceTarget(c.nodes, static_cast<int>(c.channels_per_node),
                                 c.node_credentials);
    case TargetKind::kGateway:
      return MakeGatewayTarget({.address = c.gateway,
                                .connections = static_cast<int>(c.connections),
                                .threads = static_cast<int>(c.http_threads),
                                .pipeline = static_cast<int>(c.pipeline),
                                .timing = c.mode == Mode::kBurst});
  }
  return absl::InternalError("unknown target");
}

// The node metrics of one run: the baseline before it, the counts after.
struct RunMetrics {
  std::unique_ptr<MetricsSource> metrics;
  // Reference target + --metrics: getAndResetMetrics gives the counts, the
  // Prometheus endpoints add query time, coalesced requests and rejections.
  std::unique_ptr<MetricsSource> query_time;
  NodeMetricsResult node;
};

using WarnFn = std::function<void(const std::string&)>;

RunMetrics BeginMetrics(const LoadgenConfig& c, const WarnFn& warn) {
  RunMetrics m;
  std::unique_ptr<MetricsSource>& metrics = m.metrics;
  std::unique_ptr<MetricsSource>& query_time_metrics = m.query_time;
  NodeMetricsResult& node = m.node;
  if (c.no_metrics) {
    node.origin = MetricsOrigin::kDisabled;
  } else if (c.target == TargetKind::kReference) {
    metrics = MakeReferenceMetricsSource(c.nodes, absl::Seconds(5), c.node_credentials);
    node.origin = MetricsOrigin::kReferenceApi;
    if (!c.metrics_urls.empty()) {
      query_time_metrics = MakePrometheusMetricsSource(c.metrics_urls, absl::Seconds(5));
    }
  } else if (!c.metrics_urls.empty()) {
    metrics = MakePrometheusMetricsSource(c.metrics_urls, absl::Seconds(5));
    node.origin = MetricsOrigin::kPrometheus;
  } else {
    warn(
        "no --metrics (or DS_METRICS_URLS) given: node query figures will be n/a "
        "(pass --no-metrics to silence this)");
    node.origin = MetricsOrigin::kDisabled;
  }
  if (metrics) {
    if (absl::Status s = metrics->Begin(); !s.ok()) {
      node.origin = MetricsOrigin::kFailed;
      node.error = std::string(s.message());
      metrics.reset();
      warn(absl::StrCat("node metrics unavailable: ", node.error));
    }
  }
  if (query_time_metrics && !query_time_metrics->Begin().ok()) query_time_metrics.reset();

  return m;
}

void EndMetrics(RunMetrics& m, const WarnFn& warn) {
  std::unique_ptr<MetricsSource>& metrics = m.metrics;
  std::unique_ptr<MetricsSource>& query_time_metrics = m.query_time;
  NodeMetricsResult& node = m.node;
  if (metrics) {
    absl::StatusOr<NodeCounters> delta = metrics->End();
    if (delta.ok()) {
      node.counters = *delta;
    } else {
      node.origin = MetricsOrigin::kFailed;
      node.error = std::string(delta.status().message());
      warn(absl::StrCat("node metrics unavailable: ", node.error));
    }
  }
  if (query_time_metrics && node.origin == MetricsOrigin::kReferenceApi) {
    absl::StatusOr<NodeCounters> q = query_time_metrics->End();
    if (q.ok()) {
      node.counters.has_query_time = q->has_query_time;
      node.counters.query_seconds_sum = q->query_seconds_sum;
      node.counters.query_seconds_count = q->query_seconds_count;
      node.counters.has_coalesced = q->has_coalesced;
      node.counters.coalesced = q->coalesced;
      node.counters.rejected_by_reason = q->rejected_by_reason;
    }
  }
}

int Run(const LoadgenConfig& c) {
  auto warn = [&](const std::string& msg) {
    if (!c.quiet) Warn(msg);
  };
  absl::StatusOr<std::unique_ptr<Target>> target = MakeTarget(c);
  if (!target.ok()) {
    Warn(std::string(target.status().message()));
    return target.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitRuntime;
  }
  if (c.target == TargetKind::kNodes) {
    if (absl::Status s = (*target)->WaitReady(c.health_timeout); !s.ok()) {
      warn(absl::StrCat("not every node is healthy, starting anyway: ", s.message()));
    }
  }

  WorkloadOptions w;
  w.keys = {.distribution = c.keys,
            .channels = c.channels,
            .zipf_s = c.zipf_s,
            .hot_fraction = c.hot_fraction,
            .hot_channel = c.hot_channel,
            .seed = c.seed};
  w.write_ratio = c.write_ratio;
  w.read_method = c.target == TargetKind::kReference ? ReadMethod::kMessage : c.read_method;
  w.limit = static_cast<uint32_t>(c.limit);
  // Wall-clock nonces: two runs never reuse one (a reused nonce is a replay).
  w.nonce_base = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  if (c.target != TargetKind::kReference && c.read_method == ReadMethod::kMessage &&
      c.discover_ids) {
    w.message_ids = DiscoverNewestMessageIds(target->get(), c.channels, c.deadline);
  }
  absl::StatusOr<Workload> workload = Workload::Create(std::move(w));
  if (!workload.ok()) return UsageError(std::string(workload.status().message()));

  // Node metrics: the baseline is taken after discovery, so its reads do not count.
  RunMetrics m = BeginMetrics(c, warn);

  RunOptions options{.mode = c.mode,
                     .requests = c.requests,
                     .concurrency = c.concurrency,
                     .duration = c.duration,
                     .rate = c.rate,
                     .deadline = c.deadline};
  Runner runner(target->get(), &*workload, options, RealClock());
  std::unique_ptr<ProgressBar> bar;
  if (c.progress && !c.quiet && isatty(STDERR_FILENO)) {
    ProgressBar::Goal goal;
    if (c.mode == Mode::kBurst) {
      goal.requests = c.requests;
    } else {
      goal.duration = c.duration;
    }
    bar = std::make_unique<ProgressBar>(&runner, goal, stderr);
  }
  RunResult result = runner.Run();
  if (bar) bar->Stop();

  EndMetrics(m, warn);

  Report report = BuildReport(c, result, m.node);
  if (c.json) {
    std::cout << RenderJson(report) << std::endl;
  } else {
    std::cout << RenderText(report, absl::Now(), absl::LocalTimeZone(), c.quiet) << std::flush;
  }
  return m.node.origin == MetricsOrigin::kFailed ? kExitRuntime : 0;
}

}  // namespace
}  // namespace ds::loadgen

int main(int argc, char** argv) {
  using namespace ds::loadgen;
  std::vector<std::string> args(argv + 1, argv + argc);
  args = NormalizeReferenceFlags(args);
  // CLI11 parses the vector in reverse order (it pops from the back).
  std::vector<std::string> reversed(args.rbegin(), args.rend());

  CLI::App app{
      "ds-loadgen: load generator for Data Services. Accepts the reference client's "
      "-channels/-requests and prints its summary lines, then latency, throughput, errors "
      "and the ideal-queries comparison. See docs/loadgen.md.",
      "ds-loadgen"};
  LoadgenConfig config;
  RawFlags raw;
  DefineFlags(app, config, raw);
  ds::auth::AddNodeTlsClientFlags(app, raw.node_tls);
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return UsageError(e.what());
  }
  if (raw.mode == "subscribe") {
    SubscribeConfig sub = raw.subscribe;
    sub.gateway = config.gateway;
    sub.channels = config.channels;
    sub.rate = app.count("--rate") > 0 ? config.rate : 10;
    sub.seed = config.seed;
    sub.json = config.json;
    sub.quiet = config.quiet;
    sub.progress = !raw.no_progress;
    sub.websocket = raw.transport == "websocket";
    sub.metrics_urls = SplitList(raw.metrics);
    sub.source_addresses = SplitList(raw.source_addresses);
    if (raw.transport != "sse" && raw.transport != "websocket") {
      return UsageError("--transport: sse or websocket");
    }
    if (!raw.after.empty()) {
      uint64_t after = 0;
      if (!absl::SimpleAtoi(raw.after, &after)) return UsageError("--after: a message id");
      sub.after = after;
    }
    for (auto [flag, text, out] :
         {std::tuple{"--duration", &raw.duration, &sub.duration},
          std::tuple{"--settle", &raw.settle, &sub.settle},
          std::tuple{"--connect-timeout", &raw.connect_timeout, &sub.connect_timeout}}) {
      absl::StatusOr<absl::Duration> d = ParseDurationFlag(*text);
      if (!d.ok()) return UsageError(absl::StrCat(flag, ": ", d.status().message()));
      *out = *d;
    }
    return RunSubscribe(sub);
  }
  if (absl::Status s = Finish(raw, config); !s.ok()) return UsageError(std::string(s.message()));
  return Run(config);
}
