// The gateway target: HTTP/1.1 JSON over a pool of keep-alive connections,
// spread over several I/O threads, optionally pipelined.
//
// Rationale: the client must not be the bottleneck of a gateway benchmark.
// Each I/O thread runs its own event loop with its share of the connections;
// requests are handed to the threads round-robin through a batched inbox (one
// wake-up per burst). A connection carries up to `pipeline` requests at once
// (1 = classic keep-alive); requests wait in the thread's queue for a free
// slot, so a request's latency includes that wait, as a real client's would.
// Requests are serialised once into bytes and responses parsed in place (no
// header maps, no body copy, no JSON DOM).
//
// A connection the server ends (it closes, answers "Connection: close", or
// sends what cannot be parsed) fails the requests it had been sent at once,
// with the reason and how many were outstanding: they may have reached the
// server, and a benchmark must not hide a server that drops requests by
// quietly re-sending them. Requests not yet handed to the socket are queued
// again (once), as are the others when this client drops a connection after
// a deadline. Each connection attempt has its own socket object, so that a
// write or read of an earlier attempt can never touch a later one.
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/api_rules.h"
#include "tools/loadgen/http_response_parser.h"
#include "tools/loadgen/targets.h"

namespace ds::loadgen {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Pending {
  std::string bytes;       // the serialised request
  bool list_read = false;  // a GetMessages: report the newest message id
  bool retried = false;    // already re-sent once after a connection was lost
  absl::Time deadline;
  std::function<void(Outcome)> done;
};

Outcome Failure(std::string code, std::string message) {
  Outcome o;
  o.code = std::move(code);
  o.message = std::move(message);
  return o;
}

class IoThread;

// One keep-alive connection; lives on its I/O thread only.
class Connection {
 public:
  Connection(IoThread* owner, asio::io_context& ioc)
      : owner_(owner), ioc_(ioc), socket_(std::make_shared<tcp::socket>(ioc)) {}

  // Requests it can take now.
  size_t free_slots(size_t pipeline) const {
    return outstanding_.size() >= pipeline ? 0 : pipeline - outstanding_.size();
  }
  void Add(Pending p);
  // Fails (or re-queues) everything when a request's deadline passed.
  void CheckDeadline(absl::Time now);

 private:
  void Connect();
  void Flush();
  void Read();
  void OnData();
  // Completion handlers of an earlier socket (before a Reset) are ignored.
  bool Stale(uint64_t generation) const { return generation != generation_; }
  // Drops the connection. Requests not yet handed to the socket are queued
  // again (once: reads, or writes idempotent by nonce); the ones sent fail
  // with `code` (when the server ended the connection) or, when `resend_sent`
  // (this client dropped it), are queued again once too.
  void Reset(const std::string& code, const std::string& message, bool resend_sent = false);

  IoThread* const owner_;
  asio::io_context& ioc_;
  // Replaced on every Reset; handlers hold the one they were started on.
  std::shared_ptr<tcp::socket> socket_;
  bool connected_ = false;
  bool connecting_ = false;
  bool writing_ = false;
  bool reading_ = false;
  uint64_t generation_ = 0;
  std::deque<Pending> outstanding_;  // sent or about to be, in order
  std::string out_;                  // requests not yet handed to the socket
  size_t unsent_ = 0;                // the last unsent_ of outstanding_ are in out_
  std::string sending_;              // the bytes of the write in progress
  std::string in_;
  size_t in_used_ = 0;  // bytes of in_ holding received data
};

// One I/O thread with its connections and its queue of waiting requests.
class IoThread {
 public:
  IoThread(const tcp::resolver::results_type& endpoints, int connections, size_t pipeline)
      : endpoints_(endpoints),
        pipeline_(pipeline),
        work_(asio::make_work_guard(ioc_)),
        sweep_(ioc_) {
    for (int i = 0; i < connections; ++i)
      conns_.push_back(std::make_unique<Connection>(this, ioc_));
    thread_ = std::thread([this] {
      ArmSweep();
      ioc_.run();
    });
  }
  ~IoThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  // Any thread.
  void Submit(Pending p) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    inbox_.push_back(std::move(p));
    if (scheduled_) return;
    scheduled_ = true;
    asio::post(ioc_, [this] { TakeInbox(); });
  }

  // I/O thread.
  const tcp::resolver::results_type& endpoints() const { return endpoints_; }
  void Requeue(Pending p) {
    queue_.push_front(std::move(p));
    asio::post(ioc_, [this] { Dispatch(); });
  }
  void Dispatch();

