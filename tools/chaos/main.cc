// ds-chaos-load: one row of the chaos suite (scripts/chaos). A paced read/write
// load through the gateway, fault commands at fixed offsets, then every
// acknowledged write read back; prints one JSON object (chaos_load.h).
//
//   ds-chaos-load --gateway-port 8080 --duration 10s \
//       --fault '3s=kill -STOP 1234' --fault '6s=kill -CONT 1234'
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tools/chaos/chaos_load.h"

namespace {

bool ParseDurationFlag(const std::string& text, absl::Duration* out) {
  return absl::ParseDuration(text, out) && *out >= absl::ZeroDuration();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ds-chaos-load: a read/write load with faults injected at fixed offsets"};
  ds::chaos::LoadOptions o;
  std::string warmup = "2s", duration = "10s", timeout = "5s", verify = "30s";
  std::vector<std::string> faults;
  app.add_option("--gateway-port", o.gateway_port, "The gateway's HTTP port on 127.0.0.1")
      ->required();
  app.add_option("--channels", o.channels, "Channels 1..N, uniformly");
  app.add_option("--connections", o.connections, "Keep-alive connections (one thread each)");
  app.add_option("--rate", o.rate, "Requests per second over all connections; 0 = closed loop");
  app.add_option("--write-ratio", o.write_ratio, "Fraction of requests that are writes");
  app.add_option("--warmup", warmup, "Warm-up before the measured phase (not counted)");
  app.add_option("--duration", duration, "Measured phase");
  app.add_option("--request-timeout", timeout, "Per-request client timeout");
  app.add_option("--verify-timeout", verify, "Read-back of acknowledged writes: give up after");
  app.add_option("--fault", faults, "OFFSET=COMMAND, run with /bin/sh -c at OFFSET (e.g. 3s)");
  app.add_option("--seed", o.seed, "Seed of channels, read/write mix and nonces");
  // A later flag overrides an earlier one (scripts/chaos passes defaults first).
  for (CLI::Option* opt : app.get_options()) {
    if (opt->get_name() != "--fault") opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  CLI11_PARSE(app, argc, argv);

  if (!ParseDurationFlag(warmup, &o.warmup) || !ParseDurationFlag(duration, &o.duration) ||
      !ParseDurationFlag(timeout, &o.request_timeout) ||
      !ParseDurationFlag(verify, &o.verify_timeout)) {
    std::cerr << "error: a duration flag does not parse (use 500ms, 10s, 1m)\n";
    return 2;
  }
  if (o.channels < 1 || o.connections < 1 || o.rate < 0 || o.write_ratio < 0 || o.write_ratio > 1) {
    std::cerr << "error: --channels and --connections must be >= 1, --rate >= 0, "
                 "--write-ratio in [0, 1]\n";
    return 2;
  }
  for (const std::string& f : faults) {
    const size_t eq = f.find('=');
    ds::chaos::Fault fault;
    if (eq == std::string::npos || !ParseDurationFlag(f.substr(0, eq), &fault.at) ||
        fault.at >= o.duration) {
      std::cerr << "error: --fault '" << f
                << "': expected OFFSET=COMMAND with OFFSET < --duration\n";
      return 2;
    }
    fault.command = f.substr(eq + 1);
    o.faults.push_back(std::move(fault));
  }
  std::cout << ds::chaos::ToJson(ds::chaos::Run(o)) << std::endl;
  return 0;
}
