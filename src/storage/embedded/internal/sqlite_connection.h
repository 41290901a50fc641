// SqliteConnection: one sqlite3 connection with its cached prepared
// statements, busy/progress handlers bound to the current call's deadline and
// cancel token, and the mapping of SQLite result codes to absl::Status.
// Private to SqliteMessageStore.
//
// Usage (on the one thread that owns the connection):
//   auto conn = SqliteConnection::Open(path, /*read_only=*/true, busy_timeout);
//   CallScope scope(**conn, deadline, cancel.get(), /*interruptible=*/true);
//   Statement st(*(*conn)->Prepared(Sql::kGetOne));  // reset + unbound on scope exit
//   st.Bind(1, channel_id); ...
//   int rc = st.Step();
//
// Threading: not thread-safe; each connection belongs to one thread
// (opened with SQLITE_OPEN_NOMUTEX).
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/message_store.h"

namespace ds::storage::sqlite_internal {

// Every statement the store runs; prepared once per connection, on first use.
enum class Sql {
  kBeginImmediate = 0,
  kCommit,
  kRollback,
  kGetOne,         // ?1 channel, ?2 bucket, ?3 id -> author_id, content
  kPageNewest,     // ?1 channel, (?2 bucket, ?3 id) < row < (?4 bucket, ?5 id), ?6 limit; DESC
  kPageOldest,     // same bounds, ASC
  kFindNonce,      // ?1 channel, ?2 nonce -> message_id
  kInsertMessage,  // ?1 channel, ?2 bucket, ?3 id, ?4 author, ?5 content
  kInsertNonce,    // ?1 channel, ?2 nonce, ?3 message_id
  kInsertIgnore,   // as kInsertMessage, keeps an existing row
  kCount,
};

// The text of a statement (tests check the plans SQLite makes for it).
const char* SqlText(Sql sql);

class SqliteConnection {
 public:
  // Opens `path` (creating it unless read_only), installs the handlers.
  // Errors: UNAVAILABLE when the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<SqliteConnection>> Open(const std::string& path,
                                                                bool read_only,
                                                                absl::Duration busy_timeout);
  ~SqliteConnection();

  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // Runs one or more SQL statements without results (PRAGMAs, schema).
  absl::Status Exec(const char* sql, const char* what);
  // Runs a statement returning one text value (e.g. PRAGMA journal_mode=WAL).
  absl::StatusOr<std::string> QueryText(const char* sql, const char* what);
  // The cached prepared statement (prepared on first use).
  absl::StatusOr<sqlite3_stmt*> Prepared(Sql sql);

  // Maps a SQLite result code to a status that says what the caller should do:
  // BUSY/LOCKED (after the busy handler gave up) -> UNAVAILABLE, or
  // DEADLINE_EXCEEDED when the call's deadline is what stopped the wait;
  // INTERRUPT -> DEADLINE_EXCEEDED / CANCELLED by cause; full database or
  // disk -> RESOURCE_EXHAUSTED (logged, at most once per 10 s); I/O, cannot
  // open -> UNAVAILABLE; anything else (constraint, corruption, misuse) ->
  // INTERNAL.
  absl::Status Error(int rc, const char* what) const;
  void LogFull(const std::string& detail) const;

  // For retry loops around SQLITE_BUSY results that bypass the busy handler
  // (e.g. WAL recovery): waits like one busy-handler round and returns true,
  // or returns false once the call's deadline / busy timeout is reached.
  bool BackOff(int attempt) { return BusyHandler(this, attempt) != 0; }

  sqlite3* db() const { return db_; }

 private:
  friend class CallScope;
  struct Call {
    absl::Time deadline = absl::InfiniteFuture();
    const CancelToken* cancel = nullptr;
    absl::Time busy_until = absl::InfiniteFuture();
    bool interruptible = false;
  };

  SqliteConnection(sqlite3* db, absl::Duration busy_timeout)
      : db_(db), busy_timeout_(busy_timeout) {}
  static int BusyHandler(void* self, int attempts);
  static int ProgressHandler(void* self);

  sqlite3* db_;
  const absl::Duration busy_timeout_;
  std::array<sqlite3_stmt*, static_cast<size_t>(Sql::kCount)> stmts_{};
  Call call_;  // the call in progress (defaults between calls)
};

// Binds a call's deadline and cancel token to a connection for its duration:
// the busy handler waits at most until min(deadline, now + busy_timeout), and
// if `interruptible` the progress handler aborts a statement once the deadline
// passes or the token is cancelled (reads only: a write is never interrupted
// halfway so its outcome stays unambiguous).
class CallScope {
 public:
  CallScope(SqliteConnection& conn, absl::Time deadline, const CancelToken* cancel,
            bool interruptible);
  ~CallScope();

 private:
  SqliteConnection& conn_;
};

// A cached statement for one use: reset and unbound on destruction. Bound
// text must outlive the Step() calls.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void Bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void Bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  }
  int Step() { return sqlite3_step(stmt_); }
  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) const;

 private:
  sqlite3_stmt* stmt_;
};

// uint64 <-> SQLite's signed INTEGER: a bit cast, so equality round-trips for
// any value; ordering is preserved below 2^63 (all snowflakes until ~2084).
inline int64_t ToSql(uint64_t v) { return static_cast<int64_t>(v); }
inline uint64_t FromSql(int64_t v) { return static_cast<uint64_t>(v); }

}  // namespace ds::storage::sqlite_internal
