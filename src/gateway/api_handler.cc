#include "gateway/api_handler.h"

#include <algorithm>
#include <boost/beast/http/verb.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/api_rules.h"
#include "gateway/internal/strings.h"
#include "gateway/json_codec.h"

namespace ds::gateway {

namespace verb = boost::beast::http;
using dataservice::v1::GetMessageRequest;
using dataservice::v1::GetMessagesRequest;
using dataservice::v1::SendMessageRequest;
using dataservice::v1::SendMessageResponse;

namespace {

constexpr std::string_view kJsonContentType = "application/json";

http::Response JsonResponse(int status, std::string body) {
  http::Response res(status);
  res.SetStaticHeader("Content-Type", kJsonContentType);
  res.SetStaticHeader("Cache-Control", "no-store");
  res.SetBody(std::move(body));
  return res;
}

http::Response ErrorResponse(absl::StatusCode code, std::string_view message,
                             std::optional<int> http_status = std::nullopt) {
  const int status = http_status.value_or(HttpStatusForCode(code));
  http::Response res = JsonResponse(status, EncodeError(code, message));
  // Overload and unavailability are transient: tell clients when to retry.
  if (status == 429 || status == 503) res.SetStaticHeader("Retry-After", "1");
  return res;
}

http::Response ErrorResponse(const absl::Status& status) {
  return ErrorResponse(status.code(), ToStd(status.message()));
}

http::Response MethodNotAllowed(std::string_view allow) {
  http::Response res = ErrorResponse(absl::StatusCode::kUnimplemented,
                                     absl::StrCat("method not allowed; use ", ToAbsl(allow)), 405);
  res.SetStaticHeader("Allow", allow);
  return res;
}

std::optional<std::string_view> HeaderValue(const http::Request& req, std::string_view name) {
  auto it = req.find(boost::beast::string_view(name.data(), name.size()));
  if (it == req.end()) return std::nullopt;
  return std::string_view(it->value().data(), it->value().size());
}

// The query parameters the list route reads, validated.
absl::StatusOr<GetMessagesRequest> ParseListQuery(uint64_t channel_id,
                                                  const boost::urls::url_view& url) {
  GetMessagesRequest req;
  req.set_channel_id(channel_id);
  bool seen_limit = false, seen_before = false, seen_after = false;
  for (const boost::urls::param& p : url.params()) {
    bool* seen = nullptr;
    if (p.key == "limit") seen = &seen_limit;
    if (p.key == "before") seen = &seen_before;
    if (p.key == "after") seen = &seen_after;
    if (seen == nullptr) continue;  // unknown parameters are ignored
    if (*seen) return absl::InvalidArgumentError(absl::StrCat(p.key, " is given more than once"));
    *seen = true;
    if (p.key == "limit") {
      absl::StatusOr<uint32_t> limit = api::ParsePageLimit(p.value);
      if (!limit.ok()) return limit.status();
      req.set_limit(*limit);
    } else {
      absl::StatusOr<uint64_t> id = api::ParseId(p.key, p.value);
      if (!id.ok()) return id.status();
      if (p.key == "before") req.set_before(*id);
      if (p.key == "after") req.set_after(*id);
    }
  }
  if (seen_before && seen_after) {
    return absl::InvalidArgumentError("at most one of before and after may be given");
  }
  return req;
}

// The request's deadline: the default, or sooner when the client asks.
absl::StatusOr<absl::Time> RequestDeadline(const http::Request& req, absl::Time now,
                                           absl::Duration default_deadline) {
  std::optional<std::string_view> value = HeaderValue(req, kRequestTimeoutHeader);
  if (!value) return now + default_deadline;
  absl::StatusOr<uint64_t> ms =
      api::ParseUintInRange(kRequestTimeoutHeader, *value, 1, kMaxRequestTimeoutMs);
  if (!ms.ok()) return ms.status();
  return now + std::min(default_deadline, absl::Milliseconds(*ms));
}

// The consistency token a read presents (0: none).
absl::StatusOr<uint64_t> RequestToken(const http::Request& req) {
  std::optional<std::string_view> value = HeaderValue(req, kConsistencyTokenHeader);
  if (!value) return 0;
  return api::ParseId("X-DS-Consistency-Token", *value);
}

}  // namespace

// One request being answered: answers it exactly once through its responder
// (later answers are dropped by the responder), recording its metrics. Cheap
// to copy into callbacks; the handler outlives every copy (its destructor
// waits for reads and writes in flight).
class ApiExchange {
 public:
  ApiExchange(ApiHandler* handler, http::Responder responder, absl::Time start)
      : handler_(handler), responder_(std::move(responder)), start_(start) {}

  void set_route(GatewayRoute route) { route_ = route; }
  GatewayRoute route() const { return route_; }
  // The client asked when the gateway received its request (x-ds-timing).
  void set_arrived_us(int64_t us) { arrived_us_ = us; }

