// SqliteMessageStore: the MessageStore contract suite plus what is specific to
// SQLite (file sharing between processes, reopening, locks, options).
#include "storage/embedded/sqlite_message_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "storage/embedded/internal/sqlite_connection.h"
#include "storage/message_store_contract.h"

namespace ds::storage {
namespace {

namespace fs = std::filesystem;

constexpr absl::Duration kWait = absl::Seconds(60);

// A fresh directory under TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ds_sqlite_test_XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

std::shared_ptr<MessageStore> FreshStore() {
  auto dir = std::make_shared<TempDir>();
  auto store = SqliteMessageStore::Open({.path = dir->File("contract.db"), .node_id = 1});
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return nullptr;
  }
  // The deleter closes the store before its directory goes away.
  return std::shared_ptr<MessageStore>(store->release(), [dir](MessageStore* s) { delete s; });
}

INSTANTIATE_MESSAGE_STORE_CONTRACT(Sqlite, FreshStore);

template <typename T>
absl::StatusOr<T> Await(const std::function<void(Callback<T>)>& call) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
  auto future = promise->get_future();
  call([promise](absl::StatusOr<T> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(absl::ToChronoSeconds(kWait)) != std::future_status::ready) {
    ADD_FAILURE() << "no answer";
    return absl::DeadlineExceededError("test gave up");
  }
  return future.get();
}

absl::StatusOr<SendResult> Send(MessageStore& store, const NewMessage& m, CallOptions o = {}) {
  return Await<SendResult>([&](Callback<SendResult> cb) { store.SendMessage(m, o, cb); });
}
absl::StatusOr<Message> Get(MessageStore& store, uint64_t channel, uint64_t id) {
  return Await<Message>([&](Callback<Message> cb) { store.GetMessage(channel, id, {}, cb); });
}
absl::StatusOr<std::vector<Message>> Newest(MessageStore& store, uint64_t channel, uint32_t n) {
  return Await<std::vector<Message>>([&](Callback<std::vector<Message>> cb) {
    store.GetMessages({.channel_id = channel, .limit = n}, {}, cb);
  });
}
absl::StatusOr<size_t> Bulk(MessageStore& store, std::vector<Message> ms) {
  return Await<size_t>([&](Callback<size_t> cb) { store.BulkInsert(std::move(ms), {}, cb); });
}

std::unique_ptr<SqliteMessageStore> MustOpen(SqliteStoreOptions o) {
  auto store = SqliteMessageStore::Open(std::move(o));
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

// Another process's connection holding the write lock.
class ForeignWriter {
 public:
  explicit ForeignWriter(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~ForeignWriter() {
    Unlock();
    sqlite3_close(db_);
  }
  void Lock() {
    ASSERT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  void Unlock() {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  sqlite3* db() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

TEST(SqliteMessageStoreTest, TwoStoresOnOneFileSeeEachOthersWritesAndShareNonces) {
  TempDir dir;
  const std::string path = dir.File("shared.db");
  auto a = MustOpen({.path = path, .node_id = 1});
  auto b = MustOpen({.path = path, .node_id = 2});
  ASSERT_TRUE(a && b);

  auto from_a = Send(*a, {.channel_id = 5, .author_id = 1, .content = "from a", .nonce = 10});
  ASSERT_TRUE(from_a.ok()) << from_a.status();
  auto seen_by_b = Get(*b, 5, from_a->message.message_id);
  ASSERT_TRUE(seen_by_b.ok()) << seen_by_b.status();
  EXPECT_EQ(*seen_by_b, from_a->message);

  // The retry lands on the other "process": same message, no second row.
  auto retry_on_b = Send(*b, {.channel_id = 5, .author_id = 1, .content = "from a", .nonce = 10});
  ASSERT_TRUE(retry_on_b.ok()) << retry_on_b.status();
  EXPECT_TRUE(retry_on_b->duplicate);
  EXPECT_EQ(retry_on_b->message, from_a->message);

  auto from_b = Send(*b, {.channel_id = 5, .author_id = 2, .content = "from b", .nonce = 11});
  ASSERT_TRUE(from_b.ok()) << from_b.status();
  auto page = Newest(*a, 5, 10);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0], from_b->message);  // newest first, across writers
  EXPECT_EQ((*page)[1], from_a->message);
}

TEST(SqliteMessageStoreTest, ConcurrentSameNonceAcrossTwoStoresStoresOneRow) {
  TempDir dir;
  const std::string path = dir.File("shared.db");
  auto a = MustOpen({.path = path, .node_id = 1});
  auto b = MustOpen({.path = path, .node_id = 2});
  ASSERT_TRUE(a && b);
  constexpr int kSenders = 16;
  std::vector<absl::StatusOr<SendResult>> results(kSenders, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kSenders; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Send(i % 2 == 0 ? *a : *b,
                        {.channel_id = 9, .author_id = 3, .content = "once", .nonce = 42});
    });
  }
  for (std::thread& t : threads) t.join();
  int originals = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->message, results[0]->message);
    originals += r->duplicate ? 0 : 1;
  }
  EXPECT_EQ(originals, 1);
  auto page = Newest(*b, 9, 100);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->size(), 1u);
}

