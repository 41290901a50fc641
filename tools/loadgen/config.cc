#include "tools/loadgen/config.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ds::loadgen {

const std::vector<std::string>& SingleDashLongFlags() {
  static const auto* const kFlags = new std::vector<std::string>{"channels",
                                                                 "requests",
                                                                 "mode",
                                                                 "concurrency",
                                                                 "duration",
                                                                 "rate",
                                                                 "keys",
                                                                 "zipf-s",
                                                                 "hot-fraction",
                                                                 "hot-channel",
                                                                 "seed",
                                                                 "write-ratio",
                                                                 "read-method",
                                                                 "limit",
                                                                 "deadline-ms",
                                                                 "target",
                                                                 "nodes",
                                                                 "policy",
                                                                 "channels-per-node",
                                                                 "health-timeout",
                                                                 "gateway",
                                                                 "connections",
                                                                 "http-threads",
                                                                 "pipeline",
                                                                 "no-discover-ids",
                                                                 "metrics",
                                                                 "no-metrics",
                                                                 "query-time-ms",
                                                                 "json",
                                                                 "quiet",
                                                                 "no-progress",
                                                                 "help"};
  return *kFlags;
}

std::vector<std::string> NormalizeReferenceFlags(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  out.reserve(args.size());
  bool passthrough = false;
  for (const std::string& arg : args) {
    if (passthrough || arg.size() < 3 || arg[0] != '-' || arg[1] == '-' ||
        !std::isalpha(static_cast<unsigned char>(arg[1]))) {
      if (arg == "--") passthrough = true;
      out.push_back(arg);
      continue;
    }
    const std::string name =
        arg.substr(1, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 1);
    const auto& known = SingleDashLongFlags();
    if (std::find(known.begin(), known.end(), name) != known.end()) {
      out.push_back("-" + arg);
    } else {
      out.push_back(arg);
    }
  }
  return out;
}

namespace {
std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }
}  // namespace

absl::StatusOr<Mode> ParseMode(absl::string_view s) {
  const std::string v = Lower(s);
  if (v == "burst") return Mode::kBurst;
  if (v == "closed") return Mode::kClosed;
  if (v == "open") return Mode::kOpen;
  return absl::InvalidArgumentError(
      absl::StrCat("--mode: unknown mode '", s, "' (expected burst, closed or open)"));
}

absl::StatusOr<KeyDistribution> ParseKeyDistribution(absl::string_view s) {
  const std::string v = Lower(s);
  if (v == "round-robin" || v == "roundrobin" || v == "rr") return KeyDistribution::kRoundRobin;
  if (v == "uniform") return KeyDistribution::kUniform;
  if (v == "zipf") return KeyDistribution::kZipf;
  if (v == "hot") return KeyDistribution::kHot;
  return absl::InvalidArgumentError(absl::StrCat("--keys: unknown distribution '", s,
                                                 "' (expected round-robin, uniform, zipf or hot)"));
}

absl::StatusOr<TargetKind> ParseTargetKind(absl::string_view s) {
  const std::string v = Lower(s);
  if (v == "nodes") return TargetKind::kNodes;
  if (v == "gateway") return TargetKind::kGateway;
  if (v == "reference") return TargetKind::kReference;
  return absl::InvalidArgumentError(
      absl::StrCat("--target: unknown target '", s, "' (expected nodes, gateway or reference)"));
}

absl::StatusOr<ReadMethod> ParseReadMethod(absl::string_view s) {
  const std::string v = Lower(s);
  if (v == "messages") return ReadMethod::kMessages;
  if (v == "message") return ReadMethod::kMessage;
  return absl::InvalidArgumentError(
      absl::StrCat("--read-method: unknown method '", s, "' (expected messages or message)"));
}

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view s) {
  absl::string_view v = absl::StripAsciiWhitespace(s);
  double seconds = 0;
  if (absl::SimpleAtod(v, &seconds)) {
    if (seconds < 0) return absl::InvalidArgumentError(absl::StrCat("negative duration '", s, "'"));
    return absl::Seconds(seconds);
  }
  absl::Duration d;
  if (!v.empty() && absl::ParseDuration(v, &d) && d >= absl::ZeroDuration()) return d;
  return absl::InvalidArgumentError(
      absl::StrCat("bad duration '", s, "' (examples: 10s, 1m30s, 250ms)"));
}

