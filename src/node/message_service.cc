#include "node/message_service.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

#include <grpc/slice.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include "absl/strings/str_cat.h"
#include "common/snowflake.h"
#include "node/request_validation.h"

namespace ds::node {

namespace v1 = ::dataservice::v1;
using coalescer::FetchContext;
using coalescer::WaitInfo;

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

namespace {

constexpr char kCoalescedKey[] = "x-ds-coalesced";
// Opt-in timing for benchmarks: a request carrying metadata `x-ds-timing`
// gets trailing `x-ds-arrived-us` = Unix microseconds when the node received
// it, so a load generator can simulate ideal coalescing from the arrivals the
// coalescer really saw (not from the client's send times).
constexpr char kTimingRequestKey[] = "x-ds-timing";
constexpr char kArrivedKey[] = "x-ds-arrived-us";

// SendMessageRequest with the protobuf runtime's UTF-8 check left out: proto3
// refuses to parse a string field holding invalid UTF-8, which would leave
// us unable to say which field is wrong. Decodes the four fields by hand
// (unknown fields skipped) so ValidateSendMessage can name `content`.
bool ParseSendMessageTolerant(const grpc::ByteBuffer* buffer, v1::SendMessageRequest* req) {
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(buffer));
  google::protobuf::io::CodedInputStream in(&reader);
  while (uint32_t tag = in.ReadTag()) {
    const int field = static_cast<int>(tag >> 3);
    const auto type = static_cast<google::protobuf::internal::WireFormatLite::WireType>(tag & 7);
    using WFL = google::protobuf::internal::WireFormatLite;
    uint64_t fixed = 0;
    if (type == WFL::WIRETYPE_FIXED64 && field >= 1 && field <= 4 && field != 3) {
      if (!in.ReadLittleEndian64(&fixed)) return false;
      if (field == 1) req->set_channel_id(fixed);
      if (field == 2) req->set_author_id(fixed);
      if (field == 4) req->set_nonce(fixed);
    } else if (type == WFL::WIRETYPE_LENGTH_DELIMITED && field == 3) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length) || !in.ReadString(req->mutable_content(), static_cast<int>(length))) {
        return false;
      }
    } else if (!WFL::SkipField(&in, tag)) {
      return false;
    }
  }
  return in.ConsumedEntireMessage();
}

template <typename M>
bool ParseRequest(const grpc::ByteBuffer* buffer, M* message) {
  // ProtoBufferReader only reads; the const_cast is for its older signature.
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(buffer));
  return message->ParseFromZeroCopyStream(&reader);
}

// Serializes once into a refcounted slice that every waiter's ByteBuffer
// references (no further copies).
template <typename M>
EncodedResponse Encode(const M& message) {
  const size_t size = message.ByteSizeLong();
  grpc_slice slice = grpc_slice_malloc(size);
  message.SerializeWithCachedSizesToArray(GRPC_SLICE_START_PTR(slice));
  return std::make_shared<const grpc::Slice>(slice, grpc::Slice::STEAL_REF);
}

void Fill(const storage::Message& m, v1::Message* out) {
  out->set_channel_id(m.channel_id);
  out->set_message_id(m.message_id);
  out->set_author_id(m.author_id);
  out->set_content(m.content);
  out->set_created_at_ms(SnowflakeTimestampMs(m.message_id));
}

absl::Time CallDeadline(const grpc::CallbackServerContext* ctx, absl::Duration fallback) {
  const auto deadline = ctx->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::Now() + fallback;
  return absl::FromChrono(deadline);
}

// One read RPC: joins (or starts) a flight and finishes with its result, or
// leaves the flight when gRPC reports the call cancelled (client cancellation
// or its deadline). Deletes itself in OnDone.
class ReadReactor final : public grpc::ServerUnaryReactor {
 public:
  ReadReactor(grpc::CallbackServerContext* ctx, grpc::ByteBuffer* response, ReadCoalescer* coalescer,
              NodeMetrics* metrics, Method method)
      : ctx_(ctx), response_(response), coalescer_(coalescer), metrics_(metrics), method_(method) {
    if (ctx->client_metadata().count(kTimingRequestKey) != 0) arrived_ = absl::Now();
  }

