// ds-gateway: the HTTP/JSON API server in front of the data-service fleet.
// Composition root: flags → logger → metrics registry → routing client →
// handlers (security layer, when configured → live routes → API) on the
// shared HTTP server (HTTPS with --tls-cert) → optional admin server.
// SIGHUP reloads the TLS certificate and key; SIGTERM/SIGINT stop in reverse
// (stop accepting, finish requests in flight, exit 0).
#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/grpc_tls.h"
#include "auth/grpc_tls_flags.h"
#include "cmd/common/cli.h"
#include "cmd/common/signals.h"
#include "common/api_rules.h"
#include "common/log.h"
#include "common/port_file.h"
#include "gateway/gateway.h"
#include "gateway/routed_backend.h"
#include "gateway/secure_handler.h"
#include "gateway/security_config.h"
#include "gateway/security_flags.h"
#include "live/gateway/fanout.h"
#include "live/gateway/live_handler.h"
#include "live/gateway/routed_upstream.h"
#include "metrics/admin_server.h"
#include "routing/membership.h"
#include "routing/policy.h"
#include "routing/routed_client.h"

namespace {

// Flag defaults come from the options structs they fill.
const ds::gateway::GatewayOptions kGatewayDefaults;
const ds::routing::RoutedClientOptions kRoutingDefaults;

int Millis(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

struct Flags {
  ds::auth::GrpcClientTlsFiles node_tls;  // --node-tls-* (auth/grpc_tls_flags.h)
  std::string listen = "127.0.0.1:8080";
  std::string admin_listen;
  std::string port_file;
  std::string nodes;
  std::string nodes_file;
  std::string policy = std::string(ds::routing::PolicyName(kRoutingDefaults.policy));
  int io_threads = kGatewayDefaults.http.io_threads;  // 0 = one per core
  int deadline_ms = Millis(kGatewayDefaults.deadline);
  uint64_t max_body_bytes = kGatewayDefaults.http.max_body_bytes;
  uint32_t max_header_bytes = kGatewayDefaults.http.max_header_bytes;
  int idle_timeout_ms = Millis(kGatewayDefaults.http.idle_timeout);
  int read_timeout_ms = Millis(kGatewayDefaults.http.header_timeout);
  int write_timeout_ms = Millis(kGatewayDefaults.http.write_timeout);
  int max_connections = kGatewayDefaults.http.max_connections;
  int max_pipelined = kGatewayDefaults.http.max_pipelined_requests;
  std::string coalescing = kGatewayDefaults.reads.coalescing ? "on" : "off";
  uint64_t max_waiters_per_flight = kGatewayDefaults.reads.max_waiters_per_flight;
  uint64_t max_total_waiters = kGatewayDefaults.reads.max_total_waiters;
  uint64_t max_concurrent_upstream = kGatewayDefaults.reads.max_concurrent_upstream;
  int health_interval_ms = Millis(kRoutingDefaults.health_interval);
  int health_timeout_ms = Millis(kRoutingDefaults.health_timeout);
  int eject_after = kRoutingDefaults.eject_after;
  int readmit_after = kRoutingDefaults.readmit_after;
  int channels_per_node = kRoutingDefaults.channels_per_node;
  uint64_t seed = kRoutingDefaults.seed;
  // Off by default, unlike RoutedClientOptions (see the flag's help).
  std::string hedge_reads = "off";
  int wait_healthy_ms = 0;
  int live_max_streams = 0;  // 0: from the open-file limit
  int shutdown_grace_ms = 10'000;
};

// Addresses and the HTTP server's limits.
void AddHttpFlags(CLI::App& app, Flags& f) {
  ds::cli::FlagSet flags(app, "DS_GATEWAY_");
  auto positive = CLI::PositiveNumber;
  flags.Add("--listen", f.listen,
            "HTTP listen address host:port for the API, /metrics and /healthz (port 0 picks "
            "a free port; the log line 'listening on HOST:PORT' tells which)");
  flags.Add("--admin-listen", f.admin_listen,
            "Optional separate admin HTTP address for /metrics and /healthz (empty = none)");
  flags.Add("--port-file", f.port_file,
            "Write '<api_port> <admin_port>' here once serving (admin_port = api_port "
            "without --admin-listen)");
  // DS_NODES is read by ds::routing::ResolveNodes, after the file: precedence
  // is --nodes, then --nodes-file (or DS_NODES_FILE), then DS_NODES.
  app.add_option("--nodes", f.nodes,
                 "Data-service node addresses host:port, comma-separated (Env:DS_NODES, used "
                 "only when neither --nodes nor --nodes-file is given)");
  app.add_option("--nodes-file", f.nodes_file,
                 "File of node addresses, one per line, '#' comments (used when --nodes is not "
                 "given)")
      ->envname("DS_NODES_FILE");
  flags.Add("--policy", f.policy, "Routing policy: hash | round-robin | random");
  flags.Add("--io-threads,--threads", f.io_threads,
            "HTTP I/O threads, each with its own event loop (0 = one per core)",
            CLI::Range(0, 256));
  flags.Add("--deadline-ms", f.deadline_ms,
            "Per-request deadline; clients may lower it with the header x-request-timeout-ms",
            positive);
  flags.Add("--max-body-bytes", f.max_body_bytes, "Largest request body (larger: 413)");
  flags.Add("--max-header-bytes", f.max_header_bytes,
            "Largest request line + headers (larger: 431)", CLI::Range(256u, 1u << 20));
  flags.Add("--idle-timeout-ms", f.idle_timeout_ms,
            "Idle time after which a keep-alive connection with nothing to do is closed", positive);
  flags.Add("--read-timeout-ms", f.read_timeout_ms,
            "Time allowed to receive a request's headers (from its first byte), and then "
            "its body",
            positive);
  flags.Add("--write-timeout-ms", f.write_timeout_ms, "Time allowed to send one response",
            positive);
  flags.Add("--max-connections", f.max_connections,
            "Open connections accepted at once (more are closed at once)", positive);
  flags.Add("--max-pipelined", f.max_pipelined,
            "Requests read ahead on one connection and not yet answered (HTTP pipelining)",
            CLI::Range(1, 1024));
}

// Gateway coalescing and routing.
void AddRoutingFlags(CLI::App& app, Flags& f) {
  ds::cli::FlagSet flags(app, "DS_GATEWAY_");
  auto positive = CLI::PositiveNumber;
  flags.Add("--coalescing", f.coalescing,
            "Gateway-level coalescing of identical reads in flight: on | off",
            CLI::IsMember({"on", "off"}));
  flags.Add("--max-waiters-per-flight", f.max_waiters_per_flight,
            "Reads that may wait for one gateway flight (more: 429)", positive);
  flags.Add("--max-total-waiters", f.max_total_waiters,
            "Reads that may wait for flights at once (more: 429)", positive);
  flags.Add("--max-concurrent-upstream", f.max_concurrent_upstream,
            "Gateway flights with an upstream call running at once (more: 429)", positive);
  flags.Add("--health-interval-ms", f.health_interval_ms, "Node health probe interval", positive);
  flags.Add("--health-timeout-ms", f.health_timeout_ms, "Node health probe timeout", positive);
  flags.Add("--eject-after", f.eject_after,
            "Consecutive failures (probes or UNAVAILABLE answers) that eject a node", positive);
  flags.Add("--readmit-after", f.readmit_after,
            "Consecutive successful probes that re-admit an ejected node", positive);
  flags.Add("--channels-per-node", f.channels_per_node, "gRPC connections per node",
            CLI::Range(1, 64));
  flags.Add("--hedge-reads", f.hedge_reads,
            "Hedged reads of the routing client: on | off. Off by default: a hedge sends a "
            "slow read to a second node, which then reads the channel from the store too "
            "(fewer reads coalesced at the channel's owner); a stalled node is already "
            "bounded by the per-attempt timeout and outlier ejection (docs/gateway.md)",
            CLI::IsMember({"on", "off"}));
  flags.Add("--seed", f.seed, "Seed for the random routing policy");
  flags.Add("--wait-healthy-ms", f.wait_healthy_ms,
            "At startup, wait up to this long for every node to pass a health probe before "
            "listening (0 = listen at once; /healthz is 503 until a node is healthy)",
            CLI::NonNegativeNumber);
  flags.Add("--live-max-streams", f.live_max_streams,
            "SSE responses plus WebSocket connections at once (more: 503 with Retry-After); "
            "0 = the open-file limit minus 512 (docs/live.md)",
            CLI::NonNegativeNumber);
  flags.Add("--shutdown-grace-ms", f.shutdown_grace_ms,
            "On SIGTERM/SIGINT: how long requests in flight may take to finish",
            CLI::NonNegativeNumber);
}

// The default of --live-max-streams: below the process's open-file limit, so
// the gateway refuses a stream cleanly before accept() runs out of descriptors.
size_t LiveMaxStreams(int flag) {
  if (flag > 0) return static_cast<size_t>(flag);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 10'000;
  return limit.rlim_cur > 1024 ? limit.rlim_cur - 512 : limit.rlim_cur / 2;
}

ds::routing::RoutedClientOptions RoutingOptions(const Flags& f, std::vector<std::string> nodes,
                                                ds::routing::Policy policy) {
  ds::routing::RoutedClientOptions routing;
  routing.nodes = std::move(nodes);
  routing.policy = policy;
  routing.health_interval = absl::Milliseconds(f.health_interval_ms);
  routing.health_timeout = absl::Milliseconds(f.health_timeout_ms);
  routing.eject_after = f.eject_after;
  routing.readmit_after = f.readmit_after;
  routing.channels_per_node = f.channels_per_node;
  routing.seed = f.seed;
  routing.gray.hedge_reads = f.hedge_reads == "on";
  return routing;
}

ds::gateway::GatewayOptions GatewayOptionsFrom(const Flags& f, const ds::api::HostPort& listen,
                                               const ds::gateway::LoadedSecurity& security) {
  ds::gateway::GatewayOptions options;
  options.http.address = listen.host;
  options.http.port = listen.port;
  options.http.io_threads = f.io_threads;
  options.http.max_body_bytes = f.max_body_bytes;
  options.http.max_header_bytes = f.max_header_bytes;
  options.http.idle_timeout = absl::Milliseconds(f.idle_timeout_ms);
  options.http.header_timeout = absl::Milliseconds(f.read_timeout_ms);
  options.http.body_timeout = absl::Milliseconds(f.read_timeout_ms);
  options.http.write_timeout = absl::Milliseconds(f.write_timeout_ms);
  options.http.max_connections = f.max_connections;
  options.http.max_pipelined_requests = f.max_pipelined;
  options.http.tls = security.tls;                     // null: plain HTTP
  options.http.access_observer = security.access_log;  // null: no access log
  options.deadline = absl::Milliseconds(f.deadline_ms);
  options.reads.coalescing = f.coalescing == "on";
  options.reads.max_waiters_per_flight = f.max_waiters_per_flight;
  options.reads.max_total_waiters = f.max_total_waiters;
  options.reads.max_concurrent_upstream = f.max_concurrent_upstream;
  return options;
}

// The security layer runs when anything of it is configured: authentication,
// a rate limit or the access log (whose route and principal it notes). Off, a
// request costs nothing extra (the default: the demo needs no set-up).
bool RateLimited(const ds::gateway::LoadedSecurity& s) {
  return !s.options.rate_limits.reads.unlimited() || !s.options.rate_limits.writes.unlimited();
}
bool SecurityOn(const ds::gateway::LoadedSecurity& s) {
  return s.options.verifier != nullptr || RateLimited(s) || s.access_log != nullptr;
}

// Handlers in front of the API: [security layer →] live routes → API.
std::function<std::shared_ptr<ds::http::Handler>(std::shared_ptr<ds::http::Handler>)> Front(
    const ds::gateway::LoadedSecurity& security, size_t live_max_streams,
    std::shared_ptr<ds::live::LiveFanout> fanout, std::shared_ptr<prometheus::Registry> registry) {
  return [security, live_max_streams, fanout = std::move(fanout),
          registry = std::move(registry)](std::shared_ptr<ds::http::Handler> api) {
    ds::live::LiveHandlerOptions live;
    live.max_streams = live_max_streams;
    std::shared_ptr<ds::http::Handler> front =
        std::make_shared<ds::live::LiveHandler>(live, fanout, std::move(api));
    if (SecurityOn(security)) {
      front = std::make_shared<ds::gateway::SecureHandler>(security.options, std::move(front),
                                                           registry);
    }
    return front;
  };
}

// Waits for SIGTERM or SIGINT (returned); a SIGHUP meanwhile reloads the TLS
// certificate and key (new connections get them; open ones keep theirs).
int WaitForStop(const sigset_t& signals, const std::shared_ptr<ds::http::TlsCredentials>& tls,
                const std::shared_ptr<spdlog::logger>& log) {
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig != SIGHUP) return sig;
    if (tls == nullptr) {
      log->info("SIGHUP: no TLS credentials to reload (no --tls-cert)");
      continue;
    }
    if (absl::Status s = tls->Reload(); !s.ok()) {
      log->error("SIGHUP: TLS reload failed, the current credentials stay: {}",
                 std::string(s.message()));
    } else {
      log->info("SIGHUP: TLS credentials reloaded (generation {})", tls->generation());
    }
  }
}

