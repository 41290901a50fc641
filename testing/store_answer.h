// StoreAnswer<T>: the answer of one asynchronous MessageStore call, for tests.
//
// Usage:
//   ds::testing::StoreAnswer<storage::Message> a;
//   store.GetMessage(1, 42, options, a.callback());
//   EXPECT_FALSE(a.ready());          // still in the store
//   absl::StatusOr<storage::Message> m = a.get();   // waits (bounded)
//
// The promise is shared with the callback, so a store that answers after the
// test gave up (or after the StoreAnswer is gone) writes into memory that is
// still alive. get() waits at most `wait` and records a test failure instead
// of hanging when no answer comes.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "storage/message_store.h"

namespace ds::testing {

template <typename T>
class StoreAnswer {
 public:
  StoreAnswer() : future_(promise_->get_future()) {}

  // The callback to hand to the store; call it once.
  storage::Callback<T> callback() {
    return [p = promise_](absl::StatusOr<T> r) { p->set_value(std::move(r)); };
  }
  // True once the store has answered.
  bool ready() const {
    return future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  // The answer, waiting up to `wait` for it (a test failure when none comes).
  absl::StatusOr<T> get(absl::Duration wait = absl::Seconds(30)) {
    if (future_.wait_for(absl::ToChronoMilliseconds(wait)) != std::future_status::ready) {
      ADD_FAILURE() << "the store did not answer within " << wait;
      return absl::DeadlineExceededError("the test gave up waiting for the store");
    }
    return future_.get();
  }

 private:
  std::shared_ptr<std::promise<absl::StatusOr<T>>> promise_ =
      std::make_shared<std::promise<absl::StatusOr<T>>>();
  std::future<absl::StatusOr<T>> future_;
};

}  // namespace ds::testing
