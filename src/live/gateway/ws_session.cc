#include "live/gateway/ws_session.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/api_rules.h"
#include "gateway/json_codec.h"
#include "live/gateway/frames.h"

namespace ds::live {

namespace websocket = boost::beast::websocket;
namespace json = boost::json;

// One channel of a session, as its feed sees it.
class WsSession::ChannelClient final : public FeedClient {
 public:
  ChannelClient(std::weak_ptr<WsSession> session, uint64_t channel)
      : session_(std::move(session)), channel_(channel) {}
  void OnJoined(uint64_t channel, uint64_t position) override {
    if (auto s = session_.lock()) {
      s->Enqueue(std::make_shared<const std::string>(WsSubscribedFrame(channel, position)));
    }
  }
  bool OnEntry(uint64_t channel, const FeedEntry& e, uint64_t position) override {
    auto s = session_.lock();
    if (s == nullptr) return true;  // going away; its Finish leaves the feed
    if (e.ws != nullptr && position == e.position) return s->Enqueue(e.ws);
    return s->Enqueue(
        std::make_shared<const std::string>(WsMessageFrame(channel, position, *e.json, e.late)));
  }
  void OnHeartbeat() override {}  // WebSocket pings keep the connection alive
  void OnDropped(uint64_t channel, const absl::Status& why) override {
    if (auto s = session_.lock()) s->OnChannelDropped(channel, why);
  }

 private:
  const std::weak_ptr<WsSession> session_;
  const uint64_t channel_;
};

namespace {

// An id given as a decimal string or a JSON integer.
std::string_view Text(const json::string& s) { return std::string_view(s.data(), s.size()); }

absl::StatusOr<uint64_t> IdField(const json::object& o, std::string_view name) {
  const absl::string_view field(name.data(), name.size());
  const json::value* v = o.if_contains(json::string_view(name.data(), name.size()));
  if (v == nullptr) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (v->is_string()) return api::ParseId(name, Text(v->get_string()));
  if (v->is_uint64() && v->get_uint64() > 0) return v->get_uint64();
  if (v->is_int64() && v->get_int64() > 0) return static_cast<uint64_t>(v->get_int64());
  return absl::InvalidArgumentError(absl::StrCat(field, ": must be a positive id"));
}

std::shared_ptr<const std::string> Frame(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

}  // namespace

WsSession::WsSession(http::TakenConnection taken, std::shared_ptr<LiveFanout> fanout,
                     WsOptions options, std::function<void()> on_end)
    : tls_context_(std::move(taken.tls_context)),
      ws_(MakeWebSocket(std::move(taken.stream))),
      lease_(std::move(taken.lease)),
      fanout_(std::move(fanout)),
      options_(options),
      on_end_(std::move(on_end)) {}

WsSession::~WsSession() {
  if (on_end_) on_end_();
}

WsSession::WebSocket WsSession::MakeWebSocket(http::UpgradedStream stream) {
  if (auto* tcp = std::get_if<boost::asio::ip::tcp::socket>(&stream)) {
    return WebSocket(std::in_place_index<0>, std::move(*tcp));
  }
  return WebSocket(std::in_place_index<1>, std::move(std::get<http::TlsStream>(stream)));
}

boost::asio::any_io_executor WsSession::executor() {
  return Ws([](auto& ws) -> boost::asio::any_io_executor { return ws.get_executor(); });
}

void WsSession::Start(const http::Request& request) {
  Ws([&](auto& ws) {
    ws.set_option(websocket::stream_base::timeout::suggested(boost::beast::role_type::server));
    ws.read_message_max(options_.max_frame_bytes);
  });
  std::weak_ptr<WsSession> weak = weak_from_this();
  lease_.OnShutdown([weak](bool force) {
    auto self = weak.lock();
    if (self == nullptr) return;
    if (force) {
      self->Ws([](auto& ws) {
        boost::system::error_code ignored;
        boost::beast::get_lowest_layer(ws).close(ignored);
      });
    } else {
      self->CloseWith(websocket::close_code::going_away, "gateway shutting down");
    }
  });
  Ws([&](auto& ws) {
    ws.async_accept(request, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->Finish();
      self->Read();
    });
  });
}

void WsSession::Read() {
  Ws([&](auto& ws) {
    ws.async_read(in_, [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (ec) {
        if (ec == websocket::error::message_too_big) {
          self->CloseWith(websocket::close_code::too_big, "frame too big");
        }
        return self->Finish();
      }
      if (!self->Ws([](auto& ws) { return ws.got_text(); })) {
        self->CloseWith(websocket::close_code::policy_error, "frames are JSON text");
      } else {
        const std::string text = boost::beast::buffers_to_string(self->in_.data());
        self->OnFrame(text);
      }
      self->in_.consume(self->in_.size());
      self->Read();
    });
  });
}

void WsSession::OnFrame(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    Enqueue(Frame(WsErrorFrame("", 0, absl::InvalidArgumentError("frame: not a JSON object"))));
    return;
  }
  const json::object& o = v.get_object();
  std::string request_id;
  if (const json::value* r = o.if_contains("request_id"); r != nullptr && r->is_string()) {
    request_id = std::string(Text(r->get_string()));
  }
  const json::value* type = o.if_contains("type");
  const std::string_view t =
      type != nullptr && type->is_string() ? Text(type->get_string()) : std::string_view();
  absl::StatusOr<uint64_t> channel = IdField(o, "channel_id");
  if (!channel.ok()) {
    Enqueue(Frame(WsErrorFrame(request_id, 0, channel.status())));
    return;
  }
  if (t == "subscribe") {
    std::optional<uint64_t> after;
    if (o.contains("after")) {
      absl::StatusOr<uint64_t> a = IdField(o, "after");
      if (!a.ok()) {
        Enqueue(Frame(WsErrorFrame(request_id, *channel, a.status())));
        return;
      }
      after = *a;
    }
    Subscribe(*channel, after);
  } else if (t == "unsubscribe") {
    Unsubscribe(*channel);
  } else if (t == "send") {
    Send(*channel, text, std::move(request_id));
  } else {
    Enqueue(Frame(
        WsErrorFrame(request_id, *channel,
                     absl::InvalidArgumentError("type: must be subscribe, unsubscribe or send"))));
  }
}

