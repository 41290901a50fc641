#include "storage/embedded/sqlite_message_store.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/timer_thread.h"
#include "storage/embedded/internal/sqlite_connection.h"

namespace ds::storage {
namespace sqlite_internal {

// One queued call. Exactly one party answers it: whoever Claim()s it first —
// the worker that dequeues it, or the deadline watchdog.
struct Task {
  virtual ~Task() = default;
  bool Claim() { return !claimed.exchange(true, std::memory_order_acq_rel); }
  // Runs the work on `conn` (inside a CallScope) and answers.
  virtual void Run(SqliteConnection& conn) = 0;
  // Answers `status` without touching the database.
  virtual void Fail(absl::Status status) = 0;

  absl::Time deadline = absl::InfiniteFuture();
  std::shared_ptr<const CancelToken> cancel;
  bool write = false;
  std::atomic<bool> claimed{false};
  std::atomic<TimerThread::Id> watchdog{0};
};

template <typename T>
struct TypedTask final : Task {
  void Run(SqliteConnection& conn) override {
    absl::StatusOr<T> result = [&] {
      CallScope scope(conn, deadline, cancel.get(), /*interruptible=*/!write);
      return work(conn);
    }();
    Answer(std::move(result));
  }
  void Fail(absl::Status status) override { Answer(std::move(status)); }
  void Answer(absl::StatusOr<T> result) {
    Callback<T> cb = std::move(done);
    work = nullptr;  // drop captured request data before the callback runs
    cb(std::move(result));
  }

  std::function<absl::StatusOr<T>(SqliteConnection&)> work;
  Callback<T> done;
};

// A closable FIFO of tasks shared by the workers of one kind.
class TaskQueue {
 public:
  // False once closed (the caller answers the task itself).
  bool Push(std::shared_ptr<Task> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }
  // Blocks for the next task; null once closed and empty.
  std::shared_ptr<Task> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !tasks_.empty(); });
    if (tasks_.empty()) return nullptr;
    std::shared_ptr<Task> task = std::move(tasks_.front());
    tasks_.pop_front();
    return task;
  }
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::shared_ptr<Task>> tasks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sqlite_internal

