#include "node/request_log.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "auth/access_log.h"
#include "common/log.h"

namespace ds::node {
namespace {

static_assert(RequestId::kMaxBytes == auth::kMaxRequestIdBytes);

constexpr size_t kMaxErrorBytes = 200;
constexpr int64_t kNanosPerSecond = 1'000'000'000;

// An error text safe inside the line's quoted msg field: printable ASCII
// only, `"` and `\` as `'` and `/`, others as `?`, at most kMaxErrorBytes.
std::string SafeText(std::string_view text) {
  std::string out(text.substr(0, kMaxErrorBytes));
  for (char& c : out) {
    if (c == '"') {
      c = '\'';
    } else if (c == '\\') {
      c = '/';
    } else if (c < 0x20 || c > 0x7e) {
      c = '?';
    }
  }
  if (text.size() > kMaxErrorBytes) out += "...";
  return out;
}

// FNV-1a: the same on every node and in every run (absl::Hash is seeded per
// process).
uint64_t StableHash(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string_view IdOrDash(const RequestId& id) { return id.empty() ? "-" : id.view(); }

}  // namespace

RequestId RequestId::FromString(std::string_view id) {
  RequestId out;
  if (!auth::ValidRequestId(id)) return out;
  std::memcpy(out.data_, id.data(), id.size());
  out.size_ = static_cast<uint8_t>(id.size());
  return out;
}

RequestId RequestId::From(const grpc::ServerContext& ctx) {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find(kRequestIdMetadataKey);
  if (it == metadata.end()) return {};
  return FromString(std::string_view(it->second.data(), it->second.size()));
}

bool IsServerError(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

RequestLog::RequestLog(RequestLogOptions options)
    : options_(std::move(options)),
      logger_(options_.logger != nullptr ? options_.logger : Logger("node")),
      slow_ns_(options_.slow_threshold > absl::ZeroDuration()
                   ? absl::ToInt64Nanoseconds(options_.slow_threshold)
                   : 0),
      sample_threshold_(options_.sample_rate >= 1 ? std::numeric_limits<uint64_t>::max()
                        : options_.sample_rate <= 0
                            ? 0
                            : static_cast<uint64_t>(std::ldexp(options_.sample_rate, 64))),
      sample_every_(options_.sample_rate <= 0
                        ? 0
                        : static_cast<uint64_t>(std::max(
                              1.0, std::round(1.0 / std::min(options_.sample_rate, 1.0))))) {}

void RequestLog::OnAnswer(const grpc::ServerContext& ctx, const Call& call,
                          const grpc::Status& status) {
  const int64_t latency_ns = absl::GetCurrentTimeNanos() - call.arrived_ns;
  const bool slow = slow_ns_ > 0 && latency_ns >= slow_ns_;
  if (slow || IsServerError(status.error_code())) {
    WriteAnswer(ctx, call, status, latency_ns, /*warn=*/true);
  } else if (sample_every_ > 0 && Sampled(RequestId::From(ctx))) {
    WriteAnswer(ctx, call, status, latency_ns, /*warn=*/false);
  }
}

bool RequestLog::Sampled(const RequestId& id) {
  if (sample_threshold_ == std::numeric_limits<uint64_t>::max()) return true;
  if (!id.empty()) return StableHash(id.view()) < sample_threshold_;
  return unsampled_.fetch_add(1, std::memory_order_relaxed) % sample_every_ == 0;
}

bool RequestLog::TakeWarnLine(int64_t now_ns, uint64_t* suppressed) {
  // Approximate under races (a window may admit a few lines more): enough to
  // keep an overload from turning into a flood of identical lines.
  const int64_t window = now_ns / kNanosPerSecond;
  int64_t current = window_.load(std::memory_order_relaxed);
  if (current != window && window_.compare_exchange_strong(current, window)) {
    taken_.store(0, std::memory_order_relaxed);
  }
  if (taken_.fetch_add(1, std::memory_order_relaxed) >= options_.max_warn_lines_per_second) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  *suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
  return true;
}

void RequestLog::WriteAnswer(const grpc::ServerContext& ctx, const Call& call,
                             const grpc::Status& status, int64_t latency_ns, bool warn) {
  const auto level = warn ? spdlog::level::warn : spdlog::level::info;
  if (!logger_->should_log(level)) return;
  uint64_t suppressed = 0;
  if (warn && !TakeWarnLine(call.arrived_ns + latency_ns, &suppressed)) return;
  const RequestId id = RequestId::From(ctx);
  const char* what = !warn                                ? "request"
                     : IsServerError(status.error_code()) ? "request failed"
                                                          : "slow request";
  std::string line = absl::StrFormat(
      "%s method=%s channel=%d code=%s role=%s latency_ms=%.3f request_id=%s peer=%s", what,
      MethodName(call.method), call.channel, CodeName(status.error_code()), call.role,
      static_cast<double>(latency_ns) / 1e6, IdOrDash(id), SafeText(ctx.peer()));
  if (!status.ok()) absl::StrAppend(&line, " error='", SafeText(status.error_message()), "'");
  if (suppressed > 0) absl::StrAppend(&line, " suppressed=", suppressed);
  logger_->log(level, line);
}

void RequestLog::OnStoreFailure(Method method, uint64_t channel, int attempt, absl::Duration took,
                                const absl::Status& status, const RequestId& id) {
  if (!logger_->should_log(spdlog::level::warn)) return;
  uint64_t suppressed = 0;
  if (!TakeWarnLine(absl::GetCurrentTimeNanos(), &suppressed)) return;
  std::string line = absl::StrFormat(
      "store call failed method=%s channel=%d code=%s attempt=%d took_ms=%.3f request_id=%s "
      "error='%s'",
      MethodName(method), channel, absl::StatusCodeToString(status.code()), attempt,
      absl::ToDoubleMilliseconds(took), IdOrDash(id),
      SafeText(std::string_view(status.message().data(), status.message().size())));
  if (suppressed > 0) absl::StrAppend(&line, " suppressed=", suppressed);
  logger_->warn(line);
}

}  // namespace ds::node
