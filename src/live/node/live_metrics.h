// LiveMetrics: the node's live-channel metrics (Prometheus), fed by the hub,
// the service and the catch-up/tail reader.
//
//   ds_live_subscribers                      streams open now
//   ds_live_channels                         channels with a stream now
//   ds_live_messages_sent_total{kind}        messages queued to streams: in_order | late
//   ds_live_streams_ended_total{code}        streams the node ended, by gRPC code
//   ds_live_reads_total{purpose}             catch-up | tail | head reads requested
//   ds_live_store_queries_total{purpose}     those that ran a store query (flight
//                                            leaders, retries included); the rest
//                                            joined a flight already running
//   ds_live_pokes_total{direction}           sent | received
//
// Thread-safe (prometheus-cpp metrics are atomic).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>

#include "live/node/live_hub.h"
#include "live/node/live_service.h"

namespace ds::live {

class LiveMetrics final : public HubProbe, public PokeProbe {
 public:
  explicit LiveMetrics(prometheus::Registry& registry);

  void OnSubscribers(int64_t delta) override { subscribers_.Increment(static_cast<double>(delta)); }
  void OnChannels(int64_t delta) override { channels_.Increment(static_cast<double>(delta)); }
  void OnDelivered(bool late, size_t streams) override {
    (late ? late_ : in_order_).Increment(static_cast<double>(streams));
  }
  void OnStreamEnded(absl::StatusCode code) override;
  void OnPokeReceived() override { pokes_received_.Increment(); }
  void OnPokeSent() { pokes_sent_.Increment(); }
  void OnRead(ReadPurpose p) { reads_[static_cast<size_t>(p)]->Increment(); }
  void OnStoreQuery(ReadPurpose p) { store_queries_[static_cast<size_t>(p)]->Increment(); }

 private:
  prometheus::Gauge& subscribers_;
  prometheus::Gauge& channels_;
  prometheus::Counter& in_order_;
  prometheus::Counter& late_;
  prometheus::Family<prometheus::Counter>& ended_;
  prometheus::Counter& pokes_received_;
  prometheus::Counter& pokes_sent_;
  std::array<prometheus::Counter*, 3> reads_{};
  std::array<prometheus::Counter*, 3> store_queries_{};
};

}  // namespace ds::live
