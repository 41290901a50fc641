// Integration tests of CqlClient against a real Cassandra (or ScyllaDB) node.
//
// Needs a node: `scripts/cassandra start` (ctest does it through the
// `cassandra` fixture). Hosts come from DS_CASSANDRA_HOSTS (comma-separated,
// default 127.0.0.1). An unreachable node FAILS every test: a green run must
// mean the client really talked to Cassandra.
#include "storage/cassandra/cql_client.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "testing/cassandra_hosts.h"

namespace ds::storage::cassandra {
namespace {

constexpr char kKeyspace[] = "ds_cql_client_test";

std::vector<std::string> Hosts() { return ds::testing::CassandraHosts(); }

// Waits for a number of callbacks (they run on driver threads).
class Latch {
 public:
  explicit Latch(int count) : count_(count) {}
  void CountDown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--count_ == 0) cv_.notify_all();
  }
  bool WaitFor(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoSeconds(timeout), [this] { return count_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_;
};

class CqlClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<CqlClient>> client =
        CqlClient::Connect({.hosts = Hosts(), .request_timeout = absl::Seconds(10)});
    if (!client.ok()) {
      connect_status_ = new absl::Status(client.status());
      return;
    }
    client_ = client->release();
    // RF 1 works on one node and on three; DDL waits for schema agreement.
    connect_status_ = new absl::Status(client_->Query(absl::StrCat(
        "CREATE KEYSPACE IF NOT EXISTS ", kKeyspace,
        " WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 1}")));
  }

  static void TearDownTestSuite() {
    delete client_;
    client_ = nullptr;
    delete connect_status_;
    connect_status_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(connect_status_->ok())
        << "no Cassandra at DS_CASSANDRA_HOSTS (start one with scripts/cassandra start): "
        << *connect_status_;
  }

