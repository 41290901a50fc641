// The writing half of Connection: answers in request order, gathered into one
// write when several are ready; streams; the hand-over of the socket.
#include <charconv>
#include <exception>
#include <utility>

#include "http/internal/connection.h"
#include "http/internal/logger.h"
#include "http/internal/worker.h"

namespace ds::http::internal {
namespace {

namespace net = boost::asio;

constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr size_t kDiscardMax = 256 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

Clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

bool IsBodyless(int status) { return status < 200 || status == 204 || status == 304; }

void AppendNumber(std::string& out, uint64_t n, int base) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), n, base);
  out.append(digits, end);
}

}  // namespace

void Connection::AppendOwned(std::string_view bytes) {
  const size_t offset = out_.size();
  out_.append(bytes);
  RegisterOwned(offset);
}

void Connection::RegisterOwned(size_t offset) {
  const size_t size = out_.size() - offset;
  if (!pieces_.empty() && pieces_.back().owned &&
      pieces_.back().offset + pieces_.back().size == offset) {
    pieces_.back().size += size;
  } else {
    pieces_.push_back({true, offset, size, nullptr});
  }
}

void Connection::AppendExternal(std::string_view bytes) {
  if (!bytes.empty()) pieces_.push_back({false, 0, bytes.size(), bytes.data()});
}