namespace {

using sqlite_internal::CallScope;
using sqlite_internal::FromSql;
using sqlite_internal::Sql;
using sqlite_internal::SqliteConnection;
using sqlite_internal::Statement;
using sqlite_internal::ToSql;
using sqlite_internal::TypedTask;

constexpr int64_t kMaxSqlId = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinSqlId = std::numeric_limits<int64_t>::min();
// Snowflake collisions (only with a node id shared by mistake) retried per send.
constexpr int kMaxIdCollisions = 8;

// Binds a messages row (kInsertMessage, kInsertIgnore: channel, bucket, id,
// author, content) and runs the statement; the SQLite result code.
int InsertRow(sqlite3_stmt* insert, uint64_t channel_id, uint64_t message_id, uint64_t author_id,
              std::string_view content) {
  Statement st(insert);
  st.Bind(1, ToSql(channel_id));
  st.Bind(2, BucketOf(message_id));
  st.Bind(3, ToSql(message_id));
  st.Bind(4, ToSql(author_id));
  st.Bind(5, content);
  return st.Step();
}

constexpr const char* kSchema =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS messages ("
    "  channel_id INTEGER NOT NULL,"
    "  bucket INTEGER NOT NULL,"
    "  message_id INTEGER NOT NULL,"
    "  author_id INTEGER NOT NULL,"
    "  content TEXT NOT NULL,"
    "  PRIMARY KEY (channel_id, bucket, message_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS nonces ("
    "  channel_id INTEGER NOT NULL,"
    "  nonce INTEGER NOT NULL,"
    "  message_id INTEGER NOT NULL,"
    "  PRIMARY KEY (channel_id, nonce)) WITHOUT ROWID;"
    "COMMIT;";

// Runs BEGIN IMMEDIATE, retrying SQLITE_BUSY results that bypassed the busy
// handler, within the call's limits.
absl::Status BeginImmediate(SqliteConnection& conn) {
  auto begin = conn.Prepared(Sql::kBeginImmediate);
  if (!begin.ok()) return begin.status();
  for (int attempt = 0;; ++attempt) {
    Statement st(*begin);
    const int rc = st.Step();
    if (rc == SQLITE_DONE) return absl::OkStatus();
    if ((rc & 0xff) != SQLITE_BUSY || !conn.BackOff(attempt)) {
      return conn.Error(rc, "begin immediate");
    }
  }
}

// An open write transaction: rolled back on scope exit unless committed.
class Transaction {
 public:
  explicit Transaction(SqliteConnection& conn) : conn_(conn) {}
  ~Transaction() {
    if (!open_) return;
    if (auto rollback = conn_.Prepared(Sql::kRollback); rollback.ok()) {
      Statement st(*rollback);
      if (st.Step() == SQLITE_DONE) return;
    }
    // Should not happen; make sure no transaction stays open on this connection.
    conn_.Exec("ROLLBACK", "rollback").IgnoreError();
  }
  absl::Status Begin() {
    absl::Status s = BeginImmediate(conn_);
    open_ = s.ok();
    return s;
  }
  absl::Status Commit() {
    auto commit = conn_.Prepared(Sql::kCommit);
    if (!commit.ok()) return commit.status();
    Statement st(*commit);
    const int rc = st.Step();
    if (rc != SQLITE_DONE) return conn_.Error(rc, "commit");  // destructor rolls back
    open_ = false;
    return absl::OkStatus();
  }

 private:
  SqliteConnection& conn_;
  bool open_ = false;
};

absl::Status ValidateOptions(const SqliteStoreOptions& o) {
  if (o.path.empty()) return absl::InvalidArgumentError("sqlite store: path is empty");
  if (o.path == ":memory:" || o.path.rfind("file::memory:", 0) == 0) {
    return absl::InvalidArgumentError("sqlite store: path must be a file, not :memory:");
  }
  if (o.reader_threads < 1 || o.reader_threads > 64) {
    return absl::InvalidArgumentError("sqlite store: reader_threads must be in 1..64");
  }
  if (o.node_id > kMaxSnowflakeNode) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite store: node_id must be <= ", kMaxSnowflakeNode));
  }
  if (o.busy_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("sqlite store: busy_timeout must be >= 0");
  }
  return absl::OkStatus();
}

// PRAGMA max_page_count for `max_bytes` (0: no cap). The cap belongs to the
// connection; only the writer's matters.
absl::Status CapSize(SqliteConnection& writer, uint64_t max_bytes) {
  if (max_bytes == 0) return absl::OkStatus();
  auto page_size = writer.QueryText("PRAGMA page_size", "read page size");
  if (!page_size.ok()) return page_size.status();
  uint64_t bytes_per_page = 0;
  if (!absl::SimpleAtoi(*page_size, &bytes_per_page) || bytes_per_page == 0) {
    return absl::InternalError(absl::StrCat("sqlite: unexpected page_size ", *page_size));
  }
  const uint64_t pages = std::max<uint64_t>(1, max_bytes / bytes_per_page);
  const std::string pragma = absl::StrCat("PRAGMA max_page_count=", pages);
  auto set = writer.QueryText(pragma.c_str(), "cap the database size");
  return set.ok() ? absl::OkStatus() : set.status();
}

}  // namespace

// ---- Lifecycle ----

SqliteMessageStore::SqliteMessageStore(SqliteStoreOptions options)
    : options_(std::move(options)),
      ids_(options_.node_id, options_.now_ms),
      watchdog_(std::make_unique<TimerThread>()),
      read_queue_(std::make_unique<sqlite_internal::TaskQueue>()),
      write_queue_(std::make_unique<sqlite_internal::TaskQueue>()) {}