// What main parsed from the flags, or the exit code 2 after logging why.
struct Parsed {
  std::vector<std::string> nodes;
  ds::routing::Policy policy;
  ds::api::HostPort listen;
  std::optional<ds::api::HostPort> admin_listen;
  ds::gateway::LoadedSecurity security;
};

absl::StatusOr<Parsed> Parse(const Flags& f, const ds::gateway::SecurityConfig& sec) {
  using ds::api::PortZero;
  absl::StatusOr<std::vector<std::string>> nodes = ds::routing::ResolveNodes(f.nodes, f.nodes_file);
  if (!nodes.ok()) return nodes.status();
  absl::StatusOr<ds::routing::Policy> policy = ds::routing::ParsePolicy(f.policy);
  if (!policy.ok()) return policy.status();
  absl::StatusOr<ds::api::HostPort> listen =
      ds::api::ParseHostPort("--listen", f.listen, PortZero::kAllowed);
  if (!listen.ok()) return listen.status();
  Parsed p{.nodes = *std::move(nodes), .policy = *policy, .listen = *listen};
  if (!f.admin_listen.empty()) {
    absl::StatusOr<ds::api::HostPort> admin =
        ds::api::ParseHostPort("--admin-listen", f.admin_listen, PortZero::kAllowed);
    if (!admin.ok()) return admin.status();
    p.admin_listen = *admin;
  }
  absl::StatusOr<ds::gateway::LoadedSecurity> security = ds::gateway::LoadSecurity(sec);
  if (!security.ok()) return security.status();
  p.security = *std::move(security);
  return p;
}

