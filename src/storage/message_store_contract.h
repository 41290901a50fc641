// The MessageStore contract suite: one set of GoogleTest cases that every
// storage backend instantiates unchanged, so "implements MessageStore" means
// the same thing for SQLite, Cassandra and the test fake.
//
// Usage: link the test binary with the CMake OBJECT library
// `ds_storage_contract` (it holds the cases, message_store_contract.cc, and
// an OBJECT library keeps their self-registration from being dropped by the
// linker), then in one of its .cc files:
//   #include "storage/message_store_contract.h"
//   namespace ds::storage {
//   INSTANTIATE_MESSAGE_STORE_CONTRACT(Sqlite, [] {
//     return std::shared_ptr<MessageStore>(OpenFreshStore());
//   });
//   }  // namespace ds::storage
//
// The factory is called once per test (in SetUp) and the store is destroyed in
// TearDown; a factory may return a shared_ptr with a deleter that also removes
// its temporary files. The suite assumes nothing about the backend: every test
// works in fresh random channel ids (>= 2^40, never the 1..C channels ds-seed
// fills), so it can run against a shared, live and non-empty database, and all
// waits are generous (kContractWait) for a remote database on a busy machine.
//
// What it checks is the contract written in storage/message_store.h.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/snowflake.h"
#include "storage/message_store.h"

namespace ds::storage {

using StoreFactory = std::function<std::shared_ptr<MessageStore>()>;

namespace contract_internal {

inline constexpr absl::Duration kContractWait = absl::Seconds(60);

// Waits for one callback; checks it runs exactly once and never inline (on the
// calling thread while the call has not returned yet).
template <typename T>
class Waiter {
 public:
  // Call this, then Start() the store call, then Returned() right after it.
  Callback<T> Cb() {
    return [state = state_](absl::StatusOr<T> result) {
      std::lock_guard<std::mutex> lock(state->mu);
      if (std::this_thread::get_id() == state->caller && !state->returned) {
        state->inline_call = true;
      }
      ++state->calls;
      if (state->calls > 1) ADD_FAILURE() << "callback invoked more than once";
      if (!state->result.has_value()) state->result.emplace(std::move(result));
      state->cv.notify_all();
    };
  }
  void Returned() {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->returned = true;
  }
  absl::StatusOr<T> Wait() {
    std::unique_lock<std::mutex> lock(state_->mu);
    if (!state_->cv.wait_for(lock, absl::ToChronoSeconds(kContractWait),
                             [&] { return state_->result.has_value(); })) {
      ADD_FAILURE() << "store did not answer within " << kContractWait;
      return absl::DeadlineExceededError("contract test gave up waiting");
    }
    EXPECT_FALSE(state_->inline_call) << "callback ran inline, inside the store call";
    return *state_->result;
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::thread::id caller = std::this_thread::get_id();
    bool returned = false;
    bool inline_call = false;
    int calls = 0;
    std::optional<absl::StatusOr<T>> result;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace contract_internal

class MessageStoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    ASSERT_NE(store_, nullptr) << "store factory failed";
  }
  void TearDown() override { store_.reset(); }

  MessageStore& store() { return *store_; }

  // A channel id no other test (or earlier run against a shared database) uses.
  // Not seeded on purpose: uniqueness across runs matters more than replay, and
  // the id is printed on failure.
  uint64_t NewChannel() {
    static std::mt19937_64 rng(std::random_device{}() ^
                               static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())));
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    const uint64_t id = (uint64_t{1} << 40) + rng() % ((uint64_t{1} << 62) - (uint64_t{1} << 40));
    ::testing::Test::RecordProperty("channel", std::to_string(id));
    return id;
  }

  // Synchronous wrappers (the store is asynchronous).
  absl::StatusOr<SendResult> Send(const NewMessage& m, CallOptions options = {}) {
    contract_internal::Waiter<SendResult> w;
    store().SendMessage(m, options, w.Cb());
    w.Returned();
    return w.Wait();
  }
  absl::StatusOr<Message> Get(uint64_t channel, uint64_t id, CallOptions options = {}) {
    contract_internal::Waiter<Message> w;
    store().GetMessage(channel, id, options, w.Cb());
    w.Returned();
    return w.Wait();
  }
  absl::StatusOr<std::vector<Message>> Page(const GetMessagesQuery& q, CallOptions options = {}) {
    contract_internal::Waiter<std::vector<Message>> w;
    store().GetMessages(q, options, w.Cb());
    w.Returned();
    return w.Wait();
  }
  absl::StatusOr<size_t> Bulk(std::vector<Message> messages, CallOptions options = {}) {
    contract_internal::Waiter<size_t> w;
    store().BulkInsert(std::move(messages), options, w.Cb());
    w.Returned();
    return w.Wait();
  }
  // Every message of `channel`, newest first, by walking `before` pages.
  std::vector<Message> All(uint64_t channel) {
    std::vector<Message> all;
    std::optional<uint64_t> before;
    while (true) {
      auto page = Page({.channel_id = channel, .limit = 100, .before = before, .after = {}});
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok() || page->empty()) return all;
      all.insert(all.end(), page->begin(), page->end());
      before = page->back().message_id;
    }
  }

  // `count` messages spread over several 10-day buckets: ids built from
  // timestamps 11 days apart per group of `per_bucket`, ascending.
  static std::vector<Message> SpreadMessages(uint64_t channel, int count, int per_bucket) {
    const int64_t base_ms = absl::ToUnixMillis(absl::Now()) - 200LL * 24 * 3600 * 1000;
    std::vector<Message> out;
    for (int i = 0; i < count; ++i) {
      const int64_t ms =
          base_ms + (i / per_bucket) * 11LL * 24 * 3600 * 1000 + (i % per_bucket) * 1000;
      out.push_back(Message{.channel_id = channel,
                            .message_id = SnowflakeFloor(ms) + static_cast<uint64_t>(i % 7),
                            .author_id = 100 + static_cast<uint64_t>(i % 5),
                            .content = "message " + std::to_string(i)});
    }
    return out;
  }

  static std::vector<uint64_t> Ids(const std::vector<Message>& ms) {
    std::vector<uint64_t> ids;
    for (const Message& m : ms) ids.push_back(m.message_id);
    return ids;
  }

  std::shared_ptr<MessageStore> store_;
};

// Instantiates the whole suite for one backend. `factory` is anything
// convertible to StoreFactory. Use it at namespace scope where
// MessageStoreContractTest is visible unqualified: inside namespace
// ds::storage, or after `using ds::storage::MessageStoreContractTest;`
// (GoogleTest pastes the fixture name into identifiers).
#define INSTANTIATE_MESSAGE_STORE_CONTRACT(Name, factory)  \
  INSTANTIATE_TEST_SUITE_P(Name, MessageStoreContractTest, \
                           ::testing::Values(::ds::storage::StoreFactory(factory)))

}  // namespace ds::storage