absl::StatusOr<std::unique_ptr<SqliteMessageStore>> SqliteMessageStore::Open(
    SqliteStoreOptions options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  std::unique_ptr<SqliteMessageStore> store(new SqliteMessageStore(std::move(options)));
  const SqliteStoreOptions& o = store->options_;

  auto writer = SqliteConnection::Open(o.path, /*read_only=*/false, o.busy_timeout);
  if (!writer.ok()) return writer.status();
  {
    CallScope scope(**writer, absl::InfiniteFuture(), nullptr, /*interruptible=*/false);
    auto mode = (*writer)->QueryText("PRAGMA journal_mode=WAL", "set WAL mode");
    if (!mode.ok()) return mode.status();
    if (*mode != "wal") {
      return absl::InternalError(absl::StrCat("sqlite: cannot use WAL mode for ", o.path,
                                              " (journal_mode is ", *mode, ")"));
    }
    const char* sync = o.durable_commits ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    if (absl::Status s = (*writer)->Exec(sync, "set synchronous"); !s.ok()) return s;
    if (absl::Status s = CapSize(**writer, o.max_database_bytes); !s.ok()) return s;
    // Only take the write lock when the schema is missing, so a node can
    // start while another process is writing.
    auto tables = (*writer)->QueryText(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
        "('messages', 'nonces')",
        "read schema");
    if (!tables.ok()) return tables.status();
    if (*tables != "2") {
      if (absl::Status s = (*writer)->Exec(kSchema, "create schema"); !s.ok()) {
        (*writer)->Exec("ROLLBACK", "rollback").IgnoreError();
        return s;
      }
    }
  }
  store->writer_conn_ = std::move(*writer);
  for (int i = 0; i < o.reader_threads; ++i) {
    auto reader = SqliteConnection::Open(o.path, /*read_only=*/true, o.busy_timeout);
    if (!reader.ok()) return reader.status();
    store->reader_conns_.push_back(std::move(*reader));
  }

  SqliteMessageStore* s = store.get();
  s->threads_.emplace_back([s] { s->WorkerLoop(*s->write_queue_, *s->writer_conn_); });
  for (auto& conn : s->reader_conns_) {
    SqliteConnection* c = conn.get();
    s->threads_.emplace_back([s, c] { s->WorkerLoop(*s->read_queue_, *c); });
  }
  return store;
}

SqliteMessageStore::~SqliteMessageStore() {
  stopping_.store(true, std::memory_order_release);
  read_queue_->Close();
  write_queue_->Close();
  for (std::thread& t : threads_) t.join();  // they drain their queues first
  // Every task has been claimed by now; leftover watchdogs fire as no-ops.
  watchdog_.reset();
  reader_conns_.clear();
  writer_conn_.reset();
}

// ---- Dispatch ----

void SqliteMessageStore::Submit(std::shared_ptr<sqlite_internal::Task> task, bool write) {
  task->write = write;
  if (stopping_.load(std::memory_order_acquire)) {
    if (task->Claim()) task->Fail(absl::CancelledError("sqlite store is shutting down"));
    return;
  }
  if (task->deadline != absl::InfiniteFuture()) {
    std::weak_ptr<sqlite_internal::Task> weak = task;
    task->watchdog.store(watchdog_->Schedule(task->deadline, [weak] {
      std::shared_ptr<sqlite_internal::Task> t = weak.lock();
      if (t != nullptr && t->Claim()) {
        t->Fail(absl::DeadlineExceededError("deadline passed while queued for the database"));
      }
    }));
  }
  sqlite_internal::TaskQueue& queue = write ? *write_queue_ : *read_queue_;
  if (!queue.Push(task) && task->Claim()) {
    task->Fail(absl::CancelledError("sqlite store is shutting down"));
  }
}

void SqliteMessageStore::WorkerLoop(sqlite_internal::TaskQueue& queue, SqliteConnection& conn) {
  while (std::shared_ptr<sqlite_internal::Task> task = queue.Pop()) {
    if (!task->Claim()) continue;  // the watchdog answered it
    if (TimerThread::Id id = task->watchdog.load(); id != 0) watchdog_->Cancel(id);
    if (stopping_.load(std::memory_order_acquire)) {
      task->Fail(absl::CancelledError("sqlite store is shutting down"));
    } else if (task->cancel != nullptr && task->cancel->cancelled()) {
      task->Fail(absl::CancelledError("cancelled before the query started"));
    } else if (absl::Now() >= task->deadline) {
      task->Fail(absl::DeadlineExceededError("deadline passed before the query started"));
    } else {
      task->Run(conn);
    }
  }
}

