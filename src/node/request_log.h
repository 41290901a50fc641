// RequestLog: the node's log lines about requests. Each line carries the
// caller's request id — gRPC metadata `x-request-id`, which ds-gateway sends
// on every attempt (routing/routed_client.h kRequestIdKey) — so a gateway
// access-log line can be followed to the node that served it:
//
//   ... level=warning component=node msg="request failed method=GetMessages
//   channel=7 code=UNAVAILABLE role=joiner latency_ms=3.118 request_id=req-17
//   peer=ipv4:127.0.0.1:50612 error='store: disk I/O error'"
//
// The lines (fields always in this order, `request_id=-` when the caller sent
// no valid id):
//  - `request failed` (warn): the answer is a server-side error
//    (IsServerError). Each caller of a coalesced read gets its own line.
//  - `slow request` (warn): answered `slow_threshold` or more after arrival.
//  - `store call failed` (warn): one store call failed — for a read, once per
//    attempt of its flight (retries have attempt=1, 2, …) with the id of the
//    caller whose request started the flight; for a write, its own id.
//  - `request` (info): a sampled line for any request, when sample_rate > 0.
// Warn lines are capped at max_warn_lines_per_second; the next line written
// after some were dropped says how many (`suppressed=N`).
//
// The id is validated like the gateway's (auth::ValidRequestId: at most 64 of
// [A-Za-z0-9._:-]); anything else is ignored, never logged. Error texts are
// cut at 200 bytes, with quotes, backslashes and non-printable bytes replaced.
//
// Cost per request when nothing is logged: one clock read, and a metadata
// lookup only for reads (the flight's store line needs the leader's id); the
// id is copied into a fixed buffer (no allocation).
//
// Thread-safe: the counters are atomics and spdlog loggers are thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "node/node_metrics.h"

namespace ds::node {

struct RequestLogOptions {
  // `slow request` lines; zero or less: none.
  absl::Duration slow_threshold = absl::Seconds(1);
  // Fraction (0..1) of requests that get an info `request` line. Chosen by a
  // stable hash of the request id, so one request is kept or dropped on every
  // node and attempt alike; requests without an id: every 1/rate-th one.
  double sample_rate = 0;
  int max_warn_lines_per_second = 100;
  // Where lines go; null: ds::Logger("node").
  std::shared_ptr<spdlog::logger> logger;
};

// gRPC metadata key of the request id (the same as routing::kRequestIdKey).
inline constexpr char kRequestIdMetadataKey[] = "x-request-id";

// A validated request id, held inline (no allocation); empty when the caller
// sent none or an invalid one.
class RequestId {
 public:
  static constexpr size_t kMaxBytes = 64;  // auth::kMaxRequestIdBytes
  RequestId() = default;
  // The call's `x-request-id` if valid.
  static RequestId From(const grpc::ServerContext& ctx);
  // `id` if valid, else empty.
  static RequestId FromString(std::string_view id);

  std::string_view view() const { return {data_, size_}; }
  bool empty() const { return size_ == 0; }

 private:
  char data_[kMaxBytes];
  uint8_t size_ = 0;
};

// True for the codes that say the node (or its store) failed: UNKNOWN,
// DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, UNIMPLEMENTED, INTERNAL,
// UNAVAILABLE, DATA_LOSS. Not the caller's mistakes (INVALID_ARGUMENT,
// NOT_FOUND, …) nor CANCELLED.
bool IsServerError(grpc::StatusCode code);

class RequestLog {
 public:
  // What the node knows about a request when it answers it.
  struct Call {
    Method method;
    uint64_t channel = 0;    // 0: not known (unparsable request)
    const char* role = "-";  // "leader" | "joiner" for reads
    int64_t arrived_ns = 0;  // absl::GetCurrentTimeNanos() at arrival
  };

  explicit RequestLog(RequestLogOptions options);

  // Before a call is answered with `status`, while its context is alive (the
  // id is read from its metadata only when a line is written or sampled).
  // Writes nothing in the common case.
  void OnAnswer(const grpc::ServerContext& ctx, const Call& call, const grpc::Status& status);
  // A store call of `method` failed (attempt 0 is the first).
  void OnStoreFailure(Method method, uint64_t channel, int attempt, absl::Duration took,
                      const absl::Status& status, const RequestId& id);

 private:
  bool Sampled(const RequestId& id);
  bool TakeWarnLine(int64_t now_ns, uint64_t* suppressed);
  void WriteAnswer(const grpc::ServerContext& ctx, const Call& call, const grpc::Status& status,
                   int64_t latency_ns, bool warn);

  const RequestLogOptions options_;
  const std::shared_ptr<spdlog::logger> logger_;
  const int64_t slow_ns_;            // 0: off
  const uint64_t sample_threshold_;  // keep when hash < threshold
  const uint64_t sample_every_;      // without an id; 0: never
  std::atomic<uint64_t> unsampled_{0};
  // Warn-line budget: the current one-second window and the lines taken in it.
  std::atomic<int64_t> window_{0};
  std::atomic<int64_t> taken_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace ds::node