// The separate admin server of --admin-listen (null without it).
absl::StatusOr<std::unique_ptr<ds::metrics::AdminServer>> StartAdmin(
    const std::optional<ds::api::HostPort>& address, std::shared_ptr<prometheus::Registry> registry,
    ds::gateway::Gateway* gateway) {
  if (!address.has_value()) return nullptr;
  return ds::metrics::AdminServer::Start({.address = address->host, .port = address->port},
                                         std::move(registry),
                                         [gateway] { return gateway->Healthy(); });
}

// The start-up line: what this gateway runs with.
void LogConfig(spdlog::logger& log, const Flags& f, const ds::gateway::SecurityConfig& sec,
               const Parsed& p, const ds::gateway::Gateway& gateway, uint16_t admin_port) {
  const size_t live_max_streams = LiveMaxStreams(f.live_max_streams);
  log.info(
      "nodes={} policy={} io_threads={} coalescing={} hedge_reads={} deadline_ms={} "
      "max_body_bytes={} admin_port={} live_max_streams={} tls={} auth={} rate_limits={} "
      "access_log={}",
      absl::StrJoin(p.nodes, ","), ds::routing::PolicyName(p.policy), gateway.io_threads(),
      f.coalescing, f.hedge_reads, f.deadline_ms, f.max_body_bytes, admin_port, live_max_streams,
      p.security.tls ? "on" : "off", p.security.options.verifier ? "on" : "off",
      RateLimited(p.security) ? "on" : "off", p.security.access_log ? sec.access_log : "off");
}