TEST(SqliteMessageStoreTest, ReopeningKeepsMessagesAndNonces) {
  TempDir dir;
  const std::string path = dir.File("reopen.db");
  SendResult first;
  {
    auto store = MustOpen({.path = path, .node_id = 1});
    ASSERT_TRUE(store);
    auto sent = Send(*store, {.channel_id = 3, .author_id = 8, .content = "kept", .nonce = 1});
    ASSERT_TRUE(sent.ok()) << sent.status();
    first = *sent;
  }
  auto store = MustOpen({.path = path, .node_id = 1});
  ASSERT_TRUE(store);
  auto got = Get(*store, 3, first.message.message_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, first.message);
  auto retry = Send(*store, {.channel_id = 3, .author_id = 8, .content = "kept", .nonce = 1});
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->message, first.message);
}

TEST(SqliteMessageStoreTest, OpenRejectsBadOptions) {
  TempDir dir;
  EXPECT_EQ(SqliteMessageStore::Open({.path = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteMessageStore::Open({.path = ":memory:"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      SqliteMessageStore::Open({.path = dir.File("a.db"), .reader_threads = 0}).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteMessageStore::Open({.path = dir.File("a.db"), .node_id = 5000}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteMessageStore::Open({.path = dir.File("no/such/dir/a.db")}).status().code(),
            absl::StatusCode::kUnavailable);
  std::ofstream(dir.File("garbage.db")) << std::string(8192, 'g');
  auto garbage = SqliteMessageStore::Open({.path = dir.File("garbage.db")});
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInternal) << garbage.status();
}

TEST(SqliteMessageStoreTest, WriteLockedByAnotherProcessIsUnavailableAfterBusyTimeout) {
  TempDir dir;
  const std::string path = dir.File("locked.db");
  auto store = MustOpen({.path = path, .busy_timeout = absl::Milliseconds(50)});
  ASSERT_TRUE(store);
  ForeignWriter other(path);
  other.Lock();
  auto blocked = Send(*store, {.channel_id = 1, .author_id = 1, .content = "x", .nonce = 1});
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kUnavailable) << blocked.status();
  // A deadline shorter than the busy timeout is what gives up first.
  auto store2 = MustOpen({.path = path, .busy_timeout = absl::Seconds(30)});
  ASSERT_TRUE(store2);
  auto late = Send(*store2, {.channel_id = 1, .author_id = 1, .content = "x", .nonce = 1},
                   {.deadline = absl::Now() + absl::Milliseconds(50)});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
  // Reads are not blocked by a writer in WAL mode.
  EXPECT_TRUE(Newest(*store, 1, 10).ok());
  other.Unlock();
  auto sent = Send(*store, {.channel_id = 1, .author_id = 1, .content = "x", .nonce = 1});
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_FALSE(sent->duplicate);  // the failed attempts consumed nothing
}

TEST(SqliteMessageStoreTest, AFullDatabaseRefusesWritesResourceExhaustedAndKeepsWhatItAcked) {
  TempDir dir;
  const std::string path = dir.File("full.db");
  // 96 KiB: the schema and a handful of 3,000-byte messages fit, then it is
  // full, as a full disk would be.
  auto store = MustOpen({.path = path, .max_database_bytes = 96 * 1024});
  ASSERT_TRUE(store);
  std::vector<uint64_t> acked;
  absl::Status refused;
  for (uint64_t nonce = 1; nonce <= 200 && refused.ok(); ++nonce) {
    auto sent = Send(*store, {.channel_id = 7,
                              .author_id = 1,
                              .content = std::string(3000, static_cast<char>('a' + nonce % 26)),
                              .nonce = nonce});
    if (sent.ok()) {
      acked.push_back(sent->message.message_id);
    } else {
      refused = sent.status();
    }
  }
  ASSERT_FALSE(refused.ok()) << "200 writes of 3 KB fit in a 96 KiB database";
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "full")) << refused;
  ASSERT_GE(acked.size(), 3u);
  // Every acknowledged write is still there, and reads go on.
  auto page = Newest(*store, 7, 200);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->size(), acked.size());
  for (uint64_t id : acked) EXPECT_TRUE(Get(*store, 7, id).ok()) << id;
  // Still full: refused the same way again.
  auto again = Send(
      *store, {.channel_id = 7, .author_id = 1, .content = std::string(3000, 'z'), .nonce = 999});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kResourceExhausted) << again.status();
}