 private:
  void TakeInbox() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      taking_.swap(inbox_);
      scheduled_ = false;
    }
    for (Pending& p : taking_) queue_.push_back(std::move(p));
    taking_.clear();
    Dispatch();
  }
  void ArmSweep() {
    sweep_.expires_after(std::chrono::milliseconds(5));
    sweep_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const absl::Time now = absl::Now();
      // Requests that waited too long for a free connection.
      while (!queue_.empty() && queue_.front().deadline <= now) {
        Pending p = std::move(queue_.front());
        queue_.pop_front();
        p.done(Failure("DEADLINE_EXCEEDED", "deadline passed while waiting for a free connection"));
      }
      for (auto& c : conns_) c->CheckDeadline(now);
      ArmSweep();
    });
  }

  const tcp::resolver::results_type endpoints_;
  const size_t pipeline_;
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer sweep_;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::deque<Pending> queue_;  // I/O thread only
  std::vector<Pending> taking_;
  size_t next_conn_ = 0;

  std::mutex mu_;
  std::vector<Pending> inbox_;  // guarded by mu_
  bool scheduled_ = false;      // guarded by mu_
  bool stopped_ = false;        // guarded by mu_
  std::thread thread_;
};

void IoThread::Dispatch() {
  // Fill connections round-robin so that pipelined requests spread out.
  size_t full_in_a_row = 0;
  while (!queue_.empty() && full_in_a_row < conns_.size()) {
    Connection& c = *conns_[next_conn_];
    next_conn_ = (next_conn_ + 1) % conns_.size();
    if (c.free_slots(pipeline_) == 0) {
      ++full_in_a_row;
      continue;
    }
    full_in_a_row = 0;
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    c.Add(std::move(p));
  }
}

void Connection::Add(Pending p) {
  out_.append(p.bytes);
  outstanding_.push_back(std::move(p));
  ++unsent_;
  if (!connected_) return Connect();
  Flush();
}

void Connection::Connect() {
  if (connecting_) return;
  connecting_ = true;
  asio::async_connect(*socket_, owner_->endpoints(),
                      [this, gen = generation_, s = socket_](const boost::system::error_code& ec,
                                                             const tcp::endpoint&) {
                        if (Stale(gen)) return;
                        connecting_ = false;
                        if (ec) return Reset("UNAVAILABLE", ec.message());
                        connected_ = true;
                        boost::system::error_code ignored;
                        s->set_option(tcp::no_delay(true), ignored);
                        Flush();
                        Read();
                      });
}

void Connection::Flush() {
  if (writing_ || !connected_ || out_.empty()) return;
  writing_ = true;
  sending_.swap(out_);
  out_.clear();
  unsent_ = 0;
  asio::async_write(
      *socket_, asio::buffer(sending_),
      [this, gen = generation_, s = socket_](const boost::system::error_code& ec, size_t) {
        if (Stale(gen)) return;
        writing_ = false;
        if (ec) return Reset("UNAVAILABLE", "writing failed: " + ec.message());
        Flush();  // what was added meanwhile
      });
}

void Connection::Read() {
  if (reading_ || !connected_) return;
  reading_ = true;
  if (in_.size() - in_used_ < 16 * 1024)
    in_.resize(std::max<size_t>(in_used_ + 64 * 1024, in_.size()));
  socket_->async_read_some(
      asio::buffer(in_.data() + in_used_, in_.size() - in_used_),
      [this, gen = generation_, s = socket_](const boost::system::error_code& ec, size_t n) {
        if (Stale(gen)) return;
        reading_ = false;
        if (ec) {
          return Reset("UNAVAILABLE", ec == asio::error::eof
                                          ? std::string("the server closed the connection")
                                          : "reading failed: " + ec.message());
        }
        in_used_ += n;
        OnData();
        if (connected_) Read();
      });
}

void Connection::OnData() {
  size_t offset = 0;
  while (!outstanding_.empty() && offset < in_used_) {
    HttpResponseView res;
    const std::string_view data(in_.data() + offset, in_used_ - offset);
    const ParseResult r = ParseHttpResponse(data, &res);
    if (r.status == ParseResult::kNeedMore) break;
    if (r.status == ParseResult::kError) {
      return Reset("UNAVAILABLE", "unreadable response: " + r.error);
    }
    offset += r.consumed;
    Pending p = std::move(outstanding_.front());
    outstanding_.pop_front();
    Outcome o;
    o.ok = res.status >= 200 && res.status < 300;
    o.node_arrived_us = res.arrived_us;
    if (o.ok) {
      if (p.list_read) o.newest_message_id = NewestMessageId(res.body);
    } else {
      o.code = absl::StrCat("HTTP_", res.status);
      o.message = std::string(res.body.substr(0, 200));
    }
    p.done(std::move(o));
    if (!res.keep_alive) {
      in_used_ = 0;
      return Reset("UNAVAILABLE", "the server closed the connection (Connection: close)");
    }
  }
  if (offset > 0) {
    std::memmove(in_.data(), in_.data() + offset, in_used_ - offset);
    in_used_ -= offset;
  }
  owner_->Dispatch();
}