std::vector<std::string> SplitList(absl::string_view s) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(s, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

std::string ModeName(Mode m) {
  switch (m) {
    case Mode::kBurst:
      return "burst";
    case Mode::kClosed:
      return "closed";
    case Mode::kOpen:
      return "open";
  }
  return "?";
}

std::string KeyDistributionName(KeyDistribution k) {
  switch (k) {
    case KeyDistribution::kRoundRobin:
      return "round-robin";
    case KeyDistribution::kUniform:
      return "uniform";
    case KeyDistribution::kZipf:
      return "zipf";
    case KeyDistribution::kHot:
      return "hot";
  }
  return "?";
}

std::string TargetKindName(TargetKind t) {
  switch (t) {
    case TargetKind::kNodes:
      return "nodes";
    case TargetKind::kGateway:
      return "gateway";
    case TargetKind::kReference:
      return "reference";
  }
  return "?";
}

std::string ReadMethodName(ReadMethod r) {
  return r == ReadMethod::kMessages ? "messages" : "message";
}

absl::Status ValidateConfig(const LoadgenConfig& c) {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (c.channels <= 0) return bad("-channels must be > 0 (got ", c.channels, ")");
  if (c.mode == Mode::kBurst && c.requests <= 0) {
    return bad("-requests must be > 0 (got ", c.requests, ")");
  }
  if (c.mode == Mode::kClosed && c.concurrency <= 0) {
    return bad("--concurrency must be > 0 (got ", c.concurrency, ")");
  }
  if (c.mode != Mode::kBurst && c.duration <= absl::ZeroDuration()) {
    return bad("--duration must be > 0 in ", ModeName(c.mode), " mode");
  }
  if (c.mode == Mode::kOpen && !(c.rate > 0)) return bad("--rate must be > 0 (got ", c.rate, ")");
  if (c.keys == KeyDistribution::kZipf && !(c.zipf_s > 0)) {
    return bad("--zipf-s must be > 0 (got ", c.zipf_s, ")");
  }
  if (!(c.hot_fraction >= 0 && c.hot_fraction <= 1)) {
    return bad("--hot-fraction must be within [0, 1] (got ", c.hot_fraction, ")");
  }
  if (c.hot_channel < 1 || c.hot_channel > c.channels) {
    return bad("--hot-channel must be within [1, -channels] (got ", c.hot_channel, ")");
  }
  if (!(c.write_ratio >= 0 && c.write_ratio <= 1)) {
    return bad("--write-ratio must be within [0, 1] (got ", c.write_ratio, ")");
  }
  if (c.limit < 1 || c.limit > 100)
    return bad("--limit must be within [1, 100] (got ", c.limit, ")");
  if (c.deadline <= absl::ZeroDuration()) return bad("--deadline-ms must be > 0");
  if (c.target == TargetKind::kReference && c.write_ratio > 0) {
    return bad("--write-ratio: the reference API (--target reference) has no writes");
  }
  if ((c.target == TargetKind::kNodes || c.target == TargetKind::kReference) && c.nodes.empty()) {
    return bad("--nodes: at least one host:port is needed (or set DS_NODES)");
  }
  if (c.target == TargetKind::kNodes && c.policy != "hash" && c.policy != "round-robin" &&
      c.policy != "random") {
    return bad("--policy: unknown policy '", c.policy, "' (expected hash, round-robin or random)");
  }
  if (c.channels_per_node < 1) return bad("--channels-per-node must be >= 1");
  if (c.target == TargetKind::kGateway && c.gateway.empty())
    return bad("--gateway: host:port needed");
  if (c.connections < 1) return bad("--connections must be >= 1 (got ", c.connections, ")");
  if (c.http_threads < 1 || c.http_threads > 64) {
    return bad("--http-threads must be in 1..64 (got ", c.http_threads, ")");
  }
  if (c.pipeline < 1 || c.pipeline > 1024) {
    return bad("--pipeline must be in 1..1024 (got ", c.pipeline, ")");
  }
  return absl::OkStatus();
}

}  // namespace ds::loadgen
