// The gateway target: HTTP/1.1 JSON over a pool of keep-alive connections.
//
// Rationale: one I/O thread runs every connection (Beast async operations), so
// a 10,000-request burst costs a queue, not 10,000 threads or sockets. Each
// connection takes the next queued request when it finishes one; a request's
// latency therefore includes its wait for a free connection, as a real
// client's would. Without pipelining, --connections bounds what is in flight.
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/api_rules.h"
#include "tools/loadgen/targets.h"

namespace ds::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct Pending {
  http::request<http::string_body> request;
  absl::Time deadline;
  std::function<void(Outcome)> done;
};

// Newest message id in a GetMessages answer {"messages":[{"message_id":"..."}]}.
uint64_t NewestMessageId(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return 0;
  auto it = j.find("messages");
  if (it == j.end() || !it->is_array() || it->empty()) return 0;
  const nlohmann::json& first = (*it)[0];
  if (!first.is_object()) return 0;
  auto id = first.find("message_id");
  if (id == first.end()) return 0;
  if (id->is_number_unsigned()) return id->get<uint64_t>();
  uint64_t v = 0;
  if (id->is_string() && absl::SimpleAtoi(id->get<std::string>(), &v)) return v;
  return 0;
}

class GatewayTarget;

// One keep-alive connection. Lives on the I/O thread only.
class Connection {
 public:
  Connection(GatewayTarget* owner, asio::io_context& ioc) : owner_(owner), stream_(ioc) {}
  void Start(Pending p);

 private:
  void Connect();
  void Send();
  void Finish(Outcome o, bool keep_open);
  void Fail(beast::error_code ec, bool may_retry);

  GatewayTarget* owner_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::optional<Pending> current_;
  bool connected_ = false;
  bool reused_ = false;   // current_ was sent on a connection that served before
  bool retried_ = false;  // current_ was already retried once on a fresh connection
};

