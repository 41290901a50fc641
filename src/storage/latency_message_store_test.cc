// LatencyMessageStore: the delay, deadlines and cancellation during the delay,
// shutdown, and the contract suite through the decorator.
#include "storage/latency_message_store.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>

#include "absl/time/clock.h"
#include "storage/message_store_contract.h"
#include "testing/fake_message_store.h"
#include "testing/store_answer.h"

namespace ds::storage {
namespace {

INSTANTIATE_MESSAGE_STORE_CONTRACT(LatencyOverFake, [] {
  return std::make_shared<LatencyMessageStore>(std::make_shared<FakeMessageStore>(),
                                               absl::Milliseconds(1));
});

template <typename T>
using Answer = ds::testing::StoreAnswer<T>;

TEST(LatencyMessageStoreTest, AddsTheLatencyAndPassesResultsThrough) {
  auto fake = std::make_shared<FakeMessageStore>();
  LatencyMessageStore store(fake, absl::Milliseconds(40));
  const absl::Time start = absl::Now();
  Answer<SendResult> sent;
  store.SendMessage({.channel_id = 1, .author_id = 2, .content = "hi", .nonce = 3}, {},
                    sent.callback());
  auto result = sent.get();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(40));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->message.content, "hi");
  EXPECT_EQ(fake->calls(StoreMethod::kSendMessage), 1);
  EXPECT_EQ(fake->RowCount(1), 1u);
}

TEST(LatencyMessageStoreTest, DeadlineInsideTheLatencyAnswersAtTheDeadlineWithoutTheStore) {
  auto fake = std::make_shared<FakeMessageStore>();
  LatencyMessageStore store(fake, absl::Seconds(30));
  const absl::Time start = absl::Now();
  Answer<Message> got;
  store.GetMessage(1, 2, {.deadline = start + absl::Milliseconds(30)}, got.callback());
  EXPECT_EQ(got.get().status().code(), absl::StatusCode::kDeadlineExceeded);
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(30));
  EXPECT_LT(took, absl::Seconds(10));  // not the 30 s latency
  EXPECT_EQ(fake->calls(), 0);
}

TEST(LatencyMessageStoreTest, CancelledDuringTheLatencyNeverReachesTheStore) {
  auto fake = std::make_shared<FakeMessageStore>();
  LatencyMessageStore store(fake, absl::Milliseconds(20));
  auto token = std::make_shared<CancelToken>();
  Answer<SendResult> sent;
  store.SendMessage({.channel_id = 1, .author_id = 2, .content = "x", .nonce = 1},
                    {.cancel = token}, sent.callback());
  token->Cancel();
  EXPECT_EQ(sent.get().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(fake->calls(), 0);
  EXPECT_EQ(fake->RowCount(1), 0u);
}

TEST(LatencyMessageStoreTest, DestructorAnswersWaitingCallsCancelled) {
  auto fake = std::make_shared<FakeMessageStore>();
  Answer<std::vector<Message>> page;
  const absl::Time start = absl::Now();
  {
    LatencyMessageStore store(fake, absl::Seconds(30));
    store.GetMessages({.channel_id = 1}, {}, page.callback());
  }
  EXPECT_EQ(page.get().status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(fake->calls(), 0);
}

}  // namespace
}  // namespace ds::storage
