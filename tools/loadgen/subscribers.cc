#include "tools/loadgen/subscribers.h"

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <functional>
#include <future>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tools/loadgen/sse_parser.h"

namespace ds::loadgen {

namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

namespace {
int64_t NowUnixMicros() { return absl::ToUnixMicros(absl::Now()); }
}  // namespace

// One I/O thread and the subscribers on it. Everything below runs on that
// thread, so a subscriber's state needs no lock.
class SubscriberPool::Shard {
 public:
  Shard(SubscriberPool* pool, std::vector<size_t> indexes)
      : pool_(pool), indexes_(std::move(indexes)), pacer_(ioc_) {}

  void Start() {
    thread_ = std::thread([this] {
      net::post(ioc_, [this] { Pace(); });
      auto guard = net::make_work_guard(ioc_);
      ioc_.run();
    });
  }
  void Stop() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::vector<int64_t>& latencies() { return latencies_; }

  // Copies this shard's records into `out` on its I/O thread; waits for it.
  void CopyRecords(std::vector<SubscriberRecord>& out) {
    std::promise<void> done;
    net::post(ioc_, [&] {
      for (size_t i : indexes_) out[i] = pool_->records_[i];
      done.set_value();
    });
    done.get_future().wait();
  }

  // Per subscriber.
  struct Sub {
    size_t index = 0;
    std::unique_ptr<tcp::socket> socket;
    std::unique_ptr<websocket::stream<tcp::socket>> ws;
    std::array<char, 8192> buf;
    boost::beast::flat_buffer ws_buf;
    std::string head;
    bool in_body = false;
    std::unique_ptr<SseParser> parser;
    std::string last_event_id;  // SSE; WebSocket: the last position
    bool live = false;
    uint64_t generation = 0;  // of the current connection
    std::unique_ptr<net::steady_timer> timer;
  };

 private:
  const SubscriberOptions& o() const { return pool_->options_; }
  SubscriberRecord& Rec(const Sub& s) { return pool_->records_[s.index]; }

