#include "live/gateway/live_handler.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/api_rules.h"
#include "gateway/json_codec.h"
#include "live/gateway/frames.h"
#include "live/gateway/page.h"
#include "live/gateway/sse_client.h"

namespace ds::live {

namespace http_field = boost::beast::http;

namespace {

http::Response JsonError(int status, absl::StatusCode code, std::string_view message) {
  http::Response r(status);
  r.SetStaticHeader("Content-Type", "application/json");
  r.SetBody(gateway::EncodeError(code, message));
  return r;
}

// "/v1/channels/{id}/events" → the {id} text; empty otherwise.
absl::string_view EventsChannel(absl::string_view path) {
  constexpr absl::string_view kPrefix = "/v1/channels/", kSuffix = "/events";
  if (!absl::StartsWith(path, kPrefix) || !absl::EndsWith(path, kSuffix)) return {};
  path.remove_prefix(kPrefix.size());
  path.remove_suffix(kSuffix.size());
  return path.find('/') == absl::string_view::npos ? path : absl::string_view();
}

// The value of `name` in a query string ("a=1&after=5"), if present.
std::optional<absl::string_view> QueryParam(absl::string_view query, absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(query, '&')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (kv.first == name) return kv.second;
  }
  return std::nullopt;
}

// The answer when the gateway serves --live-max-streams streams already.
http::Response TooManyStreams(int retry_after_seconds) {
  http::Response busy = JsonError(503, absl::StatusCode::kUnavailable,
                                  "too many live streams on this gateway: retry later");
  busy.AddHeader("Retry-After", absl::StrCat(retry_after_seconds));
  return busy;
}

}  // namespace

LiveHandler::LiveHandler(LiveHandlerOptions options, std::shared_ptr<LiveFanout> fanout,
                         std::shared_ptr<http::Handler> next)
    : options_(std::move(options)), fanout_(std::move(fanout)), next_(std::move(next)) {}

bool LiveHandler::AcquireStream() {
  size_t now = streams_->load();
  do {
    if (now >= options_.max_streams) return false;
  } while (!streams_->compare_exchange_weak(now, now + 1));
  return true;
}

void LiveHandler::Handle(http::Request request, http::Responder responder) {
  const absl::string_view target(request.target().data(), request.target().size());
  const size_t q = target.find('?');
  const absl::string_view path = target.substr(0, q);
  const bool get = request.method() == http_field::verb::get;
  if (path == "/" || path == "/index.html") {
    if (!get && request.method() != http_field::verb::head) {
      return responder.Send(JsonError(405, absl::StatusCode::kInvalidArgument, "use GET"));
    }
    http::Response page(200);
    page.SetStaticHeader("Content-Type", "text/html; charset=utf-8");
    page.SetStaticHeader("Cache-Control", "no-cache");
    page.SetSharedBody(ChatPage());
    return responder.Send(std::move(page));
  }
  if (path == "/v1/ws") {
    if (!get) return responder.Send(JsonError(405, absl::StatusCode::kInvalidArgument, "use GET"));
    return ServeWebSocket(std::move(request), std::move(responder));
  }
  if (absl::string_view id = EventsChannel(path); !id.empty()) {
    if (!get) return responder.Send(JsonError(405, absl::StatusCode::kInvalidArgument, "use GET"));
    absl::StatusOr<uint64_t> channel =
        api::ParseId("channel_id", std::string_view(id.data(), id.size()));
    if (!channel.ok()) {
      return responder.Send(
          JsonError(400, channel.status().code(), std::string(channel.status().message())));
    }
    return ServeEvents(*channel, request, std::move(responder));
  }
  next_->Handle(std::move(request), std::move(responder));
}

void LiveHandler::ServeEvents(uint64_t channel, const http::Request& request,
                              http::Responder responder) {
  // Where to resume: Last-Event-ID (an EventSource reconnecting) wins over
  // ?after= (the URL it was first opened with).
  std::optional<uint64_t> after;
  auto last_event_id = request.find("Last-Event-ID");
  std::optional<absl::string_view> after_text;
  if (last_event_id != request.end() && !last_event_id->value().empty()) {
    after_text = absl::string_view(last_event_id->value().data(), last_event_id->value().size());
  } else {
    const absl::string_view target(request.target().data(), request.target().size());
    if (size_t q = target.find('?'); q != absl::string_view::npos) {
      after_text = QueryParam(target.substr(q + 1), "after");
    }
  }
  if (after_text.has_value()) {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(*after_text, &value)) {
      return responder.Send(JsonError(400, absl::StatusCode::kInvalidArgument,
                                      "after / Last-Event-ID: must be a message id"));
    }
    after = value;
  }
  if (!AcquireStream()) {
    fanout_->metrics().OnRefused();
    return responder.Send(TooManyStreams(options_.retry_after_seconds));
  }
  http::Response head(200);
  head.SetStaticHeader("Content-Type", "text/event-stream");
  head.SetStaticHeader("Cache-Control", "no-cache");
  head.SetStaticHeader("X-Accel-Buffering", "no");
  // The client exists before the stream (the callbacks need it); the stream
  // is handed to it right after.
  auto client_slot = std::make_shared<std::shared_ptr<SseClient>>();
  std::shared_ptr<LiveFanout> fanout = fanout_;
  std::shared_ptr<std::atomic<size_t>> streams = streams_;
  auto stream = responder.StartStream(
      std::move(head),
      {.on_drain = nullptr,  // the fan-out's Close drops every client on shutdown
       .on_closed =
           [fanout, streams, client_slot, channel](absl::Status) {
             if (*client_slot != nullptr) {
               fanout->Leave(channel, client_slot->get());
               fanout->metrics().OnClients(false, -1);
             }
             streams->fetch_sub(1);
           }},
      2 * options_.sse_max_queued_bytes);
  stream->Write("retry: 2000\n\n");
  auto client = std::make_shared<SseClient>(stream, options_.sse_max_queued_bytes);
  *client_slot = client;
  fanout_->metrics().OnClients(false, 1);
  fanout_->Join(channel, std::move(client), after);
}

void LiveHandler::ServeWebSocket(http::Request request, http::Responder responder) {
  if (!boost::beast::websocket::is_upgrade(request)) {
    return responder.Send(
        JsonError(426, absl::StatusCode::kInvalidArgument, "a WebSocket upgrade is required"));
  }
  if (!AcquireStream()) {
    fanout_->metrics().OnRefused();
    return responder.Send(TooManyStreams(options_.retry_after_seconds));
  }
  // Gives the stream back when the last of its holders is gone: the take-over
  // callback (which the server may drop unrun) and the session.
  struct StreamSlot {
    std::shared_ptr<std::atomic<size_t>> streams;
    ~StreamSlot() {
      if (streams) streams->fetch_sub(1);
    }
  };
  auto slot = std::make_shared<StreamSlot>();
  slot->streams = streams_;
  std::shared_ptr<LiveFanout> fanout = fanout_;
  WsOptions ws = options_.ws;
  auto req = std::make_shared<http::Request>(std::move(request));
  responder.TakeOver([fanout, slot, ws, req](http::TakenConnection taken) {
    auto session =
        std::make_shared<WsSession>(std::move(taken), fanout, ws, [slot] { (void)slot; });
    session->Start(*req);
  });
}

}  // namespace ds::live