class GatewayTarget : public Target {
 public:
  GatewayTarget(std::string host, tcp::resolver::results_type endpoints, int connections)
      : host_(std::move(host)),
        endpoints_(std::move(endpoints)),
        work_(asio::make_work_guard(ioc_)) {
    for (int i = 0; i < connections; ++i) {
      conns_.push_back(std::make_unique<Connection>(this, ioc_));
      idle_.push_back(conns_.back().get());
    }
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~GatewayTarget() override {
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  void Issue(const RequestSpec& r, absl::Time deadline,
             std::function<void(Outcome)> done) override {
    Pending p;
    p.deadline = deadline;
    p.done = std::move(done);
    auto& req = p.request;
    req.version(11);
    req.set(http::field::host, host_);
    req.set(http::field::user_agent, "ds-loadgen");
    req.keep_alive(true);
    switch (r.kind) {
      case RequestKind::kGetMessages:
        req.method(http::verb::get);
        req.target(absl::StrCat("/v1/channels/", r.channel_id, "/messages?limit=", r.limit));
        break;
      case RequestKind::kGetMessage:
        req.method(http::verb::get);
        req.target(absl::StrCat("/v1/channels/", r.channel_id, "/messages/", r.message_id));
        break;
      case RequestKind::kSendMessage: {
        req.method(http::verb::post);
        req.target(absl::StrCat("/v1/channels/", r.channel_id, "/messages"));
        nlohmann::json body = {{"author_id", absl::StrCat(r.author_id)},
                               {"content", r.content},
                               {"nonce", absl::StrCat(r.nonce)}};
        req.set(http::field::content_type, "application/json");
        req.body() = body.dump();
        break;
      }
    }
    req.prepare_payload();
    asio::post(ioc_, [this, p = std::move(p)]() mutable {
      queue_.push_back(std::move(p));
      Dispatch();
    });
  }

  std::string Name() const override { return "gateway"; }

  // I/O thread: hands queued requests to idle connections.
  void Dispatch() {
    while (!idle_.empty() && !queue_.empty()) {
      Connection* c = idle_.back();
      idle_.pop_back();
      Pending p = std::move(queue_.front());
      queue_.pop_front();
      if (p.deadline <= absl::Now()) {
        // Answered here rather than by a connection, so a long queue of expired
        // requests drains in this loop instead of recursing through Finish().
        idle_.push_back(c);
        Outcome o;
        o.code = "DEADLINE_EXCEEDED";
        o.message = "deadline passed while waiting for a free connection";
        p.done(std::move(o));
        continue;
      }
      c->Start(std::move(p));
    }
  }

  // I/O thread: `c` finished its request.
  void Idle(Connection* c) {
    idle_.push_back(c);
    Dispatch();
  }

  const tcp::resolver::results_type& endpoints() const { return endpoints_; }

 private:
  const std::string host_;
  const tcp::resolver::results_type endpoints_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<Connection*> idle_;  // I/O thread only
  std::deque<Pending> queue_;      // I/O thread only
  std::thread thread_;
};

std::chrono::steady_clock::duration Until(absl::Time deadline) {
  return std::chrono::nanoseconds(absl::ToInt64Nanoseconds(deadline - absl::Now()));
}

void Connection::Start(Pending p) {
  current_ = std::move(p);
  retried_ = false;
  stream_.expires_after(Until(current_->deadline));
  if (connected_) {
    reused_ = true;
    Send();
  } else {
    Connect();
  }
}

void Connection::Connect() {
  reused_ = false;
  stream_.async_connect(owner_->endpoints(),
                        [this](beast::error_code ec, const tcp::endpoint&) {
                          if (ec) return Fail(ec, false);
                          connected_ = true;
                          stream_.socket().set_option(tcp::no_delay(true));
                          Send();
                        });
}

void Connection::Send() {
  http::async_write(stream_, current_->request, [this](beast::error_code ec, size_t) {
    if (ec) return Fail(ec, true);
    parser_.emplace();
    parser_->body_limit(16 * 1024 * 1024);
    http::async_read(stream_, buffer_, *parser_, [this](beast::error_code ec, size_t) {
      if (ec) return Fail(ec, true);
      const auto& res = parser_->get();
      Outcome o;
      const unsigned status = res.result_int();
      o.ok = status >= 200 && status < 300;
      if (o.ok) {
        if (current_->request.method() == http::verb::get &&
            current_->request.target().find('?') != beast::string_view::npos) {
          o.newest_message_id = NewestMessageId(res.body());
        }
      } else {
        o.code = absl::StrCat("HTTP_", status);
        o.message = res.body().substr(0, 200);
      }
      Finish(std::move(o), res.keep_alive());
    });
  });
}

void Connection::Fail(beast::error_code ec, bool may_retry) {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  connected_ = false;
  buffer_.clear();
  // A keep-alive connection the server closed while idle fails on first use;
  // that request never reached the server, so one retry on a new connection
  // is safe (and writes are idempotent by nonce anyway).
  const bool stale = ec == http::error::end_of_stream || ec == asio::error::eof ||
                     ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
  if (may_retry && reused_ && stale && !retried_ && current_->deadline > absl::Now()) {
    retried_ = true;
    stream_.expires_after(Until(current_->deadline));
    return Connect();
  }
  Outcome o;
  o.code = ec == beast::error::timeout ? "DEADLINE_EXCEEDED" : "UNAVAILABLE";
  o.message = ec.message();
  Finish(std::move(o), false);
}

void Connection::Finish(Outcome o, bool keep_open) {
  if (!keep_open && connected_) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    connected_ = false;
    buffer_.clear();
  }
  std::function<void(Outcome)> done = std::move(current_->done);
  current_.reset();
  done(std::move(o));
  owner_->Idle(this);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Target>> MakeGatewayTarget(const GatewayTargetOptions& options) {
  absl::StatusOr<api::HostPort> address =
      api::ParseHostPort("--gateway", options.address, api::PortZero::kRejected);
  if (!address.ok()) return address.status();
  const std::string& host = address->host;
  const std::string port = std::to_string(address->port);
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  tcp::resolver::results_type endpoints = resolver.resolve(host, port, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("--gateway: cannot resolve '", options.address, "': ", ec.message()));
  }
  if (options.connections < 1) return absl::InvalidArgumentError("--connections must be >= 1");
  return std::make_unique<GatewayTarget>(options.address, std::move(endpoints),
                                         options.connections);
}

}  // namespace ds::loadgen
