#include "node/message_service.h"

#include <grpc/slice.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/snowflake.h"
#include "dataservice/server/wire.pb.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "messages/messages.grpc.pb.h"
#include "node/raw_methods.h"
#include "node/request_log.h"
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

template <typename M>
bool ParseRequest(const grpc::ByteBuffer& buffer, M* message) {
  // ProtoBufferReader only reads; the const_cast is for its older signature.
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(&buffer));
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

grpc::ByteBuffer EncodeBuffer(const google::protobuf::MessageLite& message) {
  const size_t size = message.ByteSizeLong();
  grpc_slice slice = grpc_slice_malloc(size);
  message.SerializeWithCachedSizesToArray(GRPC_SLICE_START_PTR(slice));
  grpc::Slice owned(slice, grpc::Slice::STEAL_REF);
  return grpc::ByteBuffer(&owned, 1);
}

void Fill(const storage::Message& m, v1::Message* out) {
  out->set_channel_id(m.channel_id);
  out->set_message_id(m.message_id);
  out->set_author_id(m.author_id);
  out->set_content(m.content);
  out->set_created_at_ms(SnowflakeTimestampMs(m.message_id));
}

absl::Time CallDeadline(const grpc::ServerContext& ctx, absl::Duration fallback) {
  const auto deadline = ctx.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::Now() + fallback;
  return absl::FromChrono(deadline);
}

// Where every answer is counted and logged.
struct Sinks {
  NodeMetrics* metrics;
  RequestLog* log;
};

// Answers `call` once with `status` (and `response` if OK), counting and
// logging it. Nothing may touch the call after this returns: it may already
// be gone.
void Answer(UnaryCall* call, const Sinks& sinks, const RequestLog::Call& record,
            const grpc::ByteBuffer& response, const grpc::Status& status) {
  sinks.metrics->OnResponse(record.method, status.error_code());
  sinks.log->OnAnswer(call->context(), record, status);
  call->Finish(response, status);
}

// What a read's store calls log a failure with: the request id of the caller
// that started the flight (copied: that call may be gone by then).
struct StoreLog {
  RequestLog* log;
  Method method;
  RequestId id;

  void OnResult(uint64_t channel, int attempt, absl::Time started,
                const absl::Status& status) const {
    // NOT_FOUND (no such message) and CANCELLED (every waiter left) are
    // answers, not failures.
    if (IsServerError(static_cast<grpc::StatusCode>(status.code()))) {
      log->OnStoreFailure(method, channel, attempt, absl::Now() - started, status, id);
    }
  }
};

// One read call's state: joins (or starts) a flight and answers with its
// result, or leaves the flight when gRPC reports the call cancelled (client
// cancellation or its deadline). Owned by the call (CallHooks).
class ReadCall final : public CallHooks {
 public:
  ReadCall(UnaryCall* call, ReadCoalescer* coalescer, const Sinks& sinks,
           const RequestLog::Call& record)
      : call_(call), coalescer_(coalescer), sinks_(sinks), record_(record) {
    if (call->context().client_metadata().count(kTimingRequestKey) != 0) arrived_ = absl::Now();
  }

  // On the polling thread, from the handler.
  void Start(ReadCoalescer::Request request, ReadCoalescer::Fetch fetch) {
    auto ticket = coalescer_->Join(
        std::move(request), std::move(fetch),
        [this](const ReadCoalescer::Result& r, const WaitInfo& w) { Deliver(r, w); });
    if (!ticket.ok()) {
      AnswerOnce(grpc::ByteBuffer(), ToGrpcStatus(ticket.status()));
      return;
    }
    // The call (and this) lives until its done event, which this polling
    // thread handles only after the handler returns, so `this` is alive even
    // if the flight has already delivered. OnCancel reads ticket_ on this
    // same thread.
    ticket_ = std::move(*ticket);
  }

