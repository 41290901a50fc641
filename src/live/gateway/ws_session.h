// WsSession: one `GET /v1/ws` WebSocket (Boost.Beast on a socket taken over
// from the HTTP server). One connection subscribes to and unsubscribes from
// many channels, each with its own resume id, and may send messages with the
// REST POST's validation and idempotency. Frames are JSON text (docs/live.md):
//
//   client → server
//     {"type":"subscribe","channel_id":"42","after":"<id>"}      after optional
//     {"type":"unsubscribe","channel_id":"42"}
//     {"type":"send","channel_id":"42","author_id":"7","content":"hi","nonce":"9",
//      "request_id":"r1"}                                        request_id optional
//   server → client
//     {"type":"subscribed","channel_id":"42","position":"<id>"}  now live
//     {"type":"message","channel_id":"42","position":"<id>","late":false,"message":{...}}
//     {"type":"unsubscribed","channel_id":"42","code":"OK|OUT_OF_RANGE|...","reason":"..."}
//     {"type":"sent","request_id":"r1","message":{...},"duplicate":false}
//     {"type":"error","request_id":"r1","channel_id":"42","code":"INVALID_ARGUMENT","message":"..."}
//
// Close codes: 1001 gateway shutting down; 4001 slow client (its queue of
// unwritten frames passed `max_queued_bytes`: reconnect and resubscribe from
// each channel's last position); 1009 frame too big; 1008 not JSON text.
//
// Transport: plain TCP (ws://) or, on an HTTPS server, the TLS stream the
// server hands over after its handshake (wss://); the session keeps the TLS
// context the stream refers to.
//
// Threads: the session lives on its connection's I/O thread (every Beast
// operation runs there); Enqueue is thread-safe (feeds call it from gRPC
// threads) and posts the write.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "http/server.h"
#include "live/gateway/fanout.h"

namespace ds::live {

struct WsOptions {
  size_t max_queued_bytes = 256 * 1024;
  size_t max_channels = 100;
  size_t max_frame_bytes = 16 * 1024;
  absl::Duration send_deadline = absl::Seconds(2);
};

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  // `on_end` runs once when the session is over (the stream count).
  WsSession(http::TakenConnection taken, std::shared_ptr<LiveFanout> fanout, WsOptions options,
            std::function<void()> on_end);
  ~WsSession();

  // Completes the upgrade for `request` and starts reading. I/O thread.
  void Start(const http::Request& request);

  // Queues a text frame. False when the session is closed or the frame would
  // pass max_queued_bytes (the session then closes with 4001). Any thread.
  bool Enqueue(std::shared_ptr<const std::string> frame);
  // A feed dropped the channel's subscription. Any thread.
  void OnChannelDropped(uint64_t channel, const absl::Status& why);

 private:
  class ChannelClient;
  using PlainWebSocket = boost::beast::websocket::stream<boost::asio::ip::tcp::socket>;
  using TlsWebSocket = boost::beast::websocket::stream<http::TlsStream>;
  using WebSocket = std::variant<PlainWebSocket, TlsWebSocket>;

  static WebSocket MakeWebSocket(http::UpgradedStream stream);
  // Runs `fn(stream)` on whichever WebSocket this session has.
  template <typename Fn>
  decltype(auto) Ws(Fn&& fn) {
    return std::visit(std::forward<Fn>(fn), ws_);
  }
  boost::asio::any_io_executor executor();

  void Read();
  void OnFrame(std::string_view text);
  void Subscribe(uint64_t channel, std::optional<uint64_t> after);
  void Unsubscribe(uint64_t channel);
  void Send(uint64_t channel, std::string_view text, std::string request_id);
  void WriteNext();
  void OnWritten(const std::shared_ptr<const std::string>& frame, boost::system::error_code ec);
  void CloseWith(uint16_t code, std::string reason);  // any thread
  void DoClose();                                     // I/O thread, no write in progress
  void Finish();                                      // I/O thread: leave every channel, end

  // Before ws_: a TLS stream refers to its context (null for plain TCP).
  const std::shared_ptr<boost::asio::ssl::context> tls_context_;
  WebSocket ws_;
  boost::beast::flat_buffer in_;
  http::ConnectionLease lease_;
  const std::shared_ptr<LiveFanout> fanout_;
  const WsOptions options_;
  std::function<void()> on_end_;
  // I/O thread only.
  absl::flat_hash_map<uint64_t, std::shared_ptr<ChannelClient>> channels_;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<boost::beast::websocket::close_reason> pending_close_;

  std::mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool write_posted_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ds::live
