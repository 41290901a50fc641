// Test-only: a scripted ds::http::Handler for the server's tests.
//   /echo            answers at once: "<METHOD> <body>"
//   /later           parks the responder until the test releases it
//   /deadline?ms=N   answers 504 from its SetDeadline callback after N ms
//   /stream          starts a stream the test drives (streams())
//   /ws              takes the connection over: a WebSocket echo (Beast)
//   /throw           the handler throws
// Every request's cancellation (OnCancel) is counted.
//
// Thread-safe: the server calls it on I/O threads, the test on its own.
#pragma once

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "http/server.h"

namespace ds::http::testing {

class TestHandler : public Handler {
 public:
  struct StreamRecord {
    std::shared_ptr<ResponseStream> stream;
    std::vector<size_t> written;  // on_written reports
    bool drained = false;
    std::optional<absl::Status> closed;
  };

  void Handle(Request req, Responder res) override {
    const std::string target(req.target());
    Note([this] { ++requests_; });
    res.OnCancel([this] { Note([this] { ++cancelled_; }); });
    if (target == "/later") {
      Note([&] { parked_.push_back(res); });
      return;
    }
    if (target.rfind("/deadline?ms=", 0) == 0) {
      const int ms = std::stoi(target.substr(13));
      res.SetDeadline(absl::Now() + absl::Milliseconds(ms), [res] {
        Response r(504);
        r.SetBody("deadline");
        res.Send(std::move(r));
      });
      return;
    }
    if (target == "/stream") return StartStream(res);
    if (target == "/ws") return TakeOverWebSocket(std::move(req), res);
    if (target == "/throw") throw std::runtime_error("scripted failure");
    Response r(200);
    r.SetStaticHeader("Content-Type", "text/plain");
    r.SetBody(std::string(req.method_string()) + " " + req.body());
    res.Send(std::move(r));
    res.Send(Response(500));  // ignored: a second answer
  }

  // Blocks until `pred()` (evaluated under the lock) holds; false after 10 s.
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), pred);
  }
  bool WaitForParked(size_t n) {
    return WaitFor([&] { return parked_.size() >= n; });
  }
  bool WaitForRequests(int n) {
    return WaitFor([&] { return requests_ >= n; });
  }
  bool WaitForCancelled(int n) {
    return WaitFor([&] { return cancelled_ >= n; });
  }

  // Answers the parked request number `i` (0 = oldest still parked... by
  // arrival order) with `body`.
  void Release(size_t i, std::string body) {
    Responder res = TakeParked(i);
    Response r(200);
    r.SetBody(std::move(body));
    res.Send(std::move(r));
  }
  Responder TakeParked(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    Responder res = parked_.at(i);
    parked_.erase(parked_.begin() + static_cast<long>(i));
    return res;
  }

  int cancelled() {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }
  int requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::shared_ptr<StreamRecord> stream(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return streams_.at(i);
  }
  bool WaitForStreams(size_t n) {
    return WaitFor([&] { return streams_.size() >= n; });
  }

 private:
  template <typename Fn>
  void Note(Fn fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn();
    }
    changed_.notify_all();
  }

  void StartStream(const Responder& res) {
    auto record = std::make_shared<StreamRecord>();
    Response head(200);
    head.SetStaticHeader("Content-Type", "text/event-stream");
    StreamCallbacks callbacks;
    callbacks.on_written = [this, record](size_t q) {
      Note([&] { record->written.push_back(q); });
    };
    callbacks.on_drain = [this, record] {
      Note([&] { record->drained = true; });
      record->stream->Write("event: bye\n\n");
      record->stream->Close();
    };
    callbacks.on_closed = [this, record](absl::Status s) { Note([&] { record->closed = s; }); };
    record->stream = res.StartStream(std::move(head), std::move(callbacks), 64 * 1024);
    Note([&] { streams_.push_back(record); });
  }

  using WebSocket = boost::beast::websocket::stream<boost::asio::ip::tcp::socket>;

  static void TakeOverWebSocket(Request req, const Responder& res) {
    res.TakeOver([req = std::move(req)](TakenConnection c) mutable {
      auto ws = std::make_shared<WebSocket>(std::move(std::get<0>(c.stream)));
      auto lease = std::make_shared<ConnectionLease>(std::move(c.lease));
      lease->OnShutdown([ws](bool force) {
        if (force) return ws->next_layer().close();
        ws->async_close(boost::beast::websocket::close_code::going_away,
                        [ws](boost::beast::error_code) {});
      });
      ws->async_accept(req, [ws, lease](boost::beast::error_code ec) {
        if (!ec) EchoLoop(ws, lease);
      });
    });
  }

  // Echoes every message until the peer closes; the lease lives as long.
  static void EchoLoop(std::shared_ptr<WebSocket> ws, std::shared_ptr<ConnectionLease> lease) {
    auto buffer = std::make_shared<boost::beast::flat_buffer>();
    ws->async_read(*buffer, [ws, lease, buffer](boost::beast::error_code ec, size_t) {
      if (ec) return;
      ws->text(true);
      auto echo = std::make_shared<std::string>(boost::beast::buffers_to_string(buffer->data()));
      ws->async_write(boost::asio::buffer(*echo),
                      [ws, lease, echo](boost::beast::error_code ec, size_t) {
                        if (!ec) EchoLoop(ws, lease);
                      });
    });
  }

  std::mutex mu_;  // std::mutex: visible to ThreadSanitizer
  std::condition_variable changed_;
  std::deque<Responder> parked_;
  std::vector<std::shared_ptr<StreamRecord>> streams_;
  int cancelled_ = 0;
  int requests_ = 0;
};

}  // namespace ds::http::testing
