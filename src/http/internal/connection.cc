#include "http/internal/connection.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "http/internal/logger.h"
#include "http/internal/worker.h"

namespace ds::http::internal {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;

constexpr size_t kReadChunk = 16 * 1024;
// Request bytes read and dropped after the server stopped reading requests
// (and while lingering, see connection_write.cc).
constexpr size_t kDiscardMax = 256 * 1024;

Clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

// Runs handler code on the I/O thread; nothing it throws may end the loop.
template <typename Fn>
void SafeCall(const char* what, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    HttpLogger()->error("{} threw: {}", what, e.what());
  } catch (...) {
    HttpLogger()->error("{} threw a non-exception", what);
  }
}

}  // namespace

Connection::Connection(net::ip::tcp::socket socket, std::shared_ptr<Worker> worker,
                       std::shared_ptr<ServerState> server)
    : transport_(std::move(socket),
                 server->options.tls != nullptr ? server->options.tls->context() : nullptr),
      worker_(std::move(worker)),
      server_(std::move(server)),
      options_(server_->options),
      deadline_timer_(worker_->ioc()) {}

Connection::~Connection() {
  // Callbacks may hold Responders of their own exchange (a cycle); a
  // connection that dies without closing (server teardown) breaks them.
  for (const auto& ex : pipeline_) {
    ex->on_cancel = nullptr;
    ex->on_expired = nullptr;
    ex->take_over = nullptr;
  }
}

void Connection::Start() {
  worker_->Add(shared_from_this());
  boost::system::error_code ignored;
  transport_.socket().set_option(net::ip::tcp::no_delay(true), ignored);
  peer_ = transport_.socket().remote_endpoint(ignored);
  if (server_->draining.load(std::memory_order_acquire)) {
    Close(absl::UnavailableError("server draining"));
    return;
  }
  if (transport_.tls()) {
    handshaking_ = true;
    phase_started_ = Clock::now();
    UpdateReadDeadline(phase_started_);
    transport_.AsyncHandshake([self = shared_from_this()](const boost::system::error_code& ec) {
      self->OnHandshake(ec);
    });
    return;
  }
  UpdateReadDeadline(Clock::now());
  Read();
}

void Connection::OnHandshake(const boost::system::error_code& ec) {
  handshaking_ = false;
  if (closed_) return;
  if (ec) {
    HttpLogger()->debug("TLS handshake with {} failed: {}", peer_.address().to_string(),
                        ec.message());
    return Close(absl::UnauthenticatedError("TLS handshake failed"));
  }
  UpdateReadDeadline(Clock::now());
  Read();
}

// ---------------------------------------------------------------- reading

void Connection::Read() {
  if (reading_ || closed_) return;
  const bool discarding = read_closed_ || lingering_;
  if (discarding && discard_left_ == 0) return;
  if (!discarding && !handing_off_ &&
      (upgrade_pause_ ||
       pipeline_.size() >= static_cast<size_t>(options_.max_pipelined_requests))) {
    return;
  }
  if (handing_off_) return;
  reading_ = true;
  transport_.AsyncReadSome(in_.prepare(kReadChunk),
                           [self = shared_from_this()](const boost::system::error_code& ec,
                                                       size_t n) { self->OnRead(ec, n); });
}

void Connection::OnRead(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (!ec) in_.commit(n);
  DropParsedInput();
  if (handing_off_ && !closed_) {
    HandOff();
    return;
  }
  if (closed_) return;
  if (ec) {
    if (lingering_) return Close(absl::OkStatus());
    return OnPeerGone(ec);
  }
  if (lingering_ || read_closed_) {
    DiscardInput();
    if (n >= discard_left_) {
      discard_left_ = 0;
      if (lingering_) return Close(absl::OkStatus());
      return;  // stop reading; the answers still go out
    }
    discard_left_ -= n;
    return Read();
  }
  ParseInput();
  Read();
  UpdateReadDeadline(Clock::now());
}

net::const_buffer Connection::UnparsedInput() const {
  const net::const_buffer all = in_.data();
  return {static_cast<const char*>(all.data()) + parsed_, all.size() - parsed_};
}

void Connection::ConsumeInput(size_t n) {
  parsed_ += n;
  if (!reading_) DropParsedInput();
}

void Connection::DiscardInput() { ConsumeInput(in_.size() - parsed_); }

void Connection::DropParsedInput() {
  in_.consume(parsed_);
  parsed_ = 0;
}