void WsSession::Subscribe(uint64_t channel, std::optional<uint64_t> after) {
  if (finished_) return;
  if (channels_.contains(channel)) {
    Enqueue(Frame(WsErrorFrame("", channel, absl::AlreadyExistsError("already subscribed"))));
    return;
  }
  if (channels_.size() >= options_.max_channels) {
    Enqueue(
        Frame(WsErrorFrame("", channel,
                           absl::ResourceExhaustedError(absl::StrCat(
                               "at most ", options_.max_channels, " channels per connection")))));
    return;
  }
  auto client = std::make_shared<ChannelClient>(weak_from_this(), channel);
  channels_.emplace(channel, client);
  fanout_->metrics().OnClients(true, 1);
  fanout_->Join(channel, std::move(client), after);
}

void WsSession::Unsubscribe(uint64_t channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) {
    Enqueue(Frame(WsErrorFrame("", channel, absl::NotFoundError("not subscribed"))));
    return;
  }
  fanout_->Leave(channel, it->second.get());
  channels_.erase(it);
  fanout_->metrics().OnClients(true, -1);
  Enqueue(Frame(WsUnsubscribedFrame(channel, absl::OkStatus())));
}

void WsSession::Send(uint64_t channel, std::string_view text, std::string request_id) {
  // Same validation as the REST POST (unknown fields such as "type" are ignored).
  absl::StatusOr<dataservice::v1::SendMessageRequest> req =
      gateway::ParseSendMessageBody(channel, text);
  if (!req.ok()) {
    Enqueue(Frame(WsErrorFrame(request_id, channel, req.status())));
    return;
  }
  std::weak_ptr<WsSession> weak = weak_from_this();
  fanout_->upstream().Send(
      *req, absl::Now() + options_.send_deadline,
      [weak, channel, request_id](absl::StatusOr<dataservice::v1::SendMessageResponse> resp) {
        auto self = weak.lock();
        if (self == nullptr) return;
        self->Enqueue(Frame(resp.ok()
                                ? WsSentFrame(request_id, gateway::EncodeSendMessageResponse(*resp))
                                : WsErrorFrame(request_id, channel, resp.status())));
      });
}