  // Opens connections at this shard's share of connect_rate.
  void Pace() {
    const double per_shard = std::max(1.0, o().connect_rate / pool_->shards_.size());
    const int batch = std::max(1, static_cast<int>(per_shard / 100));  // every 10 ms
    for (int i = 0; i < batch && next_ < indexes_.size(); ++i, ++next_) {
      auto sub = std::make_unique<Sub>();
      sub->index = indexes_[next_];
      sub->timer = std::make_unique<net::steady_timer>(ioc_);
      if (o().after.has_value()) sub->last_event_id = absl::StrCat(*o().after);
      subs_.push_back(std::move(sub));
      Connect(*subs_.back());
    }
    if (next_ < indexes_.size()) {
      pacer_.expires_after(std::chrono::milliseconds(10));
      pacer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) Pace();
      });
    }
  }

  void Connect(Sub& s) {
    ++s.generation;
    s.head.clear();
    s.in_body = false;
    s.parser.reset();
    s.ws.reset();
    s.socket = std::make_unique<tcp::socket>(ioc_);
    boost::system::error_code ec;
    s.socket->open(tcp::v4(), ec);
    if (!o().source_addresses.empty()) {
      const std::string& src = o().source_addresses[s.index % o().source_addresses.size()];
      s.socket->bind(tcp::endpoint(net::ip::make_address(src), 0), ec);
    }
    if (ec) return Retry(s);
    const tcp::endpoint to(net::ip::make_address(o().host), o().port);
    const uint64_t gen = s.generation;
    s.socket->async_connect(to, [this, &s, gen](boost::system::error_code ec) {
      if (gen != s.generation) return;
      if (ec) return Retry(s);
      o().websocket ? StartWebSocket(s) : StartSse(s);
    });
  }

  void Retry(Sub& s) {
    ++Rec(s).refused;
    Reconnect(s);
  }

  void Reconnect(Sub& s) {
    if (s.live) {
      s.live = false;
      pool_->connected_.fetch_sub(1);
    }
    ++s.generation;
    boost::system::error_code ignored;
    if (s.socket) s.socket->close(ignored);
    const uint64_t gen = s.generation;
    s.timer->expires_after(absl::ToChronoMilliseconds(o().reconnect_delay));
    s.timer->async_wait([this, &s, gen](boost::system::error_code ec) {
      if (ec || gen != s.generation) return;
      ++Rec(s).reconnects;
      pool_->reconnects_.fetch_add(1);
      Connect(s);
    });
  }

  void Joined(Sub& s, uint64_t position) {
    SubscriberRecord& r = Rec(s);
    if (!r.joined) {
      r.joined = true;
      if (!o().after.has_value()) r.start = position;
    }
    if (!s.live) {
      s.live = true;
      pool_->connected_.fetch_add(1);
    }
  }

  void Received(Sub& s, const LiveMessageFields& f) {
    if (f.message_id == 0) return;
    SubscriberRecord& r = Rec(s);
    (f.late ? r.late : r.in_order).push_back(f.message_id);
    pool_->delivered_.fetch_add(1, std::memory_order_relaxed);
    if (s.live && f.created_at_ms > 0) {
      latencies_.push_back((NowUnixMicros() - f.created_at_ms * 1000) * 1000);
    }
  }

  // ---- Server-Sent Events ----
  void StartSse(Sub& s) {
    const uint64_t channel = Rec(s).channel;
    auto request = std::make_shared<std::string>(
        absl::StrCat("GET /v1/channels/", channel, "/events HTTP/1.1\r\nHost: ", o().host,
                     "\r\nAccept: text/event-stream\r\n"));
    if (!s.last_event_id.empty())
      absl::StrAppend(request.get(), "Last-Event-ID: ", s.last_event_id, "\r\n");
    request->append("\r\n");
    const uint64_t gen = s.generation;
    net::async_write(*s.socket, net::buffer(*request),
                     [this, &s, gen, request](boost::system::error_code ec, size_t) {
                       if (gen != s.generation) return;
                       if (ec) return Reconnect(s);
                       ReadSse(s);
                     });
  }

  void ReadSse(Sub& s) {
    const uint64_t gen = s.generation;
    s.socket->async_read_some(
        net::buffer(s.buf), [this, &s, gen](boost::system::error_code ec, size_t n) {
          if (gen != s.generation) return;
          if (ec) return Reconnect(s);
          std::string_view bytes(s.buf.data(), n);
          if (!s.in_body) {
            s.head.append(bytes);
            const size_t end = s.head.find("\r\n\r\n");
            if (end == std::string::npos) {
              if (s.head.size() > 16384) return Retry(s);
              return ReadSse(s);
            }
            if (s.head.compare(0, 12, "HTTP/1.1 200") != 0) return Retry(s);
            s.in_body = true;
            s.parser = std::make_unique<SseParser>(s.head.find("chunked") != std::string::npos);
            std::string rest = s.head.substr(end + 4);
            s.head.clear();
            if (!FeedSse(s, rest)) return Reconnect(s);
            return ReadSse(s);
          }
          if (!FeedSse(s, bytes)) return Reconnect(s);
          ReadSse(s);
        });
  }

  bool FeedSse(Sub& s, std::string_view bytes) {
    bool reload = false;
    const bool ok = s.parser->Feed(
        bytes,
        [&](const SseEvent& e) {
          if (e.event == "reload") {
            reload = true;
            return;
          }
          if (!e.id.empty()) s.last_event_id = e.id;
          Received(s, ScanMessageJson(e.data));
        },
        [&](std::string_view comment) {
          uint64_t position = 0;
          if (comment.substr(0, 5) == "live " &&
              absl::SimpleAtoi(absl::string_view(comment.data() + 5, comment.size() - 5),
                               &position)) {
            Joined(s, position);
          }
        });
    if (reload) {
      ++Rec(s).reloads;
      s.last_event_id.clear();  // start again from the newest message
    }
    return ok && !s.parser->ended();
  }

  // ---- WebSocket ----
  void StartWebSocket(Sub& s) {
    s.ws = std::make_unique<websocket::stream<tcp::socket>>(std::move(*s.socket));
    s.socket.reset();
    const uint64_t gen = s.generation;
    s.ws->async_handshake(o().host, "/v1/ws", [this, &s, gen](boost::system::error_code ec) {
      if (gen != s.generation) return;
      if (ec) return Retry(s);
      auto frame = std::make_shared<std::string>(
          absl::StrCat(R"({"type":"subscribe","channel_id":")", Rec(s).channel, "\""));
      if (!s.last_event_id.empty())
        absl::StrAppend(frame.get(), R"(,"after":")", s.last_event_id, "\"");
      frame->append("}");
      s.ws->text(true);
      s.ws->async_write(net::buffer(*frame),
                        [this, &s, gen, frame](boost::system::error_code ec, size_t) {
                          if (gen != s.generation) return;
                          if (ec) return Reconnect(s);
                          ReadWs(s);
                        });
    });
  }

  void ReadWs(Sub& s) {
    const uint64_t gen = s.generation;
    s.ws->async_read(s.ws_buf, [this, &s, gen](boost::system::error_code ec, size_t) {
      if (gen != s.generation) return;
      if (ec) {
        s.socket = std::make_unique<tcp::socket>(std::move(s.ws->next_layer()));
        return Reconnect(s);
      }
      const std::string frame = boost::beast::buffers_to_string(s.ws_buf.data());
      s.ws_buf.consume(s.ws_buf.size());
      std::string_view f(frame);
      const size_t pos = f.find("\"position\":\"");
      uint64_t position = 0;
      if (pos != std::string_view::npos) {
        std::string_view digits = f.substr(pos + 12);
        digits = digits.substr(0, digits.find('"'));
        if (absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()), &position)) {
          s.last_event_id = std::string(digits);
        }
      }
      if (f.find(R"("type":"message")") != std::string_view::npos) {
        Received(s, ScanMessageJson(f));
      } else if (f.find(R"("type":"subscribed")") != std::string_view::npos) {
        Joined(s, position);
      } else if (f.find(R"("code":"OUT_OF_RANGE")") != std::string_view::npos) {
        ++Rec(s).reloads;
      }
      ReadWs(s);
    });
  }

  SubscriberPool* const pool_;
  const std::vector<size_t> indexes_;
  net::io_context ioc_;
  net::steady_timer pacer_;
  size_t next_ = 0;
  std::vector<std::unique_ptr<Sub>> subs_;
  std::vector<int64_t> latencies_;
  std::thread thread_;
};