  void Start(ReadCoalescer::Request request, ReadCoalescer::Fetch fetch) {
    auto ticket = coalescer_->Join(std::move(request), std::move(fetch),
                                   [this](const ReadCoalescer::Result& r, const WaitInfo& w) {
                                     Deliver(r, w);
                                   });
    if (!ticket.ok()) {
      FinishOnce(ToGrpcStatus(ticket.status()));
      return;
    }
    // gRPC does not run OnDone (which deletes this) before the method handler
    // that called Start() has returned, so `this` is alive here even if the
    // flight already delivered.
    std::lock_guard lock(mu_);
    ticket_ = std::move(*ticket);
  }

  void Reject(const absl::Status& status) { FinishOnce(ToGrpcStatus(status)); }

  void OnCancel() override {
    std::optional<ReadCoalescer::Ticket> ticket;
    {
      std::lock_guard lock(mu_);
      ticket = ticket_;
    }
    // Leave() is true only if the flight will never call Deliver for us.
    if (ticket && coalescer_->Leave(*ticket)) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled or deadline passed"));
    }
  }

  void OnDone() override { delete this; }

 private:
  void Deliver(const ReadCoalescer::Result& result, const WaitInfo& info) {
    ctx_->AddTrailingMetadata(kCoalescedKey, coalescer::RoleName(info.role));
    if (arrived_) ctx_->AddTrailingMetadata(kArrivedKey, absl::StrCat(absl::ToUnixMicros(*arrived_)));
    if (!result.ok()) {
      FinishOnce(ToGrpcStatus(result.status()));
      return;
    }
    *response_ = grpc::ByteBuffer(result.value().get(), 1);  // a reference, not a copy
    FinishOnce(grpc::Status::OK);
  }

  void FinishOnce(const grpc::Status& status) {
    if (finished_.exchange(true, std::memory_order_acq_rel)) return;
    metrics_->OnResponse(method_, status.error_code());
    Finish(status);
  }

  grpc::CallbackServerContext* const ctx_;
  grpc::ByteBuffer* const response_;
  ReadCoalescer* const coalescer_;
  NodeMetrics* const metrics_;
  const Method method_;
  std::optional<absl::Time> arrived_;  // set only when the client asked for timing
  std::atomic<bool> finished_{false};
  std::mutex mu_;
  std::optional<ReadCoalescer::Ticket> ticket_;  // guarded by mu_
};

// What a valid read request becomes: its flight key, the channel it reads
// (read-your-writes scope) and the flight's store call.
struct ReadPlan {
  std::string key;
  uint64_t channel_id;
  ReadCoalescer::Fetch fetch;
};

// The shared path of every read method: count, parse, validate, then join
// (or start) the flight that `plan` describes.
template <typename Req, typename Validate, typename Plan>
grpc::ServerUnaryReactor* ServeRead(Method method, ReadCoalescer* coalescer, NodeMetrics* metrics,
                                    absl::Duration default_deadline,
                                    grpc::CallbackServerContext* ctx,
                                    const grpc::ByteBuffer* request, grpc::ByteBuffer* response,
                                    Validate validate, Plan plan) {
  metrics->OnRequest(method);
  auto* reactor = new ReadReactor(ctx, response, coalescer, metrics, method);
  Req req;
  if (!ParseRequest(request, &req)) {
    reactor->Reject(absl::InvalidArgumentError(
        absl::StrCat("request: not a valid ", Req::descriptor()->name())));
    return reactor;
  }
  if (absl::Status st = validate(req); !st.ok()) {
    reactor->Reject(st);
    return reactor;
  }
  ReadPlan p = plan(req);
  reactor->Start({std::move(p.key), p.channel_id, CallDeadline(ctx, default_deadline), method},
                 std::move(p.fetch));
  return reactor;
}