void Connection::ParseInput() {
  const Clock::time_point now = Clock::now();
  in_parse_ = true;
  while (!read_closed_ && !upgrade_pause_ && !closed_ && in_.size() > parsed_ &&
         pipeline_.size() < static_cast<size_t>(options_.max_pipelined_requests)) {
    if (!parser_) {
      parser_.emplace();
      parser_->header_limit(options_.max_header_bytes);
      parser_->body_limit(options_.max_body_bytes);
      parser_->eager(true);
      header_done_ = false;
      phase_started_ = now;
    }
    beast::error_code ec;
    const size_t used = parser_->put(UnparsedInput(), ec);
    ConsumeInput(used);
    if (ec == http::error::need_more) break;
    if (ec) {
      OnBadRequest(ec);
      break;
    }
    if (!header_done_ && parser_->is_header_done()) {
      header_done_ = true;
      phase_started_ = now;
      const Request& req = parser_->get();
      if (!parser_->is_done() && req.version() >= 11 &&
          beast::iequals(req[http::field::expect], "100-continue")) {
        continue_pending_ = true;
      }
    }
    if (parser_->is_done()) {
      Dispatch();
      continue;
    }
    if (used == 0) break;
  }
  in_parse_ = false;
  MaybeWrite();
}

void Connection::Dispatch() {
  const bool upgrade = parser_->upgrade();
  Request req = parser_->release();
  parser_.reset();
  header_done_ = false;
  continue_pending_ = false;
  auto ex = std::make_shared<Exchange>(worker_, weak_from_this());
  ex->peer = peer_;
  ex->secure = transport_.tls();
  if (server_->options.access_observer != nullptr) {
    ex->received = absl::Now();
    ex->received_at = Clock::now();
    ex->method = std::string(req.method_string());
    ex->target = std::string(req.target());
  }
  ex->version = req.version();
  ex->keep_alive = req.keep_alive();
  ex->head = req.method() == http::verb::head;
  ex->upgrade = upgrade;
  pipeline_.push_back(ex);
  if (!ex->keep_alive) {
    read_closed_ = true;
    discard_left_ = kDiscardMax;
  }
  if (ex->upgrade) upgrade_pause_ = true;
  Responder responder = Exchange::MakeResponder(ex);
  Handler& handler = *server_->handler;
  try {
    handler.Handle(std::move(req), responder);
  } catch (const std::exception& e) {
    HttpLogger()->error("request handler threw: {}", e.what());
    SafeCall("ProtocolError",
             [&] { responder.Send(handler.ProtocolError(500, "internal error")); });
  } catch (...) {
    HttpLogger()->error("request handler threw a non-exception");
    SafeCall("ProtocolError",
             [&] { responder.Send(handler.ProtocolError(500, "internal error")); });
  }
}

void Connection::OnBadRequest(const boost::system::error_code& ec) {
  read_closed_ = true;
  linger_always_ = true;
  discard_left_ = kDiscardMax;
  parser_.reset();
  DiscardInput();
  continue_pending_ = false;
  int status = 400;
  std::string detail;
  if (ec == http::error::header_limit) {
    status = 431;
    detail = absl::StrCat("request header exceeds ", options_.max_header_bytes, " bytes");
  } else if (ec == http::error::body_limit) {
    status = 413;
    detail = absl::StrCat("request body exceeds ", options_.max_body_bytes, " bytes");
  } else {
    detail = absl::StrCat("malformed HTTP request: ", ec.message());
  }
  auto ex = std::make_shared<Exchange>(worker_, weak_from_this());
  ex->Claim();
  ex->peer = peer_;
  ex->secure = transport_.tls();
  ex->received = absl::Now();
  ex->received_at = Clock::now();
  ex->kind = Exchange::Kind::kResponse;
  ex->keep_alive = false;
  ex->response = Response(status);
  SafeCall("ProtocolError",
           [&] { ex->response = server_->handler->ProtocolError(status, detail); });
  pipeline_.push_back(std::move(ex));
}

void Connection::OnPeerGone(const boost::system::error_code& ec) {
  const absl::Status why = absl::CancelledError("client went away");
  parser_.reset();
  DiscardInput();
  read_closed_ = true;
  discard_left_ = 0;
  continue_pending_ = false;
  if (ec != net::error::eof) return Close(why);
  // End of stream: answers already given still go out; the first unanswered
  // request and everything after it are cancelled.
  size_t keep = 0;
  while (keep < pipeline_.size() && pipeline_[keep]->kind == Exchange::Kind::kResponse) ++keep;
  std::vector<std::shared_ptr<Exchange>> dropped(pipeline_.begin() + keep, pipeline_.end());
  pipeline_.erase(pipeline_.begin() + keep, pipeline_.end());
  for (const auto& ex : dropped) CancelExchange(*ex, why);
  if (pipeline_.empty() && !writing_) return Close(why);
  MaybeWrite();
}

void Connection::ResumeReading() {
  if (closed_ || lingering_ || read_closed_) return;
  ParseInput();
  Read();
}

bool Connection::RequestInProgress() const { return parser_.has_value(); }

