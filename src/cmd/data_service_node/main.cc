// ds-node: one data-service node. Composition root: config → metrics →
// storage → coalescer/server → admin HTTP; started in that order, stopped in
// reverse on SIGTERM/SIGINT (stop accepting, drain, exit 0).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "auth/grpc_tls.h"
#include "auth/grpc_tls_flags.h"
#include "cmd/common/cli.h"
#include "cmd/common/signals.h"
#include "cmd/common/store_flags.h"
#include "common/api_rules.h"
#include "common/log.h"
#include "common/port_file.h"
#include "live/node/live_node.h"
#include "metrics/admin_server.h"
#include "node/node.h"
#include "node/server_tuning.h"
#include "storage/circuit_breaker_store.h"
#include "storage/embedded/sqlite_message_store.h"
#include "storage/latency_message_store.h"

namespace {

// Flag defaults come from the options structs they fill.
const ds::node::NodeOptions kNodeDefaults;
const ds::coalescer::CoalescerOptions& kCoalescerDefaults = kNodeDefaults.coalescer;

int Millis(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

struct Flags {
  ds::auth::GrpcServerTlsFiles tls;  // --tls-* (auth/grpc_tls_flags.h)
  std::string listen = kNodeDefaults.listen_address;
  std::string admin_listen = "127.0.0.1:9100";
  std::string store_path = "data-services.db";
  int node_id = -1;
  int store_threads = 4;
  std::string coalescing = kCoalescerDefaults.enabled ? "on" : "off";
  size_t max_waiters_per_flight = kCoalescerDefaults.max_waiters_per_flight;
  size_t max_total_waiters = kCoalescerDefaults.max_total_waiters;
  size_t max_concurrent_queries = kCoalescerDefaults.max_concurrent_queries;
  int max_query_timeout_ms = Millis(kCoalescerDefaults.max_query_timeout);
  int retry_max_attempts = kCoalescerDefaults.retry.max_attempts;
  int retry_initial_backoff_ms = Millis(kCoalescerDefaults.retry.initial_backoff);
  int retry_max_backoff_ms = Millis(kCoalescerDefaults.retry.max_backoff);
  double retry_budget = kCoalescerDefaults.retry.budget_tokens;
  size_t max_content_bytes = kNodeDefaults.service.max_content_bytes;
  int default_deadline_ms = Millis(kNodeDefaults.service.default_deadline);
  int drain_timeout_ms = 5'000;
  double bench_store_latency_ms = 0;
  int store_breaker_failures = ds::storage::CircuitBreakerOptions{}.failures_to_open;
  int store_breaker_open_ms = Millis(ds::storage::CircuitBreakerOptions{}.open_for);
  int store_breaker_stall_ms = Millis(ds::storage::CircuitBreakerOptions{}.slow_call_budget);
  std::string port_file;
  std::string fan_out = kNodeDefaults.fan_out_on_polling_thread ? "polling" : "store";
  int server_threads = kNodeDefaults.server_threads;
  // gRPC admission (node/server_tuning.h).
  int64_t grpc_memory_quota_mb = kNodeDefaults.server_tuning.memory_quota_bytes >> 20;
  int max_streams_per_connection =
      kNodeDefaults.server_tuning.max_concurrent_streams_per_connection;
  // Request log lines (node/request_log.h).
  double log_requests = kNodeDefaults.service.request_log.sample_rate;
  int slow_request_ms = Millis(kNodeDefaults.service.request_log.slow_threshold);
  // Hot-key linger (contract point 10 of src/coalescer/coalescer.h).
  std::string linger_max = absl::FormatDuration(kCoalescerDefaults.linger.max);
  double linger_min_expected_joiners = kCoalescerDefaults.linger.min_expected_joiners;
  double linger_target_joiners = kCoalescerDefaults.linger.target_joiners;
  double linger_deadline_headroom = kCoalescerDefaults.linger.deadline_headroom;
  ds::cli::StoreFlags store;  // --backend, --cassandra-*
  // Live channels (src/live/node; docs/live.md).
  int live_poll_interval_ms = 1'000;
  int live_heartbeat_interval_ms = 5'000;
  int live_late_window_ms = 5'000;
  size_t live_max_subscribers = 10'000;
  size_t live_max_backlog = 10'000;
  std::string peers;
  std::string self;
  int clock_skew_ms = 0;
};

// Opens the store chosen by --backend.
absl::StatusOr<std::unique_ptr<ds::storage::MessageStore>> OpenStore(const Flags& f,
                                                                     uint32_t node_id) {
  if (f.store.backend == "sqlite") {
    std::function<int64_t()> now_ms = nullptr;
    if (f.clock_skew_ms != 0) {
      now_ms = [skew = f.clock_skew_ms] { return absl::ToUnixMillis(absl::Now()) + skew; };
    }
    auto sqlite = ds::storage::SqliteMessageStore::Open({.path = f.store_path,
                                                         .reader_threads = f.store_threads,
                                                         .node_id = node_id,
                                                         .now_ms = std::move(now_ms)});
    if (!sqlite.ok()) return sqlite.status();
    return std::unique_ptr<ds::storage::MessageStore>(std::move(*sqlite));
  }
  return ds::cli::OpenCassandraStore(f.store, node_id);
}

// --bench-store-latency-ms: the store behind a LatencyMessageStore.
std::unique_ptr<ds::storage::MessageStore> WithBenchLatency(
    const Flags& f, std::unique_ptr<ds::storage::MessageStore> store) {
  if (f.bench_store_latency_ms <= 0) return store;
  ds::Logger("node")->warn("BENCHMARK MODE: adding {} ms to every store call",
                           f.bench_store_latency_ms);
  return std::make_unique<ds::storage::LatencyMessageStore>(
      std::move(store), absl::Microseconds(static_cast<int64_t>(f.bench_store_latency_ms * 1000)));
}

// --store-breaker-*: the store behind a CircuitBreakerStore (on by default),
// so a store that keeps failing is refused in microseconds, not timeouts.
std::unique_ptr<ds::storage::MessageStore> WithCircuitBreaker(
    const Flags& f, std::unique_ptr<ds::storage::MessageStore> store) {
  if (f.store_breaker_failures <= 0) return store;
  ds::storage::CircuitBreakerOptions options;
  options.failures_to_open = f.store_breaker_failures;
  options.open_for = absl::Milliseconds(f.store_breaker_open_ms);
  options.slow_call_budget = absl::Milliseconds(f.store_breaker_stall_ms);
  options.max_open_for = std::max(options.max_open_for, options.open_for);
  return std::make_unique<ds::storage::CircuitBreakerStore>(
      std::move(store), options,
      [](std::string_view breaker, ds::storage::BreakerState to, const absl::Status& last) {
        ds::Logger("node")->warn("store {} circuit breaker {}{}{}", breaker,
                                 ds::storage::BreakerStateName(to), last.ok() ? "" : ": ",
                                 last.ok() ? "" : last.ToString());
      });
}

// --linger-max: a duration from 0 to 10 s.
absl::StatusOr<absl::Duration> ParseLingerMax(const std::string& value) {
  absl::Duration d;
  if (absl::ParseDuration(value, &d) && d >= absl::ZeroDuration() && d <= absl::Seconds(10)) {
    return d;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--linger-max: '", value, "' is not a duration from 0 to 10s (such as 0, 500us, 2ms)"));
}

ds::node::NodeOptions ToNodeOptions(const Flags& f) {
  ds::node::NodeOptions options;
  options.listen_address = f.listen;
  options.coalescer.enabled = f.coalescing == "on";
  options.coalescer.max_waiters_per_flight = f.max_waiters_per_flight;
  options.coalescer.max_total_waiters = f.max_total_waiters;
  options.coalescer.max_concurrent_queries = f.max_concurrent_queries;
  options.coalescer.max_query_timeout = absl::Milliseconds(f.max_query_timeout_ms);
  options.coalescer.retry.max_attempts = f.retry_max_attempts;
  options.coalescer.retry.initial_backoff = absl::Milliseconds(f.retry_initial_backoff_ms);
  options.coalescer.retry.max_backoff = absl::Milliseconds(f.retry_max_backoff_ms);
  options.coalescer.retry.budget_tokens = f.retry_budget;
  options.fan_out_on_polling_thread = f.fan_out == "polling";
  options.server_threads = f.server_threads;
  options.server_tuning.memory_quota_bytes = f.grpc_memory_quota_mb << 20;
  options.server_tuning.max_concurrent_streams_per_connection = f.max_streams_per_connection;
  options.service.max_content_bytes = f.max_content_bytes;
  options.service.default_deadline = absl::Milliseconds(f.default_deadline_ms);
  options.service.request_log.sample_rate = f.log_requests;
  options.service.request_log.slow_threshold = absl::Milliseconds(f.slow_request_ms);
  ds::coalescer::LingerOptions& linger = options.coalescer.linger;
  linger.max = *ParseLingerMax(f.linger_max);  // checked in main()
  linger.min_expected_joiners = f.linger_min_expected_joiners;
  linger.target_joiners = f.linger_target_joiners;
  linger.deadline_headroom = f.linger_deadline_headroom;
  return options;
}

ds::live::LiveOptions ToLiveOptions(const Flags& f) {
  ds::live::LiveOptions live;
  live.hub.poll_interval = absl::Milliseconds(f.live_poll_interval_ms);
  live.hub.heartbeat_interval = absl::Milliseconds(f.live_heartbeat_interval_ms);
  live.hub.late_window = absl::Milliseconds(f.live_late_window_ms);
  live.hub.max_subscribers = f.live_max_subscribers;
  live.hub.max_backlog = f.live_max_backlog;
  live.peers = absl::StrSplit(f.peers, ',', absl::SkipWhitespace());
  live.self = f.self.empty() ? f.listen : f.self;
  return live;
}

// Serving, coalescing and limits flags.
void AddFlags(CLI::App& app, Flags& f) {
  ds::cli::FlagSet flags(app, "DS_");
  flags.Add("--listen", f.listen, "gRPC listen address host:port (port 0 picks a free port)");
  flags.Add("--admin-listen", f.admin_listen,
            "Admin HTTP address for /metrics and /healthz (port 0 picks one)");
  flags.Add("--store", f.store_path,
            "Embedded store file (SQLite, WAL mode; several nodes may share it)");
  app.add_option("--node-id", f.node_id,
                 "Snowflake node bits 0..1023 for ids this node assigns (default: pid % 1024)")
      ->envname("DS_NODE_ID")
      ->check(CLI::Range(-1, 1023));
  flags.Add("--store-threads", f.store_threads, "Store reader threads", CLI::Range(1, 256));
  flags.Add("--coalescing", f.coalescing, "Coalesce identical concurrent reads: on|off",
            CLI::IsMember({"on", "off"}));
  flags.Add("--max-waiters-per-flight", f.max_waiters_per_flight,
            "Cap on requests sharing one query; beyond it RESOURCE_EXHAUSTED", CLI::PositiveNumber);
  flags.Add("--max-total-waiters", f.max_total_waiters,
            "Cap on requests waiting on this node; beyond it RESOURCE_EXHAUSTED",
            CLI::PositiveNumber);
  flags.Add("--max-concurrent-queries", f.max_concurrent_queries,
            "Cap on store queries in flight; beyond it new flights get RESOURCE_EXHAUSTED",
            CLI::PositiveNumber);
  flags.Add("--max-query-timeout-ms", f.max_query_timeout_ms,
            "Cap on one store query's deadline (it otherwise follows the longest waiter)",
            CLI::PositiveNumber);
  flags.Add("--retry-max-attempts", f.retry_max_attempts,
            "Store attempts per flight for transient errors, including the first",
            CLI::Range(1, 10));
  flags.Add("--retry-initial-backoff-ms", f.retry_initial_backoff_ms, "First retry backoff",
            CLI::NonNegativeNumber);
  flags.Add("--retry-max-backoff-ms", f.retry_max_backoff_ms, "Largest retry backoff",
            CLI::NonNegativeNumber);
  flags.Add("--retry-budget", f.retry_budget,
            "Retry token bucket size; each success refunds 0.1 token", CLI::NonNegativeNumber);
  flags.Add("--max-content-bytes", f.max_content_bytes, "Largest message content accepted",
            CLI::Range(1, 60000));
  flags.Add("--default-deadline-ms", f.default_deadline_ms,
            "Deadline for requests that arrive without one", CLI::PositiveNumber);
  flags.Add("--drain-timeout-ms", f.drain_timeout_ms,
            "On SIGTERM: how long running calls may take to finish", CLI::NonNegativeNumber);
  flags.Add("--bench-store-latency-ms", f.bench_store_latency_ms,
            "BENCHMARKS ONLY: add this latency to every store call, standing in for a "
            "remote database (LatencyMessageStore). 0 = off",
            CLI::NonNegativeNumber);
  flags.Add("--store-breaker-failures", f.store_breaker_failures,
            "Store failures in a row (reads and writes counted apart) that open the store's "
            "circuit breaker: calls are then refused at once (UNAVAILABLE) until a probe "
            "succeeds. 0 = no breaker",
            CLI::NonNegativeNumber);
  flags.Add("--store-breaker-open-ms", f.store_breaker_open_ms,
            "How long an opened store breaker refuses before its first probe; each failed "
            "probe doubles it (up to 2 s or this value, whichever is larger)",
            CLI::PositiveNumber);
  flags.Add("--store-breaker-stall-ms", f.store_breaker_stall_ms,
            "A store call waiting this long while the store answers nothing of its kind "
            "opens the breaker and fails the calls in flight at once; timeouts of calls "
            "given less than this never count",
            CLI::PositiveNumber);
  flags.Add("--fan-out", f.fan_out,
            "Where store results answer their calls: polling (handed to the gRPC polling "
            "thread that took the call, one wake-up per flight) or store (the store thread "
            "that completed the query)",
            CLI::IsMember({"polling", "store"}));
  flags.Add("--server-threads", f.server_threads,
            "gRPC polling threads, each with its own completion queue; handlers run inline "
            "on them (0 = one per core)",
            CLI::Range(0, 64));
  flags.Add("--log-requests", f.log_requests,
            "Fraction (0..1) of requests logged with one info line each (method, channel, "
            "code, coalescing role, latency, x-request-id, peer); failed and slow requests "
            "are always logged",
            CLI::Range(0.0, 1.0));
  flags.Add("--slow-request-ms", f.slow_request_ms,
            "Log a warning for every request answered this long or more after it arrived "
            "(0 = never)",
            CLI::Range(0, 3'600'000));
}

// The hot-key linger's flags (off unless --linger-max is above zero).
void AddLingerFlags(CLI::App& app, Flags& f) {
  ds::cli::FlagSet flags(app, "DS_");
  flags.Add("--linger-max", f.linger_max,
            "Hot-key linger: a new read of a key whose arrival rate promises joiners waits "
            "up to this long (0, 500us, 2ms, ...) before its store query, collecting "
            "identical reads; every one gets data from a query that started after it "
            "arrived. 0 = off");
  flags.Add("--linger-min-expected-joiners", f.linger_min_expected_joiners,
            "Hot-key linger: linger only when the key's arrival rate promises at least this "
            "many joiners within --linger-max",
            CLI::NonNegativeNumber);
  flags.Add("--linger-target-joiners", f.linger_target_joiners,
            "Hot-key linger: linger about as long as this many joiners take to arrive "
            "(capped by --linger-max): a hotter key lingers less",
            CLI::PositiveNumber);
  flags.Add("--linger-deadline-headroom", f.linger_deadline_headroom,
            "Hot-key linger: end the linger this many measured store latencies before the "
            "earliest waiter's deadline",
            CLI::NonNegativeNumber);
}

// The storage backend's flags.
void AddStoreFlags(CLI::App& app, Flags& f) {
  ds::cli::FlagSet flags(app, "DS_");
  ds::cli::AddStoreFlags(flags, f.store,
                         "Storage backend: sqlite (the --store file) or cassandra (--cassandra-*)");
  flags.Add("--cassandra-replication-factor", f.store.cassandra_replication_factor,
            "Replication factor if the keyspace must be created; 0 = number of hosts, max 3",
            CLI::Range(0, 10));
  flags.Add("--cassandra-timeout-ms", f.store.cassandra_timeout_ms,
            "Cap on one CQL request (a call's own deadline may cut it shorter)",
            CLI::PositiveNumber);
  flags.Add("--cassandra-username", f.store.cassandra_username,
            "Cassandra PasswordAuthenticator user (password from DS_CASSANDRA_PASSWORD)");
  flags.Add("--cassandra-password", f.store.cassandra_password,
            "Cassandra password (prefer the environment variable)");
}

// Live channels' flags (src/live/node; docs/live.md) and --port-file.
void AddLiveFlags(CLI::App& app, Flags& f) {
  ds::cli::FlagSet flags(app, "DS_");
  flags.Add("--live-poll-interval-ms", f.live_poll_interval_ms,
            "Live channels: how often a subscribed channel's tail is read (writes acknowledged "
            "by other nodes arrive within this)",
            CLI::Range(10, 600'000));
  flags.Add("--live-heartbeat-interval-ms", f.live_heartbeat_interval_ms,
            "Live channels: heartbeat interval of Subscribe streams", CLI::Range(10, 600'000));
  flags.Add("--live-late-window-ms", f.live_late_window_ms,
            "Live channels: how far below the newest id sent a late write is still delivered",
            CLI::Range(0, 600'000));
  flags.Add("--live-max-subscribers", f.live_max_subscribers,
            "Live channels: Subscribe streams this node serves at most", CLI::PositiveNumber);
  flags.Add("--live-max-backlog", f.live_max_backlog,
            "Live channels: messages a resuming stream may need before it is told to reload",
            CLI::PositiveNumber);
  flags.Add("--peers", f.peers,
            "The fleet's node addresses (comma-separated, as the gateways list them): a write "
            "to a channel another node owns pokes that node. Empty: no pokes");
  flags.Add("--self", f.self, "This node's address as it appears in --peers");
  app.add_option("--clock-skew-ms", f.clock_skew_ms,
                 "TESTS ONLY: shift the clock of the ids this node assigns (SQLite backend)")
      ->envname("DS_CLOCK_SKEW_MS");
  flags.Add("--port-file", f.port_file,
            "Write '<grpc_port> <admin_port>' here once serving (for scripts)");
}

// The gRPC port's credentials and those pokes dial peers with, from --tls-*.
absl::Status ApplyTls(const Flags& f, ds::node::NodeOptions& node, ds::live::LiveOptions& live) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server =
      ds::auth::LoadServerCredentials(f.tls);
  if (!server.ok()) return server.status();
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> peers =
      ds::auth::LoadPeerCredentials(f.tls);
  if (!peers.ok()) return peers.status();
  node.credentials = *std::move(server);
  live.peer_credentials = *std::move(peers);
  return absl::OkStatus();
}

// How much gRPC may take in before the node's own caps see a request.
void AddGrpcAdmissionFlags(CLI::App& app, Flags& f) {
  ds::cli::FlagSet flags(app, "DS_");
  flags.Add("--grpc-memory-quota-mb", f.grpc_memory_quota_mb,
            "Memory gRPC may use for calls and their buffers (a resource quota); past it new "
            "calls are refused RESOURCE_EXHAUSTED instead of piling up under overload "
            "(0 = unbounded)",
            CLI::Range(int64_t{0}, int64_t{1} << 20));
  flags.Add("--max-streams-per-connection", f.max_streams_per_connection,
            "HTTP/2 concurrent streams per client connection; a client queues the rest on its "
            "side (0 = gRPC's default, unlimited)",
            CLI::NonNegativeNumber);
}

void AddAllFlags(CLI::App& app, Flags& f) {
  AddFlags(app, f);
  AddGrpcAdmissionFlags(app, f);
  AddStoreFlags(app, f);
  AddLiveFlags(app, f);
  AddLingerFlags(app, f);
  ds::auth::AddNodeTlsServerFlags(app, f.tls);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{
      "ds-node: a Data Services node. Serves dataservice.v1.MessageService and the reference\n"
      "messages.MessagesService over gRPC, coalescing identical concurrent reads into one\n"
      "store query. Every option can also be set by the environment variable shown."};
  AddAllFlags(app, f);
  CLI11_PARSE(app, argc, argv);

  auto log = ds::Logger("node");
  ds::node::ApplyProcessTuning({});
  using ds::api::PortZero;
  absl::StatusOr<ds::api::HostPort> admin_address =
      ds::api::ParseHostPort("--admin-listen", f.admin_listen, PortZero::kAllowed);
  absl::Status listen = ds::api::ParseHostPort("--listen", f.listen, PortZero::kAllowed).status();
  for (const absl::Status& s :
       {listen, admin_address.status(), ParseLingerMax(f.linger_max).status()}) {
    if (!s.ok()) {
      log->error("{}", std::string(s.message()));
      return 2;
    }
  }

  // Block SIGTERM/SIGINT before any thread starts so that every thread
  // inherits the mask and only sigwait() below receives them.
  const sigset_t signals = ds::BlockSignals({SIGTERM, SIGINT});

  auto registry = std::make_shared<prometheus::Registry>();

  const uint32_t node_id =
      f.node_id >= 0 ? static_cast<uint32_t>(f.node_id) : static_cast<uint32_t>(getpid() % 1024);
  const std::string store_name =
      f.store.backend == "sqlite" ? f.store_path : ds::cli::CassandraStoreName(f.store);
  auto opened = OpenStore(f, node_id);
  if (!opened.ok()) {
    log->error("cannot open store {}: {}", store_name, opened.status().ToString());
    return 1;
  }
  std::unique_ptr<ds::storage::MessageStore> store =
      WithCircuitBreaker(f, WithBenchLatency(f, std::move(*opened)));

  ds::node::NodeOptions options = ToNodeOptions(f);

  ds::live::LiveOptions live = ToLiveOptions(f);
  if (absl::Status tls = ApplyTls(f, options, live); !tls.ok()) {
    log->error("{}", tls.ToString());
    return 2;
  }

  auto live_node = ds::live::LiveNode::Start(options, std::move(live), store.get(), registry);
  if (!live_node.ok()) {
    log->error("{}", live_node.status().ToString());
    return 1;
  }
  ds::node::DataServiceNode* node_ptr = &(*live_node)->node();
  auto admin =
      ds::metrics::AdminServer::Start({.address = admin_address->host, .port = admin_address->port},
                                      registry, [node_ptr] { return node_ptr->serving(); });
  if (!admin.ok()) {
    log->error("cannot start admin server on {}: {}", f.admin_listen, admin.status().ToString());
    return 1;
  }
  log->info("ready grpc={} admin={} store={} node_id={}", node_ptr->address(),
            ds::api::FormatHostPort({admin_address->host, (*admin)->port()}), store_name, node_id);
  if (!f.port_file.empty() && !ds::WritePortFile(f.port_file, node_ptr->port(), (*admin)->port())) {
    log->error("cannot write port file {}", f.port_file);
    return 1;
  }

  int sig = 0;
  sigwait(&signals, &sig);
  log->info("signal {} received: draining for up to {} ms", sig, f.drain_timeout_ms);
  (*live_node)->Shutdown(absl::Milliseconds(f.drain_timeout_ms));
  live_node->reset();  // waits for every flight to end
  (*admin)->Stop();
  store.reset();  // drains the store's threads
  log->info("stopped");
  return 0;
}
