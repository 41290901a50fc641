#include "live/node/live_metrics.h"

#include <grpcpp/support/status.h>

#include <string>

#include "common/status_names.h"

namespace ds::live {

namespace {
using prometheus::BuildCounter;
using prometheus::BuildGauge;

const char* PurposeName(size_t i) {
  static const char* kNames[] = {"catchup", "tail", "head"};
  return kNames[i];
}

// The label of a stream's end: the codes a Subscribe stream ends with.
std::string CodeName(absl::StatusCode code) {
  using C = absl::StatusCode;
  return StatusCodeLabel(code, {C::kOk, C::kCancelled, C::kInvalidArgument, C::kDeadlineExceeded,
                                C::kResourceExhausted, C::kOutOfRange, C::kUnavailable});
}
}  // namespace

LiveMetrics::LiveMetrics(prometheus::Registry& registry)
    : subscribers_(BuildGauge()
                       .Name("ds_live_subscribers")
                       .Help("Subscribe streams open now")
                       .Register(registry)
                       .Add({})),
      channels_(BuildGauge()
                    .Name("ds_live_channels")
                    .Help("Channels with at least one Subscribe stream now")
                    .Register(registry)
                    .Add({})),
      in_order_(BuildCounter()
                    .Name("ds_live_messages_sent_total")
                    .Help("Messages queued to Subscribe streams, by kind (one per stream)")
                    .Register(registry)
                    .Add({{"kind", "in_order"}})),
      late_(BuildCounter()
                .Name("ds_live_messages_sent_total")
                .Help("Messages queued to Subscribe streams, by kind (one per stream)")
                .Register(registry)
                .Add({{"kind", "late"}})),
      ended_(BuildCounter()
                 .Name("ds_live_streams_ended_total")
                 .Help("Subscribe streams the node ended, by gRPC code")
                 .Register(registry)),
      pokes_received_(BuildCounter()
                          .Name("ds_live_pokes_total")
                          .Help("Owner notifications about writes acknowledged elsewhere")
                          .Register(registry)
                          .Add({{"direction", "received"}})),
      pokes_sent_(BuildCounter()
                      .Name("ds_live_pokes_total")
                      .Help("Owner notifications about writes acknowledged elsewhere")
                      .Register(registry)
                      .Add({{"direction", "sent"}})) {
  auto& reads = BuildCounter()
                    .Name("ds_live_reads_total")
                    .Help("Live reads requested (coalesced), by purpose")
                    .Register(registry);
  auto& queries = BuildCounter()
                      .Name("ds_live_store_queries_total")
                      .Help("Live reads that ran a store query (flight leaders), by purpose")
                      .Register(registry);
  for (size_t i = 0; i < reads_.size(); ++i) {
    reads_[i] = &reads.Add({{"purpose", PurposeName(i)}});
    store_queries_[i] = &queries.Add({{"purpose", PurposeName(i)}});
  }
}

void LiveMetrics::OnStreamEnded(absl::StatusCode code) {
  ended_.Add({{"code", CodeName(code)}}).Increment();
}

}  // namespace ds::live
