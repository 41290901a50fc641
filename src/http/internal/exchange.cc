#include "http/internal/exchange.h"

#include <exception>
#include <utility>

#include "http/internal/connection.h"
#include "http/internal/logger.h"
#include "http/internal/worker.h"

namespace ds::http::internal {

bool ServerState::TryAddConnection() {
  if (connections_.fetch_add(1, std::memory_order_acq_rel) >= options.max_connections) {
    RemoveConnection();
    return false;
  }
  return true;
}

void ServerState::RemoveConnection() {
  if (connections_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    { std::lock_guard<std::mutex> lock(mu_); }  // orders the notify after a waiter's check
    none_left_.notify_all();
  }
}

void ServerState::WaitForNoConnections(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  none_left_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                      [this] { return connections_.load(std::memory_order_acquire) <= 0; });
}

bool StreamState::Write(std::shared_ptr<const std::string> data) {
  if (data == nullptr) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (ended_ || close_requested_) return false;
  const size_t queued = queued_.load(std::memory_order_acquire);
  if (queued > 0 && queued + data->size() > max_queued_) return false;
  queued_.fetch_add(data->size(), std::memory_order_acq_rel);
  pending_.push_back(std::move(data));
  ScheduleFlush();
  return true;
}

void StreamState::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (ended_ || close_requested_) return;
  close_requested_ = true;
  ScheduleFlush();
}

void StreamState::Reject() {
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
}

void StreamState::ScheduleFlush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  worker_->Post([self = shared_from_this()] {
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->flush_scheduled_ = false;
    }
    if (std::shared_ptr<Connection> c = self->connection_.lock()) c->OnStreamData();
  });
}

std::vector<std::shared_ptr<const std::string>> StreamState::Take(bool* end) {
  std::vector<std::shared_ptr<const std::string>> out;
  std::lock_guard<std::mutex> lock(mu_);
  out.swap(pending_);
  *end = close_requested_;
  if (close_requested_) ended_ = true;
  return out;
}

void ReportExchange(const ServerState& server, Exchange& ex, int status, uint64_t body_bytes) {
  if (server.options.access_observer == nullptr || ex.logged) return;
  ex.logged = true;
  const ExchangeRecord record{
      .received = ex.received,
      .latency = absl::FromChrono(Clock::now() - ex.received_at),
      .peer = ex.peer,
      .secure = ex.secure,
      .method = ex.method,
      .target = ex.target,
      .status = status,
      .body_bytes = body_bytes,
      .notes = ex.notes,
  };
  try {
    server.options.access_observer->OnExchangeDone(record);
  } catch (const std::exception& e) {
    HttpLogger()->error("access observer threw: {}", e.what());
  }
}

void StreamState::OnWritten(size_t bytes) {
  written_total += bytes;
  if (finished_) return;  // Finish() emptied the queue
  const size_t left = queued_.fetch_sub(bytes, std::memory_order_acq_rel) - bytes;
  if (!callbacks_.on_written) return;
  try {
    callbacks_.on_written(left);
  } catch (const std::exception& e) {
    HttpLogger()->error("stream on_written threw: {}", e.what());
  }
}

void StreamState::Finish(const absl::Status& why) {
  if (finished_) return;
  finished_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = true;
    pending_.clear();
  }
  queued_.store(0, std::memory_order_release);
  if (on_end) {
    std::function<void(uint64_t)> fn = std::move(on_end);
    on_end = nullptr;
    fn(written_total);
  }
  std::function<void(absl::Status)> on_closed = std::move(callbacks_.on_closed);
  callbacks_ = StreamCallbacks{};  // release what the callbacks captured
  if (!on_closed) return;
  try {
    on_closed(why);
  } catch (const std::exception& e) {
    HttpLogger()->error("stream on_closed threw: {}", e.what());
  }
}

void StreamState::OnDrain() {
  if (finished_) return;
  if (!callbacks_.on_drain) return Close();
  try {
    callbacks_.on_drain();
  } catch (const std::exception& e) {
    HttpLogger()->error("stream on_drain threw: {}", e.what());
    Close();
  }
}

}  // namespace ds::http::internal
