#include "live/gateway/channel_feed.h"

#include <gtest/gtest.h>

#include "live/gateway/fake_upstream.h"

namespace ds::live {
namespace {

namespace v1 = ::dataservice::v1;
constexpr uint64_t kMs = uint64_t{1} << 22;
constexpr uint64_t kChannel = 42;
constexpr uint64_t kBase = 1000000 * kMs;
uint64_t Id(int i) { return kBase + static_cast<uint64_t>(i) * kMs; }
v1::Message Msg(int i) {
  v1::Message m;
  m.set_channel_id(kChannel);
  m.set_message_id(Id(i));
  m.set_author_id(7);
  m.set_content("m" + std::to_string(i));
  return m;
}

struct Got {
  uint64_t id;
  bool late;
  uint64_t position;
  bool shared;  // the entry's shared frame fits this client
};

class RecordingClient : public FeedClient {
 public:
  explicit RecordingClient(size_t capacity = 1 << 20) : capacity_(capacity) {}
  void OnJoined(uint64_t, uint64_t p) override {
    joined = true;
    joined_at = p;
  }
  bool OnEntry(uint64_t, const FeedEntry& e, uint64_t p) override {
    if (got.size() >= capacity_) return false;
    got.push_back({e.id, e.late, p, e.sse != nullptr && p == e.position});
    return true;
  }
  void OnHeartbeat() override { ++heartbeats; }
  void OnDropped(uint64_t, const absl::Status& why) override { dropped = why; }

  std::vector<uint64_t> Ids(bool late) const {
    std::vector<uint64_t> out;
    for (const auto& g : got)
      if (g.late == late) out.push_back(g.id);
    return out;
  }

  std::vector<Got> got;
  bool joined = false;
  uint64_t joined_at = 0;
  int heartbeats = 0;
  std::optional<absl::Status> dropped;
  size_t capacity_;
};

std::vector<uint64_t> Range(int from, int to) {
  std::vector<uint64_t> ids;
  for (int i = from; i <= to; ++i) ids.push_back(Id(i));
  return ids;
}

class ChannelFeedTest : public ::testing::Test {
 protected:
  ChannelFeedTest() {
    options_.late_window = absl::Seconds(5);
    options_.ring_capacity = 100;
    options_.page_size = 10;
    options_.linger = absl::Seconds(10);
    feed_ = std::make_shared<ChannelFeed>(kChannel, options_, &upstream_, nullptr);
  }
  // Starts the feed with a live-only client at `head`.
  std::shared_ptr<RecordingClient> StartLive(int head) {
    auto c = std::make_shared<RecordingClient>();
    EXPECT_TRUE(feed_->Join(c, std::nullopt));
    EXPECT_EQ(upstream_.streams(), 1u);
    EXPECT_FALSE(upstream_.last()->after.has_value()) << "the first upstream is live only";
    upstream_.last()->events.on_heartbeat(Id(head), true);
    EXPECT_TRUE(c->joined);
    return c;
  }
  void Push(int i, bool late = false) { upstream_.last()->events.on_message(Msg(i), late); }

