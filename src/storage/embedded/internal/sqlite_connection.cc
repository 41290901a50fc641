#include "storage/embedded/internal/sqlite_connection.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace ds::storage::sqlite_internal {
namespace {

// The text of every statement, indexed by Sql. Row values `(bucket,
// message_id) < (?, ?)` let SQLite walk the primary key range directly
// (no filtering of a boundary bucket), newest or oldest first.
constexpr const char* kSqlText[] = {
    /*kBeginImmediate*/ "BEGIN IMMEDIATE",
    /*kCommit*/ "COMMIT",
    /*kRollback*/ "ROLLBACK",
    /*kGetOne*/
    "SELECT author_id, content FROM messages "
    "WHERE channel_id = ?1 AND bucket = ?2 AND message_id = ?3",
    /*kPageNewest*/
    "SELECT message_id, author_id, content FROM messages "
    "WHERE channel_id = ?1 AND (bucket, message_id) > (?2, ?3) "
    "AND (bucket, message_id) < (?4, ?5) "
    "ORDER BY bucket DESC, message_id DESC LIMIT ?6",
    /*kPageOldest*/
    "SELECT message_id, author_id, content FROM messages "
    "WHERE channel_id = ?1 AND (bucket, message_id) > (?2, ?3) "
    "AND (bucket, message_id) < (?4, ?5) "
    "ORDER BY bucket ASC, message_id ASC LIMIT ?6",
    /*kFindNonce*/ "SELECT message_id FROM nonces WHERE channel_id = ?1 AND nonce = ?2",
    /*kInsertMessage*/
    "INSERT INTO messages (channel_id, bucket, message_id, author_id, content) "
    "VALUES (?1, ?2, ?3, ?4, ?5)",
    /*kInsertNonce*/ "INSERT INTO nonces (channel_id, nonce, message_id) VALUES (?1, ?2, ?3)",
    /*kInsertIgnore*/
    "INSERT OR IGNORE INTO messages (channel_id, bucket, message_id, author_id, content) "
    "VALUES (?1, ?2, ?3, ?4, ?5)",
};
static_assert(std::size(kSqlText) == static_cast<size_t>(Sql::kCount));

// Progress handler granularity, in virtual machine instructions: a deadline
// check every ~few microseconds of query work.
constexpr int kProgressOps = 1000;

}  // namespace

const char* SqlText(Sql sql) { return kSqlText[static_cast<size_t>(sql)]; }

absl::StatusOr<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(
    const std::string& path, bool read_only, absl::Duration busy_timeout) {
  sqlite3* db = nullptr;
  const int flags =
      (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return absl::UnavailableError(absl::StrCat("sqlite: cannot open ", path, ": ", msg));
  }
  sqlite3_extended_result_codes(db, 1);
  std::unique_ptr<SqliteConnection> conn(new SqliteConnection(db, busy_timeout));
  sqlite3_busy_handler(db, &SqliteConnection::BusyHandler, conn.get());
  sqlite3_progress_handler(db, kProgressOps, &SqliteConnection::ProgressHandler, conn.get());
  return conn;
}

SqliteConnection::~SqliteConnection() {
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);  // null is a no-op
  sqlite3_close_v2(db_);
}

absl::Status SqliteConnection::Exec(const char* sql, const char* what) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  sqlite3_free(err);
  return rc == SQLITE_OK ? absl::OkStatus() : Error(rc, what);
}

absl::StatusOr<std::string> SqliteConnection::QueryText(const char* sql, const char* what) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, what);
  std::string out;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text != nullptr) out = reinterpret_cast<const char*>(text);
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  }
  absl::Status status = rc == SQLITE_OK ? absl::OkStatus() : Error(rc, what);
  sqlite3_finalize(stmt);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<sqlite3_stmt*> SqliteConnection::Prepared(Sql sql) {
  sqlite3_stmt*& slot = stmts_[static_cast<size_t>(sql)];
  if (slot == nullptr) {
    const int rc = sqlite3_prepare_v3(db_, kSqlText[static_cast<size_t>(sql)], -1,
                                      SQLITE_PREPARE_PERSISTENT, &slot, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(slot);
      slot = nullptr;
      return Error(rc, "prepare");
    }
  }
  return slot;
}

