// ds-loadgen --mode subscribe: S live subscribers (SSE or WebSocket) on C
// channels of a gateway, plus writers at R messages/s through the gateway's
// REST POST, for `duration` once every subscriber joined. Reports delivery
// latency (the message id's timestamp, i.e. when the node stored it →
// received), delivered vs expected, duplicates, late re-sends, out-of-order,
// reconnects, and — with --metrics — the nodes' live store queries by purpose
// and the gateway's catch-up pages by source. docs/live.md and
// docs/loadgen.md describe the fields.
//
// Expected: for each subscriber, every message of its channel above its start
// position (resume id, or the position it joined at) that is older than
// `settle` when the run stops, read back from the gateway's REST API at the
// end. Several ds-loadgen processes can share one run (more file descriptors
// and source ports): give the writers' rate to one of them and --rate 0 to
// the others.
//
// Usage (main.cc): return RunSubscribe(config);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace ds::loadgen {

struct SubscribeConfig {
  std::string gateway = "127.0.0.1:8080";
  int subscribers = 100;
  int64_t channels = 1;
  int64_t first_channel = 1;
  bool websocket = false;
  std::optional<uint64_t> after;
  double rate = 10;  // writes per second, spread over the channels
  int writers = 2;   // writer connections
  absl::Duration duration = absl::Seconds(10);
  absl::Duration settle = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Seconds(120);
  double connect_rate = 2000;
  int io_threads = 2;
  std::vector<std::string> source_addresses;
  std::vector<std::string> metrics_urls;  // nodes' and gateways' /metrics
  uint64_t seed = 1;
  bool json = false;
  bool quiet = false;
  bool progress = true;
};

// Runs the mode and prints the report. Exit status: 0 the run happened
// (losses are reported, not fatal); 1 the gateway could not be reached or
// not every subscriber joined within connect_timeout; 2 bad configuration.
int RunSubscribe(const SubscribeConfig& config);

}  // namespace ds::loadgen
