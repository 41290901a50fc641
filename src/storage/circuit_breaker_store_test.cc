// Tests of CircuitBreakerStore over the fault-injecting FakeMessageStore. The
// breaker's time is a FakeClock, so open periods pass when the test says so.
#include "storage/circuit_breaker_store.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "storage/message_store_contract.h"
#include "testing/fake_clock.h"
#include "testing/fake_message_store.h"
#include "testing/store_answer.h"

namespace ds::storage {
namespace {

INSTANTIATE_MESSAGE_STORE_CONTRACT(BreakerOverFake, [] {
  return std::make_shared<CircuitBreakerStore>(std::make_shared<FakeMessageStore>(),
                                               CircuitBreakerOptions{});
});

template <typename T>
using Answer = ds::testing::StoreAnswer<T>;

struct Transition {
  std::string breaker;
  BreakerState to;
};

class CircuitBreakerStoreTest : public ::testing::Test {
 protected:
  // The fake clock starts at the real time: the fake store checks deadlines
  // against the real clock, the breaker against the fake one.
  ds::testing::FakeClock clock_{absl::Now()};
  std::shared_ptr<FakeMessageStore> fake_ = std::make_shared<FakeMessageStore>();
  std::mutex mu_;
  std::vector<Transition> transitions_;
  CircuitBreakerStore store_{
      fake_,
      {.failures_to_open = 3,
       .open_for = absl::Milliseconds(100),
       .max_open_for = absl::Milliseconds(300),
       .failure_window = absl::Milliseconds(50),
       .slow_call_budget = absl::Milliseconds(250),
       .clock = &clock_},
      [this](std::string_view breaker, BreakerState to, const absl::Status&) {
        std::lock_guard<std::mutex> lock(mu_);
        transitions_.push_back({std::string(breaker), to});
      }};

  CallOptions Budget(absl::Duration d) { return {.deadline = clock_.Now() + d}; }
  absl::Status Read(absl::Duration budget = absl::Seconds(5)) {
    Answer<std::vector<Message>> a;
    store_.GetMessages({.channel_id = 1, .limit = 10}, Budget(budget), a.callback());
    return a.get().status();
  }
  absl::Status Write(uint64_t nonce) {
    Answer<SendResult> a;
    store_.SendMessage({.channel_id = 1, .author_id = 2, .content = "x", .nonce = nonce},
                       Budget(absl::Seconds(5)), a.callback());
    return a.get().status();
  }
  std::vector<Transition> transitions() {
    std::lock_guard<std::mutex> lock(mu_);
    return transitions_;
  }
};

bool IsRefusal(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable &&
         absl::StrContains(s.message(), "store circuit open");
}

TEST_F(CircuitBreakerStoreTest, OpensAfterFailuresInARowAndRefusesWithoutReachingTheStore) {
  fake_->FailNext(StoreMethod::kGetMessages, 3, absl::UnavailableError("db down"));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Read().message(), "db down");
  EXPECT_EQ(store_.read_state(), BreakerState::kOpen);
  const absl::Status refused = Read();
  EXPECT_TRUE(IsRefusal(refused)) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "db down")) << refused;
  EXPECT_EQ(fake_->calls(StoreMethod::kGetMessages), 3);  // the refusal never reached it
  // Writes have their own breaker: still forwarded and answered.
  EXPECT_TRUE(Write(1).ok());
  EXPECT_EQ(store_.write_state(), BreakerState::kClosed);
  ASSERT_EQ(transitions().size(), 1u);
  EXPECT_EQ(transitions()[0].breaker, "read");
  EXPECT_EQ(transitions()[0].to, BreakerState::kOpen);
}

TEST_F(CircuitBreakerStoreTest, ASuccessInBetweenResetsTheCount) {
  fake_->FailNext(StoreMethod::kGetMessages, 2, absl::UnavailableError("blip"));
  EXPECT_FALSE(Read().ok());
  EXPECT_FALSE(Read().ok());
  EXPECT_TRUE(Read().ok());
  fake_->FailNext(StoreMethod::kGetMessages, 2, absl::UnavailableError("blip"));
  EXPECT_FALSE(Read().ok());
  EXPECT_FALSE(Read().ok());
  EXPECT_EQ(store_.read_state(), BreakerState::kClosed);  // 2 in a row, not 4
  // Answers that prove the store works also reset it: NOT_FOUND is one.
  Answer<Message> missing;
  store_.GetMessage(1, 42, Budget(absl::Seconds(5)), missing.callback());
  EXPECT_EQ(missing.get().status().code(), absl::StatusCode::kNotFound);
  fake_->FailNext(StoreMethod::kGetMessages, 2, absl::UnavailableError("blip"));
  EXPECT_FALSE(Read().ok());
  EXPECT_FALSE(Read().ok());
  EXPECT_EQ(store_.read_state(), BreakerState::kClosed);
}