  void OnCancel() override {
    // Leave() is true only if the flight will never call Deliver for us.
    if (ticket_ && coalescer_->Leave(*ticket_)) {
      AnswerOnce(grpc::ByteBuffer(),
                 grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled or deadline passed"));
    }
  }

 private:
  void Deliver(const ReadCoalescer::Result& result, const WaitInfo& info) {
    grpc::ServerContext& ctx = call_->context();
    record_.role = coalescer::RoleName(info.role);
    ctx.AddTrailingMetadata(kCoalescedKey, record_.role);
    if (arrived_) ctx.AddTrailingMetadata(kArrivedKey, absl::StrCat(absl::ToUnixMicros(*arrived_)));
    if (!result.ok()) {
      AnswerOnce(grpc::ByteBuffer(), ToGrpcStatus(result.status()));
      return;
    }
    AnswerOnce(grpc::ByteBuffer(result.value().get(), 1), grpc::Status::OK);  // a reference
  }

  void AnswerOnce(const grpc::ByteBuffer& response, const grpc::Status& status) {
    if (answered_.exchange(true, std::memory_order_acq_rel)) return;
    Answer(call_, sinks_, record_, response, status);  // may destroy this
  }

  UnaryCall* const call_;
  ReadCoalescer* const coalescer_;
  const Sinks sinks_;
  RequestLog::Call record_;            // role set by Deliver
  std::optional<absl::Time> arrived_;  // set only when the client asked for timing
  std::atomic<bool> answered_{false};
  std::optional<ReadCoalescer::Ticket> ticket_;  // polling thread only
};

// What a valid read request becomes: its flight key, the channel it reads
// (read-your-writes scope) and the flight's store call.
struct ReadPlan {
  std::string key;
  uint64_t channel_id;
  ReadCoalescer::Fetch fetch;
};

// Counts write callbacks still running, so the services (and the metrics and
// coalescer they point to) outlive every store callback, including the work
// a callback does after answering its call.
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
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

// A flight fetch reading one message and encoding it with `encode`
// (storage::Message -> EncodedResponse).
template <typename Encoder>
ReadCoalescer::Fetch FetchOneMessage(storage::MessageStore* store, uint64_t channel_id,
                                     uint64_t message_id, const StoreLog& log, Encoder encode) {
  return [=](const FetchContext& fc, ReadCoalescer::FetchDone done) {
    store->GetMessage(channel_id, message_id, {fc.deadline, fc.cancel},
                      [=, attempt = fc.attempt, started = absl::Now(),
                       done = std::move(done)](absl::StatusOr<storage::Message> m) {
                        if (!m.ok()) {
                          log.OnResult(channel_id, attempt, started, m.status());
                          return done(m.status());
                        }
                        done(encode(*m));
                      });
  };
}

ReadCoalescer::Fetch FetchPage(storage::MessageStore* store, storage::GetMessagesQuery query,
                               const StoreLog& log) {
  return [store, query, log](const FetchContext& fc, ReadCoalescer::FetchDone done) {
    store->GetMessages(
        query, {fc.deadline, fc.cancel},
        [log, channel = query.channel_id, attempt = fc.attempt, started = absl::Now(),
         done = std::move(done)](absl::StatusOr<std::vector<storage::Message>> page) {
          if (!page.ok()) {
            log.OnResult(channel, attempt, started, page.status());
            return done(page.status());
          }
          v1::GetMessagesResponse resp;
          resp.mutable_messages()->Reserve(static_cast<int>(page->size()));
          for (const auto& m : *page) Fill(m, resp.add_messages());
          done(Encode(resp));
        });
  };
}

// `fetch` with its result handed to polling thread `cq` of `server` before
// the flight sees it, so the fan-out finishes the calls on the thread that
// owns them (CqServer::RunOn). Retries are issued from the timer thread; their
// results are handed over the same way.
ReadCoalescer::Fetch OnPollingThread(CqServer* server, int cq, ReadCoalescer::Fetch fetch) {
  if (server == nullptr) return fetch;
  return [server, cq, fetch = std::move(fetch)](const FetchContext& fc,
                                                ReadCoalescer::FetchDone done) {
    fetch(fc, [server, cq, done = std::move(done)](ReadCoalescer::Result r) {
      server->RunOn(cq, [done, r = std::move(r)]() mutable { done(std::move(r)); });
    });
  };
}

}  // namespace

