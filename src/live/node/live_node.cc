#include "live/node/live_node.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "common/api_rules.h"
#include "common/log.h"
#include "common/snowflake.h"
#include "dataservice/v1/live.grpc.pb.h"
#include "node/request_validation.h"
#include "routing/hash_ring.h"

namespace ds::live {

namespace v1 = ::dataservice::v1;
using CoalescerSlot = std::atomic<node::ReadCoalescer*>;

// Pokes a channel's owner after this node acknowledged a write in it, when
// this node is not the owner on the ring of `peers`. Best effort: one unary
// call with a short deadline, its failure ignored (the owner's tail poll is
// the backstop). Thread-safe; the destructor waits for calls in flight.
class PokeSender {
 public:
  PokeSender(const LiveOptions& o, LiveMetrics* metrics)
      : ring_(o.peers),
        self_(o.self),
        timeout_(o.poke_timeout),
        credentials_(o.peer_credentials != nullptr ? o.peer_credentials
                                                   : grpc::InsecureChannelCredentials()),
        metrics_(metrics) {}
  ~PokeSender() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return in_flight_ == 0; });
  }

  void OnAcknowledged(const storage::Message& m) {
    if (ring_.empty()) return;
    const std::string& owner = ring_.nodes()[ring_.Pick(m.channel_id)];
    if (owner == self_) return;
    struct Call {
      grpc::ClientContext ctx;
      v1::PokeRequest req;
      v1::PokeResponse resp;
    };
    auto* call = new Call();
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    call->req.set_channel_id(m.channel_id);
    call->req.set_message_id(m.message_id);
    v1::LiveService::Stub* stub = StubFor(owner);
    {
      std::lock_guard lock(mu_);
      ++in_flight_;
    }
    metrics_->OnPokeSent();
    stub->async()->Poke(&call->ctx, &call->req, &call->resp, [this, call](grpc::Status) {
      delete call;
      std::lock_guard lock(mu_);
      if (--in_flight_ == 0) idle_.notify_all();
    });
  }

 private:
  v1::LiveService::Stub* StubFor(const std::string& address) {
    std::lock_guard lock(mu_);
    auto& stub = stubs_[address];
    if (stub == nullptr) {
      stub = v1::LiveService::NewStub(grpc::CreateChannel(address, credentials_));
    }
    return stub.get();
  }

  const routing::HashRing ring_;
  const std::string self_;
  const absl::Duration timeout_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  LiveMetrics* const metrics_;
  std::mutex mu_;
  std::condition_variable idle_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::unique_ptr<v1::LiveService::Stub>> stubs_
      ABSL_GUARDED_BY(mu_);
};

namespace {

// The write path's decorator (see the header). Reads pass through.
class PublishingStore final : public storage::MessageStore {
 public:
  PublishingStore(storage::MessageStore* inner, std::shared_ptr<CoalescerSlot> coalescer,
                  LiveHub* hub, PokeSender* pokes)
      : inner_(inner), coalescer_(std::move(coalescer)), hub_(hub), pokes_(pokes) {}

  void GetMessages(const storage::GetMessagesQuery& q, const storage::CallOptions& o,
                   storage::Callback<std::vector<storage::Message>> done) override {
    inner_->GetMessages(q, o, std::move(done));
  }
  void GetMessage(uint64_t channel, uint64_t id, const storage::CallOptions& o,
                  storage::Callback<storage::Message> done) override {
    inner_->GetMessage(channel, id, o, std::move(done));
  }
  void BulkInsert(std::vector<storage::Message> messages, const storage::CallOptions& o,
                  storage::Callback<size_t> done) override {
    inner_->BulkInsert(std::move(messages), o, std::move(done));
  }
  void SendMessage(const storage::NewMessage& m, const storage::CallOptions& o,
                   storage::Callback<storage::SendResult> done) override {
    inner_->SendMessage(m, o,
                        [this, done = std::move(done)](absl::StatusOr<storage::SendResult> result) {
                          if (result.ok()) {
                            // Fence first: a stream that registers after this publish must not
                            // read its backlog from a flight that started before the write.
                            if (node::ReadCoalescer* c = coalescer_->load()) {
                              c->OnWriteAcknowledged(result->message.channel_id);
                            }
                            hub_->Publish(result->message);
                            pokes_->OnAcknowledged(result->message);
                          }
                          done(std::move(result));
                        });
  }

