#include "tools/loadgen/http_response_parser.h"

#include <string>

#include "gtest/gtest.h"

namespace ds::loadgen {
namespace {

TEST(HttpResponseParserTest, ParsesContentLengthFramedResponsesOneAtATime) {
  const std::string two =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-DS-Coalesced: leader\r\n"
      "X-DS-Arrived-Us: 1700000000123456\r\n\r\nhello"
      "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nConnection: close\r\n\r\n{}";
  HttpResponseView res;
  ParseResult r = ParseHttpResponse(two, &res);
  ASSERT_EQ(r.status, ParseResult::kDone);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "hello");
  EXPECT_TRUE(res.keep_alive);
  EXPECT_EQ(res.arrived_us, 1700000000123456);
  r = ParseHttpResponse(std::string_view(two).substr(r.consumed), &res);
  ASSERT_EQ(r.status, ParseResult::kDone);
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.body, "{}");
  EXPECT_FALSE(res.keep_alive);
  EXPECT_EQ(res.arrived_us, 0);
}

TEST(HttpResponseParserTest, NeedsMoreUntilTheWholeResponseIsThere) {
  const std::string full = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
  for (size_t n = 0; n < full.size(); ++n) {
    HttpResponseView res;
    EXPECT_EQ(ParseHttpResponse(std::string_view(full).substr(0, n), &res).status,
              ParseResult::kNeedMore)
        << n;
  }
}

TEST(HttpResponseParserTest, FindsTheEndOfAChunkedBody) {
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\nNEXT";
  HttpResponseView res;
  ParseResult r = ParseHttpResponse(chunked, &res);
  ASSERT_EQ(r.status, ParseResult::kDone);
  EXPECT_EQ(chunked.substr(r.consumed), "NEXT");
}

TEST(HttpResponseParserTest, RejectsGarbage) {
  HttpResponseView res;
  EXPECT_EQ(ParseHttpResponse("SMTP ready\r\n\r\n", &res).status, ParseResult::kError);
  EXPECT_EQ(ParseHttpResponse("HTTP/1.1 2x0 OK\r\n\r\n", &res).status, ParseResult::kError);
  EXPECT_EQ(ParseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", &res).status,
            ParseResult::kError);
  EXPECT_EQ(ParseHttpResponse("HTTP/1.1 200 OK\r\n\r\nno length", &res).status,
            ParseResult::kError);
}

TEST(HttpResponseParserTest, NewestMessageIdAndSendBody) {
  EXPECT_EQ(NewestMessageId(R"({"messages":[{"channel_id":"1","message_id":"987","x":1},)"
                            R"({"message_id":"5"}]})"),
            987u);
  EXPECT_EQ(NewestMessageId(R"({"messages":[]})"), 0u);
  EXPECT_EQ(SendMessageBody(7, "a\"b\\c\n", 9),
            R"({"author_id":"7","content":"a\"b\\c\u000a","nonce":"9"})");
}

}  // namespace
}  // namespace ds::loadgen
