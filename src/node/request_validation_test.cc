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
  EXPECT_EQ(ValidateGetMessages(r).message(), "limit: must be between 1 and 100 (0 means 50), got 101");
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

}  // namespace
}  // namespace ds::node
