#include "gateway/json_codec.h"

#include <boost/json.hpp>

#include "common/api_rules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ds::gateway {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

// Id and number parsing moved to common/api_rules.h (tested in api_rules_test.cc).

TEST(ParseSendMessageBodyTest, AcceptsIdsAsStringsOrIntegers) {
  auto req = ParseSendMessageBody(
      9, R"({"author_id":"18446744073709551615","content":"héllo","nonce":12345,"extra":[1]})");
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->channel_id(), 9u);
  EXPECT_EQ(req->author_id(), 18446744073709551615ull);
  EXPECT_EQ(req->content(), "héllo");
  EXPECT_EQ(req->nonce(), 12345u);
  // A JSON integer above INT64_MAX is still a valid id.
  auto big =
      ParseSendMessageBody(9, R"({"author_id":18446744073709551615,"content":"x","nonce":1})");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->author_id(), 18446744073709551615ull);
}

struct BadBody {
  std::string body;
  std::string expected;  // substring of the error message
};

class ParseSendMessageBodyErrorTest : public ::testing::TestWithParam<BadBody> {};

TEST_P(ParseSendMessageBodyErrorTest, IsInvalidArgumentSayingWhy) {
  auto req = ParseSendMessageBody(1, GetParam().body);
  ASSERT_FALSE(req.ok());
  EXPECT_EQ(req.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(req.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, ParseSendMessageBodyErrorTest,
    ::testing::Values(
        BadBody{"", "empty"}, BadBody{"{", "not valid JSON"},
        BadBody{R"({"author_id":1,"content":"x","nonce":1} trailing)", "not valid JSON"},
        BadBody{"[1,2]", "must be a JSON object, got an array"},
        BadBody{R"("text")", "must be a JSON object, got a string"},
        BadBody{R"({"content":"x","nonce":1})", "author_id is required"},
        BadBody{R"({"author_id":1,"nonce":1})", "content is required"},
        BadBody{R"({"author_id":1,"content":"x"})", "nonce is required"},
        BadBody{R"({"author_id":true,"content":"x","nonce":1})",
                "author_id must be a decimal string or an integer, got a boolean"},
        BadBody{R"({"author_id":1.5,"content":"x","nonce":1})", "got a non-integer number"},
        BadBody{R"({"author_id":-3,"content":"x","nonce":1})", "author_id must not be negative"},
        BadBody{R"({"author_id":0,"content":"x","nonce":1})", "author_id must be non-zero"},
        BadBody{R"({"author_id":"0x1","content":"x","nonce":1})", "author_id must be a decimal"},
        BadBody{R"({"author_id":1,"content":5,"nonce":1})",
                "content must be a string, got an integer"},
        BadBody{R"({"author_id":1,"content":"","nonce":1})", "content: must not be empty"},
        BadBody{R"({"author_id":1,"content":"x","nonce":null})",
                "nonce must be a decimal string or an integer, got null"},
        BadBody{R"({"author_id":1,"content":"\ud800","nonce":1})", "not valid JSON"},
        BadBody{"{\"author_id\":1,\"content\":\"\xc3\x28\",\"nonce\":1}", "not valid JSON"},
        BadBody{R"({"a":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]})", "not valid JSON"}));

TEST(ParseSendMessageBodyTest, RejectsContentOverLimit) {
  std::string body = R"({"author_id":1,"nonce":1,"content":")" +
                     std::string(api::kMaxContentBytes + 1, 'a') + "\"}";
  auto req = ParseSendMessageBody(1, body);
  ASSERT_FALSE(req.ok());
  EXPECT_THAT(req.status().message(), HasSubstr("at most 4000"));
  body =
      R"({"author_id":1,"nonce":1,"content":")" + std::string(api::kMaxContentBytes, 'a') + "\"}";
  EXPECT_TRUE(ParseSendMessageBody(1, body).ok());
}

dataservice::v1::Message SampleMessage() {
  dataservice::v1::Message m;
  m.set_channel_id(18446744073709551615ull);
  m.set_message_id(1234567890123456789ull);
  m.set_author_id(7);
  m.set_content("say \"hi\"\n");
  m.set_created_at_ms(1700000000000);
  return m;
}

TEST(EncodeTest, MessageIdsAreStringsAndRoundTrip) {
  json::value v = json::parse(EncodeMessage(SampleMessage()));
  const json::object& o = v.as_object();
  EXPECT_EQ(o.at("channel_id").as_string(), "18446744073709551615");
  EXPECT_EQ(o.at("message_id").as_string(), "1234567890123456789");
  EXPECT_EQ(o.at("author_id").as_string(), "7");
  EXPECT_EQ(o.at("content").as_string(), "say \"hi\"\n");
  EXPECT_EQ(o.at("created_at_ms").as_int64(), 1700000000000);
}

TEST(EncodeTest, ListGetSendAndErrorShapes) {
  dataservice::v1::GetMessagesResponse list;
  *list.add_messages() = SampleMessage();
  *list.add_messages() = SampleMessage();
  EXPECT_EQ(json::parse(EncodeGetMessagesResponse(list)).at("messages").as_array().size(), 2u);
  EXPECT_EQ(EncodeGetMessagesResponse({}), R"({"messages":[]})");

  dataservice::v1::GetMessageResponse get;
  *get.mutable_message() = SampleMessage();
  EXPECT_EQ(json::parse(EncodeGetMessageResponse(get)).at("message").at("author_id"), "7");

  dataservice::v1::SendMessageResponse send;
  *send.mutable_message() = SampleMessage();
  send.set_duplicate(true);
  json::value s = json::parse(EncodeSendMessageResponse(send));
  EXPECT_EQ(s.at("duplicate"), true);
  EXPECT_EQ(s.at("message").at("content"), "say \"hi\"\n");

  EXPECT_EQ(EncodeError(absl::StatusCode::kNotFound, "no \"such\" message"),
            R"({"error":{"code":"NOT_FOUND","message":"no \"such\" message"}})");
}

TEST(HttpStatusForCodeTest, MapsTheDocumentedCodes) {
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kUnknown), 500);
  EXPECT_EQ(HttpStatusForCode(absl::StatusCode::kCancelled), 499);
}

}  // namespace
}  // namespace ds::gateway
