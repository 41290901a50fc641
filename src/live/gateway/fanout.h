// LiveFanout: the gateway's live channels — one ChannelFeed per channel with
// at least one local client (or lingering after its last one), a ticker
// thread for their housekeeping, and the metrics:
//
//   ds_gateway_live_clients{transport}            SSE responses / WebSocket channel subscriptions
//   ds_gateway_live_feeds                         channels with a feed
//   ds_gateway_live_upstreams                     Subscribe streams to nodes open now
//   ds_gateway_live_messages_total{kind}          messages received from nodes: in_order | late
//   ds_gateway_live_fanout_total                  messages queued to clients
//   ds_gateway_live_dropped_total{code}           clients the feeds dropped (slow:
//   RESOURCE_EXHAUSTED,
//                                                 reload: OUT_OF_RANGE, shutdown: UNAVAILABLE)
//   ds_gateway_live_catchup_reads_total{source}   catch-up pages: upstream | joined | cached
//   ds_gateway_live_resubscribes_total{reason}    failover | moved | stale
//   ds_gateway_live_refused_total                 streams refused at the stream limit
//
// Usage:
//   LiveFanout fanout({}, upstream, *registry);
//   fanout.Join(42, client, /*after=*/std::nullopt);
//   fanout.Leave(42, client.get());
//   fanout.Close();   // drops every client (UNAVAILABLE), ends every upstream
//
// Threads: thread-safe; see ChannelFeed for the client callbacks.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "live/gateway/channel_feed.h"
#include "live/gateway/upstream.h"

namespace ds::live {

struct FanoutOptions {
  FeedOptions feed;
  absl::Duration tick = absl::Milliseconds(100);
};

class FanoutMetrics final : public FeedProbe {
 public:
  explicit FanoutMetrics(prometheus::Registry& registry);
  void OnUpstream(int delta) override { upstreams_.Increment(delta); }
  void OnResubscribe(const char* reason) override;
  void OnUpstreamMessage(bool late) override { (late ? late_ : in_order_).Increment(); }
  void OnFanOut(size_t clients) override { fanout_.Increment(static_cast<double>(clients)); }
  void OnDropped(absl::StatusCode code) override;
  void OnCatchUpRead(const char* source) override;
  void OnFeeds(int delta) { feeds_.Increment(delta); }
  void OnClients(bool websocket, int delta) { (websocket ? ws_ : sse_).Increment(delta); }
  void OnRefused() { refused_.Increment(); }

 private:
  prometheus::Gauge& sse_;
  prometheus::Gauge& ws_;
  prometheus::Gauge& feeds_;
  prometheus::Gauge& upstreams_;
  prometheus::Counter& in_order_;
  prometheus::Counter& late_;
  prometheus::Counter& fanout_;
  prometheus::Counter& refused_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Family<prometheus::Counter>& catchup_;
  prometheus::Family<prometheus::Counter>& resubscribes_;
};

class LiveFanout {
 public:
  LiveFanout(FanoutOptions options, std::shared_ptr<LiveUpstream> upstream,
             prometheus::Registry& registry);
  ~LiveFanout();  // Close()

  // `client` receives `channel` from `after` on (nullopt: from now). After
  // Close(), the client is dropped at once (UNAVAILABLE).
  void Join(uint64_t channel, std::shared_ptr<FeedClient> client, std::optional<uint64_t> after);
  // No callback follows once it returns. Idempotent.
  void Leave(uint64_t channel, FeedClient* client);
  // Drops every client with UNAVAILABLE, ends every upstream stream, stops
  // the ticker. Idempotent.
  void Close();

  LiveUpstream& upstream() { return *upstream_; }
  FanoutMetrics& metrics() { return metrics_; }
  size_t feeds() const;

 private:
  void Run();

  const FanoutOptions options_;
  const std::shared_ptr<LiveUpstream> upstream_;
  FanoutMetrics metrics_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<uint64_t, std::shared_ptr<ChannelFeed>> feeds_ ABSL_GUARDED_BY(mu_);
  std::thread ticker_;
};

}  // namespace ds::live