// A flight fetch reading one message and encoding it with `encode`
// (storage::Message -> EncodedResponse).
template <typename Encoder>
ReadCoalescer::Fetch FetchOneMessage(storage::MessageStore* store, uint64_t channel_id,
                                     uint64_t message_id, Encoder encode) {
  return [=](const FetchContext& fc, ReadCoalescer::FetchDone done) {
    store->GetMessage(channel_id, message_id, {fc.deadline, fc.cancel},
                      [=, done = std::move(done)](absl::StatusOr<storage::Message> m) {
                        if (!m.ok()) return done(m.status());
                        done(encode(*m));
                      });
  };
}

// Counts write callbacks still running, so the services (and the metrics and
// coalescer they point to) outlive every store callback. gRPC already orders a
// call's Finish before server shutdown completes, but that ordering is
// invisible to ThreadSanitizer (the apt gRPC is uninstrumented) and would not
// cover work a callback does after Finish.
class InFlight {
 public:
  void Enter() {
    std::lock_guard lock(mu_);
    ++count_;
  }
  void Exit() {
    std::lock_guard lock(mu_);
    if (--count_ == 0) cv_.notify_all();
  }
  void WaitIdle() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

}  // namespace

// ---- dataservice.v1.MessageService -----------------------------------------

// What every service of the node reads from; owned by DataServiceNode.
struct ServiceDeps {
  storage::MessageStore* store;
  ReadCoalescer* coalescer;
  NodeMetrics* metrics;
  MessageServiceOptions options;
};

using V1Base = v1::MessageService::WithRawCallbackMethod_GetMessages<
    v1::MessageService::WithRawCallbackMethod_GetMessage<
        v1::MessageService::WithRawCallbackMethod_SendMessage<v1::MessageService::Service>>>;

class MessageServices::V1Service final : public V1Base {
 public:
  explicit V1Service(const ServiceDeps& deps) : deps_(deps) {}
  ~V1Service() override { writes_.WaitIdle(); }

