#include "gateway/api_handler.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/api_rules.h"
#include "gateway/internal/logger.h"
#include "gateway/internal/strings.h"
#include "gateway/json_codec.h"
#include "prometheus/text_serializer.h"

namespace ds::gateway {

namespace http = boost::beast::http;

namespace {

constexpr char kJsonContentType[] = "application/json";

HttpResponse MakeResponse(int status, std::string_view content_type, std::string body) {
  HttpResponse res(static_cast<http::status>(status), 11);
  res.set(http::field::server, "ds-gateway");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

HttpResponse ErrorResponse(absl::StatusCode code, std::string_view message,
                           std::optional<int> http_status = std::nullopt) {
  const int status = http_status.value_or(HttpStatusForCode(code));
  HttpResponse res = MakeResponse(status, kJsonContentType, EncodeError(code, message));
  // Overload and unavailability are transient: tell clients when to retry.
  if (status == 429 || status == 503) res.set(http::field::retry_after, "1");
  return res;
}

HttpResponse ErrorResponse(const absl::Status& status) {
  return ErrorResponse(status.code(), ToStd(status.message()));
}

HttpResponse GrpcErrorResponse(const grpc::Status& status) {
  return ErrorResponse(static_cast<absl::StatusCode>(status.error_code()),
                       status.error_message());
}

HttpResponse MethodNotAllowed(std::string_view allow) {
  HttpResponse res = ErrorResponse(absl::StatusCode::kUnimplemented,
                                   absl::StrCat("method not allowed; use ", ToAbsl(allow)), 405);
  res.set(http::field::allow, allow);
  return res;
}

}  // namespace

// One request being handled: answers it exactly once, recording its metrics.
// Copied into backend callbacks; keeps the handler alive.
class ApiExchange {
 public:
  ApiExchange(std::shared_ptr<ApiHandler> handler, HttpReply reply, absl::Time start)
      : handler_(std::move(handler)), reply_(std::move(reply)), start_(start) {}

  void set_route(GatewayRoute route) { route_ = route; }

  void Send(HttpResponse res) const {
    handler_->probe_.OnRequestEnd(route_, res.result_int(), handler_->options_.now() - start_);
    reply_(std::move(res));
  }