struct MessageServices::Impl {
  storage::MessageStore* store;
  ReadCoalescer* coalescer;
  NodeMetrics* metrics;
  MessageServiceOptions options;
  CqServer* handoff;  // may be null
  RequestLog log;
  RawV1Service v1_service;
  RawReferenceService ref_service;
  InFlight writes;

  Sinks sinks() { return {metrics, &log}; }

  // The shared path of every read method: count, parse, validate, then join
  // (or start) the flight that `plan` describes.
  template <typename Req, typename Validate, typename Plan>
  void ServeRead(Method method, UnaryCall* call, Validate validate, Plan plan) {
    RequestLog::Call record{.method = method, .arrived_ns = absl::GetCurrentTimeNanos()};
    metrics->OnRequest(method);
    Req req;
    if (!ParseRequest(call->request(), &req)) {
      const auto st = absl::InvalidArgumentError(
          absl::StrCat("request: not a valid ", Req::descriptor()->name()));
      return Answer(call, sinks(), record, {}, ToGrpcStatus(st));
    }
    if (absl::Status st = validate(req); !st.ok()) {
      return Answer(call, sinks(), record, {}, ToGrpcStatus(st));
    }
    ReadPlan p = plan(req, StoreLog{&log, method, RequestId::From(call->context())});
    record.channel = p.channel_id;
    auto hooks = std::make_unique<ReadCall>(call, coalescer, sinks(), record);
    ReadCall* read = hooks.get();
    call->set_hooks(std::move(hooks));
    read->Start({std::move(p.key), p.channel_id,
                 CallDeadline(call->context(), options.default_deadline), method},
                OnPollingThread(handoff, call->cq_index(), std::move(p.fetch)));
  }

  void GetMessages(UnaryCall* call) {
    ServeRead<v1::GetMessagesRequest>(
        kGetMessages, call, ValidateGetMessages,
        [this](const v1::GetMessagesRequest& req, const StoreLog& log) {
          storage::GetMessagesQuery query{.channel_id = req.channel_id(),
                                          .limit = EffectiveLimit(req)};
          if (req.has_before()) query.before = req.before();
          if (req.has_after()) query.after = req.after();
          return ReadPlan{GetMessagesKey(req), req.channel_id(), FetchPage(store, query, log)};
        });
  }

  void GetMessage(UnaryCall* call) {
    ServeRead<v1::GetMessageRequest>(
        kGetMessage, call, ValidateGetMessage,
        [this](const v1::GetMessageRequest& req, const StoreLog& log) {
          const uint64_t channel = req.channel_id(), id = req.message_id();
          return ReadPlan{GetMessageKey(channel, id), channel,
                          FetchOneMessage(store, channel, id, log, [](const storage::Message& m) {
                            v1::GetMessageResponse resp;
                            Fill(m, resp.mutable_message());
                            return Encode(resp);
                          })};
        });
  }

  void ReferenceGetMessage(UnaryCall* call) {
    ServeRead<messages::MessageRequest>(
        kRefGetMessage, call, ValidateReferenceGetMessage,
        [this](const messages::MessageRequest& req, const StoreLog& log) {
          const auto channel = static_cast<uint64_t>(req.channel_id());
          const auto id = static_cast<uint64_t>(req.message_id());
          return ReadPlan{ReferenceGetMessageKey(channel, id), channel,
                          FetchOneMessage(store, channel, id, log, [](const storage::Message& m) {
                            messages::MessageReply reply;
                            reply.set_channel_id(static_cast<int64_t>(m.channel_id));
                            reply.set_message_id(static_cast<int64_t>(m.message_id));
                            reply.set_author_id(static_cast<int64_t>(m.author_id));
                            reply.set_content(m.content);
                            return Encode(reply);
                          })};
        });
  }

  void SendMessage(UnaryCall* call);