absl::Status SqliteConnection::Error(int rc, const char* what) const {
  const int primary = rc & 0xff;
  const std::string detail =
      absl::StrCat("sqlite ", what, ": ", sqlite3_errstr(rc), " (", sqlite3_errmsg(db_), ")");
  const bool deadline_passed = absl::Now() >= call_.deadline;
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      if (call_.cancel != nullptr && call_.cancel->cancelled()) return absl::CancelledError(detail);
      if (deadline_passed) return absl::DeadlineExceededError(detail);
      return absl::UnavailableError(detail);
    case SQLITE_INTERRUPT:
      if (call_.cancel != nullptr && call_.cancel->cancelled()) return absl::CancelledError(detail);
      return absl::DeadlineExceededError(detail);
    case SQLITE_FULL:
      LogFull(detail);
      return absl::ResourceExhaustedError(detail);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
      return absl::UnavailableError(detail);
    default:  // CONSTRAINT, CORRUPT, NOTADB, MISUSE, READONLY, SCHEMA, ...
      return absl::InternalError(detail);
  }
}

void SqliteConnection::LogFull(const std::string& detail) const {
  // At most one line per 10 s per process: a full disk fails every write.
  static std::atomic<int64_t> next_log_ns{0};
  const int64_t now = absl::GetCurrentTimeNanos();
  int64_t next = next_log_ns.load(std::memory_order_relaxed);
  if (now < next ||
      !next_log_ns.compare_exchange_strong(next, now + 10'000'000'000, std::memory_order_relaxed)) {
    return;
  }
  const char* file = sqlite3_db_filename(db_, "main");
  Logger("storage")->warn(
      "sqlite {}: the database or its disk is full; writes are refused RESOURCE_EXHAUSTED "
      "until space is freed (reads go on): {}",
      file != nullptr ? file : "?", detail);
}

int SqliteConnection::BusyHandler(void* self, int attempts) {
  // Another connection (maybe another process) holds the lock: back off
  // 1, 2, 4 ... 16 ms until the call's deadline or the busy timeout.
  const SqliteConnection* conn = static_cast<const SqliteConnection*>(self);
  const absl::Time limit = std::min(conn->call_.deadline, conn->call_.busy_until);
  const absl::Time now = absl::Now();
  if (now >= limit) return 0;  // give up: SQLITE_BUSY
  if (conn->call_.cancel != nullptr && conn->call_.cancel->cancelled()) return 0;
  const absl::Duration pause =
      std::min(absl::Milliseconds(1 << std::min(attempts, 4)), limit - now);
  std::this_thread::sleep_for(absl::ToChronoMicroseconds(pause));
  return 1;
}

int SqliteConnection::ProgressHandler(void* self) {
  const SqliteConnection* conn = static_cast<const SqliteConnection*>(self);
  if (!conn->call_.interruptible) return 0;
  if (conn->call_.cancel != nullptr && conn->call_.cancel->cancelled()) return 1;
  return absl::Now() >= conn->call_.deadline ? 1 : 0;
}

CallScope::CallScope(SqliteConnection& conn, absl::Time deadline, const CancelToken* cancel,
                     bool interruptible)
    : conn_(conn) {
  conn_.call_ = SqliteConnection::Call{.deadline = deadline,
                                       .cancel = cancel,
                                       .busy_until = absl::Now() + conn_.busy_timeout_,
                                       .interruptible = interruptible};
}

CallScope::~CallScope() { conn_.call_ = SqliteConnection::Call{}; }

Statement::~Statement() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  const int bytes = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(bytes));
}

}  // namespace ds::storage::sqlite_internal
