#include "live/node/live_metrics.h"

#include <grpcpp/support/status.h>

#include <string>

namespace ds::live {

namespace {
using prometheus::BuildCounter;
using prometheus::BuildGauge;

const char* PurposeName(size_t i) {
  static const char* kNames[] = {"catchup", "tail", "head"};
  return kNames[i];
}

const char* CodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return "OK";
    case absl::StatusCode::kCancelled:
      return "CANCELLED";
    case absl::StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case absl::StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kOutOfRange:
      return "OUT_OF_RANGE";
    case absl::StatusCode::kUnavailable:
      return "UNAVAILABLE";
    default:
      return "OTHER";
  }
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
