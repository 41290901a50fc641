// MessageStore: the one asynchronous interface every storage backend implements
// (SqliteMessageStore, CassandraMessageStore, the test FakeMessageStore).
//
// Usage:
//   store->GetMessages({.channel_id = c, .limit = 50}, {.deadline = d},
//       [](absl::StatusOr<std::vector<Message>> page) { ... });
//
// Contract (checked by storage/message_store_contract.h against every backend):
// - Every call invokes its callback exactly once, on a thread the store owns
//   (never inline from inside the call), by `options.deadline` plus a small
//   grace at the latest: a backend that cannot answer in time answers
//   DEADLINE_EXCEEDED.
// - Status codes say what the caller should do: UNAVAILABLE for transient
//   failures (retry), DEADLINE_EXCEEDED for timeouts, NOT_FOUND for a missing
//   message, INVALID_ARGUMENT for a request the backend cannot represent,
//   CANCELLED when `options.cancel` was set before the work started.
// - GetMessages returns at most `limit` messages, newest first (descending id).
//   Bounds are exclusive. With only `before` (or none) it is the `limit`
//   newest ids < before; with `after` it is the `limit` oldest ids > after
//   (and < before if given), still returned newest first, so a client pages
//   forward with after = the first (newest) id of the previous page. An empty
//   or unknown channel gives an empty page, not NOT_FOUND; limit 0 gives an
//   empty page.
// - SendMessage is idempotent by (channel_id, nonce): the first call stores a
//   new message with a fresh snowflake id; any later call with the same pair
//   returns that stored message with `duplicate = true` and stores nothing.
// - Implementations are thread-safe; the callbacks must not block for long
//   (they run on the store's I/O threads).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/cancel_token.h"

namespace ds::storage {

struct Message {
  uint64_t channel_id = 0;
  uint64_t message_id = 0;
  uint64_t author_id = 0;
  std::string content;

  friend bool operator==(const Message&, const Message&) = default;
};

struct GetMessagesQuery {
  uint64_t channel_id = 0;
  uint32_t limit = 50;
  std::optional<uint64_t> before;  // only ids < before
  std::optional<uint64_t> after;   // the `limit` oldest ids > after (page still newest first)
};

struct NewMessage {
  uint64_t channel_id = 0;
  uint64_t author_id = 0;
  std::string content;
  uint64_t nonce = 0;
};

struct SendResult {
  Message message;
  bool duplicate = false;  // true when (channel_id, nonce) was already stored
};

struct CallOptions {
  absl::Time deadline = absl::InfiniteFuture();
  std::shared_ptr<const CancelToken> cancel;  // may be null (common/cancel_token.h)
};

template <typename T>
using Callback = std::function<void(absl::StatusOr<T>)>;

class MessageStore {
 public:
  virtual ~MessageStore() = default;

  virtual void GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                           Callback<std::vector<Message>> done) = 0;
  virtual void GetMessage(uint64_t channel_id, uint64_t message_id, const CallOptions& options,
                          Callback<Message> done) = 0;
  virtual void SendMessage(const NewMessage& message, const CallOptions& options,
                           Callback<SendResult> done) = 0;
  // Inserts pre-built messages (ids chosen by the caller) for seeding demos and
  // benchmarks; inserting an id twice never makes two rows. `done` gets the
  // number of rows added (SQLite: existing ids keep their row and are not
  // counted; an upserting backend may count and rewrite them). Not on the
  // serving path; not coalesced; ids must be < 2^63.
  virtual void BulkInsert(std::vector<Message> messages, const CallOptions& options,
                          Callback<size_t> done) = 0;
};

}  // namespace ds::storage
