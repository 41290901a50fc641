// RunSubscribe's configuration checks: a bad --gateway is a usage error
// (exit status 2, before anything is dialled), never an exception.
#include "tools/loadgen/subscribe_mode.h"

#include <string>

#include "gtest/gtest.h"

namespace ds::loadgen {
namespace {

TEST(SubscribeModeTest, ABadGatewayAddressIsAUsageError) {
  for (const std::string gateway :
       {"127.0.0.1:http", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1", "127.0.0.1:0", ":8080"}) {
    SubscribeConfig c;
    c.gateway = gateway;
    c.quiet = true;
    c.progress = false;
    EXPECT_EQ(RunSubscribe(c), 2) << gateway;
  }
}

TEST(SubscribeModeTest, OutOfRangeCountsAreAUsageError) {
  SubscribeConfig c;
  c.quiet = true;
  c.progress = false;
  c.channels = 0;
  EXPECT_EQ(RunSubscribe(c), 2);
}

}  // namespace
}  // namespace ds::loadgen