 private:
  storage::MessageStore* const inner_;
  const std::shared_ptr<CoalescerSlot> coalescer_;
  LiveHub* const hub_;
  PokeSender* const pokes_;
};

// The same bytes the node's GetMessages flights produce (message_service.cc),
// so a live read and a client read with the same key can share a flight.
node::EncodedResponse EncodePage(const std::vector<storage::Message>& page) {
  v1::GetMessagesResponse resp;
  resp.mutable_messages()->Reserve(static_cast<int>(page.size()));
  for (const auto& m : page) {
    v1::Message* out = resp.add_messages();
    out->set_channel_id(m.channel_id);
    out->set_message_id(m.message_id);
    out->set_author_id(m.author_id);
    out->set_content(m.content);
    out->set_created_at_ms(SnowflakeTimestampMs(m.message_id));
  }
  const size_t size = resp.ByteSizeLong();
  grpc_slice slice = grpc_slice_malloc(size);
  resp.SerializeWithCachedSizesToArray(GRPC_SLICE_START_PTR(slice));
  return std::make_shared<const grpc::Slice>(slice, grpc::Slice::STEAL_REF);
}

absl::StatusOr<std::vector<storage::Message>> DecodePage(const grpc::Slice& bytes) {
  v1::GetMessagesResponse resp;
  if (!resp.ParseFromArray(bytes.begin(), static_cast<int>(bytes.size()))) {
    return absl::InternalError("live: cannot decode a GetMessages page");
  }
  std::vector<storage::Message> page;
  page.reserve(resp.messages_size());
  for (auto& m : *resp.mutable_messages()) {
    page.push_back(
        {m.channel_id(), m.message_id(), m.author_id(), std::move(*m.mutable_content())});
  }
  return page;
}

PageReader MakeCoalescedReader(std::shared_ptr<CoalescerSlot> slot, storage::MessageStore* store,
                               LiveMetrics* metrics, absl::Duration timeout) {
  return [=](uint64_t channel, std::optional<uint64_t> after, uint32_t limit, ReadPurpose purpose,
             std::function<void(absl::StatusOr<std::vector<storage::Message>>)> done) {
    metrics->OnRead(purpose);
    node::ReadCoalescer* coalescer = slot->load();
    if (coalescer == nullptr) return done(absl::UnavailableError("node not started"));
    v1::GetMessagesRequest req;
    req.set_channel_id(channel);
    req.set_limit(limit);
    storage::GetMessagesQuery query{.channel_id = channel, .limit = limit};
    if (after.has_value()) {
      req.set_after(*after);
      query.after = *after;
    }
    auto fetch = [store, query, metrics, purpose](const coalescer::FetchContext& fc,
                                                  node::ReadCoalescer::FetchDone fetched) {
      metrics->OnStoreQuery(purpose);
      store->GetMessages(
          query, {fc.deadline, fc.cancel},
          [fetched = std::move(fetched)](absl::StatusOr<std::vector<storage::Message>> page) {
            if (!page.ok()) return fetched(page.status());
            fetched(EncodePage(*page));
          });
    };
    auto joined = coalescer->Join(
        {.key = node::GetMessagesKey(req),
         .channel_id = channel,
         .deadline = absl::Now() + timeout,
         .method = node::kGetMessages},
        std::move(fetch), [done](const node::ReadCoalescer::Result& r, const coalescer::WaitInfo&) {
          if (!r.ok()) return done(r.status());
          done(DecodePage(*r.value()));
        });
    if (!joined.ok()) done(joined.status());
  };
}

}  // namespace

absl::StatusOr<std::unique_ptr<LiveNode>> LiveNode::Start(
    node::NodeOptions node_options, LiveOptions options, storage::MessageStore* store,
    std::shared_ptr<prometheus::Registry> registry) {
  if (store == nullptr || registry == nullptr) {
    return absl::InvalidArgumentError("live node: null store or registry");
  }
  if (options.hub.page_size < 1 || options.hub.page_size > api::kMaxPageLimit) {
    return absl::InvalidArgumentError("live node: page_size must be in 1..100");
  }
  if (!options.peers.empty() && options.self.empty()) {
    return absl::InvalidArgumentError("live node: peers given without this node's own address");
  }
  std::unique_ptr<LiveNode> live(new LiveNode());
  auto slot = std::make_shared<CoalescerSlot>(nullptr);
  live->metrics_ = std::make_unique<LiveMetrics>(*registry);
  live->pokes_ = std::make_unique<PokeSender>(options, live->metrics_.get());
  live->hub_ = std::make_unique<LiveHub>(
      options.hub, MakeCoalescedReader(slot, store, live->metrics_.get(), options.read_timeout),
      live->metrics_.get());
  live->service_ =
      std::make_unique<LiveService>(live->hub_.get(), options.service, live->metrics_.get());
  live->publishing_store_ =
      std::make_unique<PublishingStore>(store, slot, live->hub_.get(), live->pokes_.get());
  LiveService* service = live->service_.get();
  node_options.extra_services = [slot, service](grpc::ServerBuilder& builder,
                                                node::ReadCoalescer& coalescer) {
    slot->store(&coalescer);
    builder.RegisterService(service);
  };
  auto node = node::DataServiceNode::Start(std::move(node_options), live->publishing_store_.get(),
                                           std::move(registry));
  if (!node.ok()) return node.status();
  live->node_ = std::move(*node);
  return live;
}

void LiveNode::Shutdown(absl::Duration drain) {
  if (node_ == nullptr) return;
  node_->SetServing(false);
  hub_->Stop(absl::UnavailableError("node shutting down: resubscribe at the next node"));
  node_->Shutdown(drain);
}

LiveNode::~LiveNode() {
  Shutdown(absl::ZeroDuration());
  node_.reset();  // before the hub's reader loses its coalescer
}

}  // namespace ds::live