void Connection::SerializeHead(const Exchange& ex, const Response& r, bool close, bool stream,
                               bool chunked, size_t content_length) {
  const size_t start = out_.size();
  out_.append(ex.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  AppendNumber(out_, static_cast<uint64_t>(r.status()), 10);
  out_.push_back(' ');
  out_.append(ReasonPhrase(r.status()));
  out_.append("\r\nServer: ");
  out_.append(options_.server_name);
  out_.append("\r\n");
  r.AppendHeaders(out_);
  if (const std::string& id = ex.notes.request_id;
      !id.empty() && id.find_first_of("\r\n") == std::string::npos) {
    out_.append("X-Request-Id: ");
    out_.append(id);
    out_.append("\r\n");
  }
  if (stream) {
    if (chunked) out_.append("Transfer-Encoding: chunked\r\n");
  } else if (!IsBodyless(r.status())) {
    out_.append("Content-Length: ");
    AppendNumber(out_, content_length, 10);
    out_.append("\r\n");
  }
  if (close) {
    out_.append("Connection: close\r\n");
  } else if (ex.version == 10) {
    out_.append("Connection: keep-alive\r\n");
  }
  out_.append("\r\n");
  RegisterOwned(start);
}

bool Connection::SerializeStream(Exchange& ex, bool close) {
  StreamState& s = *ex.stream;
  if (!s.head_written) {
    s.chunked = ex.version >= 11;
    SerializeHead(ex, ex.response, close || !s.chunked, /*stream=*/true, s.chunked, 0);
    s.head_written = true;
  }
  bool end = false;
  std::vector<std::shared_ptr<const std::string>> chunks = s.Take(&end);
  size_t bytes = 0;
  for (std::shared_ptr<const std::string>& c : chunks) {
    if (c->empty()) continue;
    if (s.chunked) {
      const size_t start = out_.size();
      AppendNumber(out_, c->size(), 16);
      out_.append("\r\n");
      RegisterOwned(start);
    }
    AppendExternal(*c);
    if (s.chunked) AppendOwned("\r\n");
    bytes += c->size();
    chunks_in_write_.push_back(std::move(c));
  }
  if (end && s.chunked) AppendOwned("0\r\n\r\n");
  streams_in_write_.push_back({ex.stream, bytes, end});
  return end;
}

void Connection::MaybeWrite() {
  if (writing_ || closed_ || handing_off_ || in_parse_) return;
  // Shutdown reaches each connection on its own I/O thread; an answer written
  // before that must already be this connection's last (Connection: close).
  if (!read_closed_ && server_->draining.load(std::memory_order_acquire)) StopReading();
  out_.clear();
  pieces_.clear();
  bool closing = false;
  if (continue_pending_ && pipeline_.empty()) {
    AppendOwned(kContinue);
    continue_pending_ = false;
  }
  while (!pipeline_.empty() && !closing) {
    Exchange& ex = *pipeline_.front();
    if (ex.kind == Exchange::Kind::kNone) break;
    if (ex.kind == Exchange::Kind::kTakeOver) {
      if (pieces_.empty()) return HandOff();
      break;
    }
    // The last answer this connection will give says so.
    const bool last = read_closed_ && pipeline_.size() == 1;
    if (ex.kind == Exchange::Kind::kResponse) {
      const Response& r = ex.response;
      const std::string_view body = r.body();
      SerializeHead(ex, r, last, /*stream=*/false, /*chunked=*/false, body.size());
      if (!ex.head && !IsBodyless(r.status())) AppendExternal(body);
    } else if (!SerializeStream(ex, last)) {
      break;  // still streaming: it stays at the front
    }
    if (ex.kind == Exchange::Kind::kStream && !ex.stream->chunked) closing = true;
    if (ex.upgrade) upgrade_pause_ = false;
    closing = closing || last;
    in_write_.push_back(std::move(pipeline_.front()));
    pipeline_.pop_front();
  }
  if (pieces_.empty()) return FinishIfDone();
  buffers_.clear();
  for (const Piece& p : pieces_) {
    buffers_.emplace_back(p.owned ? out_.data() + p.offset : p.data, p.size);
  }
  writing_ = true;
  close_after_write_ = closing;
  write_deadline_ = Clock::now() + ToChrono(options_.write_timeout);
  transport_.AsyncWrite(buffers_, [self = shared_from_this()](const boost::system::error_code& ec,
                                                              size_t) { self->OnWrite(ec); });
}

void Connection::OnWrite(const boost::system::error_code& ec) {
  writing_ = false;
  write_deadline_ = Clock::time_point::max();
  std::vector<StreamWrite> streams;
  streams.swap(streams_in_write_);
  for (const std::shared_ptr<Exchange>& ex : in_write_) {
    if (ex->kind != Exchange::Kind::kResponse) continue;
    const Response& r = ex->response;
    const bool body = !ex->head && !IsBodyless(r.status());
    ReportExchange(*server_, *ex, (closed_ || ec) ? 0 : r.status(),
                   (closed_ || ec || !body) ? 0 : r.body().size());
  }
  in_write_.clear();
  chunks_in_write_.clear();
  if (closed_ || ec) {
    const absl::Status why =
        closed_ ? close_reason_ : absl::UnavailableError("writing to the client failed");
    for (StreamWrite& w : streams) w.stream->Finish(why);
    if (!closed_) Close(why);
    return;
  }
  for (StreamWrite& w : streams) {
    w.stream->OnWritten(w.bytes);
    if (w.finished) w.stream->Finish(absl::OkStatus());
  }
  if (closed_) return;  // a callback closed the connection
  if (close_after_write_) return Linger();
  ResumeReading();
  MaybeWrite();
  FinishIfDone();
  UpdateReadDeadline(Clock::now());
}

void Connection::FinishIfDone() {
  if (!closed_ && !lingering_ && !writing_ && read_closed_ && pipeline_.empty()) Linger();
}

void Connection::Linger() {
  lingering_ = true;
  transport_.ShutdownSend();
  DiscardInput();
  // Without unread input (and no request body possibly on its way after an
  // error answer) closing cannot reset the connection: no need to wait.
  boost::system::error_code ec;
  const size_t unread = transport_.socket().available(ec);
  if (discard_left_ == 0 || (!linger_always_ && !ec && unread == 0)) {
    return Close(absl::OkStatus());
  }
  read_deadline_ = Clock::now() + kLingerTime;
  discard_left_ = std::min(discard_left_, kDiscardMax);
  Read();
}

void Connection::HandOff() {
  std::shared_ptr<Connection> self = shared_from_this();
  handing_off_ = true;
  if (reading_) {
    // The read completes (operation_aborted, or with bytes that become
    // `leftover`) and calls HandOff again.
    boost::system::error_code ignored;
    transport_.socket().cancel(ignored);
    return;
  }
  std::shared_ptr<Exchange> ex = std::move(pipeline_.front());
  pipeline_.pop_front();
  closed_ = true;
  close_reason_ = absl::CancelledError("connection taken over");
  deadline_timer_.cancel();
  std::deque<std::shared_ptr<Exchange>> rest = std::move(pipeline_);
  pipeline_.clear();
  for (const auto& e : rest) CancelExchange(*e, close_reason_);
  // The connection's place in the server's count passes to the lease.
  auto lease = std::make_shared<LeaseState>(server_);
  worker_->AddLease(lease);
  std::shared_ptr<boost::asio::ssl::context> tls_context = transport_.tls_context();
  TakenConnection taken{transport_.Release(), std::move(tls_context), std::move(in_),
                        Exchange::MakeLease(lease)};
  ReportExchange(*server_, *ex, 101, 0);
  std::function<void(TakenConnection)> fn = std::move(ex->take_over);
  ex->take_over = nullptr;
  worker_->Remove(this);
  try {
    fn(std::move(taken));
  } catch (const std::exception& e) {
    HttpLogger()->error("take-over callback threw: {}", e.what());
  } catch (...) {
    HttpLogger()->error("take-over callback threw a non-exception");
  }
}

}  // namespace ds::http::internal
