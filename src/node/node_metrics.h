// NodeMetrics: the node's Prometheus metrics and the CoalescerProbe that feeds
// them. Registration lives here, beside the probe; business code only calls
// named events.
//
// Exported (all prefixed ds_; `method` is GetMessages | GetMessage |
// SendMessage | ref.getMessage):
//   ds_requests_total{method}                 requests received (valid or not)
//   ds_responses_total{method,code}           responses sent, by gRPC code
//   ds_store_queries_total{method}            store calls issued (retries included)
//   ds_store_query_seconds{method}            store call latency (histogram)
//   ds_store_errors_total{method,code}        failed store calls
//   ds_store_retries_total{method}            retries inside flights
//   ds_coalesced_requests_total{method}       requests that joined a running flight
//   ds_flight_waiters{method}                 waiters answered per flight (histogram)
//   ds_wait_seconds{method,role}              join-to-answer time, leader vs joiner
//   ds_waiters_left_total{method,role}        waiters that left (deadline/cancel)
//   ds_rejected_total{method,reason}          RESOURCE_EXHAUSTED by cap
//   ds_inflight_waiters, ds_active_flights    gauges
//
// The reference API's getAndResetMetrics reads (and resets) two plain
// counters kept beside these: all read requests, and all store queries.
//
// Thread-safe; every event is a few atomic adds.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "coalescer/probe.h"

namespace ds::node {

// The node's methods, as metric labels (and the coalescer probe's MethodId).
using Method = coalescer::MethodId;
inline constexpr Method kGetMessages{0}, kGetMessage{1}, kSendMessage{2}, kRefGetMessage{3};
inline constexpr int kMethodCount = 4;
const char* MethodName(Method method);

class NodeMetrics final : public coalescer::CoalescerProbe {
 public:
  explicit NodeMetrics(std::shared_ptr<prometheus::Registry> registry);

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  void OnRequest(Method method);
  void OnResponse(Method method, int grpc_code);
  // Writes are not coalesced; the node reports their store calls here.
  void OnWriteStoreCall(absl::Duration took, const absl::Status& status);

  // Reference API counters: values since the last call, then reset to zero.
  struct ReferenceCounters {
    int64_t requests;
    int64_t queries;
  };
  ReferenceCounters GetAndReset();

  // CoalescerProbe.
  void OnLeader(Method method) override;
  void OnJoin(Method method) override;
  void OnRejected(Method method, coalescer::RejectReason reason) override;
  void OnStoreAttempt(Method method, int attempt) override;
  void OnStoreResult(Method method, absl::Duration took, const absl::Status& status) override;
  void OnRetry(Method method) override;
  void OnLeft(Method method, coalescer::Role role) override;
  void OnDelivered(Method method, coalescer::Role role, absl::Duration waited) override;
  void OnFlightDone(Method method, size_t delivered, const absl::Status& status) override;

 private:
  static size_t Index(Method m) { return static_cast<size_t>(m); }
  struct PerMethod {
    prometheus::Counter* requests;
    prometheus::Counter* store_queries;
    prometheus::Histogram* store_seconds;
    prometheus::Counter* retries;
    prometheus::Counter* coalesced;
    prometheus::Histogram* flight_waiters;
    prometheus::Histogram* wait_seconds[2];
    prometheus::Counter* left[2];
    prometheus::Counter* rejected[coalescer::kRejectReasonCount];
    prometheus::Counter* responses[17];  // by gRPC code 0..16
  };

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& store_errors_;
  prometheus::Gauge* inflight_waiters_;
  prometheus::Gauge* active_flights_;
  std::array<PerMethod, kMethodCount> per_method_;
  std::atomic<int64_t> ref_requests_{0};
  std::atomic<int64_t> ref_queries_{0};
};

}  // namespace ds::node