void SqliteMessageStore::GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                                     Callback<std::vector<Message>> done) {
  auto task = std::make_shared<TypedTask<std::vector<Message>>>();
  task->deadline = options.deadline;
  task->cancel = options.cancel;
  task->done = std::move(done);
  task->work = [this, query](SqliteConnection& conn) { return DoGetMessages(conn, query); };
  Submit(std::move(task), /*write=*/false);
}

void SqliteMessageStore::GetMessage(uint64_t channel_id, uint64_t message_id,
                                    const CallOptions& options, Callback<Message> done) {
  auto task = std::make_shared<TypedTask<Message>>();
  task->deadline = options.deadline;
  task->cancel = options.cancel;
  task->done = std::move(done);
  task->work = [this, channel_id, message_id](SqliteConnection& conn) {
    return DoGetMessage(conn, channel_id, message_id);
  };
  Submit(std::move(task), /*write=*/false);
}

void SqliteMessageStore::SendMessage(const NewMessage& message, const CallOptions& options,
                                     Callback<SendResult> done) {
  auto task = std::make_shared<TypedTask<SendResult>>();
  task->deadline = options.deadline;
  task->cancel = options.cancel;
  task->done = std::move(done);
  task->work = [this, message](SqliteConnection& conn) { return DoSendMessage(conn, message); };
  Submit(std::move(task), /*write=*/true);
}

void SqliteMessageStore::BulkInsert(std::vector<Message> messages, const CallOptions& options,
                                    Callback<size_t> done) {
  auto task = std::make_shared<TypedTask<size_t>>();
  task->deadline = options.deadline;
  task->cancel = options.cancel;
  task->done = std::move(done);
  task->work = [this, messages = std::move(messages)](SqliteConnection& conn) {
    return DoBulkInsert(conn, messages);
  };
  Submit(std::move(task), /*write=*/true);
}

// ---- The queries (on worker threads) ----

absl::StatusOr<std::vector<Message>> SqliteMessageStore::DoGetMessages(SqliteConnection& conn,
                                                                       const GetMessagesQuery& q) {
  std::vector<Message> page;
  if (q.limit == 0) return page;
  // Exclusive bounds on (bucket, message_id); ids >= 2^63 cannot be stored.
  int64_t lo_bucket = kMinSqlId, lo_id = kMinSqlId;
  int64_t hi_bucket = kMaxSqlId, hi_id = kMaxSqlId;
  if (q.after.has_value()) {
    if (*q.after > static_cast<uint64_t>(kMaxSqlId)) return page;
    lo_bucket = BucketOf(*q.after);
    lo_id = ToSql(*q.after);
  }
  if (q.before.has_value() && *q.before <= static_cast<uint64_t>(kMaxSqlId)) {
    hi_bucket = BucketOf(*q.before);
    hi_id = ToSql(*q.before);
  }
  auto stmt = conn.Prepared(q.after.has_value() ? Sql::kPageOldest : Sql::kPageNewest);
  if (!stmt.ok()) return stmt.status();
  Statement st(*stmt);
  st.Bind(1, ToSql(q.channel_id));
  st.Bind(2, lo_bucket);
  st.Bind(3, lo_id);
  st.Bind(4, hi_bucket);
  st.Bind(5, hi_id);
  st.Bind(6, static_cast<int64_t>(q.limit));
  page.reserve(std::min<uint32_t>(q.limit, 1000));
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    page.push_back(Message{.channel_id = q.channel_id,
                           .message_id = FromSql(st.Int(0)),
                           .author_id = FromSql(st.Int(1)),
                           .content = st.Text(2)});
  }
  if (rc != SQLITE_DONE) return conn.Error(rc, "get messages");
  if (q.after.has_value()) std::reverse(page.begin(), page.end());  // newest first
  return page;
}

