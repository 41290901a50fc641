// Tests of FakeMessageStore's fault hooks. The MessageStore contract itself is
// checked by fake_message_store_contract_test.cc.
#include "testing/fake_message_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "testing/store_answer.h"

namespace ds::storage {
namespace {

constexpr absl::Duration kWait = absl::Seconds(10);

template <typename T>
using Answer = ds::testing::StoreAnswer<T>;

NewMessage Msg(uint64_t nonce) {
  return NewMessage{.channel_id = 7, .author_id = 3, .content = "hi", .nonce = nonce};
}

TEST(FakeMessageStoreTest, AnswersOnItsOwnThreadNeverInline) {
  FakeMessageStore store;
  std::promise<std::thread::id> where;
  store.GetMessages({.channel_id = 1}, {}, [&](absl::StatusOr<std::vector<Message>> r) {
    where.set_value(std::this_thread::get_id());
  });
  EXPECT_NE(where.get_future().get(), std::this_thread::get_id());
}

TEST(FakeMessageStoreTest, HoldParksCallsUntilRelease) {
  FakeMessageStore store;
  store.Hold();
  Answer<std::vector<Message>> a, b;
  Answer<SendResult> c;
  store.GetMessages({.channel_id = 7}, {}, a.callback());
  store.GetMessages({.channel_id = 7}, {}, b.callback());
  store.SendMessage(Msg(1), {}, c.callback());
  ASSERT_TRUE(store.WaitForParked(3, kWait));
  EXPECT_EQ(store.calls(StoreMethod::kGetMessages), 2);
  EXPECT_EQ(store.calls(StoreMethod::kSendMessage), 1);
  EXPECT_EQ(store.calls(), 3);
  EXPECT_FALSE(a.ready());
  EXPECT_FALSE(c.ready());
  EXPECT_EQ(store.RowCount(7), 0u);  // the held send has not run
  store.Release();
  EXPECT_TRUE(a.get().ok());
  EXPECT_TRUE(b.get().ok());
  ASSERT_TRUE(c.get().ok());
  EXPECT_EQ(store.RowCount(7), 1u);
  EXPECT_EQ(store.executed(StoreMethod::kSendMessage), 1);
}

TEST(FakeMessageStoreTest, FailNextFailsExactlyNCallsMethodSpecificFirst) {
  FakeMessageStore store;
  store.FailNext(1, absl::UnavailableError("any"));
  store.FailNext(StoreMethod::kGetMessage, 1, absl::InternalError("specific"));
  Answer<Message> first;
  store.GetMessage(7, 1, {}, first.callback());
  EXPECT_EQ(first.get().status().code(), absl::StatusCode::kInternal);
  Answer<Message> second;
  store.GetMessage(7, 1, {}, second.callback());
  EXPECT_EQ(second.get().status().code(), absl::StatusCode::kUnavailable);
  Answer<Message> third;
  store.GetMessage(7, 1, {}, third.callback());
  EXPECT_EQ(third.get().status().code(), absl::StatusCode::kNotFound);  // ran for real
  EXPECT_EQ(store.executed(StoreMethod::kGetMessage), 1);
  EXPECT_EQ(store.calls(StoreMethod::kGetMessage), 3);
}

TEST(FakeMessageStoreTest, FailedSendStoresNothing) {
  FakeMessageStore store;
  store.FailNext(StoreMethod::kSendMessage, 1, absl::UnavailableError("down"));
  Answer<SendResult> a;
  store.SendMessage(Msg(5), {}, a.callback());
  EXPECT_EQ(a.get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.RowCount(7), 0u);
}

TEST(FakeMessageStoreTest, LatencyDelaysEveryAnswer) {
  FakeMessageStore store;
  store.SetLatency(absl::Milliseconds(30));
  const absl::Time start = absl::Now();
  Answer<std::vector<Message>> a;
  store.GetMessages({.channel_id = 7}, {}, a.callback());
  ASSERT_TRUE(a.get().ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(30));
}

TEST(FakeMessageStoreTest, HeldCallAnswersDeadlineExceededAtItsDeadline) {
  FakeMessageStore store;
  store.Hold();
  const absl::Time start = absl::Now();
  Answer<SendResult> a;
  store.SendMessage(Msg(9), {.deadline = start + absl::Milliseconds(20)}, a.callback());
  EXPECT_EQ(a.get().status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
  EXPECT_EQ(store.deadline_exceeded_calls(), 1);
  EXPECT_EQ(store.RowCount(7), 0u);  // never touched the data
  EXPECT_EQ(store.executed(StoreMethod::kSendMessage), 0);
}

TEST(FakeMessageStoreTest, HeldCallAnswersCancelledWhenTokenIsSet) {
  FakeMessageStore store;
  store.Hold();
  auto token = std::make_shared<CancelToken>();
  Answer<std::vector<Message>> a;
  store.GetMessages({.channel_id = 7}, {.cancel = token}, a.callback());
  ASSERT_TRUE(store.WaitForParked(1, kWait));
  EXPECT_FALSE(a.ready());
  token->Cancel();
  EXPECT_EQ(a.get().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(store.cancelled_calls(), 1);
  EXPECT_EQ(store.executed(StoreMethod::kGetMessages), 0);
}

TEST(FakeMessageStoreTest, DestructorAnswersParkedCallsCancelled) {
  Answer<Message> a;
  {
    FakeMessageStore store;
    store.Hold();
    store.GetMessage(7, 1, {}, a.callback());
    ASSERT_TRUE(store.WaitForParked(1, kWait));
  }
  EXPECT_EQ(a.get().status().code(), absl::StatusCode::kCancelled);
}

TEST(FakeMessageStoreTest, CallbackMayCallBackIntoTheStore) {
  FakeMessageStore store({.threads = 1});
  std::promise<absl::StatusOr<Message>> inner;
  store.SendMessage(Msg(11), {}, [&](absl::StatusOr<SendResult> sent) {
    ASSERT_TRUE(sent.ok());
    store.GetMessage(7, sent->message.message_id, {},
                     [&](absl::StatusOr<Message> m) { inner.set_value(std::move(m)); });
  });
  auto got = inner.get_future().get();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->content, "hi");
}

TEST(FakeMessageStoreTest, WaitForCallsTimesOutWhenNotReached) {
  FakeMessageStore store;
  EXPECT_FALSE(store.WaitForCalls(1, absl::Milliseconds(5)));
  Answer<Message> a;
  store.GetMessage(7, 1, {}, a.callback());
  EXPECT_TRUE(store.WaitForCalls(StoreMethod::kGetMessage, 1, kWait));
  EXPECT_EQ(a.get().status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ds::storage