TEST(SqliteMessageStoreTest, QueuedCallIsAnsweredAtItsDeadline) {
  TempDir dir;
  const std::string path = dir.File("queued.db");
  auto store = MustOpen({.path = path, .busy_timeout = absl::Seconds(30)});
  ASSERT_TRUE(store);
  ForeignWriter other(path);
  other.Lock();
  // The first send occupies the writer thread, waiting for the lock ...
  std::promise<absl::StatusOr<SendResult>> first;
  store->SendMessage({.channel_id = 2, .author_id = 1, .content = "first", .nonce = 1}, {},
                     [&](absl::StatusOr<SendResult> r) { first.set_value(std::move(r)); });
  // ... so this one waits in the queue and must still be answered on time.
  const absl::Time start = absl::Now();
  auto queued = Send(*store, {.channel_id = 2, .author_id = 1, .content = "second", .nonce = 2},
                     {.deadline = start + absl::Milliseconds(100)});
  EXPECT_EQ(queued.status().code(), absl::StatusCode::kDeadlineExceeded) << queued.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  other.Unlock();
  auto first_result = first.get_future().get();
  ASSERT_TRUE(first_result.ok()) << first_result.status();
  auto page = Newest(*store, 2, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);  // the timed-out send never ran
  EXPECT_EQ(page->front().content, "first");
}

TEST(SqliteMessageStoreTest, DestructorAnswersQueuedCallsCancelled) {
  TempDir dir;
  const std::string path = dir.File("shutdown.db");
  auto store = MustOpen({.path = path, .busy_timeout = absl::Milliseconds(100)});
  ASSERT_TRUE(store);
  ForeignWriter other(path);
  other.Lock();
  std::vector<std::future<absl::StatusOr<SendResult>>> answers;
  std::vector<std::shared_ptr<std::promise<absl::StatusOr<SendResult>>>> promises;
  for (uint64_t i = 0; i < 5; ++i) {
    auto p = std::make_shared<std::promise<absl::StatusOr<SendResult>>>();
    answers.push_back(p->get_future());
    store->SendMessage({.channel_id = 4, .author_id = 1, .content = "x", .nonce = i}, {},
                       [p](absl::StatusOr<SendResult> r) { p->set_value(std::move(r)); });
  }
  store.reset();  // at most one send is in progress; the rest are still queued
  int cancelled = 0;
  for (auto& f : answers) {
    auto r = f.get();
    EXPECT_TRUE(r.status().code() == absl::StatusCode::kCancelled ||
                r.status().code() == absl::StatusCode::kUnavailable)
        << r.status();
    cancelled += r.status().code() == absl::StatusCode::kCancelled ? 1 : 0;
  }
  EXPECT_GE(cancelled, 4);
}

TEST(SqliteMessageStoreTest, BulkInsertIsOneFastTransactionAndRejectsUnstorableIds) {
  TempDir dir;
  auto store = MustOpen({.path = dir.File("bulk.db"), .durable_commits = false});
  ASSERT_TRUE(store);
  std::vector<Message> rows;
  const uint64_t base = SnowflakeFloor(absl::ToUnixMillis(absl::Now()) - 30LL * 86400 * 1000);
  for (uint64_t c = 1; c <= 20; ++c) {
    for (uint64_t i = 0; i < 10000; ++i) {
      rows.push_back({.channel_id = c,
                      .message_id = base + (i << 22) + c,
                      .author_id = i % 50,
                      .content = "seed message"});
    }
  }
  const absl::Time start = absl::Now();
  auto added = Bulk(*store, rows);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 200000u);
  EXPECT_LT(took, absl::Seconds(30)) << "200k rows took " << took;  // ~1 s on a quiet machine
  auto again = Bulk(*store, std::vector<Message>(rows.begin(), rows.begin() + 10));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);  // existing ids are left alone

  auto bad = Bulk(
      *store, {{.channel_id = 1, .message_id = uint64_t{1} << 63, .author_id = 1, .content = "x"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

// The page queries must walk the primary key, not scan a partition: a
// regression here is invisible to correctness tests and ruinous under load.
TEST(SqliteMessageStoreTest, PageQueriesSearchThePrimaryKey) {
  TempDir dir;
  const std::string path = dir.File("plan.db");
  auto store = MustOpen({.path = path});
  ASSERT_TRUE(store);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  // The store's own statements, not copies: a change to them is what this
  // test must see.
  for (sqlite_internal::Sql page :
       {sqlite_internal::Sql::kPageNewest, sqlite_internal::Sql::kPageOldest}) {
    const std::string sql = absl::StrCat("EXPLAIN QUERY PLAN ", sqlite_internal::SqlText(page));
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    std::string plan;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
      plan += "\n";
    }
    sqlite3_finalize(stmt);
    EXPECT_NE(plan.find("SEARCH messages USING PRIMARY KEY (channel_id=? AND (bucket,message_id)>"),
              std::string::npos)
        << plan;
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;  // no sort step
  }
  sqlite3_close(db);
}

}  // namespace
}  // namespace ds::storage
