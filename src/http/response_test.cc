#include "http/response.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace ds::http {
namespace {

TEST(ResponseTest, HeadersAreFoundCaseInsensitivelyAndSerializedInOrder) {
  Response r(201);
  r.SetStaticHeader("Content-Type", "application/json");
  r.AddHeader("X-Request-Id", "abc");
  EXPECT_EQ(r.status(), 201);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("x-request-id"), "abc");
  EXPECT_EQ(r.header("missing"), std::nullopt);
  std::string out;
  r.AppendHeaders(out);
  EXPECT_EQ(out, "Content-Type: application/json\r\nX-Request-Id: abc\r\n");
}

TEST(ResponseTest, AHeaderWithALineBreakIsDroppedNotInjected) {
  Response r;
  r.AddHeader("X-Evil", "a\r\nSet-Cookie: x=1");
  r.AddHeader("X-Bad\n", "v");
  std::string out;
  r.AppendHeaders(out);
  EXPECT_EQ(out, "");
}

TEST(ResponseTest, ASharedBodyIsReferencedNotCopied) {
  auto body = std::make_shared<const std::string>("{\"messages\":[]}");
  Response a(200), b(200);
  a.SetSharedBody(body);
  b.SetSharedBody(body);
  EXPECT_EQ(a.body().data(), body->data());
  EXPECT_EQ(b.body().data(), body->data());
  EXPECT_EQ(body.use_count(), 3);
  a.SetBody("own");
  EXPECT_EQ(a.body(), "own");
  EXPECT_EQ(body.use_count(), 2);
}

TEST(ResponseTest, ReasonPhrases) {
  EXPECT_EQ(ReasonPhrase(200), "OK");
  EXPECT_EQ(ReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(ReasonPhrase(499), "Client Closed Request");
}

}  // namespace
}  // namespace ds::http