  void GetAndResetMetrics(UnaryCall* call) {
    const NodeMetrics::ReferenceCounters counters = metrics->GetAndReset();
    messages::MetricsReply reply;
    reply.set_total_requests(counters.requests);
    reply.set_queries_executed(counters.queries);
    call->Finish(EncodeBuffer(reply), grpc::Status::OK);
  }
};

void MessageServices::Impl::SendMessage(UnaryCall* call) {
  RequestLog::Call record{.method = kSendMessage, .arrived_ns = absl::GetCurrentTimeNanos()};
  metrics->OnRequest(kSendMessage);
  auto reject = [&](const absl::Status& st) {
    Answer(call, sinks(), record, {}, ToGrpcStatus(st));
  };
  // The wire view with `content` as bytes: malformed UTF-8 is then reported
  // by ValidateSendMessage naming the field, not as an unparsable request.
  dataservice::server::SendMessageRequestWire req;
  if (!ParseRequest(call->request(), &req)) {
    return reject(absl::InvalidArgumentError("request: not a valid SendMessageRequest"));
  }
  if (absl::Status st = ValidateSendMessage(req, options.max_content_bytes); !st.ok()) {
    return reject(st);
  }
  storage::NewMessage message{.channel_id = req.channel_id(),
                              .author_id = req.author_id(),
                              .content = std::move(*req.mutable_content()),
                              .nonce = req.nonce()};
  record.channel = message.channel_id;
  const Sinks sinks = this->sinks();
  NodeMetrics* m = metrics;
  ReadCoalescer* c = coalescer;
  InFlight* w = &writes;
  w->Enter();
  const absl::Time started = absl::Now();
  // Writes pass through: never coalesced. The response is sent only after
  // the store acknowledged the write and the channel's read fence moved. A
  // failed store call is logged by the answer's `request failed` line.
  storage::Callback<storage::SendResult> finish = [=](absl::StatusOr<storage::SendResult> result) {
    m->OnWriteStoreCall(absl::Now() - started, result.status());
    if (!result.ok()) {
      Answer(call, sinks, record, {}, ToGrpcStatus(result.status()));
    } else {
      c->OnWriteAcknowledged(result->message.channel_id);
      v1::SendMessageResponse resp;
      Fill(result->message, resp.mutable_message());
      resp.set_duplicate(result->duplicate);
      Answer(call, sinks, record, EncodeBuffer(resp), grpc::Status::OK);
    }
    w->Exit();
  };
  if (handoff != nullptr) {
    finish = [finish, server = handoff, cq = call->cq_index()](auto result) {
      server->RunOn(cq,
                    [finish, result = std::move(result)]() mutable { finish(std::move(result)); });
    };
  }
  store->SendMessage(message, {CallDeadline(call->context(), options.default_deadline), nullptr},
                     std::move(finish));
}

MessageServices::MessageServices(storage::MessageStore* store, ReadCoalescer* coalescer,
                                 NodeMetrics* metrics, MessageServiceOptions options,
                                 CqServer* handoff)
    : impl_(new Impl{store,
                     coalescer,
                     metrics,
                     options,
                     handoff,
                     RequestLog(options.request_log),
                     {},
                     {},
                     {}}) {}

MessageServices::~MessageServices() { impl_->writes.WaitIdle(); }

grpc::Service* MessageServices::v1() { return &impl_->v1_service; }
grpc::Service* MessageServices::reference() { return &impl_->ref_service; }

void MessageServices::AddMethods(CqServer* server) {
  Impl* impl = impl_.get();
  AddRawMethods(
      server, &impl->v1_service, &impl->ref_service,
      {.get_messages = [impl](UnaryCall* call) { impl->GetMessages(call); },
       .get_message = [impl](UnaryCall* call) { impl->GetMessage(call); },
       .send_message = [impl](UnaryCall* call) { impl->SendMessage(call); },
       .reference_get_message = [impl](UnaryCall* call) { impl->ReferenceGetMessage(call); },
       .reference_get_and_reset_metrics =
           [impl](UnaryCall* call) { impl->GetAndResetMetrics(call); }});
}

}  // namespace ds::node