TEST_F(CircuitBreakerStoreTest, FailuresInARowDoNotOpenItWhileTheStoreStillSucceeds) {
  // One replica of three dies: the calls in flight on its connection all
  // fail together, right after other calls succeeded. The store works.
  EXPECT_TRUE(Read().ok());
  fake_->FailNext(StoreMethod::kGetMessages, 5, absl::UnavailableError("replica gone"));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(Read().ok());
  EXPECT_EQ(store_.read_state(), BreakerState::kClosed);
  // The failures go on and nothing has succeeded for the window: it opens.
  clock_.Advance(absl::Milliseconds(49));
  fake_->FailNext(StoreMethod::kGetMessages, 2, absl::UnavailableError("store gone"));
  EXPECT_FALSE(Read().ok());
  EXPECT_EQ(store_.read_state(), BreakerState::kClosed);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(Read().message(), "store gone");
  EXPECT_EQ(store_.read_state(), BreakerState::kOpen);
  EXPECT_TRUE(IsRefusal(Read()));
}

TEST_F(CircuitBreakerStoreTest, OnlyTimeoutsOfCallsWithARealBudgetCount) {
  // A caller that gave the store 10 ms and timed out proves nothing.
  fake_->FailNext(StoreMethod::kGetMessages, 5, absl::DeadlineExceededError("slow"));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(Read(absl::Milliseconds(10)).ok());
  EXPECT_EQ(store_.read_state(), BreakerState::kClosed);
  // Three timeouts of calls that had a second each do.
  fake_->FailNext(StoreMethod::kGetMessages, 3, absl::DeadlineExceededError("slow"));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Read(absl::Seconds(1)).ok());
  EXPECT_EQ(store_.read_state(), BreakerState::kOpen);
}

TEST_F(CircuitBreakerStoreTest, OneProbeAfterTheOpenPeriodClosesItWhenItSucceeds) {
  fake_->FailNext(StoreMethod::kGetMessages, 3, absl::UnavailableError("db down"));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Read().ok());
  clock_.Advance(absl::Milliseconds(99));
  EXPECT_TRUE(IsRefusal(Read()));
  clock_.Advance(absl::Milliseconds(1));
  // The probe is held in the store; a call meanwhile is still refused.
  fake_->Hold();
  Answer<std::vector<Message>> probe;
  store_.GetMessages({.channel_id = 1, .limit = 10}, Budget(absl::Seconds(5)), probe.callback());
  ASSERT_TRUE(fake_->WaitForCalls(StoreMethod::kGetMessages, 4, absl::Seconds(10)));
  EXPECT_EQ(store_.read_state(), BreakerState::kHalfOpen);
  EXPECT_TRUE(IsRefusal(Read()));
  fake_->Release();
  EXPECT_TRUE(probe.get().ok());
  EXPECT_EQ(store_.read_state(), BreakerState::kClosed);
  EXPECT_TRUE(Read().ok());
  EXPECT_EQ(fake_->calls(StoreMethod::kGetMessages), 5);
  const std::vector<Transition> t = transitions();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].to, BreakerState::kOpen);
  EXPECT_EQ(t[1].to, BreakerState::kHalfOpen);
  EXPECT_EQ(t[2].to, BreakerState::kClosed);
}

TEST_F(CircuitBreakerStoreTest, AFailedProbeDoublesTheOpenPeriodUpToTheCap) {
  fake_->FailNext(StoreMethod::kGetMessages, 3, absl::UnavailableError("db down"));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Read().ok());
  // Periods: 100 ms, then 200, then 300 (the cap), then 300 again.
  for (absl::Duration period : {absl::Milliseconds(100), absl::Milliseconds(200),
                                absl::Milliseconds(300), absl::Milliseconds(300)}) {
    clock_.Advance(period - absl::Milliseconds(1));
    EXPECT_TRUE(IsRefusal(Read())) << period;
    clock_.Advance(absl::Milliseconds(1));
    fake_->FailNext(StoreMethod::kGetMessages, 1, absl::UnavailableError("still down"));
    const absl::Status probe = Read();
    EXPECT_EQ(probe.message(), "still down") << period;  // the probe reached the store
    EXPECT_EQ(store_.read_state(), BreakerState::kOpen);
  }
  EXPECT_EQ(fake_->calls(StoreMethod::kGetMessages), 3 + 4);
  // Back up: the next probe closes it and the period starts over.
  clock_.Advance(absl::Milliseconds(300));
  EXPECT_TRUE(Read().ok());
  EXPECT_EQ(store_.read_state(), BreakerState::kClosed);
}

