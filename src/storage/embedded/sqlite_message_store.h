// SqliteMessageStore: the embedded, default MessageStore backend — one SQLite
// file in WAL mode, which several data-service node processes on one machine
// may share.
//
// Usage:
//   auto store = ds::storage::SqliteMessageStore::Open(
//       {.path = "/var/lib/ds/messages.db", .node_id = 3});
//   if (!store.ok()) return store.status();
//   (*store)->GetMessages({.channel_id = 42, .limit = 50}, {.deadline = d},
//                         [](absl::StatusOr<std::vector<Message>> page) { ... });
//
// Schema (Discord-style keys, created idempotently by Open):
//   messages(channel_id, bucket, message_id, author_id, content)
//       PRIMARY KEY (channel_id, bucket, message_id) WITHOUT ROWID,
//       bucket = ds::BucketOf(message_id)
//   nonces(channel_id, nonce, message_id) PRIMARY KEY (channel_id, nonce)
// 64-bit unsigned ids are stored bit-cast to SQLite's signed INTEGER.
//
// Threads and connections: `reader_threads` threads each own a read-only
// connection and serve GetMessages/GetMessage from one shared queue; ONE writer
// thread owns the read-write connection and serves SendMessage/BulkInsert in
// arrival order (SQLite admits one writer at a time anyway). A timer thread
// answers queued calls whose deadline passes before a worker picks them up.
// Callbacks run on those threads, never inline, with no lock held.
//
// Calls and CallOptions: a call whose cancel token is set, or whose deadline
// has passed, when a worker dequeues it is answered CANCELLED /
// DEADLINE_EXCEEDED without touching the database; a queued call is answered
// DEADLINE_EXCEEDED at its deadline; a read in progress is interrupted at its
// deadline or on cancellation. A write that has begun is never interrupted: it
// commits or rolls back as a whole and is answered truthfully.
//
// Writes use BEGIN IMMEDIATE. When another process holds the write lock the
// writer backs off (1..16 ms) until min(deadline, now + busy_timeout), then
// answers UNAVAILABLE (or DEADLINE_EXCEEDED if the deadline is what ran out).
// SendMessage looks the (channel_id, nonce) pair up and inserts the message and
// the nonce in the same transaction, so a concurrent retry from another
// process gets the same message with duplicate = true and one row is stored.
// Several processes must use different `node_id`s (as every node does); a
// snowflake collision anyway is retried with a fresh id, never overwritten.
//
// Errors map to gRPC-style codes: a full database file or disk (or
// `max_database_bytes` reached) -> RESOURCE_EXHAUSTED, with a log line; lock
// contention after retries and I/O failures -> UNAVAILABLE; interrupted by deadline ->
// DEADLINE_EXCEEDED; constraint violations, corruption and misuse -> INTERNAL; ids >= 2^63 in
// BulkInsert -> INVALID_ARGUMENT.
//
// Shutdown: the destructor stops taking work, answers every call still queued
// CANCELLED (without touching the database: such a write never happened),
// lets calls in progress finish, then joins its threads and closes the
// connections. Calls made after the destructor started are answered
// CANCELLED at once (inline: there is no thread left to answer them).
//
// Thread-safe: every method may be called from any thread, also from inside
// a callback.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/snowflake.h"
#include "storage/message_store.h"

namespace ds {
class TimerThread;
}  // namespace ds

namespace ds::storage {

namespace sqlite_internal {
class SqliteConnection;
class TaskQueue;
struct Task;
}  // namespace sqlite_internal

struct SqliteStoreOptions {
  // The database file; created with its schema if missing. Must be a real
  // file (":memory:" cannot be shared between connections).
  std::string path;
  // Threads (each with a read-only connection) serving reads, 1..64.
  int reader_threads = 4;
  // Snowflake node bits of the ids SendMessage assigns (0..1023); every
  // process sharing the file needs its own.
  uint32_t node_id = 0;
  // How long one call waits for a lock held by another connection or process.
  absl::Duration busy_timeout = absl::Seconds(5);
  // PRAGMA synchronous: true = FULL (an acknowledged write survives power
  // loss: the WAL is synced on every commit), false = NORMAL (survives a
  // process crash, may lose the last commits on power loss; faster).
  bool durable_commits = true;
  // A cap on the database file's size (PRAGMA max_page_count, rounded down to
  // whole pages); writes beyond it are refused RESOURCE_EXHAUSTED as on a
  // full disk. 0 = only the file system limits it.
  uint64_t max_database_bytes = 0;
  // Unix milliseconds for snowflake ids; injectable for tests.
  std::function<int64_t()> now_ms = nullptr;
};

class SqliteMessageStore final : public MessageStore {
 public:
  // Opens (creating if needed) the database and its schema and starts the
  // threads. Errors: INVALID_ARGUMENT for bad options, UNAVAILABLE when the
  // file cannot be opened or stays locked, INTERNAL for a file that is not a
  // usable database.
  static absl::StatusOr<std::unique_ptr<SqliteMessageStore>> Open(SqliteStoreOptions options);
  ~SqliteMessageStore() override;

  SqliteMessageStore(const SqliteMessageStore&) = delete;
  SqliteMessageStore& operator=(const SqliteMessageStore&) = delete;

  void GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                   Callback<std::vector<Message>> done) override;
  void GetMessage(uint64_t channel_id, uint64_t message_id, const CallOptions& options,
                  Callback<Message> done) override;
  void SendMessage(const NewMessage& message, const CallOptions& options,
                   Callback<SendResult> done) override;
  // One transaction for the whole batch (INSERT OR IGNORE: existing ids keep
  // their row); answers the number of rows actually added.
  void BulkInsert(std::vector<Message> messages, const CallOptions& options,
                  Callback<size_t> done) override;

 private:
  explicit SqliteMessageStore(SqliteStoreOptions options);

  // Queues `task` (with a deadline watchdog) for the readers or the writer.
  void Submit(std::shared_ptr<sqlite_internal::Task> task, bool write);
  void WorkerLoop(sqlite_internal::TaskQueue& queue, sqlite_internal::SqliteConnection& conn);

  // The work itself, on a worker thread, inside a CallScope.
  absl::StatusOr<std::vector<Message>> DoGetMessages(sqlite_internal::SqliteConnection& conn,
                                                     const GetMessagesQuery& q);
  absl::StatusOr<Message> DoGetMessage(sqlite_internal::SqliteConnection& conn, uint64_t channel_id,
                                       uint64_t message_id);
  absl::StatusOr<SendResult> DoSendMessage(sqlite_internal::SqliteConnection& conn,
                                           const NewMessage& m);
  absl::StatusOr<size_t> DoBulkInsert(sqlite_internal::SqliteConnection& conn,
                                      const std::vector<Message>& messages);

  const SqliteStoreOptions options_;
  SnowflakeGenerator ids_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<TimerThread> watchdog_;
  std::unique_ptr<sqlite_internal::TaskQueue> read_queue_;
  std::unique_ptr<sqlite_internal::TaskQueue> write_queue_;
  std::unique_ptr<sqlite_internal::SqliteConnection> writer_conn_;
  std::vector<std::unique_ptr<sqlite_internal::SqliteConnection>> reader_conns_;
  std::vector<std::thread> threads_;
};

}  // namespace ds::storage
