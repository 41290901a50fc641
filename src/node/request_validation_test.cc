#include "node/request_validation.h"

#include <gtest/gtest.h>

namespace ds::node {
namespace {

namespace v1 = ::dataservice::v1;

TEST(RequestValidationTest, GetMessagesLimitsAndDirections) {
  v1::GetMessagesRequest r;
  EXPECT_EQ(ValidateGetMessages(r).code(), absl::StatusCode::kInvalidArgument);
  r.set_channel_id(1);
  EXPECT_TRUE(ValidateGetMessages(r).ok());
  EXPECT_EQ(EffectiveLimit(r), api::kDefaultPageLimit);
  r.set_limit(api::kMaxPageLimit);
  EXPECT_TRUE(ValidateGetMessages(r).ok());
  r.set_limit(api::kMaxPageLimit + 1);
  EXPECT_EQ(ValidateGetMessages(r).message(),
            "limit: must be between 1 and 100 (0 means 50), got 101");
  r.set_limit(10);
  r.set_before(5);
  r.set_after(3);
  EXPECT_EQ(ValidateGetMessages(r).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RequestValidationTest, KeysDifferByEveryResultChangingField) {
  v1::GetMessagesRequest a;
  a.set_channel_id(1);
  v1::GetMessagesRequest b = a;
  b.set_limit(50);  // 0 and 50 mean the same page
  EXPECT_EQ(GetMessagesKey(a), GetMessagesKey(b));
  b.set_limit(10);
  EXPECT_NE(GetMessagesKey(a), GetMessagesKey(b));
  v1::GetMessagesRequest before = a, after = a;
  before.set_before(7);
  after.set_after(7);
  EXPECT_NE(GetMessagesKey(before), GetMessagesKey(after));
  EXPECT_NE(GetMessagesKey(before), GetMessagesKey(a));
  EXPECT_NE(GetMessageKey(1, 2), ReferenceGetMessageKey(1, 2));  // different encodings
  EXPECT_NE(GetMessageKey(1, 23), GetMessageKey(12, 3));
}

TEST(RequestValidationTest, SendMessageNamesTheField) {
  v1::SendMessageRequest r;
  r.set_channel_id(1);
  r.set_author_id(2);
  r.set_nonce(3);
  r.set_content("hi");
  EXPECT_TRUE(ValidateSendMessage(r).ok());
  r.set_content(std::string(4001, 'x'));
  EXPECT_EQ(ValidateSendMessage(r).message(), "content: must be at most 4000 bytes, got 4001");
  r.set_content("\xff");
  EXPECT_EQ(ValidateSendMessage(r).message(), "content: must be valid UTF-8");
  r.set_content("ok");
  r.set_nonce(0);
  EXPECT_EQ(ValidateSendMessage(r).message().rfind("nonce:", 0), 0u);
}

// The node parses sends as SendMessageRequestWire. It must read exactly what
// a client encodes as dataservice.v1.SendMessageRequest: same numbers, same
// wire types (string and bytes are both length-delimited).
TEST(RequestValidationTest, SendMessageWireViewMatchesThePublicMessage) {
  const auto* pub = v1::SendMessageRequest::descriptor();
  const auto* wire = dataservice::server::SendMessageRequestWire::descriptor();
  ASSERT_EQ(pub->field_count(), wire->field_count());
  for (int i = 0; i < pub->field_count(); ++i) {
    const auto* p = pub->field(i);
    const auto* w = wire->FindFieldByNumber(p->number());
    ASSERT_NE(w, nullptr) << p->name();
    EXPECT_EQ(w->name(), p->name());
    if (p->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      EXPECT_EQ(w->type(), google::protobuf::FieldDescriptor::TYPE_BYTES) << p->name();
    } else {
      EXPECT_EQ(w->type(), p->type()) << p->name();
    }
  }
  v1::SendMessageRequest r;
  r.set_channel_id(11);
  r.set_author_id(22);
  r.set_nonce(33);
  r.set_content("héllo");
  dataservice::server::SendMessageRequestWire parsed;
  ASSERT_TRUE(parsed.ParseFromString(r.SerializeAsString()));
  EXPECT_EQ(parsed.channel_id(), 11u);
  EXPECT_EQ(parsed.author_id(), 22u);
  EXPECT_EQ(parsed.nonce(), 33u);
  EXPECT_EQ(parsed.content(), "héllo");
}

// Regression (issue 12 item 4): malformed UTF-8 on the wire parses as the
// wire view (the public type refuses it) and is reported naming `content`.
TEST(RequestValidationTest, MalformedUtf8ContentIsNamedNotAParseFailure) {
  dataservice::server::SendMessageRequestWire w;
  w.set_channel_id(1);
  w.set_author_id(2);
  w.set_nonce(3);
  w.set_content(std::string("ok\xc3\x28", 4));
  const std::string bytes = w.SerializeAsString();
  v1::SendMessageRequest pub;
  EXPECT_FALSE(pub.ParseFromString(bytes));  // why the node does not parse this type
  dataservice::server::SendMessageRequestWire parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(ValidateSendMessage(parsed).message(), "content: must be valid UTF-8");
  parsed.set_content("fine");
  EXPECT_TRUE(ValidateSendMessage(parsed).ok());
}

}  // namespace
}  // namespace ds::node
