// LoadgenConfig: every setting of ds-loadgen, its defaults, and the checks that
// turn a bad combination into a usage error (exit 2) before anything is sent.
//
// main.cc fills a LoadgenConfig from flags and environment (with CLI11, which
// stays in main.cc only); everything else here is plain code with unit tests.
//
// Usage:
//   std::vector<std::string> args = ds::loadgen::NormalizeReferenceFlags(argv_vector);
//   ... CLI11 parses `args` into `config` ...
//   if (absl::Status s = ds::loadgen::ValidateConfig(config); !s.ok()) { ...exit 2... }
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace ds::loadgen {

enum class Mode { kBurst, kClosed, kOpen };
enum class KeyDistribution { kRoundRobin, kUniform, kZipf, kHot };
enum class TargetKind { kNodes, kGateway, kReference };
enum class ReadMethod { kMessages, kMessage };

struct LoadgenConfig {
  // Workload shape.
  Mode mode = Mode::kBurst;
  int64_t channels = 20;                        // channel ids 1..channels
  int64_t requests = 10000;                     // burst mode: requests issued at once
  int64_t concurrency = 64;                     // closed mode: requests kept in flight
  absl::Duration duration = absl::Seconds(10);  // closed and open modes
  double rate = 1000;                           // open mode: requests per second
  KeyDistribution keys = KeyDistribution::kRoundRobin;
  double zipf_s = 1.1;
  double hot_fraction = 0.9;  // hot: share of requests sent to hot_channel
  int64_t hot_channel = 1;
  uint64_t seed = 1;
  double write_ratio = 0;  // share of requests that are SendMessage
  ReadMethod read_method = ReadMethod::kMessages;
  int64_t limit = 50;  // GetMessages page size
  absl::Duration deadline = absl::Milliseconds(10000);

  // Target.
  TargetKind target = TargetKind::kNodes;
  std::vector<std::string> nodes = {"localhost:50051"};
  std::string policy = "hash";
  int64_t channels_per_node = 1;
  bool hedge_reads = false;  // nodes: the routing client's hedged reads (docs/reliability.md)
  // nodes, reference: transport security to the nodes (--node-tls-*, loaded
  // by main.cc with auth/grpc_tls.h); null = plaintext.
  std::shared_ptr<grpc::ChannelCredentials> node_credentials;
  absl::Duration health_timeout = absl::Seconds(5);
  std::string gateway = "127.0.0.1:8080";
  int64_t connections = 16;
  int64_t http_threads = 2;  // gateway: I/O threads of the HTTP client
  int64_t pipeline = 1;      // gateway: requests in flight per connection
  bool discover_ids = true;  // GetMessage reads: learn each channel's newest id first

  // Node metrics.
  std::vector<std::string> metrics_urls;
  bool no_metrics = false;
  double query_time_ms = -1;  // >= 0 overrides the measured mean store query time

  // Output.
  bool json = false;
  bool quiet = false;
  bool progress = true;  // still only drawn when stderr is a terminal
};

// Long option names that ds-loadgen also accepts with a single dash, the way
// Go's flag package spells them (`-channels 20`, `-requests=5000`).
const std::vector<std::string>& SingleDashLongFlags();

// Returns `args` (argv without argv[0]) with every single-dash spelling of a
// known long flag rewritten to its double-dash form: "-channels" →
// "--channels", "-requests=5" → "--requests=5". Anything else (short flags
// such as "-h", negative numbers, unknown names, everything after "--") is
// left alone so the parser can report it.
std::vector<std::string> NormalizeReferenceFlags(const std::vector<std::string>& args);

// Parsers for the enumerated flags; INVALID_ARGUMENT names the accepted values.
absl::StatusOr<Mode> ParseMode(absl::string_view s);
absl::StatusOr<KeyDistribution> ParseKeyDistribution(absl::string_view s);
absl::StatusOr<TargetKind> ParseTargetKind(absl::string_view s);
absl::StatusOr<ReadMethod> ParseReadMethod(absl::string_view s);
// Go-style durations ("10s", "1m30s", "250ms"); a bare number means seconds.
absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view s);
// "a,b , c" → {"a","b","c"}; empty items are dropped.
std::vector<std::string> SplitList(absl::string_view s);

std::string ModeName(Mode m);
std::string KeyDistributionName(KeyDistribution k);
std::string TargetKindName(TargetKind t);
std::string ReadMethodName(ReadMethod r);

// Checks ranges and combinations (e.g. the reference API has no writes).
// Returns INVALID_ARGUMENT with a message naming the flag.
absl::Status ValidateConfig(const LoadgenConfig& config);

}  // namespace ds::loadgen
