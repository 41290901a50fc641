#include "live/gateway/fanout.h"

#include <vector>

#include "common/status_names.h"

namespace ds::live {

namespace {
using prometheus::BuildCounter;
using prometheus::BuildGauge;

std::string CodeLabel(absl::StatusCode code) {
  using C = absl::StatusCode;
  return StatusCodeLabel(code, {C::kResourceExhausted, C::kOutOfRange, C::kUnavailable});
}
}  // namespace

FanoutMetrics::FanoutMetrics(prometheus::Registry& r)
    : sse_(BuildGauge()
               .Name("ds_gateway_live_clients")
               .Help("Live clients now: SSE responses, WebSocket channel subscriptions")
               .Register(r)
               .Add({{"transport", "sse"}})),
      ws_(BuildGauge()
              .Name("ds_gateway_live_clients")
              .Help("Live clients now: SSE responses, WebSocket channel subscriptions")
              .Register(r)
              .Add({{"transport", "websocket"}})),
      feeds_(BuildGauge()
                 .Name("ds_gateway_live_feeds")
                 .Help("Channels with a live feed")
                 .Register(r)
                 .Add({})),
      upstreams_(BuildGauge()
                     .Name("ds_gateway_live_upstreams")
                     .Help("Subscribe streams to nodes open now (one per feed at most)")
                     .Register(r)
                     .Add({})),
      in_order_(BuildCounter()
                    .Name("ds_gateway_live_messages_total")
                    .Help("Messages received from nodes, by kind")
                    .Register(r)
                    .Add({{"kind", "in_order"}})),
      late_(BuildCounter()
                .Name("ds_gateway_live_messages_total")
                .Help("Messages received from nodes, by kind")
                .Register(r)
                .Add({{"kind", "late"}})),
      fanout_(BuildCounter()
                  .Name("ds_gateway_live_fanout_total")
                  .Help("Messages queued to live clients")
                  .Register(r)
                  .Add({})),
      refused_(BuildCounter()
                   .Name("ds_gateway_live_refused_total")
                   .Help("Live streams refused at the stream limit")
                   .Register(r)
                   .Add({})),
      dropped_(BuildCounter()
                   .Name("ds_gateway_live_dropped_total")
                   .Help("Live clients dropped by their feed, by code")
                   .Register(r)),
      catchup_(BuildCounter()
                   .Name("ds_gateway_live_catchup_reads_total")
                   .Help("Catch-up pages needed by resuming clients, by source")
                   .Register(r)),
      resubscribes_(BuildCounter()
                        .Name("ds_gateway_live_resubscribes_total")
                        .Help("Upstream streams reopened, by reason")
                        .Register(r)) {}

void FanoutMetrics::OnResubscribe(const char* reason) {
  resubscribes_.Add({{"reason", reason}}).Increment();
}
void FanoutMetrics::OnDropped(absl::StatusCode code) {
  dropped_.Add({{"code", CodeLabel(code)}}).Increment();
}
void FanoutMetrics::OnCatchUpRead(const char* source) {
  catchup_.Add({{"source", source}}).Increment();
}

LiveFanout::LiveFanout(FanoutOptions options, std::shared_ptr<LiveUpstream> upstream,
                       prometheus::Registry& registry)
    : options_(std::move(options)), upstream_(std::move(upstream)), metrics_(registry) {
  ticker_ = std::thread([this] { Run(); });
}

LiveFanout::~LiveFanout() { Close(); }

void LiveFanout::Join(uint64_t channel, std::shared_ptr<FeedClient> client,
                      std::optional<uint64_t> after) {
  for (;;) {
    std::shared_ptr<ChannelFeed> feed;
    {
      std::lock_guard lock(mu_);
      if (closed_) break;
      auto& slot = feeds_[channel];
      if (slot == nullptr) {
        slot = std::make_shared<ChannelFeed>(channel, options_.feed, upstream_.get(), &metrics_);
        metrics_.OnFeeds(1);
      }
      feed = slot;
    }
    if (feed->Join(client, after)) return;
    // The feed closed itself meanwhile (its linger ran out): forget it.
    std::lock_guard lock(mu_);
    auto it = feeds_.find(channel);
    if (it != feeds_.end() && it->second == feed) {
      feeds_.erase(it);
      metrics_.OnFeeds(-1);
    }
  }
  client->OnDropped(channel, absl::UnavailableError("gateway shutting down"));
}

void LiveFanout::Leave(uint64_t channel, FeedClient* client) {
  std::shared_ptr<ChannelFeed> feed;
  {
    std::lock_guard lock(mu_);
    auto it = feeds_.find(channel);
    if (it == feeds_.end()) return;
    feed = it->second;
  }
  feed->Leave(client);
}

void LiveFanout::Run() {
  std::unique_lock lock(mu_);
  while (!closed_) {
    std::vector<std::pair<uint64_t, std::shared_ptr<ChannelFeed>>> feeds(feeds_.begin(),
                                                                         feeds_.end());
    lock.unlock();
    const absl::Time now = absl::Now();
    std::vector<std::pair<uint64_t, std::shared_ptr<ChannelFeed>>> done;
    for (auto& entry : feeds) {
      if (!entry.second->Tick(now)) done.push_back(entry);
    }
    feeds.clear();
    lock.lock();
    for (auto& [channel, feed] : done) {
      auto it = feeds_.find(channel);
      if (it != feeds_.end() && it->second == feed) {
        feeds_.erase(it);
        metrics_.OnFeeds(-1);
      }
    }
    if (!done.empty()) {
      lock.unlock();
      done.clear();  // the last references: destroyed outside the lock
      lock.lock();
    }
    wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.tick), [this] { return closed_; });
  }
}

void LiveFanout::Close() {
  absl::flat_hash_map<uint64_t, std::shared_ptr<ChannelFeed>> feeds;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    feeds.swap(feeds_);
    wake_.notify_all();
  }
  if (ticker_.joinable()) ticker_.join();
  for (auto& [channel, feed] : feeds) {
    feed->Close(absl::UnavailableError("gateway shutting down: reconnect"));
    metrics_.OnFeeds(-1);
  }
}

size_t LiveFanout::feeds() const {
  std::lock_guard lock(mu_);
  return feeds_.size();
}

}  // namespace ds::live