SubscriberPool::SubscriberPool(SubscriberOptions options) : options_(std::move(options)) {
  records_.resize(static_cast<size_t>(options_.subscribers));
  for (size_t i = 0; i < records_.size(); ++i) {
    records_[i].channel =
        static_cast<uint64_t>(options_.first_channel + static_cast<int64_t>(i) % options_.channels);
    if (options_.after.has_value()) records_[i].start = *options_.after;
  }
  const int threads = std::max(1, options_.threads);
  std::vector<std::vector<size_t>> split(threads);
  for (size_t i = 0; i < records_.size(); ++i) split[i % threads].push_back(i);
  for (auto& indexes : split) shards_.push_back(std::make_unique<Shard>(this, std::move(indexes)));
}

SubscriberPool::~SubscriberPool() { Stop(); }

std::vector<SubscriberRecord> SubscriberPool::Snapshot() {
  std::vector<SubscriberRecord> out(records_.size());
  for (auto& shard : shards_) shard->CopyRecords(out);
  return out;
}

void SubscriberPool::Start() {
  for (auto& shard : shards_) shard->Start();
}

void SubscriberPool::Stop() {
  for (auto& shard : shards_) shard->Stop();
}

std::vector<int64_t> SubscriberPool::latencies() const {
  std::vector<int64_t> all;
  for (const auto& shard : shards_) {
    all.insert(all.end(), shard->latencies().begin(), shard->latencies().end());
  }
  return all;
}

}  // namespace ds::loadgen