void Connection::CheckDeadline(absl::Time now) {
  if (outstanding_.empty() || outstanding_.front().deadline > now) return;
  // HTTP/1.1 cannot skip an answer: the connection goes, the expired request
  // fails, the others are re-sent.
  Pending expired = std::move(outstanding_.front());
  outstanding_.pop_front();
  expired.done(Failure("DEADLINE_EXCEEDED", "no answer before the deadline"));
  Reset("UNAVAILABLE", "connection dropped after a deadline", /*resend_sent=*/true);
}

void Connection::Reset(const std::string& code, const std::string& message, bool resend_sent) {
  boost::system::error_code ignored;
  socket_->close(ignored);
  socket_ = std::make_shared<tcp::socket>(ioc_);
  ++generation_;
  connected_ = false;
  connecting_ = false;
  writing_ = false;
  reading_ = false;
  out_.clear();
  in_used_ = 0;
  std::deque<Pending> lost;
  lost.swap(outstanding_);
  const size_t sent = lost.size() - unsent_;
  unsent_ = 0;
  const std::string why =
      sent == 0 ? message : absl::StrCat(message, " (", sent, " requests outstanding)");
  const absl::Time now = absl::Now();
  std::vector<Pending> again;
  for (size_t i = 0; i < lost.size(); ++i) {
    Pending& p = lost[i];
    if ((i >= sent || resend_sent) && !p.retried && p.deadline > now) {
      p.retried = true;
      again.push_back(std::move(p));
    } else {
      p.done(Failure(code, why));
    }
  }
  // Oldest first at the front of the queue again.
  for (auto it = again.rbegin(); it != again.rend(); ++it) owner_->Requeue(std::move(*it));
}

class GatewayTarget : public Target {
 public:
  GatewayTarget(std::string host, const tcp::resolver::results_type& endpoints,
                const GatewayTargetOptions& options)
      : host_(std::move(host)), timing_(options.timing ? "x-ds-timing: 1\r\n" : "") {
    const int threads = std::max(1, std::min(options.threads, options.connections));
    for (int i = 0; i < threads; ++i) {
      const int share = options.connections / threads + (i < options.connections % threads ? 1 : 0);
      threads_.push_back(std::make_unique<IoThread>(
          endpoints, share, static_cast<size_t>(std::max(1, options.pipeline))));
    }
  }

  void Issue(const RequestSpec& r, absl::Time deadline,
             std::function<void(Outcome)> done) override {
    Pending p;
    p.deadline = deadline;
    p.done = std::move(done);
    switch (r.kind) {
      case RequestKind::kGetMessages:
        p.list_read = true;
        p.bytes = absl::StrCat("GET /v1/channels/", r.channel_id, "/messages?limit=", r.limit,
                               " HTTP/1.1\r\nHost: ", host_, "\r\n", timing_, "\r\n");
        break;
      case RequestKind::kGetMessage:
        p.bytes = absl::StrCat("GET /v1/channels/", r.channel_id, "/messages/", r.message_id,
                               " HTTP/1.1\r\nHost: ", host_, "\r\n", timing_, "\r\n");
        break;
      case RequestKind::kSendMessage: {
        const std::string body = SendMessageBody(r.author_id, r.content, r.nonce);
        p.bytes =
            absl::StrCat("POST /v1/channels/", r.channel_id, "/messages HTTP/1.1\r\nHost: ", host_,
                         "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                         "\r\n\r\n", body);
        break;
      }
    }
    threads_[next_++ % threads_.size()]->Submit(std::move(p));
  }

  std::string Name() const override { return "gateway"; }

 private:
  const std::string host_;
  const std::string timing_;  // the x-ds-timing header line, or ""
  std::vector<std::unique_ptr<IoThread>> threads_;
  size_t next_ = 0;  // Issue() is called from one thread at a time
};

}  // namespace

absl::StatusOr<std::unique_ptr<Target>> MakeGatewayTarget(const GatewayTargetOptions& options) {
  absl::StatusOr<api::HostPort> address =
      api::ParseHostPort("--gateway", options.address, api::PortZero::kRejected);
  if (!address.ok()) return address.status();
  const std::string& host = address->host;
  const std::string port = std::to_string(address->port);
  if (options.connections < 1) return absl::InvalidArgumentError("--connections must be >= 1");
  if (options.threads < 1) return absl::InvalidArgumentError("--http-threads must be >= 1");
  if (options.pipeline < 1) return absl::InvalidArgumentError("--pipeline must be >= 1");
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  tcp::resolver::results_type endpoints = resolver.resolve(host, port, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("--gateway: cannot resolve '", options.address, "': ", ec.message()));
  }
  return std::make_unique<GatewayTarget>(options.address, endpoints, options);
}

}  // namespace ds::loadgen
