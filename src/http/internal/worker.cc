#include "http/internal/worker.h"

#include <boost/asio/post.hpp>
#include <exception>
#include <utility>

#include "http/internal/connection.h"
#include "http/internal/logger.h"

namespace ds::http::internal {
namespace {

thread_local const Worker* tls_worker = nullptr;

}  // namespace

Worker::Worker(Clock::duration sweep_interval) : sweep_interval_(sweep_interval) {
  ioc_.emplace(1);
  work_.emplace(ioc_->get_executor());
  sweep_timer_.emplace(*ioc_);
}

Worker::~Worker() {
  StopThread();
  Destroy();
}

bool Worker::InThisThread() const { return tls_worker == this; }

void Worker::StartThread() {
  thread_ = std::thread([this] {
    tls_worker = this;
    ArmSweep();
    // Handlers catch what they can; anything escaping (e.g. bad_alloc) is
    // logged and the loop resumes rather than taking the process down.
    while (true) {
      try {
        ioc_->run();
        break;
      } catch (const std::exception& e) {
        HttpLogger()->error("HTTP I/O loop: {}", e.what());
      }
    }
    tls_worker = nullptr;
  });
}

void Worker::Deliver(std::shared_ptr<Exchange> ex, Response response) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  inbox_.push_back({std::move(ex), std::move(response)});
  if (scheduled_) return;
  scheduled_ = true;
  boost::asio::post(*ioc_, [this] { RunDeliveries(); });
}

void Worker::RunDeliveries() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.swap(inbox_);
    scheduled_ = false;
  }
  for (Delivery& d : running_) {
    Exchange& ex = *d.exchange;
    ex.kind = Exchange::Kind::kResponse;
    ex.response = std::move(d.response);
    if (std::shared_ptr<Connection> c = ex.connection.lock()) c->OnAnswered(ex);
  }
  running_.clear();
}

void Worker::Post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  boost::asio::post(*ioc_, std::move(fn));
}

void Worker::Add(std::shared_ptr<Connection> connection) {
  Connection* key = connection.get();
  connections_.emplace(key, std::move(connection));
}

void Worker::Remove(Connection* connection) { connections_.erase(connection); }

void Worker::AddLease(const std::shared_ptr<LeaseState>& lease) { leases_.push_back(lease); }

void Worker::ShutdownConnections(bool force) {
  Post([this, force] {
    std::vector<std::shared_ptr<Connection>> all;
    all.reserve(connections_.size());
    for (const auto& [ptr, c] : connections_) all.push_back(c);
    for (const auto& c : all) c->Shutdown(force);
    for (const std::weak_ptr<LeaseState>& weak : std::vector<std::weak_ptr<LeaseState>>(leases_)) {
      std::shared_ptr<LeaseState> lease = weak.lock();
      if (lease == nullptr || !lease->on_shutdown) continue;
      std::function<void(bool)> fn = lease->on_shutdown;
      lease.reset();  // the callback may drop the last reference
      try {
        fn(force);
      } catch (const std::exception& e) {
        HttpLogger()->error("lease shutdown callback threw: {}", e.what());
      }
    }
  });
}

void Worker::ArmSweep() {
  sweep_timer_->expires_after(sweep_interval_);
  sweep_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Sweep();
  });
}

void Worker::Sweep() {
  const Clock::time_point now = Clock::now();
  std::vector<std::shared_ptr<Connection>> expired;
  for (const auto& [ptr, c] : connections_) {
    if (c->TimedOut(now)) expired.push_back(c);
  }
  for (const auto& c : expired) c->Close(absl::DeadlineExceededError("connection timed out"));
  std::erase_if(leases_, [](const std::weak_ptr<LeaseState>& l) { return l.expired(); });
  ArmSweep();
}

void Worker::StopThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    inbox_.clear();
  }
  work_.reset();
  ioc_->stop();
  if (thread_.joinable()) thread_.join();
}

void Worker::Destroy() {
  if (!ioc_) return;
  // The thread is gone: its state may be touched here. Connections die
  // before the loop their sockets belong to; queued handlers with it.
  connections_.clear();
  leases_.clear();
  running_.clear();
  sweep_timer_.reset();
  ioc_.reset();
}

}  // namespace ds::http::internal
