// Internal to ds_http: the state shared between a connection, the handler's
// Responder and the server — one request's answer slot (Exchange), a streaming
// body (StreamState), a taken-over connection's lease (LeaseState) and what
// every connection of one server shares (ServerState).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "http/response.h"
#include "http/server.h"

namespace ds::http::internal {

class Connection;
class Worker;

using Clock = std::chrono::steady_clock;

// What every connection of one server shares. Thread-safe.
struct ServerState {
  ServerState(ServerOptions o, std::shared_ptr<Handler> h)
      : options(std::move(o)), handler(std::move(h)) {}

  const ServerOptions options;
  const std::shared_ptr<Handler> handler;
  std::atomic<bool> draining{false};

  // Counts accepted connections and leases; the drain waits for zero.
  bool TryAddConnection();
  void RemoveConnection();
  int connections() const { return connections_.load(std::memory_order_relaxed); }
  // Waits until no connection is left or `timeout` passes.
  void WaitForNoConnections(absl::Duration timeout);

 private:
  std::atomic<int> connections_{0};
  // std::mutex rather than absl::Mutex: the apt Abseil is not built with
  // ThreadSanitizer, which would then report false races.
  std::mutex mu_;
  std::condition_variable none_left_;
};

// A streaming body. Write/Close come from any thread (under mu); everything
// else runs on the connection's I/O thread.
class StreamState : public std::enable_shared_from_this<StreamState> {
 public:
  StreamState(std::shared_ptr<Worker> worker, std::weak_ptr<Connection> connection,
              StreamCallbacks callbacks, size_t max_queued)
      : worker_(std::move(worker)),
        connection_(std::move(connection)),
        callbacks_(std::move(callbacks)),
        max_queued_(max_queued) {}

  bool Write(std::shared_ptr<const std::string> data);
  void Close();
  // Any thread: the stream will never be written (its request was answered
  // otherwise); writes fail from now on. No callback runs.
  void Reject();
  size_t queued_bytes() const { return queued_.load(std::memory_order_acquire); }

  // I/O thread: takes what was written so far; `*end` tells whether Close()
  // was called (and everything taken).
  std::vector<std::shared_ptr<const std::string>> Take(bool* end);
  // I/O thread: `bytes` of taken data reached the socket.
  void OnWritten(size_t bytes);
  // I/O thread: ends the stream (no more writes accepted) and reports `why`
  // once.
  void Finish(const absl::Status& why);
  // I/O thread: the server is draining.
  void OnDrain();

  bool head_written = false;   // I/O thread only
  bool chunked = true;         // I/O thread only
  uint64_t written_total = 0;  // I/O thread only: body bytes written so far
  // I/O thread only: runs once when the stream ends (the access log).
  std::function<void(uint64_t written_total)> on_end;

 private:
  void ScheduleFlush() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<Worker> worker_;
  const std::weak_ptr<Connection> connection_;
  StreamCallbacks callbacks_;  // I/O thread only
  const size_t max_queued_;
  std::atomic<size_t> queued_{0};
  bool finished_ = false;  // I/O thread only

  std::mutex mu_;
  std::vector<std::shared_ptr<const std::string>> pending_ ABSL_GUARDED_BY(mu_);
  bool close_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool flush_scheduled_ ABSL_GUARDED_BY(mu_) = false;
};

// A taken-over connection, counted by the server until its lease dies.
class LeaseState {
 public:
  explicit LeaseState(std::shared_ptr<ServerState> server) : server_(std::move(server)) {}
  ~LeaseState() { server_->RemoveConnection(); }
  // I/O thread only.
  std::function<void(bool force)> on_shutdown;

 private:
  const std::shared_ptr<ServerState> server_;
};

// One request's answer slot. `answered_` is claimed by the first answer from
// any thread; every other field is touched only on the connection's I/O thread.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  enum class Kind { kNone, kResponse, kStream, kTakeOver };

  Exchange(std::shared_ptr<Worker> worker, std::weak_ptr<Connection> connection)
      : worker(std::move(worker)), connection(std::move(connection)) {}

  // True for the first caller only.
  bool Claim() { return !answered_.exchange(true, std::memory_order_acq_rel); }
  bool answered() const { return answered_.load(std::memory_order_acquire); }

  static Responder MakeResponder(std::shared_ptr<Exchange> ex) { return Responder(std::move(ex)); }
  static ConnectionLease MakeLease(std::shared_ptr<LeaseState> s) {
    return ConnectionLease(std::move(s));
  }

  const std::shared_ptr<Worker> worker;
  const std::weak_ptr<Connection> connection;

  // I/O thread only.
  Kind kind = Kind::kNone;
  unsigned version = 11;
  bool keep_alive = true;
  bool head = false;       // HEAD request: no body is written
  bool upgrade = false;    // the request asked for a protocol upgrade
  bool cancelled = false;  // the connection gave up on this request
  // Set before the handler sees the request; constant after.
  boost::asio::ip::tcp::endpoint peer;
  bool secure = false;
  // The access log's view (kept only with an AccessObserver).
  AccessNotes notes;  // see AccessNotes for the threading rule
  absl::Time received;
  Clock::time_point received_at{};
  std::string method;
  std::string target;
  bool logged = false;
  Response response;
  std::shared_ptr<StreamState> stream;
  std::function<void(TakenConnection)> take_over;
  std::function<void()> on_cancel;
  std::function<void()> on_expired;
  Clock::time_point deadline = Clock::time_point::max();

 private:
  std::atomic<bool> answered_{false};
};

// Tells the server's AccessObserver (if any) that `ex` is over, once.
// `status` 0: never answered. I/O thread only.
void ReportExchange(const ServerState& server, Exchange& ex, int status, uint64_t body_bytes);

}  // namespace ds::http::internal
