#include "tools/loadgen/sse_parser.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace ds::loadgen {
namespace {

struct Collected {
  std::vector<SseEvent> events;
  std::vector<std::string> comments;
};

bool FeedAll(SseParser& p, const std::vector<std::string>& pieces, Collected& out) {
  for (const auto& piece : pieces) {
    if (!p.Feed(
            piece, [&](const SseEvent& e) { out.events.push_back(e); },
            [&](std::string_view c) { out.comments.emplace_back(c); })) {
      return false;
    }
  }
  return true;
}

TEST(SseParserTest, DecodesChunksSplitAnywhere) {
  auto chunk = [](const std::string& data) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx", data.size());
    return std::string(size) + "\r\n" + data + "\r\n";
  };
  const std::string body = chunk("retry: 2000\n\n") + chunk(": live 7\n\nid: 8\ndata: {\"a") +
                           chunk("\":1}\n") + chunk("\n") + "0\r\n\r\n";
  for (size_t cut = 1; cut < body.size(); ++cut) {
    SseParser p(/*chunked=*/true);
    Collected got;
    ASSERT_TRUE(FeedAll(p, {body.substr(0, cut), body.substr(cut)}, got)) << cut;
    ASSERT_EQ(got.events.size(), 1u) << cut;  // a retry-only block is no event
    EXPECT_EQ(got.events[0].id, "8");
    EXPECT_EQ(got.events[0].data, "{\"a\":1}");
    ASSERT_EQ(got.comments.size(), 1u);
    EXPECT_EQ(got.comments[0], "live 7");
    EXPECT_TRUE(p.ended());
  }
}

TEST(SseParserTest, EventFieldsMultiLineDataAndCrlf) {
  SseParser p(/*chunked=*/false);
  Collected got;
  ASSERT_TRUE(FeedAll(p, {"event: reload\r\ndata: x\r\ndata: y\r\n\r\n"}, got));
  ASSERT_EQ(got.events.size(), 1u);
  EXPECT_EQ(got.events[0].event, "reload");
  EXPECT_EQ(got.events[0].data, "x\ny");
}

TEST(SseParserTest, MalformedChunkFramingIsAnError) {
  SseParser p(/*chunked=*/true);
  Collected got;
  EXPECT_FALSE(FeedAll(p, {"zz\r\n"}, got));
  SseParser q(/*chunked=*/true);
  EXPECT_FALSE(FeedAll(q, {"2\r\nabX"}, got));
}

TEST(SseParserTest, ScansTheMessageFields) {
  LiveMessageFields f =
      ScanMessageJson(R"({"channel_id":"1","message_id":"123456789012345678","author_id":"7",)"
                      R"("content":"hi","created_at_ms":1700000000123,"late":true})");
  EXPECT_EQ(f.message_id, 123456789012345678u);
  EXPECT_EQ(f.created_at_ms, 1700000000123);
  EXPECT_TRUE(f.late);
  EXPECT_FALSE(ScanMessageJson(R"({"message_id":"5"})").late);
}

}  // namespace
}  // namespace ds::loadgen
