#include "gateway/read_flights.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/json_codec.h"

namespace ds::gateway {

using dataservice::v1::GetMessageRequest;
using dataservice::v1::GetMessageResponse;
using dataservice::v1::GetMessagesRequest;
using dataservice::v1::GetMessagesResponse;

// Plain data, so that a flight's fetch closure is cheap to build.
struct ReadFlights::Spec {
  GatewayRoute route = GatewayRoute::kGetMessages;
  uint64_t channel_id = 0;
  uint64_t message_id = 0;  // GetMessage
  uint32_t limit = 0;       // GetMessages (0: the node's default)
  uint64_t before = 0;
  uint64_t after = 0;
};

namespace {

coalescer::CoalescerOptions CoalescerOptionsFor(const ReadFlightsOptions& o) {
  coalescer::CoalescerOptions c;
  c.enabled = o.coalescing;
  c.max_waiters_per_flight = o.max_waiters_per_flight;
  c.max_total_waiters = o.max_total_waiters;
  c.max_concurrent_queries = o.max_concurrent_upstream;
  c.max_query_timeout = o.max_upstream_timeout;
  return c;
}

absl::Status ToAbsl(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// The encoded flight result, from the node's answer.
template <typename Response>
ReadFlights::Flights::Result Encoded(const grpc::Status& s, const Response& response,
                                     const BackendInfo& info,
                                     std::string (*encode)(const Response&)) {
  if (!s.ok()) return ToAbsl(s);
  auto encoded = std::make_shared<EncodedRead>();
  encoded->body = std::make_shared<const std::string>(encode(response));
  encoded->node = info.node;
  encoded->node_joined = info.coalesced == "joiner";
  return std::shared_ptr<const EncodedRead>(std::move(encoded));
}

// The backend callback of one upstream read sent at `sent`: notes its
// latency (and its encoding) with `probe`, then hands the encoded answer to
// `fetched`.
template <typename Response>
BackendCallback<Response> OnAnswer(GatewayProbe* probe, GatewayRoute route, absl::Time sent,
                                   std::function<void(ReadFlights::Flights::Result)> fetched,
                                   std::string (*encode)(const Response&)) {
  return [probe, route, sent, encode, fetched = std::move(fetched)](grpc::Status s, Response r,
                                                                    BackendInfo info) {
    probe->OnUpstreamDone(route, absl::Now() - sent);
    if (s.ok()) probe->OnEncoding(route);
    fetched(Encoded(s, r, info, encode));
  };
}

}  // namespace

ReadFlights::ReadFlights(ReadFlightsOptions options, std::shared_ptr<MessageBackend> backend,
                         GatewayProbe* probe)
    : backend_(std::move(backend)),
      probe_(probe),
      tokens_(coalescer::ConsistencyTokensOptions{.max_tokens = options.max_tokens}),
      flights_(CoalescerOptionsFor(options), &timer_) {}

ReadFlights::~ReadFlights() = default;

absl::StatusOr<ReadFlights::Ticket> ReadFlights::GetMessages(const GetMessagesRequest& req,
                                                             absl::Time deadline, uint64_t token,
                                                             Done done) {
  Spec spec{.route = GatewayRoute::kGetMessages,
            .channel_id = req.channel_id(),
            .limit = req.limit(),
            .before = req.before(),
            .after = req.after()};
  return Join(spec, deadline, token, std::move(done));
}

absl::StatusOr<ReadFlights::Ticket> ReadFlights::GetMessage(const GetMessageRequest& req,
                                                            absl::Time deadline, uint64_t token,
                                                            Done done) {
  Spec spec{.route = GatewayRoute::kGetMessage,
            .channel_id = req.channel_id(),
            .message_id = req.message_id()};
  return Join(spec, deadline, token, std::move(done));
}

absl::StatusOr<ReadFlights::Ticket> ReadFlights::Join(const Spec& spec, absl::Time deadline,
                                                      uint64_t token, Done done) {
  if (token != 0) {
    tokens_.Observe(spec.channel_id, token,
                    [this](uint64_t channel) { flights_.OnWriteAcknowledged(channel); });
  }
  // The key: the method plus every field that changes the answer. The token
  // is not part of it: the fence above is what keeps the reader off older
  // flights.
  std::string key =
      spec.route == GatewayRoute::kGetMessage
          ? absl::StrCat("m|", spec.channel_id, "|", spec.message_id)
          : absl::StrCat("l|", spec.channel_id, "|", spec.limit, "|", spec.before, "|", spec.after);
  auto fetch = [this, spec, token](const coalescer::FetchContext& ctx,
                                   std::function<void(Flights::Result)> fetched) {
    Fetch(spec, token, ctx.deadline, std::move(fetched));
  };
  absl::StatusOr<Ticket> ticket =
      flights_.Join({.key = std::move(key), .channel_id = spec.channel_id, .deadline = deadline},
                    std::move(fetch), std::move(done));
  if (!ticket.ok()) probe_->OnRejected();
  return ticket;
}

void ReadFlights::Fetch(const Spec& spec, uint64_t token, absl::Time deadline,
                        std::function<void(Flights::Result)> fetched) {
  probe_->OnUpstreamCall(spec.route);
  BackendCall call;
  // The flight's call carries the token of the reader that started it, so the
  // node fences for it too (see the header).
  if (token != 0) call.consistency_token = absl::StrCat(token);
  GatewayProbe* probe = probe_;
  const GatewayRoute route = spec.route;
  const absl::Time sent = absl::Now();
  if (spec.route == GatewayRoute::kGetMessage) {
    GetMessageRequest req;
    req.set_channel_id(spec.channel_id);
    req.set_message_id(spec.message_id);
    backend_->GetMessage(
        req, deadline, call,
        OnAnswer(probe, route, sent, std::move(fetched), &EncodeGetMessageResponse));
    return;
  }
  GetMessagesRequest req;
  req.set_channel_id(spec.channel_id);
  if (spec.limit != 0) req.set_limit(spec.limit);
  if (spec.before != 0) req.set_before(spec.before);
  if (spec.after != 0) req.set_after(spec.after);
  backend_->GetMessages(
      req, deadline, call,
      OnAnswer(probe, route, sent, std::move(fetched), &EncodeGetMessagesResponse));
}

void ReadFlights::OnWriteAcknowledged(uint64_t channel_id, uint64_t message_id) {
  flights_.OnWriteAcknowledged(channel_id);
  // The fence just happened: a reader presenting this token need not fence
  // again here.
  tokens_.Remember(channel_id, message_id);
}

}  // namespace ds::gateway