TEST_F(CircuitBreakerStoreTest, RefusalsAreNeverAnsweredInline) {
  fake_->FailNext(StoreMethod::kSendMessage, 3, absl::ResourceExhaustedError("disk full"));
  for (uint64_t i = 0; i < 3; ++i) EXPECT_FALSE(Write(i).ok());
  EXPECT_EQ(store_.write_state(), BreakerState::kOpen);
  std::promise<std::thread::id> answered_on;
  store_.SendMessage({.channel_id = 1, .author_id = 2, .content = "x", .nonce = 9},
                     Budget(absl::Seconds(5)), [&](absl::StatusOr<SendResult> r) {
                       // A full disk keeps its code through the breaker.
                       EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
                       EXPECT_TRUE(absl::StrContains(r.status().message(), "store circuit open"))
                           << r.status();
                       answered_on.set_value(std::this_thread::get_id());
                     });
  EXPECT_NE(answered_on.get_future().get(), std::this_thread::get_id());
}

TEST_F(CircuitBreakerStoreTest, StalledCallsOpenItAndAreAnsweredAtOnce) {
  // The store hangs: three reads with a real budget wait in it.
  fake_->Hold();
  std::vector<Answer<std::vector<Message>>> waiting(3);
  for (auto& a : waiting) {
    store_.GetMessages({.channel_id = 1, .limit = 10}, Budget(absl::Seconds(30)), a.callback());
  }
  ASSERT_TRUE(fake_->WaitForParked(3, absl::Seconds(10)));
  // Not yet stalled: a fourth call is still forwarded.
  clock_.Advance(absl::Milliseconds(249));
  Answer<std::vector<Message>> fourth;
  store_.GetMessages({.channel_id = 1, .limit = 10}, Budget(absl::Seconds(30)), fourth.callback());
  ASSERT_TRUE(fake_->WaitForParked(4, absl::Seconds(10)));
  EXPECT_EQ(store_.read_state(), BreakerState::kClosed);
  // 250 ms on, the first three have stalled: the next call opens the breaker,
  // is refused, and every call in flight is answered now, not at its deadline.
  clock_.Advance(absl::Milliseconds(1));
  const absl::Status refused = Read();
  EXPECT_TRUE(IsRefusal(refused)) << refused;
  EXPECT_EQ(store_.read_state(), BreakerState::kOpen);
  for (auto* a : {&waiting[0], &waiting[1], &waiting[2], &fourth}) {
    const absl::Status s = a->get().status();
    EXPECT_TRUE(IsRefusal(s)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "stalled")) << s;
  }
  EXPECT_EQ(fake_->calls(StoreMethod::kGetMessages), 4);
  // The store's late answers are dropped (a second answer would set a
  // promise twice and abort); writes were never affected.
  fake_->Release();
  EXPECT_TRUE(Write(7).ok());
}

TEST_F(CircuitBreakerStoreTest, CallsWithShortBudgetsDoNotStallIt) {
  fake_->Hold();
  std::vector<Answer<std::vector<Message>>> waiting(5);
  for (auto& a : waiting) {
    store_.GetMessages({.channel_id = 1, .limit = 10}, Budget(absl::Milliseconds(100)),
                       a.callback());
  }
  ASSERT_TRUE(fake_->WaitForParked(5, absl::Seconds(10)));
  clock_.Advance(absl::Seconds(1));
  fake_->Release();
  EXPECT_TRUE(Read().ok());
  EXPECT_EQ(store_.read_state(), BreakerState::kClosed);
  for (auto& a : waiting) EXPECT_FALSE(IsRefusal(a.get().status()));
}

TEST(CircuitBreakerStoreOffTest, ZeroFailuresToOpenNeverOpens) {
  auto fake = std::make_shared<FakeMessageStore>();
  CircuitBreakerStore store(fake, {.failures_to_open = 0});
  fake->FailNext(StoreMethod::kGetMessages, 20, absl::UnavailableError("db down"));
  for (int i = 0; i < 20; ++i) {
    Answer<std::vector<Message>> a;
    store.GetMessages({.channel_id = 1}, {}, a.callback());
    EXPECT_EQ(a.get().status().message(), "db down");
  }
  EXPECT_EQ(fake->calls(StoreMethod::kGetMessages), 20);
  EXPECT_EQ(store.read_state(), BreakerState::kClosed);
}

}  // namespace
}  // namespace ds::storage