  void Send(http::Response res) const {
    if (responder_.answered()) return;
    handler_->probe_.OnRequestEnd(route_, res.status(), handler_->options_.now() - start_);
    if (arrived_us_ != 0) res.AddHeader(kArrivedHeader, absl::StrCat(arrived_us_));
    responder_.Send(std::move(res));
  }

  const http::Responder& responder() const { return responder_; }

 private:
  ApiHandler* handler_;
  http::Responder responder_;
  absl::Time start_;
  GatewayRoute route_ = GatewayRoute::kUnmatched;
  int64_t arrived_us_ = 0;
};

ApiHandler::ApiHandler(ApiHandlerOptions options, std::shared_ptr<MessageBackend> backend,
                       std::shared_ptr<prometheus::Registry> registry,
                       std::function<bool()> healthy)
    : options_(std::move(options)),
      backend_(std::move(backend)),
      probe_(*registry),
      admin_(std::move(registry), std::move(healthy)),
      reads_(std::make_unique<ReadFlights>(options_.reads, backend_, &probe_)) {}

ApiHandler::~ApiHandler() {
  reads_.reset();  // waits for read flights
  std::unique_lock<std::mutex> lock(writes_mu_);
  writes_done_.wait(lock, [this] { return writes_in_flight_ == 0; });
}

http::Response ApiHandler::ProtocolError(int status, std::string_view detail) {
  probe_.OnProtocolError(status);
  return ErrorResponse(
      status >= 500 ? absl::StatusCode::kInternal : absl::StatusCode::kInvalidArgument, detail,
      status);
}

void ApiHandler::Handle(http::Request request, http::Responder responder) {
  const absl::Time now = options_.now();
  probe_.OnRequestStart();
  ApiExchange ex(this, std::move(responder), now);
  if (HeaderValue(request, kTimingHeader)) ex.set_arrived_us(absl::ToUnixMicros(absl::Now()));

  if (metrics::AdminRoutes::Matches(request)) {
    const std::string_view target(request.target().data(), request.target().size());
    ex.set_route(target.rfind("/metrics", 0) == 0 ? GatewayRoute::kMetrics
                                                  : GatewayRoute::kHealthz);
    return ex.Send(*admin_.Serve(request));
  }
  const std::string_view target(request.target().data(), request.target().size());
  boost::system::result<boost::urls::url_view> url = boost::urls::parse_origin_form(target);
  if (!url.has_value()) {
    return ex.Send(ErrorResponse(absl::StatusCode::kInvalidArgument,
                                 "malformed request target (expected /path?query)"));
  }
  // The routes have 4 or 5 segments: /v1/channels/{id}/messages[/{id}].
  std::string segments[5];
  size_t count = 0;
  for (std::string segment : url->segments()) {
    if (count == 5) {
      count = 6;  // longer than any route
      break;
    }
    segments[count++] = std::move(segment);
  }
  const bool list_route =
      count == 4 && segments[0] == "v1" && segments[1] == "channels" && segments[3] == "messages";
  const bool item_route = count == 5 && segments[0] == "v1" && segments[1] == "channels" &&
                          segments[3] == "messages" && !segments[4].empty();
  if (!list_route && !item_route) {
    const std::string_view encoded_path(url->encoded_path().data(),
                                        std::min<size_t>(url->encoded_path().size(), 128));
    return ex.Send(ErrorResponse(absl::StatusCode::kNotFound,
                                 absl::StrCat("no route for ", ToAbsl(encoded_path))));
  }
  const verb::verb method = request.method();
  if (list_route) {
    ex.set_route(method == verb::verb::post ? GatewayRoute::kSendMessage
                                            : GatewayRoute::kGetMessages);
    if (method != verb::verb::get && method != verb::verb::post) {
      return ex.Send(MethodNotAllowed("GET, POST"));
    }
  } else {
    ex.set_route(GatewayRoute::kGetMessage);
    if (method != verb::verb::get) return ex.Send(MethodNotAllowed("GET"));
  }
  absl::StatusOr<uint64_t> channel_id = api::ParseId("channel_id", segments[2]);
  if (!channel_id.ok()) return ex.Send(ErrorResponse(channel_id.status()));
  absl::StatusOr<absl::Time> deadline = RequestDeadline(request, now, options_.default_deadline);
  if (!deadline.ok()) return ex.Send(ErrorResponse(deadline.status()));
  if (method == verb::verb::post) return HandleSend(request, *channel_id, *deadline, std::move(ex));
  HandleRead(request, *channel_id, item_route ? &segments[4] : nullptr, *deadline, std::move(ex));
}

void ApiHandler::HandleRead(const http::Request& request, uint64_t channel_id,
                            const std::string* message_id, absl::Time deadline, ApiExchange ex) {
  absl::StatusOr<uint64_t> token = RequestToken(request);
  if (!token.ok()) return ex.Send(ErrorResponse(token.status()));
  const GatewayRoute route = ex.route();
  GatewayProbe* probe = &probe_;
  auto done = [ex, probe, route](const ReadResult& result, const coalescer::WaitInfo& info) {
    probe->OnReadDone();
    if (!result.ok()) return ex.Send(ErrorResponse(result.status()));
    const EncodedRead& read = **result;
    const bool gateway_joiner = info.role == coalescer::Role::kJoiner;
    if (gateway_joiner || read.node_joined) probe->OnCoalesced(route, gateway_joiner);
    http::Response res(200);
    res.SetStaticHeader("Content-Type", kJsonContentType);
    res.SetStaticHeader("Cache-Control", "no-store");
    const char* coalesced = gateway_joiner     ? "gateway-joiner"
                            : read.node_joined ? "node-joiner"
                                               : "leader";
    res.SetStaticHeader(kCoalescedHeader, coalesced);
    res.SetSharedBody(read.body);
    http::AccessNotes& notes = ex.responder().notes();  // for the access log
    notes.upstream = read.node;
    notes.coalesced = coalesced;
    ex.Send(std::move(res));
  };
  absl::StatusOr<ReadFlights::Ticket> ticket;
  if (message_id != nullptr) {
    absl::StatusOr<uint64_t> id = api::ParseId("message_id", *message_id);
    if (!id.ok()) return ex.Send(ErrorResponse(id.status()));
    GetMessageRequest req;
    req.set_channel_id(channel_id);
    req.set_message_id(*id);
    ticket = reads_->GetMessage(req, deadline, *token, std::move(done));
  } else {
    const boost::urls::url_view url = *boost::urls::parse_origin_form(
        std::string_view(request.target().data(), request.target().size()));
    absl::StatusOr<GetMessagesRequest> req = ParseListQuery(channel_id, url);
    if (!req.ok()) return ex.Send(ErrorResponse(req.status()));
    ticket = reads_->GetMessages(*req, deadline, *token, std::move(done));
  }
  if (!ticket.ok()) return ex.Send(ErrorResponse(ticket.status()));  // a cap: 429
  probe->OnReadWaiting();
  // This caller's own deadline and disconnect leave the flight; the others
  // keep waiting for it.
  ReadFlights* reads = reads_.get();
  ex.responder().SetDeadline(deadline, [reads, probe, t = *ticket, ex] {
    if (!reads->Leave(t)) return;
    probe->OnReadDone();
    ex.Send(ErrorResponse(absl::StatusCode::kDeadlineExceeded,
                          "deadline exceeded before the node answered"));
  });
  ex.responder().OnCancel([reads, probe, t = *ticket, ex] {
    if (!reads->Leave(t)) return;
    probe->OnReadDone();
    ex.Send(ErrorResponse(absl::StatusCode::kCancelled, "client went away"));
  });
}

void ApiHandler::HandleSend(const http::Request& request, uint64_t channel_id, absl::Time deadline,
                            ApiExchange ex) {
  absl::StatusOr<SendMessageRequest> req = ParseSendMessageBody(channel_id, request.body());
  if (!req.ok()) return ex.Send(ErrorResponse(req.status()));
  BackendCall call;
  if (std::optional<std::string_view> id = HeaderValue(request, "x-request-id")) {
    call.request_id = std::string(id->substr(0, 128));
  }
  WriteStarted();
  probe_.OnUpstreamCall(GatewayRoute::kSendMessage);
  backend_->SendMessage(
      *req, deadline, call,
      [this, ex, channel_id, sent = absl::Now()](grpc::Status s, SendMessageResponse resp,
                                                 BackendInfo info) {
        probe_.OnUpstreamDone(GatewayRoute::kSendMessage, absl::Now() - sent);
        ex.responder().notes().upstream = std::move(info.node);  // for the access log
        if (!s.ok()) {
          ex.Send(ErrorResponse(static_cast<absl::StatusCode>(s.error_code()), s.error_message()));
        } else {
          // Read-your-writes: fence this gateway's flights for the channel
          // before the writer can read again.
          const uint64_t message_id = resp.message().message_id();
          reads_->OnWriteAcknowledged(channel_id, message_id);
          http::Response res = JsonResponse(200, EncodeSendMessageResponse(resp));
          res.AddHeader(kConsistencyTokenHeader, absl::StrCat(message_id));
          ex.Send(std::move(res));
        }
        WriteFinished();
      });
}

void ApiHandler::WriteStarted() {
  std::lock_guard<std::mutex> lock(writes_mu_);
  ++writes_in_flight_;
}

void ApiHandler::WriteFinished() {
  std::lock_guard<std::mutex> lock(writes_mu_);
  if (--writes_in_flight_ == 0) writes_done_.notify_all();
}

}  // namespace ds::gateway
