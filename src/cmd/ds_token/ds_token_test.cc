// Runs the ds-token binary (DS_BIN_DIR) and checks what it prints with the
// gateway's verifier.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "auth/jwt_verifier.h"

namespace {

const std::string kSecret = "ds-token-test-secret-0123456789abcdef";

// stdout of `ds-token args`, and its exit status.
std::pair<std::string, int> RunDsToken(const std::string& args) {
  const char* dir = std::getenv("DS_BIN_DIR");
  const std::string cmd = std::string(dir ? dir : ".") + "/ds-token " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  const int status = pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return {out, WEXITSTATUS(status)};
}

TEST(DsTokenTest, MintsTokensTheGatewayAccepts) {
  const std::string secret_file = ::testing::TempDir() + "/ds_token_secret";
  std::ofstream(secret_file) << kSecret;
  auto verifier = ds::auth::JwtVerifier::Create(
      {.keys = {*ds::auth::MakeHmacKey(kSecret)}, .issuer = "ds", .audience = "ds-api"});
  ASSERT_TRUE(verifier.ok());

  auto [token, rc] = RunDsToken("--hs256-secret-file " + secret_file + " --sub 42 --channels 1,2");
  ASSERT_EQ(rc, 0);
  absl::StatusOr<ds::auth::Principal> p = (*verifier)->Verify(token, absl::Now());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->subject, "42");
  EXPECT_TRUE(p->channels.Allows(2));
  EXPECT_FALSE(p->channels.Allows(3));

  auto [expired, rc2] = RunDsToken("--hs256-secret-file " + secret_file + " --sub 42 --ttl -1h");
  ASSERT_EQ(rc2, 0);
  EXPECT_EQ((*verifier)->Verify(expired, absl::Now()).status().message(), "token expired");

  EXPECT_EQ(RunDsToken("--sub 42").second, 2);  // no key
  EXPECT_EQ(RunDsToken("--hs256-secret-file /nonexistent --sub 42").second, 2);
}

}  // namespace
