// Internal to ds_http: one I/O thread with its own event loop, the
// connections that live on it, their timeout sweep, and the inbox through
// which other threads hand it answers (batched: one wake-up per burst).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "http/internal/exchange.h"
#include "http/response.h"

namespace ds::http::internal {

// Thread-safe where stated; "worker thread" methods run on this worker's
// thread only.
class Worker {
 public:
  // `sweep_interval`: how often connection timeouts are checked.
  explicit Worker(Clock::duration sweep_interval);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  boost::asio::io_context& ioc() { return *ioc_; }
  // True on this worker's thread.
  bool InThisThread() const;

  void StartThread();

  // Any thread: on the worker thread, sets `ex`'s answer and tells its
  // connection. Dropped after Stop().
  void Deliver(std::shared_ptr<Exchange> ex, Response response);
  // Any thread: runs `fn` on the worker thread (never inline). Dropped after
  // Stop().
  void Post(std::function<void()> fn);

  // Worker thread.
  void Add(std::shared_ptr<Connection> connection);
  void Remove(Connection* connection);
  void AddLease(const std::shared_ptr<LeaseState>& lease);

  // Any thread: starts a drain of every connection (and lease) on this worker;
  // or closes them all (`force`).
  void ShutdownConnections(bool force);

  // Any thread but this worker's: stops the loop and joins the thread; later
  // Deliver/Post calls are dropped. Idempotent.
  void StopThread();
  // After StopThread: destroys the connections and whatever work was still
  // queued, then the event loop. Objects bound to ioc() must be gone first.
  void Destroy();

 private:
  struct Delivery {
    std::shared_ptr<Exchange> exchange;
    Response response;
  };

  void RunDeliveries();
  void Sweep();
  void ArmSweep();

  const Clock::duration sweep_interval_;
  std::optional<boost::asio::io_context> ioc_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::optional<boost::asio::steady_timer> sweep_timer_;
  std::thread thread_;

  std::mutex mu_;
  std::vector<Delivery> inbox_ ABSL_GUARDED_BY(mu_);
  bool scheduled_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;

  // Worker thread only.
  absl::flat_hash_map<Connection*, std::shared_ptr<Connection>> connections_;
  std::vector<std::weak_ptr<LeaseState>> leases_;
  std::vector<Delivery> running_;  // the inbox being processed (capacity reused)
};

}  // namespace ds::http::internal
