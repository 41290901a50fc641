// Mutex, MutexLock, CondVar: std::mutex and std::condition_variable with
// clang's thread-safety annotations, so that ABSL_GUARDED_BY(mu_) is really
// checked (the -Wthread-safety pass of scripts/test). libstdc++'s std::mutex
// carries no annotations: a GUARDED_BY naming one is silently ignored.
//
// Usage:
//   class Counter {
//    public:
//     void Add() { ds::MutexLock lock(mu_); ++n_; cv_.NotifyAll(); }
//     void WaitFor(int n) {
//       ds::MutexLock lock(mu_);
//       while (n_ < n) cv_.Wait(mu_);
//     }
//    private:
//     ds::Mutex mu_;
//     ds::CondVar cv_;
//     int n_ ABSL_GUARDED_BY(mu_) = 0;
//   };
//
// Waits take no predicate: the loop stays in the annotated function, where
// the analysis knows the lock is held (a predicate lambda would be analysed
// as a separate function that holds nothing).
//
// Rationale over absl::Mutex: these are std::mutex underneath, which
// ThreadSanitizer understands; the apt Abseil is not built with TSan, so its
// mutex would hide real synchronisation from it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace ds {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // Tells the analysis the caller holds the lock (it is not checked at run
  // time): for code it cannot follow, such as a callback run under the lock.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

class CondVar {
 public:
  // Releases `mu`, waits for a notification (or a spurious wake-up), and
  // takes `mu` again.
  void Wait(Mutex& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // As Wait(), but returns false once `deadline` has passed.
  bool WaitUntil(Mutex& mu, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (deadline == absl::InfiniteFuture()) {  // not representable as a chrono deadline
      Wait(mu);
      return true;
    }
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    const bool notified =
        cv_.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::no_timeout;
    lock.release();
    return notified;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace ds
