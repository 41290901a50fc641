// Internal to ds_http: one HTTP/1.1 connection — read ahead, parse, hand each
// request to the handler, write the answers in request order, stream bodies,
// hand the socket over, enforce the timeouts, drain.
//
// Threads: every method runs on the connection's worker thread. Owned by the
// worker's table while open and by its pending asynchronous operations;
// Exchanges refer to it weakly.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "http/internal/exchange.h"
#include "http/internal/transport.h"

namespace ds::http::internal {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(boost::asio::ip::tcp::socket socket, std::shared_ptr<Worker> worker,
             std::shared_ptr<ServerState> server);

  ~Connection();

  void Start();

  // `ex` (of this connection) was answered: its kind and payload are set.
  void OnAnswered(Exchange& ex);
  // A stream of this connection has new data or was closed.
  void OnStreamData() { MaybeWrite(); }
  // A handler set a deadline on one of this connection's requests.
  void OnDeadlineSet(Clock::time_point when);

  // Server shutdown: finish what was admitted, then close (drain); or close
  // now (force).
  void Shutdown(bool force);
  // The timeout sweep: true when a read, write or linger deadline has passed.
  bool TimedOut(Clock::time_point now) const;
  // Closes the connection; unanswered requests are cancelled and streams end
  // with `why`.
  void Close(const absl::Status& why);

 private:
  struct Piece {
    bool owned;  // a range of out_ (offset, size) or external bytes
    size_t offset;
    size_t size;
    const void* data;
  };
  struct StreamWrite {
    std::shared_ptr<StreamState> stream;
    size_t bytes;
    bool finished;
  };

  // TLS.
  void OnHandshake(const boost::system::error_code& ec);

  // Reading and parsing.
  void Read();
  void OnRead(const boost::system::error_code& ec, size_t n);
  void ParseInput();
  // The read-ahead buffer in_. A read under way writes into the space
  // in_.prepare() returned, and flat_buffer rewinds a buffer that is consumed
  // to empty — the read's bytes would then be committed at the wrong place (old
  // request bytes parsed again, the new ones lost). So while a read is under
  // way nothing is consumed: parsed bytes are counted in parsed_ and dropped
  // when the read completes.
  boost::asio::const_buffer UnparsedInput() const;
  void ConsumeInput(size_t n);  // n more bytes were parsed
  void DiscardInput();          // drop all unparsed input
  void DropParsedInput();       // no read under way: drop what was parsed
  // Reads no more requests (draining): drops a partial one; answers still go out.
  void StopReading();
  void Dispatch();
  void OnBadRequest(const boost::system::error_code& ec);
  void OnPeerGone(const boost::system::error_code& ec);
  void ResumeReading();
  void UpdateReadDeadline(Clock::time_point now);
  bool RequestInProgress() const;

  // Writing.
  void MaybeWrite();
  void SerializeHead(const Exchange& ex, const Response& r, bool close, bool stream, bool chunked,
                     size_t content_length);
  bool SerializeStream(Exchange& ex, bool close);
  void OnWrite(const boost::system::error_code& ec);
  void FinishIfDone();
  void Linger();
  void AppendOwned(std::string_view bytes);
  void RegisterOwned(size_t offset);  // out_[offset, end) becomes the next piece
  void AppendExternal(std::string_view bytes);
  void HandOff();

  // Deadlines set by handlers.
  void OnDeadlineTimer();

  void CancelExchange(Exchange& ex, const absl::Status& why);

  Transport transport_;
  const std::shared_ptr<Worker> worker_;
  const std::shared_ptr<ServerState> server_;
  const ServerOptions& options_;

  boost::beast::flat_buffer in_;
  size_t parsed_ = 0;  // bytes at the front of in_ already parsed (see ConsumeInput)
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  bool header_done_ = false;
  bool continue_pending_ = false;  // send "100 Continue" once earlier answers are out
  // Requests read and not yet fully written, in order. The front is the next
  // to be written.
  std::deque<std::shared_ptr<Exchange>> pipeline_;

  boost::asio::ip::tcp::endpoint peer_;
  bool handshaking_ = false;  // TLS handshake under way (bounded by header_timeout)
  bool reading_ = false;
  bool read_closed_ = false;    // no more requests will be read (close after the last answer)
  bool upgrade_pause_ = false;  // an upgrade request is pending: read nothing after it
  bool writing_ = false;
  bool close_after_write_ = false;
  bool lingering_ = false;
  bool closed_ = false;
  bool handing_off_ = false;
  bool in_parse_ = false;       // answers given meanwhile are written together afterwards
  bool idle_ = false;           // read_deadline_ is the idle deadline
  bool linger_always_ = false;  // after an error answer: the client may still be sending
  size_t discard_left_ = 0;     // bytes still accepted while discarding input
  absl::Status close_reason_;

  // When the current request's header (or body) phase began.
  Clock::time_point phase_started_{};
  Clock::time_point read_deadline_ = Clock::time_point::max();
  Clock::time_point write_deadline_ = Clock::time_point::max();

  // The current write.
  std::string out_;
  std::vector<Piece> pieces_;
  std::vector<boost::asio::const_buffer> buffers_;
  std::vector<std::shared_ptr<Exchange>> in_write_;
  std::vector<std::shared_ptr<const std::string>> chunks_in_write_;
  std::vector<StreamWrite> streams_in_write_;

  boost::asio::steady_timer deadline_timer_;
  Clock::time_point timer_at_ = Clock::time_point::max();
};

}  // namespace ds::http::internal