// The routing client to the nodes (with --node-tls-* credentials); null
// after logging why when it cannot be made.
std::shared_ptr<ds::routing::RoutedClient> MakeRoutedClient(const Flags& f, const Parsed& parsed,
                                                            spdlog::logger& log) {
  ds::routing::RoutedClientOptions routing = RoutingOptions(f, parsed.nodes, parsed.policy);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> node_credentials =
      ds::auth::LoadChannelCredentials(f.node_tls);
  if (!node_credentials.ok()) {
    log.error("{}", node_credentials.status().ToString());
    return nullptr;
  }
  routing.credentials = *std::move(node_credentials);
  auto client = ds::routing::RoutedClient::Create(std::move(routing));
  if (!client.ok()) {
    log.error("routing client: {}", std::string(client.status().message()));
    return nullptr;
  }
  return std::move(*client);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  ds::gateway::SecurityConfig sec;
  CLI::App app{
      "ds-gateway: the Data Services HTTP/JSON API server. Routes each request by consistent\n"
      "hashing on channel_id to a data-service node over gRPC. Serves /metrics and /healthz on\n"
      "the API port, live channels (SSE, WebSocket, the page at /), and optionally HTTPS, JWT\n"
      "authentication, rate limits and an access log (all off by default). Every option can\n"
      "also be set by the environment variable shown (logging: DS_LOG_LEVEL=...)."};
  AddHttpFlags(app, f);
  AddRoutingFlags(app, f);
  ds::gateway::AddSecurityFlags(app, sec);
  ds::auth::AddNodeTlsClientFlags(app, f.node_tls);
  CLI11_PARSE(app, argc, argv);

  auto log = ds::Logger("gateway");
  absl::StatusOr<Parsed> parsed = Parse(f, sec);
  if (!parsed.ok()) {
    log->error("{}", std::string(parsed.status().message()));
    return 2;
  }

  // Block SIGTERM/SIGINT/SIGHUP before any thread starts so that every thread
  // inherits the mask and only sigwait() receives them.
  const sigset_t signals = ds::BlockSignals({SIGTERM, SIGINT, SIGHUP});

  auto registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<ds::routing::RoutedClient> routed = MakeRoutedClient(f, *parsed, *log);
  if (routed == nullptr) return 2;
  if (f.wait_healthy_ms > 0) {
    absl::Status healthy = routed->WaitForHealthy(absl::Milliseconds(f.wait_healthy_ms));
    if (!healthy.ok()) log->warn("starting anyway: {}", std::string(healthy.message()));
  }
  auto upstream = std::make_shared<ds::live::RoutedUpstream>(routed);
  auto fanout =
      std::make_shared<ds::live::LiveFanout>(ds::live::FanoutOptions{}, upstream, *registry);

  const size_t live_max_streams = LiveMaxStreams(f.live_max_streams);
  ds::gateway::GatewayOptions options = GatewayOptionsFrom(f, parsed->listen, parsed->security);
  options.front = Front(parsed->security, live_max_streams, fanout, registry);
  auto gateway = ds::gateway::Gateway::Start(std::move(options),
                                             ds::gateway::MakeRoutedBackend(routed), registry);
  if (!gateway.ok()) {
    log->error("{}", std::string(gateway.status().message()));
    return 1;
  }

  auto started = StartAdmin(parsed->admin_listen, registry, gateway->get());
  if (!started.ok()) {
    log->error("admin server: {}", std::string(started.status().message()));
    return 1;
  }
  std::unique_ptr<ds::metrics::AdminServer> admin = std::move(*started);
  const uint16_t port = (*gateway)->port();
  const uint16_t admin_port = admin != nullptr ? admin->port() : port;
  const ds::gateway::LoadedSecurity& security = parsed->security;
  LogConfig(*log, f, sec, *parsed, **gateway, admin_port);
  // The port file first: whoever sees the log line may read it at once.
  if (!f.port_file.empty() && !ds::WritePortFile(f.port_file, port, admin_port)) {
    log->error("cannot write port file {}", f.port_file);
    return 1;
  }
  log->info("listening on {}:{}", parsed->listen.host, port);

  const int sig = WaitForStop(signals, security.tls, log);
  log->info("signal {} received: draining for up to {} ms", sig, f.shutdown_grace_ms);
  fanout->Close();  // live streams end at once; their clients reconnect elsewhere
  (*gateway)->Shutdown(absl::Milliseconds(f.shutdown_grace_ms));
  if (admin != nullptr) admin->Stop();
  gateway->reset();
  fanout.reset();
  upstream.reset();  // waits until every Subscribe stream has ended
  routed.reset();
  log->info("stopped");
  return 0;
}
