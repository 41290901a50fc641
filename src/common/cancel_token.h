// CancelToken: a shared flag a caller sets to say "nobody needs this answer
// any more". The coalescer sets a flight's token when its last waiter leaves;
// a store checks it before starting work (and may check between steps). It
// never makes a write that already started disappear.
//
// Usage:
//   auto token = std::make_shared<ds::CancelToken>();
//   store->GetMessages(query, {.deadline = d, .cancel = token}, done);
//   token->Cancel();
//
// Thread-safe (one atomic flag; Cancel() is a release, cancelled() an acquire).
#pragma once

#include <atomic>

namespace ds {

class CancelToken {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace ds
