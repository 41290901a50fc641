#include "node/node_metrics.h"

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "common/status_names.h"

namespace ds::node {

namespace {
using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

const Histogram::BucketBoundaries& LatencyBuckets() {
  static const Histogram::BucketBoundaries b = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                1,      2.5,     5,      10};
  return b;
}
const Histogram::BucketBoundaries& WaiterBuckets() {
  static const Histogram::BucketBoundaries b = {1,   2,   5,   10,   20,   50,
                                                100, 200, 500, 1000, 5000, 20000};
  return b;
}
// The gRPC code's canonical name (absl and gRPC number the codes alike).
std::string CodeName(int code) { return StatusCodeName(static_cast<absl::StatusCode>(code)); }
}  // namespace

const char* MethodName(Method method) {
  static const char* kNames[kMethodCount] = {"GetMessages", "GetMessage", "SendMessage",
                                             "ref.getMessage"};
  const auto index = static_cast<size_t>(method);
  return index < kMethodCount ? kNames[index] : "unknown";
}

NodeMetrics::NodeMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      store_errors_(BuildCounter()
                        .Name("ds_store_errors_total")
                        .Help("Failed store calls, by code")
                        .Register(*registry_)) {
  auto& responses = BuildCounter()
                        .Name("ds_responses_total")
                        .Help("Responses sent, by gRPC code")
                        .Register(*registry_);
  auto& requests =
      BuildCounter().Name("ds_requests_total").Help("Requests received").Register(*registry_);
  auto& queries = BuildCounter()
                      .Name("ds_store_queries_total")
                      .Help("Store calls issued, retries included")
                      .Register(*registry_);
  auto& store_seconds = BuildHistogram()
                            .Name("ds_store_query_seconds")
                            .Help("Store call latency")
                            .Register(*registry_);
  auto& retries = BuildCounter()
                      .Name("ds_store_retries_total")
                      .Help("Store retries inside flights")
                      .Register(*registry_);
  auto& coalesced = BuildCounter()
                        .Name("ds_coalesced_requests_total")
                        .Help("Requests that joined a running flight")
                        .Register(*registry_);
  auto& waiters = BuildHistogram()
                      .Name("ds_flight_waiters")
                      .Help("Waiters answered per flight")
                      .Register(*registry_);
  auto& wait = BuildHistogram()
                   .Name("ds_wait_seconds")
                   .Help("Time from join to answer, by role")
                   .Register(*registry_);
  auto& left = BuildCounter()
                   .Name("ds_waiters_left_total")
                   .Help("Waiters that left before their answer")
                   .Register(*registry_);
  auto& rejected = BuildCounter()
                       .Name("ds_rejected_total")
                       .Help("Requests rejected by a cap (RESOURCE_EXHAUSTED)")
                       .Register(*registry_);
  auto& gauges = BuildGauge()
                     .Name("ds_inflight")
                     .Help("Requests waiting and flights running now")
                     .Register(*registry_);
  inflight_waiters_ = &gauges.Add({{"what", "waiters"}});
  active_flights_ = &gauges.Add({{"what", "flights"}});
  for (int m = 0; m < kMethodCount; ++m) {
    const std::string name = MethodName(static_cast<Method>(m));
    PerMethod& p = per_method_[m];
    p.requests = &requests.Add({{"method", name}});
    p.store_queries = &queries.Add({{"method", name}});
    p.store_seconds = &store_seconds.Add({{"method", name}}, LatencyBuckets());
    p.retries = &retries.Add({{"method", name}});
    p.coalesced = &coalesced.Add({{"method", name}});
    p.flight_waiters = &waiters.Add({{"method", name}}, WaiterBuckets());
    for (int r = 0; r < 2; ++r) {
      const char* role = coalescer::RoleName(static_cast<coalescer::Role>(r));
      p.wait_seconds[r] = &wait.Add({{"method", name}, {"role", role}}, LatencyBuckets());
      p.left[r] = &left.Add({{"method", name}, {"role", role}});
    }
    // Every (method, code) series exists from the start: a response then costs
    // one atomic add, not a label lookup under the family's lock.
    for (int code = 0; code <= 16; ++code) {
      p.responses[code] = &responses.Add({{"method", name}, {"code", CodeName(code)}});
    }
    for (int r = 0; r < coalescer::kRejectReasonCount; ++r) {
      p.rejected[r] = &rejected.Add(
          {{"method", name},
           {"reason", coalescer::RejectReasonName(static_cast<coalescer::RejectReason>(r))}});
    }
  }
}

void NodeMetrics::OnRequest(Method method) {
  per_method_[Index(method)].requests->Increment();
  if (method != kSendMessage) ref_requests_.fetch_add(1, std::memory_order_relaxed);
}

void NodeMetrics::OnResponse(Method method, int grpc_code) {
  per_method_[Index(method)]
      .responses[grpc_code >= 0 && grpc_code <= 16 ? grpc_code : 2]
      ->Increment();
}

void NodeMetrics::OnWriteStoreCall(absl::Duration took, const absl::Status& status) {
  OnStoreAttempt(kSendMessage, 0);
  OnStoreResult(kSendMessage, took, status);
}

NodeMetrics::ReferenceCounters NodeMetrics::GetAndReset() {
  return {ref_requests_.exchange(0), ref_queries_.exchange(0)};
}

void NodeMetrics::OnLeader(Method method) {
  inflight_waiters_->Increment();
  active_flights_->Increment();
}
void NodeMetrics::OnJoin(Method method) {
  per_method_[Index(method)].coalesced->Increment();
  inflight_waiters_->Increment();
}
void NodeMetrics::OnRejected(Method method, coalescer::RejectReason reason) {
  per_method_[Index(method)].rejected[static_cast<int>(reason)]->Increment();
}
void NodeMetrics::OnStoreAttempt(Method method, int attempt) {
  per_method_[Index(method)].store_queries->Increment();
  if (method != kSendMessage) ref_queries_.fetch_add(1, std::memory_order_relaxed);
}
void NodeMetrics::OnStoreResult(Method method, absl::Duration took, const absl::Status& status) {
  per_method_[Index(method)].store_seconds->Observe(absl::ToDoubleSeconds(took));
  if (!status.ok() && status.code() != absl::StatusCode::kNotFound) {
    store_errors_
        .Add({{"method", MethodName(method)}, {"code", CodeName(static_cast<int>(status.code()))}})
        .Increment();
  }
}
void NodeMetrics::OnRetry(Method method) { per_method_[Index(method)].retries->Increment(); }
void NodeMetrics::OnLeft(Method method, coalescer::Role role) {
  per_method_[Index(method)].left[static_cast<int>(role)]->Increment();
  inflight_waiters_->Decrement();
}
void NodeMetrics::OnDelivered(Method method, coalescer::Role role, absl::Duration waited) {
  per_method_[Index(method)].wait_seconds[static_cast<int>(role)]->Observe(
      absl::ToDoubleSeconds(waited));
  inflight_waiters_->Decrement();
}
void NodeMetrics::OnFlightDone(Method method, size_t delivered, const absl::Status& status) {
  per_method_[Index(method)].flight_waiters->Observe(static_cast<double>(delivered));
  active_flights_->Decrement();
}

}  // namespace ds::node
