#include "gateway/secure_handler.h"

#include <boost/json.hpp>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "auth/access_log.h"
#include "gateway/json_codec.h"

namespace ds::gateway {
namespace {

namespace json = boost::json;
namespace beast_http = boost::beast::http;

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

http::Response Error(int status, absl::StatusCode code, std::string_view message) {
  http::Response r(status);
  r.SetStaticHeader("Content-Type", "application/json");
  r.SetBody(EncodeError(code, message));
  return r;
}

// The value of query parameter `name` (not percent-decoded: tokens are
// base64url and dots).
std::optional<std::string_view> QueryParam(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return pair.substr(name.size() + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// What the security layer needs to know about a request's path.
struct RouteInfo {
  std::string_view name;        // the route template, for logs and metrics
  bool api = false;             // under /v1/: authenticated when auth is on
  bool browser_stream = false;  // SSE or WebSocket: ?access_token= accepted
  bool websocket = false;
  bool send = false;  // POST of a message: the author rule applies
  std::optional<uint64_t> channel;
  std::string_view channel_text;
};

RouteInfo Classify(const http::Request& request) {
  RouteInfo r;
  const std::string_view target(request.target().data(), request.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  r.api = path.substr(0, 4) == "/v1/";
  if (path == "/v1/ws") {
    r.name = "/v1/ws";
    r.browser_stream = r.websocket = true;
    return r;
  }
  constexpr std::string_view kChannels = "/v1/channels/";
  if (path.substr(0, kChannels.size()) != kChannels) {
    r.name = r.api ? "/v1/other" : path;
    return r;
  }
  const std::string_view rest = path.substr(kChannels.size());
  const size_t slash = rest.find('/');
  r.channel_text = rest.substr(0, slash);
  uint64_t id = 0;
  if (absl::SimpleAtoi(Av(r.channel_text), &id)) r.channel = id;
  const std::string_view tail = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (tail == "/messages") {
    r.name = "/v1/channels/{id}/messages";
    r.send = request.method() == beast_http::verb::post;
  } else if (tail == "/events") {
    r.name = "/v1/channels/{id}/events";
    r.browser_stream = true;
  } else if (tail.substr(0, 10) == "/messages/") {
    r.name = "/v1/channels/{id}/messages/{message_id}";
  } else {
    r.name = "/v1/other";
  }
  return r;
}

}  // namespace

SecureHandler::SecureHandler(SecurityOptions options, std::shared_ptr<http::Handler> next,
                             std::shared_ptr<prometheus::Registry> registry)
    : options_(std::move(options)),
      next_(std::move(next)),
      limiter_(options_.rate_limits),
      limits_on_(!options_.rate_limits.reads.unlimited() ||
                 !options_.rate_limits.writes.unlimited()) {
  if (registry != nullptr) {
    limited_ = &prometheus::BuildCounter()
                    .Name("ds_gateway_rate_limited_total")
                    .Help("Requests refused with 429 by the per-principal rate limits, by route")
                    .Register(*registry);
  }
}

void SecureHandler::Handle(http::Request request, http::Responder responder) {
  http::AccessNotes& notes = responder.notes();
  auto client_id = request.find("X-Request-Id");
  notes.request_id = auth::AcceptOrNewRequestId(
      client_id == request.end()
          ? std::string_view()
          : std::string_view(client_id->value().data(), client_id->value().size()));
  request.set("X-Request-Id", notes.request_id);
  const RouteInfo route = Classify(request);
  notes.route = std::string(route.name);
  if (route.channel) notes.channel = std::string(route.channel_text);

  auth::Principal principal;
  if (options_.verifier != nullptr && route.api) {
    auto header = request.find(beast_http::field::authorization);
    absl::StatusOr<std::string_view> token = auth::BearerToken(
        header == request.end() ? std::string_view()
                                : std::string_view(header->value().data(), header->value().size()));
    if (!token.ok() && header == request.end() && route.browser_stream) {
      const std::string_view target(request.target().data(), request.target().size());
      if (std::optional<std::string_view> q = QueryParam(target, "access_token")) token = *q;
    }
    absl::StatusOr<auth::Principal> verified =
        token.ok() ? options_.verifier->Verify(*token, absl::Now()) : token.status();
    if (!verified.ok()) return Unauthorized(responder, verified.status());
    principal = *std::move(verified);
  }
  const std::string key = principal.authenticated()
                              ? absl::StrCat("sub:", principal.subject)
                              : absl::StrCat("ip:", responder.peer().address().to_string());
  notes.principal = key;
  const bool read =
      request.method() == beast_http::verb::get || request.method() == beast_http::verb::head;
  if (limits_on_ && route.api && !Limit(route.name, read, responder, key)) return;

  if (principal.authenticated()) {
    if (route.channel && !principal.channels.Allows(*route.channel)) {
      return responder.Send(
          Error(403, absl::StatusCode::kPermissionDenied,
                absl::StrCat("this token does not allow channel ", *route.channel)));
    }
    uint64_t author_id = 0;
    if (route.websocket &&
        (!principal.channels.all() || !absl::SimpleAtoi(principal.subject, &author_id))) {
      return responder.Send(Error(403, absl::StatusCode::kPermissionDenied,
                                  "the WebSocket route needs a token for all channels whose "
                                  "subject is an author id"));
    }
    if (route.send && !CheckAuthor(request, responder, principal)) return;
  }
  next_->Handle(std::move(request), std::move(responder));
}

void SecureHandler::Unauthorized(const http::Responder& responder, const absl::Status& why) const {
  http::Response r = Error(401, absl::StatusCode::kUnauthenticated, std::string(why.message()));
  const std::string_view message(why.message().data(), why.message().size());
  const bool missing = message == "missing bearer token";
  // RFC 6750 §3: no error code when the request carried no credentials.
  r.AddHeader("WWW-Authenticate",
              missing ? absl::StrCat("Bearer realm=\"", options_.realm, "\"")
                      : absl::StrCat("Bearer realm=\"", options_.realm,
                                     "\", error=\"invalid_token\", error_description=\"",
                                     why.message(), "\""));
  r.SetStaticHeader("Cache-Control", "no-store");
  responder.Send(std::move(r));
}

bool SecureHandler::Limit(std::string_view route, bool read, const http::Responder& responder,
                          const std::string& principal) {
  const auth::RateDecision d =
      limiter_.Admit(principal, read ? auth::RequestKind::kRead : auth::RequestKind::kWrite);
  if (d.allowed) return true;
  if (limited_ != nullptr) limited_->Add({{"route", std::string(route)}}).Increment();
  http::Response r =
      Error(429, absl::StatusCode::kResourceExhausted,
            absl::StrCat(read ? "read" : "write", " rate limit exceeded for ", principal));
  r.AddHeader("Retry-After", absl::StrCat(d.RetryAfterSeconds()));
  r.AddHeader("RateLimit-Limit", absl::StrCat(d.limit));
  r.AddHeader("RateLimit-Remaining", absl::StrCat(d.remaining));
  r.AddHeader("RateLimit-Reset", absl::StrCat(d.ResetSeconds()));
  responder.Send(std::move(r));
  return false;
}

bool SecureHandler::CheckAuthor(http::Request& request, const http::Responder& responder,
                                const auth::Principal& principal) const {
  boost::system::error_code ec;
  json::value body = json::parse(request.body(), ec);
  if (ec || !body.is_object()) return true;  // the API answers 400 with the details
  json::object& object = body.as_object();
  std::optional<uint64_t> author;
  if (const json::value* v = object.if_contains("author_id")) {
    uint64_t id = 0;
    if (v->is_uint64()) {
      author = v->as_uint64();
    } else if (v->is_int64() && v->as_int64() > 0) {
      author = static_cast<uint64_t>(v->as_int64());
    } else if (v->is_string() &&
               absl::SimpleAtoi(absl::string_view(v->as_string().data(), v->as_string().size()),
                                &id)) {
      author = id;
    } else {
      return true;  // malformed: the API answers 400 naming the field
    }
  }
  absl::StatusOr<std::optional<uint64_t>> allowed = auth::AuthorFor(principal, author);
  if (!allowed.ok()) {
    responder.Send(
        Error(403, absl::StatusCode::kPermissionDenied, std::string(allowed.status().message())));
    return false;
  }
  if (!author.has_value()) {
    object["author_id"] = std::to_string(**allowed);
    request.body() = json::serialize(body);
    request.prepare_payload();
  }
  return true;
}

}  // namespace ds::gateway
