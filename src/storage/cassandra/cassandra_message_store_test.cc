// The MessageStore contract suite, unchanged, against a real Cassandra node,
// plus Cassandra-specific checks of CassandraMessageStore.
//
// Needs a node: `scripts/cassandra start` (ctest starts one through the
// `cassandra` fixture). Hosts come from DS_CASSANDRA_HOSTS (comma-separated,
// default 127.0.0.1); the keyspace is ds_contract with replication factor 1.
// An unreachable node FAILS every test (the factory returns null, which the
// suite reports): a green run must mean the store really talked to Cassandra.
#include "storage/cassandra/cassandra_message_store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/snowflake.h"
#include "storage/message_store_contract.h"
#include "testing/cassandra_hosts.h"

namespace ds::storage {
namespace {

std::vector<std::string> Hosts() { return ds::testing::CassandraHosts(); }

CassandraStoreOptions TestOptions() {
  return CassandraStoreOptions{.hosts = Hosts(),
                               .keyspace = "ds_contract",
                               .replication_factor = 1,
                               .consistency = cassandra::Consistency::kLocalQuorum,
                               .request_timeout = absl::Seconds(10),
                               .node_id = 11};
}

// One store per test, as the suite asks; null (a failure) if Open fails.
std::shared_ptr<MessageStore> OpenStore() {
  absl::StatusOr<std::unique_ptr<CassandraMessageStore>> store =
      CassandraMessageStore::Open(TestOptions());
  if (!store.ok()) {
    ADD_FAILURE() << "no Cassandra at DS_CASSANDRA_HOSTS (start one with scripts/cassandra "
                     "start): "
                  << store.status();
    return nullptr;
  }
  return std::shared_ptr<MessageStore>(std::move(*store));
}

}  // namespace

INSTANTIATE_MESSAGE_STORE_CONTRACT(Cassandra, OpenStore);

namespace {

TEST(MapCqlStatusTest, TimeoutsAreDeadlineExceededOnlyAtTheCallersDeadline) {
  const absl::Time now = absl::Now();
  const absl::Status timeout = absl::DeadlineExceededError("request timed out");
  EXPECT_EQ(MapCqlStatus(timeout, now, now).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(MapCqlStatus(timeout, now + absl::Seconds(2), now).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(MapCqlStatus(absl::UnavailableError("no connection"), now, now).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(MapCqlStatus(absl::InvalidArgumentError("unknown table"), now, now).code(),
            absl::StatusCode::kInternal);
  EXPECT_TRUE(MapCqlStatus(absl::OkStatus(), now, now).ok());
}

TEST(ParseConsistencyTest, KnowsTheLevelsAndRejectsTheRest) {
  EXPECT_EQ(*ParseConsistency("quorum"), cassandra::Consistency::kQuorum);
  EXPECT_EQ(*ParseConsistency("LOCAL_QUORUM"), cassandra::Consistency::kLocalQuorum);
  EXPECT_EQ(*ParseConsistency("one"), cassandra::Consistency::kOne);
  EXPECT_EQ(ParseConsistency("SERIAL").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseConsistency("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CassandraOpenTest, BadOptionsAreInvalidArgument) {
  CassandraStoreOptions o = TestOptions();
  o.keyspace = "chat; DROP KEYSPACE x";
  EXPECT_EQ(CassandraMessageStore::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = TestOptions();
  o.replication_factor = 0;
  EXPECT_EQ(CassandraMessageStore::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = TestOptions();
  o.hosts.clear();
  EXPECT_EQ(CassandraMessageStore::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CassandraOpenTest, UnreachableHostIsUnavailable) {
  CassandraStoreOptions o = TestOptions();
  o.hosts = {"127.0.0.1:1"};  // nothing listens on port 1
  o.connect_timeout = absl::Seconds(1);
  EXPECT_EQ(CassandraMessageStore::Open(o).status().code(), absl::StatusCode::kUnavailable);
}

// Opening twice is idempotent (schema exists), and a second store sees what
// the first wrote — as two data-service nodes do.
TEST(CassandraOpenTest, TwoStoresShareTheKeyspace) {
  auto a = CassandraMessageStore::Open(TestOptions());
  ASSERT_TRUE(a.ok()) << a.status();
  CassandraStoreOptions other = TestOptions();
  other.node_id = 12;
  auto b = CassandraMessageStore::Open(other);
  ASSERT_TRUE(b.ok()) << b.status();
  const uint64_t channel =
      (uint64_t{1} << 41) + static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()) % 1000000007);
  std::promise<absl::StatusOr<SendResult>> sent;
  (*a)->SendMessage({.channel_id = channel, .author_id = 5, .content = "from a", .nonce = 3}, {},
                    [&](absl::StatusOr<SendResult> r) { sent.set_value(std::move(r)); });
  absl::StatusOr<SendResult> first = sent.get_future().get();
  ASSERT_TRUE(first.ok()) << first.status();
  // The same nonce through the other store: the stored message, a duplicate.
  std::promise<absl::StatusOr<SendResult>> again;
  (*b)->SendMessage({.channel_id = channel, .author_id = 5, .content = "from b", .nonce = 3}, {},
                    [&](absl::StatusOr<SendResult> r) { again.set_value(std::move(r)); });
  absl::StatusOr<SendResult> second = again.get_future().get();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(second->message, first->message);
  std::promise<absl::StatusOr<std::vector<Message>>> page;
  (*b)->GetMessages({.channel_id = channel, .limit = 10}, {},
                    [&](absl::StatusOr<std::vector<Message>> r) { page.set_value(std::move(r)); });
  absl::StatusOr<std::vector<Message>> got = page.get_future().get();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front(), first->message);
}

// A send whose nonce record was written but whose message row never was (the
// sender died in between): the retry rebuilds the row from the record, and
// answers the recorded message as a duplicate.
TEST(CassandraSendTest, RetryCompletesARecordWithoutItsMessageRow) {
  auto store = CassandraMessageStore::Open(TestOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  auto cql = cassandra::CqlClient::Connect({.hosts = Hosts()});
  ASSERT_TRUE(cql.ok()) << cql.status();
  auto insert = (*cql)->Prepare(
      "INSERT INTO ds_contract.nonces (channel_id, nonce, message_id, author_id, content) "
      "VALUES (?, ?, ?, ?, ?)");
  ASSERT_TRUE(insert.ok()) << insert.status();
  const uint64_t channel =
      (uint64_t{1} << 42) + static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()) % 1000000007);
  const uint64_t orphan_id = SnowflakeFloor(absl::ToUnixMillis(absl::Now())) + 77;
  const cassandra::CqlValue values[] = {
      cassandra::CqlValue::BigInt(static_cast<int64_t>(channel)), cassandra::CqlValue::BigInt(9),
      cassandra::CqlValue::BigInt(static_cast<int64_t>(orphan_id)), cassandra::CqlValue::BigInt(21),
      cassandra::CqlValue::Text("first attempt")};
  ASSERT_TRUE((*cql)->ExecuteSync(*insert, values).ok());

  std::promise<absl::StatusOr<Message>> missing;
  (*store)->GetMessage(channel, orphan_id, {},
                       [&](absl::StatusOr<Message> m) { missing.set_value(std::move(m)); });
  EXPECT_EQ(missing.get_future().get().status().code(), absl::StatusCode::kNotFound);

  std::promise<absl::StatusOr<SendResult>> sent;
  (*store)->SendMessage({.channel_id = channel, .author_id = 21, .content = "retry", .nonce = 9},
                        {}, [&](absl::StatusOr<SendResult> r) { sent.set_value(std::move(r)); });
  absl::StatusOr<SendResult> retry = sent.get_future().get();
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->duplicate);
  const Message expected{
      .channel_id = channel, .message_id = orphan_id, .author_id = 21, .content = "first attempt"};
  EXPECT_EQ(retry->message, expected);

  std::promise<absl::StatusOr<std::vector<Message>>> page;
  (*store)->GetMessages(
      {.channel_id = channel, .limit = 10}, {},
      [&](absl::StatusOr<std::vector<Message>> r) { page.set_value(std::move(r)); });
  absl::StatusOr<std::vector<Message>> got = page.get_future().get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, std::vector<Message>{expected});
}

// Rows too large to share a batch (Cassandra fails batches over 50 KiB) are
// written one by one, small ones in batches; all land, in order.
TEST(CassandraBulkTest, LargeAndSmallRowsOfOnePartitionAllLand) {
  auto store = CassandraMessageStore::Open(TestOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  const uint64_t channel =
      (uint64_t{1} << 43) + static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()) % 1000000007);
  const uint64_t base = SnowflakeFloor(absl::ToUnixMillis(absl::Now()) - 1000);
  std::vector<Message> rows;
  for (int i = 0; i < 45; ++i) {
    rows.push_back(
        Message{.channel_id = channel,
                .message_id = base + static_cast<uint64_t>(i),
                .author_id = 1,
                .content = std::string(i % 3 == 0 ? 4000 : 10, static_cast<char>('a' + i % 26))});
  }
  std::promise<absl::StatusOr<size_t>> bulk;
  (*store)->BulkInsert(rows, {}, [&](absl::StatusOr<size_t> n) { bulk.set_value(std::move(n)); });
  absl::StatusOr<size_t> added = bulk.get_future().get();
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, rows.size());
  std::promise<absl::StatusOr<std::vector<Message>>> page;
  (*store)->GetMessages(
      {.channel_id = channel, .limit = 100}, {},
      [&](absl::StatusOr<std::vector<Message>> r) { page.set_value(std::move(r)); });
  absl::StatusOr<std::vector<Message>> got = page.get_future().get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, std::vector<Message>(rows.rbegin(), rows.rend()));
}

// Store A remembers the channel's newest bucket as a speculation hint; store
// B (another node) then writes into a newer bucket. A's next latest page must
// include it: the listing overrules the hint.
TEST(CassandraReadTest, NewerBucketWrittenElsewhereOverrulesTheHint) {
  auto a = CassandraMessageStore::Open(TestOptions());
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = CassandraMessageStore::Open(TestOptions());
  ASSERT_TRUE(b.ok()) << b.status();
  auto page_of = [](MessageStore& store, uint64_t channel) {
    std::promise<absl::StatusOr<std::vector<Message>>> page;
    store.GetMessages(
        {.channel_id = channel, .limit = 3}, {},
        [&](absl::StatusOr<std::vector<Message>> r) { page.set_value(std::move(r)); });
    return page.get_future().get();
  };
  auto bulk = [](MessageStore& store, std::vector<Message> rows) {
    std::promise<absl::StatusOr<size_t>> done;
    store.BulkInsert(std::move(rows), {},
                     [&](absl::StatusOr<size_t> n) { done.set_value(std::move(n)); });
    return done.get_future().get();
  };
  const uint64_t channel =
      (uint64_t{1} << 44) + static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()) % 1000000007);
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  const Message old_one{.channel_id = channel,
                        .message_id = SnowflakeFloor(now_ms - 4 * kBucketMs),
                        .author_id = 1,
                        .content = "old"};
  const Message new_one{.channel_id = channel,
                        .message_id = SnowflakeFloor(now_ms - 1000),
                        .author_id = 2,
                        .content = "new"};
  ASSERT_NE(BucketOf(old_one.message_id), BucketOf(new_one.message_id));
  ASSERT_TRUE(bulk(**a, {old_one}).ok());
  for (int i = 0; i < 2; ++i) {  // the second read speculates on old_one's bucket
    auto page = page_of(**a, channel);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(*page, std::vector<Message>{old_one});
  }
  ASSERT_TRUE(bulk(**b, {new_one}).ok());
  auto page = page_of(**a, channel);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, (std::vector<Message>{new_one, old_one}));
}

}  // namespace
}  // namespace ds::storage
