// Runs the real ds-seed binary (beside this test, or in DS_BIN_DIR) against a
// temporary store file: output, idempotency, the reference client's messages,
// DS_STORE, and bad input.
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <future>
#include <string>

#include "storage/embedded/sqlite_message_store.h"
#include "testing/process.h"

namespace ds {
namespace {

namespace fs = std::filesystem;

struct SeedRun {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

SeedRun RunSeed(const std::string& args, const std::string& env = "") {
  testing::CommandResult r =
      testing::RunCommand(env + " '" + testing::BinaryPath("ds-seed") + "' " + args + " 2>&1");
  return SeedRun{.exit_code = r.exit_code, .output = std::move(r.out)};
}

class DsSeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ds_seed_test_XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    path_ = (fs::path(dir_) / "seed.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
  std::string path_;
};

template <typename T>
absl::StatusOr<T> Await(const std::function<void(storage::Callback<T>)>& call) {
  std::promise<absl::StatusOr<T>> p;
  call([&](absl::StatusOr<T> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

TEST_F(DsSeedTest, SeedsOnceAndTheSecondRunAddsNothing) {
  const std::string args =
      "--store '" + path_ + "' --channels 3 --messages 500 --end-ms 1780000000000";
  SeedRun first = RunSeed(args);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("1503 new rows (0 already present)"), std::string::npos)
      << first.output;
  const std::string final_line = "seeded 3 channels x 500 messages into " + path_ + " in ";
  const size_t at = first.output.find(final_line);
  ASSERT_NE(at, std::string::npos) << first.output;
  const std::string tail = first.output.substr(at + final_line.size());
  EXPECT_GT(std::stoll(tail), -1) << tail;                   // a number of milliseconds ...
  EXPECT_NE(tail.find(" ms\n"), std::string::npos) << tail;  // ... then " ms" ending the line

  SeedRun second = RunSeed(args);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("0 new rows (1503 already present)"), std::string::npos)
      << second.output;

  auto store = storage::SqliteMessageStore::Open({.path = path_});
  ASSERT_TRUE(store.ok()) << store.status();
  auto reference = Await<storage::Message>(
      [&](storage::Callback<storage::Message> cb) { (*store)->GetMessage(2, 2000, {}, cb); });
  ASSERT_TRUE(reference.ok()) << reference.status();
  EXPECT_EQ(reference->author_id, 4002u);
  EXPECT_EQ(reference->content, "Channel 2");
  auto page = Await<std::vector<storage::Message>>(
      [&](storage::Callback<std::vector<storage::Message>> cb) {
        (*store)->GetMessages({.channel_id = 3, .limit = 1000}, {}, cb);
      });
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->size(), 501u);
}

TEST_F(DsSeedTest, StoreComesFromDsStoreWhenNoFlag) {
  SeedRun run = RunSeed("--channels 1 --messages 5 --quiet", "DS_STORE='" + path_ + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_NE(run.output.find("seeded 1 channels x 5 messages into " + path_), std::string::npos)
      << run.output;
}

TEST_F(DsSeedTest, BadInputFailsWithAClearMessage) {
  SeedRun zero = RunSeed("--store '" + path_ + "' --channels 0");
  EXPECT_NE(zero.exit_code, 0);
  EXPECT_NE(zero.output.find("--channels"), std::string::npos) << zero.output;

  SeedRun word = RunSeed("--store '" + path_ + "' --messages many");
  EXPECT_NE(word.exit_code, 0);
  EXPECT_NE(word.output.find("--messages"), std::string::npos) << word.output;

  SeedRun unknown = RunSeed("--store '" + path_ + "' --chanels 3");
  EXPECT_NE(unknown.exit_code, 0) << unknown.output;

  SeedRun no_dir = RunSeed("--store '" + dir_ + "/no/such/dir/x.db' --channels 1");
  EXPECT_EQ(no_dir.exit_code, 1);
  EXPECT_NE(no_dir.output.find("error: cannot open store"), std::string::npos) << no_dir.output;
}

TEST_F(DsSeedTest, HelpListsEveryOption) {
  SeedRun help = RunSeed("--help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* flag : {"--store", "--channels", "--messages", "--start-channel", "--node-id",
                           "--seed", "--end-ms", "--batch-rows", "--quiet", "DS_STORE"}) {
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace ds