  // Drops and recreates a table named after the running test.
  std::string FreshTable(std::string_view columns) {
    std::string table = absl::StrCat(
        kKeyspace, ".", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    EXPECT_TRUE(client_->Query(absl::StrCat("DROP TABLE IF EXISTS ", table)).ok());
    absl::Status created = client_->Query(absl::StrCat(
        "CREATE TABLE ", table, " ", absl::string_view(columns.data(), columns.size())));
    EXPECT_TRUE(created.ok()) << created;
    return table;
  }

  static CqlClient* client_;
  static absl::Status* connect_status_;
};

CqlClient* CqlClientTest::client_ = nullptr;
absl::Status* CqlClientTest::connect_status_ = nullptr;

TEST_F(CqlClientTest, PreparedInsertAndSelectRoundTripEveryType) {
  std::string table = FreshTable(
      "(k bigint, c int, t text, b blob, ts timestamp, f boolean, n bigint, u text, "
      "PRIMARY KEY (k, c))");
  absl::StatusOr<PreparedStatement> insert =
      client_->Prepare(absl::StrCat("INSERT INTO ", table,
                                    " (k, c, t, b, ts, f, n, u) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                       /*idempotent=*/true);
  ASSERT_TRUE(insert.ok()) << insert.status();
  absl::StatusOr<PreparedStatement> select =
      client_->Prepare(absl::StrCat("SELECT k, c, t, b, ts, f, n, u FROM ", table, " WHERE k = ?"));
  ASSERT_TRUE(select.ok()) << select.status();

  const std::string blob("\x00\x01\xff", 3);
  const absl::Time ts = absl::FromUnixMillis(1700000000123);
  absl::StatusOr<Rows> written = client_->ExecuteSync(
      *insert,
      {CqlValue::BigInt(-42), CqlValue::Int(7), CqlValue::Text("héllo"), CqlValue::Blob(blob),
       CqlValue::Timestamp(ts), CqlValue::Boolean(true), CqlValue::Null(), CqlValue::Unset()});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->size(), 0u);

  absl::StatusOr<Rows> rows = client_->ExecuteSync(*select, {CqlValue::BigInt(-42)});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  ASSERT_EQ(rows->column_count(), 8u);
  EXPECT_EQ(rows->ColumnName(2), "t");
  EXPECT_EQ(*rows->GetInt64(0, 0), -42);
  EXPECT_EQ(*rows->GetInt32(0, 1), 7);
  EXPECT_EQ(*rows->GetBytes(0, 2), "héllo");
  EXPECT_EQ(*rows->GetBytes(0, 3), blob);
  EXPECT_EQ(*rows->GetInt64(0, 4), absl::ToUnixMillis(ts));
  EXPECT_EQ(*rows->GetBool(0, 5), true);
  EXPECT_TRUE(rows->IsNull(0, 6));
  EXPECT_TRUE(rows->IsNull(0, 7));
  EXPECT_FALSE(rows->IsNull(0, 0));
  EXPECT_FALSE(rows->has_more_pages());

  // Accessors used against the schema are our bugs: INTERNAL; NULL cells
  // are FAILED_PRECONDITION.
  EXPECT_EQ(rows->GetInt32(0, 0).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(rows->GetBytes(0, 0).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(rows->GetInt64(0, 99).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(rows->GetInt64(5, 0).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(rows->GetInt64(0, 6).status().code(), absl::StatusCode::kFailedPrecondition);

  // Empty text and blob are values, not NULL.
  ASSERT_TRUE(client_
                  ->ExecuteSync(*insert, {CqlValue::BigInt(-43), CqlValue::Int(0),
                                          CqlValue::Text(""), CqlValue::Blob(""), CqlValue::Unset(),
                                          CqlValue::Unset(), CqlValue::Unset(), CqlValue::Unset()})
                  .ok());
  absl::StatusOr<Rows> empty = client_->ExecuteSync(*select, {CqlValue::BigInt(-43)});
  ASSERT_TRUE(empty.ok()) << empty.status();
  ASSERT_EQ(empty->size(), 1u);
  EXPECT_FALSE(empty->IsNull(0, 2));
  EXPECT_EQ(*empty->GetBytes(0, 2), "");
  EXPECT_FALSE(empty->IsNull(0, 3));
  EXPECT_EQ(*empty->GetBytes(0, 3), "");
  EXPECT_TRUE(empty->IsNull(0, 4));
}

TEST_F(CqlClientTest, PagesThroughMoreRowsThanPageSize) {
  std::string table = FreshTable("(k bigint, c int, v text, PRIMARY KEY (k, c))");
  absl::StatusOr<PreparedStatement> insert =
      client_->Prepare(absl::StrCat("INSERT INTO ", table, " (k, c, v) VALUES (?, ?, ?)"), true);
  ASSERT_TRUE(insert.ok()) << insert.status();
  constexpr int kRows = 250;
  Latch latch(kRows);
  std::atomic<int> failures{0};
  for (int i = 0; i < kRows; ++i) {
    std::string v = absl::StrCat("v", i);
    client_->Execute(*insert, {CqlValue::BigInt(1), CqlValue::Int(i), CqlValue::Text(v)}, {},
                     [&](absl::StatusOr<Rows> r) {
                       if (!r.ok()) failures.fetch_add(1);
                       latch.CountDown();
                     });
  }
  ASSERT_TRUE(latch.WaitFor(absl::Seconds(60)));
  ASSERT_EQ(failures.load(), 0);

  absl::StatusOr<PreparedStatement> select =
      client_->Prepare(absl::StrCat("SELECT c, v FROM ", table, " WHERE k = ?"));
  ASSERT_TRUE(select.ok()) << select.status();
  std::vector<size_t> page_sizes;
  std::vector<int32_t> seen;
  ExecuteOptions options{.page_size = 100};
  for (int page = 0; page < 10; ++page) {
    absl::StatusOr<Rows> rows = client_->ExecuteSync(*select, {CqlValue::BigInt(1)}, options);
    ASSERT_TRUE(rows.ok()) << rows.status();
    page_sizes.push_back(rows->size());
    for (size_t r = 0; r < rows->size(); ++r) {
      seen.push_back(*rows->GetInt32(r, 0));
      EXPECT_EQ(*rows->GetBytes(r, 1), absl::StrCat("v", seen.back()));
    }
    if (!rows->has_more_pages()) break;
    options.paging_state = std::string(rows->paging_state());
  }
  // Cassandra may end with an empty page when the last one was exactly full;
  // here 250 = 100 + 100 + 50 leaves no doubt.
  EXPECT_EQ(page_sizes, (std::vector<size_t>{100, 100, 50}));
  ASSERT_EQ(seen.size(), static_cast<size_t>(kRows));
  for (int i = 0; i < kRows; ++i) EXPECT_EQ(seen[i], i);  // clustering order
}

TEST_F(CqlClientTest, CallbackMayFetchTheNextPage) {
  std::string table = FreshTable("(k bigint, c int, PRIMARY KEY (k, c))");
  absl::StatusOr<PreparedStatement> insert =
      client_->Prepare(absl::StrCat("INSERT INTO ", table, " (k, c) VALUES (?, ?)"), true);
  ASSERT_TRUE(insert.ok()) << insert.status();
  for (int i = 0; i < 35; ++i) {
    ASSERT_TRUE(client_->ExecuteSync(*insert, {CqlValue::BigInt(9), CqlValue::Int(i)}).ok());
  }
  absl::StatusOr<PreparedStatement> select =
      client_->Prepare(absl::StrCat("SELECT c FROM ", table, " WHERE k = ?"));
  ASSERT_TRUE(select.ok()) << select.status();

  // Each callback issues the next page from the driver thread.
  struct State {
    std::atomic<int> rows{0};
    std::atomic<int> pages{0};
    absl::Status error;
    Latch done{1};
  } state;
  std::function<void(absl::StatusOr<Rows>)> on_page = [&](absl::StatusOr<Rows> rows) {
    if (!rows.ok()) {
      state.error = rows.status();
      state.done.CountDown();
      return;
    }
    state.pages.fetch_add(1);
    state.rows.fetch_add(static_cast<int>(rows->size()));
    if (!rows->has_more_pages()) {
      state.done.CountDown();
      return;
    }
    client_->Execute(*select, {CqlValue::BigInt(9)},
                     {.page_size = 10, .paging_state = std::string(rows->paging_state())}, on_page);
  };
  client_->Execute(*select, {CqlValue::BigInt(9)}, {.page_size = 10}, on_page);
  ASSERT_TRUE(state.done.WaitFor(absl::Seconds(30)));
  ASSERT_TRUE(state.error.ok()) << state.error;
  EXPECT_EQ(state.rows.load(), 35);
  EXPECT_EQ(state.pages.load(), 4);
}

TEST_F(CqlClientTest, BadCqlIsInvalidArgument) {
  absl::StatusOr<PreparedStatement> syntax = client_->Prepare("SELEKT * FROM nowhere");
  EXPECT_EQ(syntax.status().code(), absl::StatusCode::kInvalidArgument) << syntax.status();
  absl::StatusOr<PreparedStatement> unknown =
      client_->Prepare(absl::StrCat("SELECT * FROM ", kKeyspace, ".no_such_table"));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument) << unknown.status();
  absl::Status ddl = client_->Query("CREATE TABLE missing_keyspace_xyz.t (k int PRIMARY KEY)");
  EXPECT_EQ(ddl.code(), absl::StatusCode::kInvalidArgument) << ddl;

  // A value of the wrong type for its column is rejected before sending.
  std::string table = FreshTable("(k bigint PRIMARY KEY, v int)");
  absl::StatusOr<PreparedStatement> insert =
      client_->Prepare(absl::StrCat("INSERT INTO ", table, " (k, v) VALUES (?, ?)"));
  ASSERT_TRUE(insert.ok()) << insert.status();
  absl::StatusOr<Rows> wrong_type =
      client_->ExecuteSync(*insert, {CqlValue::Text("not a bigint"), CqlValue::Int(1)});
  EXPECT_EQ(wrong_type.status().code(), absl::StatusCode::kInvalidArgument) << wrong_type.status();
  absl::StatusOr<Rows> too_few = client_->ExecuteSync(*insert, {CqlValue::BigInt(1)});
  EXPECT_EQ(too_few.status().code(), absl::StatusCode::kInvalidArgument) << too_few.status();
}

TEST_F(CqlClientTest, TinyDeadlineIsDeadlineExceededOrUnavailable) {
  std::string table = FreshTable("(k bigint, c int, v text, PRIMARY KEY (k, c))");
  absl::StatusOr<PreparedStatement> insert =
      client_->Prepare(absl::StrCat("INSERT INTO ", table, " (k, c, v) VALUES (?, ?, ?)"), true);
  ASSERT_TRUE(insert.ok()) << insert.status();
  const std::string payload(512, 'x');
  constexpr int kRows = 2000;
  Latch latch(kRows);
  for (int i = 0; i < kRows; ++i) {
    client_->Execute(*insert, {CqlValue::BigInt(i % 50), CqlValue::Int(i), CqlValue::Text(payload)},
                     {}, [&](absl::StatusOr<Rows>) { latch.CountDown(); });
  }
  ASSERT_TRUE(latch.WaitFor(absl::Seconds(120)));
  // A full scan of ~1 MB cannot finish in 1 ms on loopback.
  absl::StatusOr<PreparedStatement> scan = client_->Prepare(absl::StrCat("SELECT * FROM ", table));
  ASSERT_TRUE(scan.ok()) << scan.status();
  absl::StatusOr<Rows> rows = client_->ExecuteSync(*scan, {}, {.timeout = absl::Milliseconds(1)});
  ASSERT_FALSE(rows.ok()) << "a 2000-row scan finished within 1 ms?";
  RecordProperty("error", rows.status().ToString());
  EXPECT_TRUE(rows.status().code() == absl::StatusCode::kDeadlineExceeded ||
              rows.status().code() == absl::StatusCode::kUnavailable)
      << rows.status();
  // The client is still healthy afterwards.
  absl::StatusOr<Rows> again = client_->ExecuteSync(*scan, {}, {.page_size = 100});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->size(), 100u);
}

TEST_F(CqlClientTest, ConsistencyAboveReplicationFactorIsUnavailable) {
  std::string table = FreshTable("(k bigint PRIMARY KEY)");
  absl::StatusOr<PreparedStatement> select =
      client_->Prepare(absl::StrCat("SELECT k FROM ", table, " WHERE k = ?"));
  ASSERT_TRUE(select.ok()) << select.status();
  // RF is 1, so THREE can never be met: the coordinator answers Unavailable.
  absl::StatusOr<Rows> rows =
      client_->ExecuteSync(*select, {CqlValue::BigInt(1)}, {.consistency = Consistency::kThree});
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kUnavailable) << rows.status();
}

TEST_F(CqlClientTest, DestructorWaitsForEveryCallback) {
  absl::StatusOr<std::unique_ptr<CqlClient>> client = CqlClient::Connect({.hosts = Hosts()});
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<PreparedStatement> select =
      (*client)->Prepare("SELECT release_version FROM system.local");
  ASSERT_TRUE(select.ok()) << select.status();
  constexpr int kCalls = 200;
  std::atomic<int> completed{0};
  std::atomic<int> ok{0};
  for (int i = 0; i < kCalls; ++i) {
    (*client)->Execute(*select, {}, {}, [&](absl::StatusOr<Rows> rows) {
      if (rows.ok() && rows->size() == 1) ok.fetch_add(1);
      completed.fetch_add(1);
    });
  }
  client->reset();  // Returns only once every callback has returned.
  EXPECT_EQ(completed.load(), kCalls);
  EXPECT_EQ(ok.load(), kCalls);
}

TEST_F(CqlClientTest, TooManyInFlightIsUnavailableNotInline) {
  absl::StatusOr<std::unique_ptr<CqlClient>> client =
      CqlClient::Connect({.hosts = Hosts(), .max_in_flight = 1});
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<PreparedStatement> select =
      (*client)->Prepare("SELECT release_version FROM system.local");
  ASSERT_TRUE(select.ok()) << select.status();
  constexpr int kCalls = 20;
  Latch latch(kCalls);
  std::atomic<int> unavailable{0};
  std::atomic<int> inline_calls{0};
  const std::thread::id test_thread = std::this_thread::get_id();
  for (int i = 0; i < kCalls; ++i) {
    (*client)->Execute(*select, {}, {}, [&](absl::StatusOr<Rows> rows) {
      if (std::this_thread::get_id() == test_thread) inline_calls.fetch_add(1);
      if (rows.status().code() == absl::StatusCode::kUnavailable) unavailable.fetch_add(1);
      latch.CountDown();
    });
  }
  ASSERT_TRUE(latch.WaitFor(absl::Seconds(30)));
  EXPECT_GT(unavailable.load(), 0);
  EXPECT_EQ(inline_calls.load(), 0);  // Rejections arrive on driver threads too.
}

TEST(CqlClientConnectTest, ClosedPortIsUnavailable) {
  absl::StatusOr<std::unique_ptr<CqlClient>> client =
      CqlClient::Connect({.hosts = {"127.0.0.1:1"}, .connect_timeout = absl::Seconds(2)});
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable) << client.status();
}

TEST(CqlClientConnectTest, NoHostsIsInvalidArgument) {
  EXPECT_EQ(CqlClient::Connect({}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ds::storage::cassandra