absl::StatusOr<Message> SqliteMessageStore::DoGetMessage(SqliteConnection& conn,
                                                         uint64_t channel_id, uint64_t message_id) {
  if (message_id > static_cast<uint64_t>(kMaxSqlId)) {
    return absl::NotFoundError("no such message");
  }
  auto stmt = conn.Prepared(Sql::kGetOne);
  if (!stmt.ok()) return stmt.status();
  Statement st(*stmt);
  st.Bind(1, ToSql(channel_id));
  st.Bind(2, BucketOf(message_id));
  st.Bind(3, ToSql(message_id));
  const int rc = st.Step();
  if (rc == SQLITE_DONE) return absl::NotFoundError("no such message");
  if (rc != SQLITE_ROW) return conn.Error(rc, "get message");
  return Message{.channel_id = channel_id,
                 .message_id = message_id,
                 .author_id = FromSql(st.Int(0)),
                 .content = st.Text(1)};
}

absl::StatusOr<SendResult> SqliteMessageStore::DoSendMessage(SqliteConnection& conn,
                                                             const NewMessage& m) {
  Transaction txn(conn);
  if (absl::Status s = txn.Begin(); !s.ok()) return s;

  // 1. Was this (channel, nonce) stored before (by any process)?
  auto find = conn.Prepared(Sql::kFindNonce);
  if (!find.ok()) return find.status();
  std::optional<uint64_t> existing;
  {
    Statement st(*find);
    st.Bind(1, ToSql(m.channel_id));
    st.Bind(2, ToSql(m.nonce));
    const int rc = st.Step();
    if (rc == SQLITE_ROW) {
      existing = FromSql(st.Int(0));
    } else if (rc != SQLITE_DONE) {
      return conn.Error(rc, "find nonce");
    }
  }
  if (existing.has_value()) {
    absl::StatusOr<Message> stored = DoGetMessage(conn, m.channel_id, *existing);
    if (stored.status().code() == absl::StatusCode::kNotFound) {
      // The nonce row and its message are written in one transaction, so this
      // means the file was edited by hand or is damaged.
      return absl::InternalError("sqlite: nonce refers to a missing message");
    }
    if (!stored.ok()) return stored.status();
    return SendResult{.message = *std::move(stored), .duplicate = true};  // txn rolls back
  }

  // 2. Store the message and its nonce.
  auto insert = conn.Prepared(Sql::kInsertMessage);
  if (!insert.ok()) return insert.status();
  Message stored{
      .channel_id = m.channel_id, .message_id = 0, .author_id = m.author_id, .content = m.content};
  for (int attempt = 0;; ++attempt) {
    stored.message_id = ids_.Next();
    const int rc = InsertRow(*insert, m.channel_id, stored.message_id, m.author_id, m.content);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_CONSTRAINT_PRIMARYKEY || attempt + 1 >= kMaxIdCollisions) {
      return conn.Error(rc, "insert message");
    }
  }
  auto nonce = conn.Prepared(Sql::kInsertNonce);
  if (!nonce.ok()) return nonce.status();
  {
    Statement st(*nonce);
    st.Bind(1, ToSql(m.channel_id));
    st.Bind(2, ToSql(m.nonce));
    st.Bind(3, ToSql(stored.message_id));
    const int rc = st.Step();
    if (rc != SQLITE_DONE) return conn.Error(rc, "insert nonce");
  }
  if (absl::Status s = txn.Commit(); !s.ok()) return s;
  return SendResult{.message = std::move(stored), .duplicate = false};
}

absl::StatusOr<size_t> SqliteMessageStore::DoBulkInsert(SqliteConnection& conn,
                                                        const std::vector<Message>& messages) {
  for (const Message& m : messages) {
    if (m.message_id > static_cast<uint64_t>(kMaxSqlId)) {
      return absl::InvalidArgumentError(
          absl::StrCat("message_id ", m.message_id, " is not below 2^63"));
    }
  }
  if (messages.empty()) return size_t{0};
  Transaction txn(conn);
  if (absl::Status s = txn.Begin(); !s.ok()) return s;
  auto insert = conn.Prepared(Sql::kInsertIgnore);
  if (!insert.ok()) return insert.status();
  size_t added = 0;
  for (const Message& m : messages) {
    const int rc = InsertRow(*insert, m.channel_id, m.message_id, m.author_id, m.content);
    if (rc != SQLITE_DONE) return conn.Error(rc, "bulk insert");
    added += static_cast<size_t>(sqlite3_changes(conn.db()));
  }
  if (absl::Status s = txn.Commit(); !s.ok()) return s;
  return added;
}

}  // namespace ds::storage
