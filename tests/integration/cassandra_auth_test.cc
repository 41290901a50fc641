// Cassandra with authentication (PasswordAuthenticator): the store and ds-node
// work with the right credentials and fail clearly (UNAUTHENTICATED, a log
// line naming the store) with wrong or missing ones.
//
// Needs a node started by `scripts/cassandra --dir DIR start --auth --fresh`
// (the CTest fixture cassandra_auth does it in its own directory, after the
// single-node Cassandra tests have stopped theirs; superuser
// cassandra/cassandra). DS_CASSANDRA_HOSTS overrides the contact point.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "storage/cassandra/cassandra_message_store.h"
#include "testing/cassandra_hosts.h"
#include "testing/process.h"

namespace ds::storage {
namespace {

std::vector<std::string> Hosts() { return ds::testing::CassandraHosts(); }

CassandraStoreOptions WithCredentials(std::string username, std::string password) {
  return CassandraStoreOptions{.hosts = Hosts(),
                               .keyspace = "ds_auth",
                               .replication_factor = 1,
                               .request_timeout = absl::Seconds(10),
                               .connect_timeout = absl::Seconds(10),
                               .node_id = 7,
                               .username = std::move(username),
                               .password = std::move(password)};
}

TEST(CassandraAuthTest, TheStoreWritesAndReadsWithTheRightCredentials) {
  auto store = CassandraMessageStore::Open(WithCredentials("cassandra", "cassandra"));
  ASSERT_TRUE(store.ok()) << store.status();

  const uint64_t nonce = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  std::promise<absl::StatusOr<SendResult>> sent;
  (*store)->SendMessage({.channel_id = 5, .author_id = 42, .content = "with auth", .nonce = nonce},
                        {.deadline = absl::Now() + absl::Seconds(10)},
                        [&](absl::StatusOr<SendResult> r) { sent.set_value(std::move(r)); });
  absl::StatusOr<SendResult> result = sent.get_future().get();
  ASSERT_TRUE(result.ok()) << result.status();

  std::promise<absl::StatusOr<std::vector<Message>>> read;
  (*store)->GetMessages(
      {.channel_id = 5, .limit = 10}, {.deadline = absl::Now() + absl::Seconds(10)},
      [&](absl::StatusOr<std::vector<Message>> r) { read.set_value(std::move(r)); });
  absl::StatusOr<std::vector<Message>> page = read.get_future().get();
  ASSERT_TRUE(page.ok()) << page.status();
  bool found = false;
  for (const Message& m : *page) {
    found |= m.message_id == result->message.message_id && m.content == "with auth";
  }
  EXPECT_TRUE(found) << "the message written with credentials reads back";
}

TEST(CassandraAuthTest, AWrongPasswordOrNoCredentialsFailUnauthenticated) {
  auto wrong = CassandraMessageStore::Open(WithCredentials("cassandra", "not-the-password"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated) << wrong.status();

  auto unknown = CassandraMessageStore::Open(WithCredentials("nobody", "cassandra"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated) << unknown.status();

  auto none = CassandraMessageStore::Open(WithCredentials("", ""));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated) << none.status();
}

// ds-node's --cassandra-username/--cassandra-password (the environment's
// DS_CASSANDRA_PASSWORD works the same way through CLI11).
TEST(CassandraAuthTest, DsNodeServesWithTheRightPasswordAndExitsWithAClearErrorOtherwise) {
  const char* bin_dir = std::getenv("DS_BIN_DIR");
  const std::string bin = absl::StrCat(bin_dir != nullptr ? bin_dir : ".", "/ds-node");
  testing::TempDir dir("ds-cassandra-auth");
  auto args = [&](const std::string& password, const std::string& port_file) {
    return std::vector<std::string>{"--listen",
                                    "127.0.0.1:0",
                                    "--admin-listen",
                                    "127.0.0.1:0",
                                    "--backend",
                                    "cassandra",
                                    "--cassandra-hosts",
                                    Hosts()[0],
                                    "--cassandra-keyspace",
                                    "ds_auth",
                                    "--cassandra-replication-factor",
                                    "1",
                                    "--cassandra-username",
                                    "cassandra",
                                    "--cassandra-password",
                                    password,
                                    "--port-file",
                                    port_file};
  };

  auto bad =
      testing::ChildProcess::Spawn(bin, args("wrong", dir.File("bad.port")), dir.File("bad.log"));
  ASSERT_TRUE(bad.ok()) << bad.status();
  auto bad_exit = (*bad)->Wait(absl::Seconds(60));
  ASSERT_TRUE(bad_exit.ok()) << bad_exit.status();
  EXPECT_EQ(bad_exit->exit_code, 1) << (*bad)->LogTail();
  const std::string log = (*bad)->LogTail();
  EXPECT_NE(log.find("cannot open store cassandra://"), std::string::npos) << log;
  EXPECT_NE(log.find("UNAUTHENTICATED"), std::string::npos) << log;

  auto good = testing::ChildProcess::Spawn(bin, args("cassandra", dir.File("good.port")),
                                           dir.File("good.log"));
  ASSERT_TRUE(good.ok()) << good.status();
  auto ports = testing::WaitForPortFile(dir.File("good.port"), absl::Seconds(60), good->get());
  ASSERT_TRUE(ports.ok()) << ports.status() << "\n" << (*good)->LogTail();
  ASSERT_TRUE((*good)->Signal(SIGTERM).ok());
  auto good_exit = (*good)->Wait(absl::Seconds(30));
  ASSERT_TRUE(good_exit.ok()) << good_exit.status();
  EXPECT_TRUE(good_exit->exited_ok()) << good_exit->ToString() << "\n" << (*good)->LogTail();
}

}  // namespace
}  // namespace ds::storage