bool WsSession::Enqueue(std::shared_ptr<const std::string> frame) {
  bool post = false;
  {
    std::lock_guard lock(mu_);
    if (closing_) return false;
    if (!queue_.empty() && queued_bytes_ + frame->size() > options_.max_queued_bytes) {
      post = false;
    } else {
      queued_bytes_ += frame->size();
      queue_.push_back(std::move(frame));
      if (!write_posted_) write_posted_ = post = true;
      frame = nullptr;
    }
  }
  if (frame != nullptr) {  // not queued: too slow
    CloseWith(4001, "slow client: reconnect and resubscribe from your last positions");
    return false;
  }
  if (post) {
    boost::asio::post(executor(), [self = shared_from_this()] { self->WriteNext(); });
  }
  return true;
}

void WsSession::WriteNext() {
  if (writing_ || finished_) return;
  std::shared_ptr<const std::string> frame;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) {
      write_posted_ = false;
      return;
    }
    frame = queue_.front();
  }
  writing_ = true;
  Ws([&](auto& ws) {
    ws.text(true);
    ws.async_write(boost::asio::buffer(*frame),
                   [self = shared_from_this(), frame](boost::system::error_code ec, size_t) {
                     self->OnWritten(frame, ec);
                   });
  });
}

void WsSession::OnWritten(const std::shared_ptr<const std::string>& frame,
                          boost::system::error_code ec) {
  writing_ = false;
  {
    std::lock_guard lock(mu_);
    if (!queue_.empty() && queue_.front() == frame) {
      queued_bytes_ -= frame->size();
      queue_.pop_front();
    }
  }
  if (ec) return Finish();
  if (pending_close_.has_value()) return DoClose();
  WriteNext();
}

void WsSession::CloseWith(uint16_t code, std::string reason) {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    closing_ = true;
    queue_.clear();
    queued_bytes_ = 0;
  }
  boost::asio::post(executor(),
                    [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
                      if (self->finished_) return;
                      self->pending_close_ =
                          websocket::close_reason(static_cast<websocket::close_code>(code), reason);
                      if (!self->writing_) self->DoClose();
                    });
}

void WsSession::DoClose() {
  websocket::close_reason why = *pending_close_;
  pending_close_.reset();
  writing_ = true;  // no write may start now
  Ws([&](auto& ws) {
    ws.async_close(why, [self = shared_from_this()](boost::system::error_code) {
      self->writing_ = false;
      // The read loop ends with `closed` next and finishes the session.
    });
  });
}

void WsSession::OnChannelDropped(uint64_t channel, const absl::Status& why) {
  if (why.code() == absl::StatusCode::kResourceExhausted) {
    CloseWith(4001, "slow client: reconnect and resubscribe from your last positions");
  } else if (why.code() == absl::StatusCode::kUnavailable) {
    CloseWith(websocket::close_code::going_away, std::string(why.message()));
  } else {
    Enqueue(Frame(WsUnsubscribedFrame(channel, why)));
  }
  boost::asio::post(executor(), [self = shared_from_this(), channel] {
    if (self->channels_.erase(channel) > 0) self->fanout_->metrics().OnClients(true, -1);
  });
}

void WsSession::Finish() {
  if (finished_) return;
  finished_ = true;
  for (auto& [channel, client] : channels_) {
    fanout_->Leave(channel, client.get());
    fanout_->metrics().OnClients(true, -1);
  }
  channels_.clear();
  std::lock_guard lock(mu_);
  closing_ = true;
  queue_.clear();
  queued_bytes_ = 0;
}

}  // namespace ds::live
