// Integration: the real ds-node binary (from $DS_BIN_DIR): bad addresses are a
// clear usage error (exit 2, the flag named), never a crash; so are bad
// --linger-max durations.
#include <cstdlib>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/process.h"

namespace ds::testing {
namespace {

using ::testing::HasSubstr;

std::string BinDir() {
  const char* dir = std::getenv("DS_BIN_DIR");
  return dir != nullptr ? dir : ".";
}

// Regression: `--admin-listen 127.0.0.1:notaport` went through an unguarded
// std::stoi and killed ds-node with an uncaught exception.
TEST(DsNodeBinaryTest, BadListenAddressesAreAUsageErrorNamingTheFlag) {
  TempDir dir("ds-node-flags");
  struct Case {
    std::string flag, value;
  };
  for (const Case& c :
       {Case{"--admin-listen", "127.0.0.1:notaport"}, Case{"--admin-listen", "127.0.0.1:70000"},
        Case{"--admin-listen", "no-port"}, Case{"--listen", "[::1]50051"},
        Case{"--linger-max", "2"}, Case{"--linger-max", "-1ms"}, Case{"--linger-max", "1h"}}) {
    const std::string log = dir.File(c.value + ".log");
    auto node = ChildProcess::Spawn(BinDir() + "/ds-node",
                                    {c.flag, c.value, "--store", dir.File("db.sqlite")}, log);
    ASSERT_TRUE(node.ok()) << node.status();
    auto exit = (*node)->Wait(absl::Seconds(30));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(exit->exit_code, 2) << c.flag << " " << c.value << ": " << exit->ToString();
    EXPECT_THAT((*node)->LogTail(), HasSubstr(c.flag)) << c.value;
  }
}

}  // namespace
}  // namespace ds::testing
