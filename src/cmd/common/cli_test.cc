#include "cmd/common/cli.h"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace ds::cli {
namespace {

TEST(EnvNameTest, PrefixPlusTheFirstNameInUpperCaseWithUnderscores) {
  EXPECT_EQ(EnvName("DS_GATEWAY_", "--io-threads,--threads"), "DS_GATEWAY_IO_THREADS");
  EXPECT_EQ(EnvName("DS_", "--max-waiters-per-flight"), "DS_MAX_WAITERS_PER_FLIGHT");
  EXPECT_EQ(EnvName("DS_", "--store"), "DS_STORE");
}

TEST(FlagSetTest, TheFlagBeatsTheEnvironmentWhichBeatsTheDefault) {
  int from_flag = 1;
  int from_env = 2;
  int by_default = 3;
  CLI::App app;
  FlagSet flags(app, "DS_CLI_TEST_");
  flags.Add("--from-flag", from_flag, "");
  flags.Add("--from-env", from_env, "");
  flags.Add("--by-default", by_default, "", CLI::PositiveNumber);
  ASSERT_EQ(setenv("DS_CLI_TEST_FROM_FLAG", "10", 1), 0);
  ASSERT_EQ(setenv("DS_CLI_TEST_FROM_ENV", "20", 1), 0);
  const char* argv[] = {"test", "--from-flag", "11"};
  app.parse(3, argv);
  EXPECT_EQ(from_flag, 11);
  EXPECT_EQ(from_env, 20);
  EXPECT_EQ(by_default, 3);
  EXPECT_EQ(app.get_option("--by-default")->get_default_str(), "3");
}

TEST(FlagSetTest, TheCheckRefusesABadValue) {
  int value = 1;
  CLI::App app;
  FlagSet(app, "DS_CLI_TEST_").Add("--value", value, "", CLI::PositiveNumber);
  const char* argv[] = {"test", "--value", "0"};
  EXPECT_THROW(app.parse(3, argv), CLI::ValidationError);
}

}  // namespace
}  // namespace ds::cli