  grpc::ServerUnaryReactor* GetMessages(grpc::CallbackServerContext* ctx,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override {
    storage::MessageStore* store = deps_.store;
    return ServeRead<v1::GetMessagesRequest>(
        kGetMessages, deps_.coalescer, deps_.metrics, deps_.options.default_deadline, ctx, request, response,
        ValidateGetMessages, [store](const v1::GetMessagesRequest& req) {
          storage::GetMessagesQuery query{.channel_id = req.channel_id(),
                                          .limit = EffectiveLimit(req)};
          if (req.has_before()) query.before = req.before();
          if (req.has_after()) query.after = req.after();
          auto fetch = [store, query](const FetchContext& fc, ReadCoalescer::FetchDone done) {
            store->GetMessages(
                query, {fc.deadline, fc.cancel},
                [done = std::move(done)](absl::StatusOr<std::vector<storage::Message>> page) {
                  if (!page.ok()) return done(page.status());
                  v1::GetMessagesResponse resp;
                  resp.mutable_messages()->Reserve(static_cast<int>(page->size()));
                  for (const auto& m : *page) Fill(m, resp.add_messages());
                  done(Encode(resp));
                });
          };
          return ReadPlan{GetMessagesKey(req), req.channel_id(), std::move(fetch)};
        });
  }

  grpc::ServerUnaryReactor* GetMessage(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override {
    storage::MessageStore* store = deps_.store;
    return ServeRead<v1::GetMessageRequest>(
        kGetMessage, deps_.coalescer, deps_.metrics, deps_.options.default_deadline, ctx, request, response,
        ValidateGetMessage, [store](const v1::GetMessageRequest& req) {
          const uint64_t channel = req.channel_id(), id = req.message_id();
          return ReadPlan{GetMessageKey(channel, id), channel,
                          FetchOneMessage(store, channel, id, [](const storage::Message& m) {
                            v1::GetMessageResponse resp;
                            Fill(m, resp.mutable_message());
                            return Encode(resp);
                          })};
        });
  }

  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* ctx,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override {
    deps_.metrics->OnRequest(kSendMessage);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    NodeMetrics* metrics = deps_.metrics;
    auto reject = [&](const absl::Status& st) {
      metrics->OnResponse(kSendMessage, static_cast<int>(st.code()));
      reactor->Finish(ToGrpcStatus(st));
      return reactor;
    };
    v1::SendMessageRequest req;
    if (!ParseSendMessageTolerant(request, &req)) {
      return reject(absl::InvalidArgumentError("request: not a valid SendMessageRequest"));
    }
    if (absl::Status st = ValidateSendMessage(req, deps_.options.max_content_bytes); !st.ok()) {
      return reject(st);
    }
    storage::NewMessage message{.channel_id = req.channel_id(),
                                .author_id = req.author_id(),
                                .content = std::move(*req.mutable_content()),
                                .nonce = req.nonce()};
    ReadCoalescer* coalescer = deps_.coalescer;
    InFlight* writes = &writes_;
    writes->Enter();
    const absl::Time started = absl::Now();
    // Writes pass through: never coalesced. The response is sent only after
    // the store acknowledged the write and the channel's read fence moved.
    deps_.store->SendMessage(
        message, {CallDeadline(ctx, deps_.options.default_deadline), nullptr},
        [=](absl::StatusOr<storage::SendResult> result) {
          metrics->OnWriteStoreCall(absl::Now() - started, result.status());
          if (!result.ok()) {
            metrics->OnResponse(kSendMessage, static_cast<int>(result.status().code()));
            reactor->Finish(ToGrpcStatus(result.status()));
            writes->Exit();
            return;
          }
          coalescer->OnWriteAcknowledged(result->message.channel_id);
          v1::SendMessageResponse resp;
          Fill(result->message, resp.mutable_message());
          resp.set_duplicate(result->duplicate);
          *response = grpc::ByteBuffer(Encode(resp).get(), 1);
          metrics->OnResponse(kSendMessage, 0);
          reactor->Finish(grpc::Status::OK);
          writes->Exit();
        });
    return reactor;
  }

 private:
  const ServiceDeps deps_;
  InFlight writes_;
};

// ---- messages.MessagesService (the reference API) --------------------------

using ReferenceBase = messages::MessagesService::WithRawCallbackMethod_getMessage<
    messages::MessagesService::WithCallbackMethod_getAndResetMetrics<
        messages::MessagesService::Service>>;

class MessageServices::ReferenceService final : public ReferenceBase {
 public:
  explicit ReferenceService(const ServiceDeps& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* getMessage(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override {
    storage::MessageStore* store = deps_.store;
    return ServeRead<messages::MessageRequest>(
        kRefGetMessage, deps_.coalescer, deps_.metrics, deps_.options.default_deadline, ctx, request, response,
        ValidateReferenceGetMessage, [store](const messages::MessageRequest& req) {
          const auto channel = static_cast<uint64_t>(req.channel_id());
          const auto id = static_cast<uint64_t>(req.message_id());
          return ReadPlan{ReferenceGetMessageKey(channel, id), channel,
                          FetchOneMessage(store, channel, id, [](const storage::Message& m) {
                            messages::MessageReply reply;
                            reply.set_channel_id(static_cast<int64_t>(m.channel_id));
                            reply.set_message_id(static_cast<int64_t>(m.message_id));
                            reply.set_author_id(static_cast<int64_t>(m.author_id));
                            reply.set_content(m.content);
                            return Encode(reply);
                          })};
        });
  }

  grpc::ServerUnaryReactor* getAndResetMetrics(grpc::CallbackServerContext* ctx,
                                               const messages::Empty*,
                                               messages::MetricsReply* reply) override {
    const NodeMetrics::ReferenceCounters counters = deps_.metrics->GetAndReset();
    reply->set_total_requests(counters.requests);
    reply->set_queries_executed(counters.queries);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const ServiceDeps deps_;
};

MessageServices::MessageServices(storage::MessageStore* store, ReadCoalescer* coalescer,
                                 NodeMetrics* metrics, MessageServiceOptions options)
    : v1_(std::make_unique<V1Service>(ServiceDeps{store, coalescer, metrics, options})),
      reference_(std::make_unique<ReferenceService>(ServiceDeps{store, coalescer, metrics, options})) {}

MessageServices::~MessageServices() = default;

grpc::Service* MessageServices::v1() { return v1_.get(); }
grpc::Service* MessageServices::reference() { return reference_.get(); }

}  // namespace ds::node