 private:
  std::shared_ptr<ApiHandler> handler_;
  HttpReply reply_;
  absl::Time start_;
  GatewayRoute route_ = GatewayRoute::kUnmatched;
};

namespace {

// The query parameters the list route reads, validated.
absl::StatusOr<dataservice::v1::GetMessagesRequest> ParseListQuery(uint64_t channel_id,
                                                                   const boost::urls::url_view& url) {
  dataservice::v1::GetMessagesRequest req;
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
absl::StatusOr<absl::Time> RequestDeadline(const HttpRequest& req, absl::Time now,
                                           absl::Duration default_deadline) {
  auto it = req.find(boost::beast::string_view(kRequestTimeoutHeader.data(),
                                               kRequestTimeoutHeader.size()));
  if (it == req.end()) return now + default_deadline;
  absl::StatusOr<uint64_t> ms =
      api::ParseUintInRange(kRequestTimeoutHeader, std::string_view(it->value().data(), it->value().size()),
                       1, kMaxRequestTimeoutMs);
  if (!ms.ok()) return ms.status();
  return now + std::min(default_deadline, absl::Milliseconds(*ms));
}

}  // namespace

ApiHandler::ApiHandler(ApiHandlerOptions options, std::shared_ptr<MessageBackend> backend,
                       std::shared_ptr<prometheus::Registry> registry,
                       std::function<bool()> healthy)
    : options_(std::move(options)),
      backend_(std::move(backend)),
      registry_(std::move(registry)),
      healthy_(std::move(healthy)),
      probe_(*registry_) {}

HttpResponse ApiHandler::ProtocolError(http::status status, std::string_view detail) {
  const int code = static_cast<int>(status);
  probe_.OnProtocolError(code);
  return ErrorResponse(code >= 500 ? absl::StatusCode::kInternal
                                   : absl::StatusCode::kInvalidArgument,
                       detail, code);
}

void ApiHandler::Handle(HttpRequest request, HttpReply reply) {
  const absl::Time now = options_.now();
  probe_.OnRequestStart();
  ApiExchange ex(shared_from_this(), std::move(reply), now);

  const std::string_view target(request.target().data(), request.target().size());
  boost::system::result<boost::urls::url_view> url = boost::urls::parse_origin_form(target);
  if (!url.has_value()) {
    return ex.Send(ErrorResponse(absl::StatusCode::kInvalidArgument,
                                 "malformed request target (expected /path?query)"));
  }
  std::vector<std::string> path;
  for (std::string segment : url->segments()) {
    if (path.size() == 6) break;  // longer than any route: unmatched anyway
    path.push_back(std::move(segment));
  }
  const http::verb method = request.method();

  if (path.size() == 1 && (path[0] == "metrics" || path[0] == "healthz")) {
    const bool metrics = path[0] == "metrics";
    ex.set_route(metrics ? GatewayRoute::kMetrics : GatewayRoute::kHealthz);
    if (method != http::verb::get) return ex.Send(MethodNotAllowed("GET"));
    if (!metrics) {
      const bool healthy = healthy_ == nullptr || healthy_();
      return ex.Send(healthy ? MakeResponse(200, "text/plain", "ok\n")
                             : MakeResponse(503, "text/plain", "unhealthy\n"));
    }
    std::string text;
    try {
      text = prometheus::TextSerializer().Serialize(registry_->Collect());
    } catch (const std::exception& e) {
      GatewayLogger()->error("metrics collection failed: {}", e.what());
      return ex.Send(ErrorResponse(absl::StatusCode::kInternal, "metrics collection failed"));
    }
    return ex.Send(MakeResponse(200, "text/plain; version=0.0.4; charset=utf-8", std::move(text)));
  }

  const bool list_route = path.size() == 4 && path[0] == "v1" && path[1] == "channels" &&
                          path[3] == "messages";
  const bool item_route = path.size() == 5 && path[0] == "v1" && path[1] == "channels" &&
                          path[3] == "messages" && !path[4].empty();
  if (!list_route && !item_route) {
    const std::string_view encoded_path(url->encoded_path().data(),
                                        std::min<size_t>(url->encoded_path().size(), 128));
    return ex.Send(
        ErrorResponse(absl::StatusCode::kNotFound, absl::StrCat("no route for ", ToAbsl(encoded_path))));
  }
  if (list_route) {
    ex.set_route(method == http::verb::post ? GatewayRoute::kSendMessage
                                            : GatewayRoute::kGetMessages);
    if (method != http::verb::get && method != http::verb::post) {
      return ex.Send(MethodNotAllowed("GET, POST"));
    }
  } else {
    ex.set_route(GatewayRoute::kGetMessage);
    if (method != http::verb::get) return ex.Send(MethodNotAllowed("GET"));
  }

  absl::StatusOr<uint64_t> channel_id = api::ParseId("channel_id", path[2]);
  if (!channel_id.ok()) return ex.Send(ErrorResponse(channel_id.status()));
  absl::StatusOr<absl::Time> deadline =
      RequestDeadline(request, now, options_.default_deadline);
  if (!deadline.ok()) return ex.Send(ErrorResponse(deadline.status()));

  if (item_route) {
    absl::StatusOr<uint64_t> message_id = api::ParseId("message_id", path[4]);
    if (!message_id.ok()) return ex.Send(ErrorResponse(message_id.status()));
    dataservice::v1::GetMessageRequest req;
    req.set_channel_id(*channel_id);
    req.set_message_id(*message_id);
    return backend_->GetMessage(
        req, *deadline, [ex](grpc::Status s, dataservice::v1::GetMessageResponse resp) {
          ex.Send(s.ok() ? MakeResponse(200, kJsonContentType, EncodeGetMessageResponse(resp))
                         : GrpcErrorResponse(s));
        });
  }
  if (method == http::verb::get) {
    absl::StatusOr<dataservice::v1::GetMessagesRequest> req = ParseListQuery(*channel_id, *url);
    if (!req.ok()) return ex.Send(ErrorResponse(req.status()));
    return backend_->GetMessages(
        *req, *deadline, [ex](grpc::Status s, dataservice::v1::GetMessagesResponse resp) {
          ex.Send(s.ok() ? MakeResponse(200, kJsonContentType, EncodeGetMessagesResponse(resp))
                         : GrpcErrorResponse(s));
        });
  }
  absl::StatusOr<dataservice::v1::SendMessageRequest> req =
      ParseSendMessageBody(*channel_id, request.body());
  if (!req.ok()) return ex.Send(ErrorResponse(req.status()));
  backend_->SendMessage(
      *req, *deadline, [ex](grpc::Status s, dataservice::v1::SendMessageResponse resp) {
        ex.Send(s.ok() ? MakeResponse(200, kJsonContentType, EncodeSendMessageResponse(resp))
                       : GrpcErrorResponse(s));
      });
}

}  // namespace ds::gateway