  FeedOptions options_;
  FakeUpstream upstream_;
  std::shared_ptr<ChannelFeed> feed_;
};

TEST_F(ChannelFeedTest, OneUpstreamServesEveryClientInOrderWithSharedFrames) {
  auto a = StartLive(0);
  auto b = std::make_shared<RecordingClient>();
  ASSERT_TRUE(feed_->Join(b, std::nullopt));
  for (int i = 1; i <= 5; ++i) Push(i);
  EXPECT_EQ(upstream_.streams(), 1u);
  EXPECT_EQ(a->Ids(false), Range(1, 5));
  EXPECT_EQ(b->Ids(false), Range(1, 5));
  for (const auto& g : b->got) EXPECT_TRUE(g.shared) << "encoded once for all clients";
  Push(3);  // a duplicate from the node is dropped
  EXPECT_EQ(a->got.size(), 5u);
}

TEST_F(ChannelFeedTest, ResumeInsideTheRingCostsNoReadAndResendsLateOnes) {
  auto a = StartLive(0);
  for (int i = 1; i <= 10; ++i) Push(i);
  Push(-100, /*late=*/true);  // 101 ms before 1: inside the window
  auto b = std::make_shared<RecordingClient>();
  ASSERT_TRUE(feed_->Join(b, Id(6)));
  EXPECT_EQ(upstream_.reads(), 0u);
  EXPECT_TRUE(b->joined);
  EXPECT_EQ(b->Ids(false), Range(7, 10));
  EXPECT_EQ(b->Ids(true), std::vector<uint64_t>{Id(-100)});
  EXPECT_EQ(b->joined_at, Id(10));
  Push(11);
  EXPECT_EQ(b->got.back().id, Id(11));
  EXPECT_TRUE(b->got.back().shared);
}

TEST_F(ChannelFeedTest, ResumesFromFurtherBackShareOneReadPerPage) {
  auto a = StartLive(25);  // the feed holds everything above 25
  std::vector<std::shared_ptr<RecordingClient>> clients;
  for (int i = 0; i < 100; ++i) {
    clients.push_back(std::make_shared<RecordingClient>());
    ASSERT_TRUE(feed_->Join(clients.back(), Id(10)));
  }
  ASSERT_EQ(upstream_.reads(), 1u) << "one read for every client at the same cursor";
  EXPECT_EQ(upstream_.read(0).after, Id(10) - 5000 * kMs);
  // The store: 1..27 (26 and 27 arrived after the feed started).
  std::vector<v1::Message> page1, page2, page3;
  for (int i = 1; i <= 10; ++i) page1.push_back(Msg(i));
  upstream_.read(0).done(page1);
  ASSERT_EQ(upstream_.reads(), 2u);
  for (int i = 11; i <= 20; ++i) page2.push_back(Msg(i));
  upstream_.read(1).done(page2);
  ASSERT_EQ(upstream_.reads(), 3u);
  Push(26);  // live while catching up
  for (int i = 21; i <= 27; ++i) page3.push_back(Msg(i));
  upstream_.read(2).done(page3);
  Push(27);
  Push(28);
  for (const auto& c : clients) {
    ASSERT_TRUE(c->joined);
    EXPECT_EQ(c->Ids(false), Range(11, 28));
    EXPECT_EQ(c->Ids(true), Range(1, 10)) << "the window behind the resume id, unknown here";
  }
  // A later client from the same id is served from the cached pages.
  auto late_comer = std::make_shared<RecordingClient>();
  ASSERT_TRUE(feed_->Join(late_comer, Id(10)));
  EXPECT_EQ(upstream_.reads(), 3u);
  EXPECT_EQ(late_comer->Ids(false), Range(11, 28));
}

TEST_F(ChannelFeedTest, FailoverResubscribesFromThePositionWithoutLossOrDuplicate) {
  auto a = StartLive(0);
  for (int i = 1; i <= 3; ++i) Push(i);
  FakeUpstream::End(*upstream_.last(), absl::UnavailableError("node died"));
  ASSERT_TRUE(feed_->Tick(absl::Now() + absl::Seconds(1)));
  ASSERT_EQ(upstream_.streams(), 2u);
  EXPECT_EQ(upstream_.last()->after, Id(3));
  EXPECT_EQ(upstream_.last()->avoid, "node-a") << "the next node of the preference list";
  upstream_.last()->events.on_heartbeat(Id(3), false);
  Push(2, /*late=*/true);  // the new node re-sends the window: dropped
  Push(3, /*late=*/true);
  Push(4);
  EXPECT_EQ(a->Ids(false), Range(1, 4));
  EXPECT_TRUE(a->Ids(true).empty());
}

TEST_F(ChannelFeedTest, MovesTheUpstreamWhenTheRingChangesOwner) {
  auto a = StartLive(0);
  Push(1);
  upstream_.SetOwner("node-b");
  ASSERT_TRUE(feed_->Tick(absl::Now()));
  ASSERT_EQ(upstream_.streams(), 2u);
  EXPECT_TRUE(upstream_.stream(0)->ended);
  EXPECT_EQ(upstream_.last()->node, "node-b");
  EXPECT_EQ(upstream_.last()->after, Id(1));
  upstream_.last()->events.on_heartbeat(Id(1), true);
  Push(2);
  EXPECT_EQ(a->Ids(false), Range(1, 2));
}

TEST_F(ChannelFeedTest, ASlowClientIsDroppedAndNeverDelaysTheOthers) {
  auto fast = StartLive(0);
  auto slow = std::make_shared<RecordingClient>(/*capacity=*/2);
  ASSERT_TRUE(feed_->Join(slow, std::nullopt));
  for (int i = 1; i <= 5; ++i) Push(i);
  ASSERT_TRUE(slow->dropped.has_value());
  EXPECT_EQ(slow->dropped->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(fast->Ids(false), Range(1, 5));
  EXPECT_EQ(feed_->clients(), 1u);
}

TEST_F(ChannelFeedTest, ABacklogBeyondTheBoundTellsTheClientToReload) {
  options_.max_backlog = 15;
  feed_ = std::make_shared<ChannelFeed>(kChannel, options_, &upstream_, nullptr);
  auto a = StartLive(100);
  auto b = std::make_shared<RecordingClient>();
  ASSERT_TRUE(feed_->Join(b, Id(1)));
  std::vector<v1::Message> page;
  for (int i = 1; i <= 10; ++i) page.push_back(Msg(i));
  upstream_.read(0).done(page);
  page.clear();
  for (int i = 11; i <= 20; ++i) page.push_back(Msg(i));
  upstream_.read(1).done(page);
  ASSERT_TRUE(b->dropped.has_value());
  EXPECT_EQ(b->dropped->code(), absl::StatusCode::kOutOfRange);
  EXPECT_FALSE(b->joined);
}

TEST_F(ChannelFeedTest, LingersAfterTheLastClientThenCloses) {
  auto a = StartLive(0);
  feed_->Leave(a.get());
  EXPECT_TRUE(feed_->Tick(absl::Now()));
  EXPECT_FALSE(upstream_.last()->ended) << "kept for a reconnecting client";
  EXPECT_FALSE(feed_->Tick(absl::Now() + absl::Seconds(11)));
  EXPECT_TRUE(upstream_.last()->ended);
  EXPECT_FALSE(feed_->Join(std::make_shared<RecordingClient>(), std::nullopt));
}

TEST_F(ChannelFeedTest, HeartbeatsReachEveryClient) {
  auto a = StartLive(0);
  feed_->Tick(absl::Now() + absl::Seconds(16));
  EXPECT_EQ(a->heartbeats, 1);
}

}  // namespace
}  // namespace ds::live