void Connection::UpdateReadDeadline(Clock::time_point now) {
  if (lingering_ || closed_) return;
  if (handshaking_) {
    read_deadline_ = phase_started_ + ToChrono(options_.header_timeout);
    return;
  }
  if (read_closed_) {
    read_deadline_ = Clock::time_point::max();
    return;
  }
  if (!RequestInProgress() && pipeline_.empty() && !writing_) {
    if (!idle_) {
      idle_ = true;
      read_deadline_ = now + ToChrono(options_.idle_timeout);
    }
    return;
  }
  idle_ = false;
  if (RequestInProgress()) {
    read_deadline_ =
        phase_started_ + ToChrono(header_done_ ? options_.body_timeout : options_.header_timeout);
  } else {
    read_deadline_ = Clock::time_point::max();  // requests are being handled
  }
}

bool Connection::TimedOut(Clock::time_point now) const {
  return now >= read_deadline_ || now >= write_deadline_;
}

// ---------------------------------------------------------------- answers

void Connection::OnAnswered(Exchange& ex) {
  // Release what the callbacks captured as soon as they cannot run (they may
  // hold this exchange's own Responder: a cycle).
  ex.on_cancel = nullptr;
  ex.on_expired = nullptr;
  if (closed_ || ex.cancelled) {
    if (ex.kind == Exchange::Kind::kStream) {
      ex.stream->Finish(closed_ ? close_reason_ : absl::CancelledError("client went away"));
    }
    ex.take_over = nullptr;
    return;
  }
  if (ex.kind == Exchange::Kind::kStream && server_->options.access_observer != nullptr) {
    // The access log hears of a stream when it ends, with its whole length.
    std::weak_ptr<Exchange> weak = ex.weak_from_this();
    ex.stream->on_end = [server = server_, weak](uint64_t total) {
      if (std::shared_ptr<Exchange> e = weak.lock()) {
        ReportExchange(*server, *e, e->response.status(), total);
      }
    };
  }
  if (ex.kind == Exchange::Kind::kStream && server_->draining.load(std::memory_order_acquire)) {
    ex.stream->OnDrain();
  }
  MaybeWrite();
}

void Connection::CancelExchange(Exchange& ex, const absl::Status& why) {
  ex.cancelled = true;
  if (ex.kind != Exchange::Kind::kStream) ReportExchange(*server_, ex, 0, 0);  // never written
  // Every callback is dropped (what they captured is released), the cancel
  // callback after running if the request was still unanswered.
  std::function<void()> on_cancel = std::move(ex.on_cancel);
  ex.on_cancel = nullptr;
  ex.on_expired = nullptr;
  ex.take_over = nullptr;
  if (ex.kind == Exchange::Kind::kNone) {
    if (on_cancel) SafeCall("OnCancel callback", on_cancel);
  } else if (ex.kind == Exchange::Kind::kStream) {
    ex.stream->Finish(why);
  }
}

void Connection::StopReading() {
  read_closed_ = true;
  discard_left_ = kDiscardMax;
  if (parser_) {
    parser_.reset();
    DiscardInput();
    continue_pending_ = false;
  }
}

void Connection::Shutdown(bool force) {
  if (closed_) return;
  if (force) return Close(absl::UnavailableError("server shut down"));
  StopReading();
  for (const auto& ex : std::deque<std::shared_ptr<Exchange>>(pipeline_)) {
    if (ex->kind == Exchange::Kind::kStream) ex->stream->OnDrain();
  }
  if (pipeline_.empty() && !writing_) return Close(absl::UnavailableError("server draining"));
  UpdateReadDeadline(Clock::now());
  MaybeWrite();
}

void Connection::Close(const absl::Status& why) {
  if (closed_) return;
  std::shared_ptr<Connection> self = shared_from_this();
  closed_ = true;
  close_reason_ = why;
  transport_.Close();
  deadline_timer_.cancel();
  std::deque<std::shared_ptr<Exchange>> pipeline = std::move(pipeline_);
  pipeline_.clear();
  for (const auto& ex : pipeline) CancelExchange(*ex, why);
  worker_->Remove(this);
  server_->RemoveConnection();
}

// ---------------------------------------------------------------- deadlines

void Connection::OnDeadlineSet(Clock::time_point when) {
  if (closed_ || when >= timer_at_) return;
  timer_at_ = when;
  deadline_timer_.expires_at(when);
  deadline_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->OnDeadlineTimer();
  });
}

void Connection::OnDeadlineTimer() {
  timer_at_ = Clock::time_point::max();
  if (closed_) return;
  const Clock::time_point now = Clock::now();
  Clock::time_point next = Clock::time_point::max();
  std::vector<std::shared_ptr<Exchange>> expired;
  for (const auto& ex : pipeline_) {
    if (ex->kind != Exchange::Kind::kNone || !ex->on_expired) continue;
    if (ex->deadline <= now) {
      expired.push_back(ex);
    } else {
      next = std::min(next, ex->deadline);
    }
  }
  for (const auto& ex : expired) {
    std::function<void()> fn = std::move(ex->on_expired);
    ex->on_expired = nullptr;
    SafeCall("deadline callback", fn);
  }
  if (next != Clock::time_point::max()) OnDeadlineSet(next);
}

}  // namespace ds::http::internal
