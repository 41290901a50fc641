#include "live/node/live_hub.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>

namespace ds::live {
namespace {

using storage::Message;
constexpr uint64_t kMs = uint64_t{1} << 22;
constexpr uint64_t kChannel = 42;
constexpr uint64_t kBase = 1000000 * kMs;  // any id far above the window
uint64_t Id(int i) { return kBase + static_cast<uint64_t>(i) * kMs; }
Message Msg(int i) { return {kChannel, Id(i), 7, "m" + std::to_string(i)}; }

// The store, as the hub's PageReader sees it. Reads answer inline unless held.
class FakeLog {
 public:
  void Add(const Message& m) {
    std::lock_guard lock(mu_);
    rows_[m.message_id] = m;
  }
  void Hold() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  // Answers the held reads with the rows as they are now.
  void Release() {
    std::deque<std::function<void()>> held;
    {
      std::lock_guard lock(mu_);
      hold_ = false;
      held.swap(held_);
    }
    for (auto& f : held) f();
  }
  int reads(ReadPurpose p) {
    std::lock_guard lock(mu_);
    return reads_[p];
  }
  PageReader Reader() {
    return [this](uint64_t channel, std::optional<uint64_t> after, uint32_t limit, ReadPurpose p,
                  std::function<void(absl::StatusOr<std::vector<Message>>)> done) {
      std::unique_lock lock(mu_);
      ++reads_[p];
      auto answer = [this, after, limit, done] {
        std::vector<Message> page;
        std::unique_lock lock(mu_);
        if (after) {
          for (auto it = rows_.upper_bound(*after); it != rows_.end() && page.size() < limit; ++it)
            page.push_back(it->second);
        } else {
          for (auto it = rows_.rbegin(); it != rows_.rend() && page.size() < limit; ++it)
            page.push_back(it->second);
        }
        std::reverse(page.begin(), page.end());  // any order is allowed
        lock.unlock();
        done(std::move(page));
      };
      if (hold_) {
        held_.push_back(answer);
        return;
      }
      lock.unlock();
      answer();
    };
  }

 private:
  std::mutex mu_;
  std::map<uint64_t, Message> rows_;
  bool hold_ = false;
  std::deque<std::function<void()>> held_;
  std::map<ReadPurpose, int> reads_;
};

struct Event {
  bool heartbeat = false;
  uint64_t id = 0;  // message id, or the heartbeat's position
  bool late = false;
};

class RecordingSink : public StreamSink {
 public:
  explicit RecordingSink(size_t capacity = 1 << 20) : capacity_(capacity) {}
  bool OnMessage(const Message& m, bool late) override {
    std::lock_guard lock(mu_);
    if (messages_ >= capacity_) return false;
    ++messages_;
    events_.push_back({false, m.message_id, late});
    cv_.notify_all();
    return true;
  }
  void OnHeartbeat(uint64_t position, bool live) override {
    std::lock_guard lock(mu_);
    if (live) live_ = true;
    events_.push_back({true, position, false});
    cv_.notify_all();
  }
  void OnEnd(const absl::Status& status) override {
    std::lock_guard lock(mu_);
    end_ = status;
    cv_.notify_all();
  }
  // Waits (up to 10 s) until `pred` holds over the messages received so far.
  bool WaitFor(std::function<bool(const std::vector<Event>&)> pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return pred(events_); });
  }
  bool WaitLive() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return live_; });
  }
  bool WaitEnd() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return end_.has_value(); });
  }
  std::vector<Event> Messages() {
    std::lock_guard lock(mu_);
    std::vector<Event> out;
    for (const auto& e : events_)
      if (!e.heartbeat) out.push_back(e);
    return out;
  }
  std::optional<absl::Status> end() {
    std::lock_guard lock(mu_);
    return end_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  size_t capacity_;
  size_t messages_ = 0;
  bool live_ = false;
  std::optional<absl::Status> end_;
};

size_t CountMessages(const std::vector<Event>& events) {
  return std::count_if(events.begin(), events.end(), [](const Event& e) { return !e.heartbeat; });
}

std::vector<uint64_t> Ids(const std::vector<Event>& messages) {
  std::vector<uint64_t> ids;
  for (const auto& e : messages) ids.push_back(e.id);
  return ids;
}

std::vector<uint64_t> Ids(const std::vector<Event>& messages, bool late) {
  std::vector<uint64_t> ids;
  for (const auto& e : messages)
    if (e.late == late) ids.push_back(e.id);
  return ids;
}

std::vector<uint64_t> Range(int from, int to) {
  std::vector<uint64_t> ids;
  for (int i = from; i <= to; ++i) ids.push_back(Id(i));
  return ids;
}

HubOptions Options() {
  HubOptions o;
  o.poll_interval = absl::Hours(1);  // tests poll with Poke()
  o.heartbeat_interval = absl::Hours(1);
  o.late_window = absl::Seconds(5);
  return o;
}

TEST(LiveHubTest, LiveOnlyStreamStartsAtTheNewestMessage) {
  FakeLog log;
  for (int i = 1; i <= 5; ++i) log.Add(Msg(i));
  LiveHub hub(Options(), log.Reader());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, std::nullopt, sink).ok());
  ASSERT_TRUE(sink->WaitLive());
  EXPECT_TRUE(sink->Messages().empty()) << "no backlog without a resume id";
  log.Add(Msg(6));
  hub.Publish(Msg(6));
  EXPECT_EQ(Ids(sink->Messages()), Range(6, 6));
  EXPECT_EQ(log.reads(ReadPurpose::kHead), 1);
}

TEST(LiveHubTest, ResumeSendsTheBacklogPageByPageThenGoesLive) {
  FakeLog log;
  for (int i = 1; i <= 250; ++i) log.Add(Msg(i));
  LiveHub hub(Options(), log.Reader());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, Id(10), sink).ok());
  ASSERT_TRUE(sink->WaitLive());
  EXPECT_EQ(Ids(sink->Messages(), /*late=*/false), Range(11, 250));
  // The read starts `late_window` (5 s) behind the resume id; ids 1..10 are
  // 1 ms apart, inside it, and unknown to the hub: re-sent, marked late (the
  // receiver drops what it holds). So the first page spans 1..100.
  EXPECT_EQ(Ids(sink->Messages(), /*late=*/true), Range(1, 10));
  EXPECT_EQ(log.reads(ReadPurpose::kCatchUp), 3);
}

TEST(LiveHubTest, HandOffUnderConcurrentWritesHasNoGapAndNoDuplicate) {
  FakeLog log;
  for (int i = 1; i <= 150; ++i) log.Add(Msg(i));
  LiveHub hub(Options(), log.Reader());
  // A live stream makes the channel known.
  auto first = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, std::nullopt, first).ok());
  ASSERT_TRUE(first->WaitLive());

  log.Hold();
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, Id(20), sink).ok());
  // Written while the first page is being read: 151 is in the store before
  // the page is answered (so both paths carry it), 152 only reaches the hub.
  log.Add(Msg(151));
  hub.Publish(Msg(151));
  log.Release();  // first page: 21..120 (and the window behind 20)
  hub.Publish(Msg(152));
  log.Add(Msg(152));
  ASSERT_TRUE(sink->WaitLive());
  log.Add(Msg(153));
  hub.Publish(Msg(153));
  EXPECT_EQ(Ids(sink->Messages(), /*late=*/false), Range(21, 153));
  EXPECT_EQ(Ids(sink->Messages(), /*late=*/true), Range(1, 20))
      << "the window behind the resume id predates the channel's stream: re-sent";
  EXPECT_EQ(Ids(first->Messages()), Range(151, 153));
}

TEST(LiveHubTest, BacklogBeyondTheBoundEndsTheStreamWithOutOfRange) {
  FakeLog log;
  for (int i = 1; i <= 300; ++i) log.Add(Msg(i));
  HubOptions o = Options();
  o.max_backlog = 150;
  LiveHub hub(o, log.Reader());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, Id(0), sink).ok());
  ASSERT_TRUE(sink->WaitEnd());
  EXPECT_EQ(sink->end()->code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(sink->end()->message().find("GetMessages"), std::string::npos);
  EXPECT_EQ(hub.subscribers(), 0u);
}

TEST(LiveHubTest, TailPollDeliversWritesAcknowledgedElsewhereInOrder) {
  FakeLog log;
  log.Add(Msg(1));
  LiveHub hub(Options(), log.Reader());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, std::nullopt, sink).ok());
  ASSERT_TRUE(sink->WaitLive());
  for (int i = 2; i <= 4; ++i) log.Add(Msg(i));  // no Publish: another node wrote them
  hub.Poke(kChannel);
  ASSERT_TRUE(sink->WaitFor([](const auto& e) { return CountMessages(e) == 3; }));
  auto got = sink->Messages();
  EXPECT_EQ(Ids(got), Range(2, 4));
  for (const auto& e : got) EXPECT_FALSE(e.late);
}

TEST(LiveHubTest, LateWriteInsideTheWindowIsDeliveredOnceMarkedLate) {
  FakeLog log;
  log.Add(Msg(1));
  LiveHub hub(Options(), log.Reader());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, std::nullopt, sink).ok());
  ASSERT_TRUE(sink->WaitLive());
  log.Add(Msg(3000));
  hub.Publish(Msg(3000));
  // Another node's clock is 1 s behind: its write sorts before 3000.
  log.Add(Msg(2000));
  // And one 6 s behind: outside the 5 s window, it is not delivered.
  log.Add(Msg(-3000));
  hub.Poke(kChannel);
  ASSERT_TRUE(sink->WaitFor([](const auto& e) { return CountMessages(e) == 2; }));
  hub.Poke(kChannel);  // a second look finds nothing new
  log.Add(Msg(3001));
  hub.Poke(kChannel);
  ASSERT_TRUE(sink->WaitFor([](const auto& e) { return CountMessages(e) == 3; }));
  auto got = sink->Messages();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].id, Id(3000));
  EXPECT_FALSE(got[0].late);
  EXPECT_EQ(got[1].id, Id(2000));
  EXPECT_TRUE(got[1].late);
  EXPECT_EQ(got[2].id, Id(3001));
  EXPECT_FALSE(got[2].late);
}

TEST(LiveHubTest, ResumeResendsFromTheWindowOnlyWhatCameLate) {
  FakeLog log;
  LiveHub hub(Options(), log.Reader());
  auto a = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, std::nullopt, a).ok());
  ASSERT_TRUE(a->WaitLive());
  for (int i : {100, 200, 300}) {
    log.Add(Msg(i));
    hub.Publish(Msg(i));
  }
  log.Add(Msg(250));  // late: found by the tail read after 300 was sent
  hub.Poke(kChannel);
  ASSERT_TRUE(a->WaitFor([](const auto& e) { return CountMessages(e) == 4; }));
  // A receiver that had reached 300 may have gone before 250 arrived.
  auto b = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, Id(300), b).ok());
  ASSERT_TRUE(b->WaitLive());
  auto got = b->Messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, Id(250));
  EXPECT_TRUE(got[0].late);
}

TEST(LiveHubTest, ResumeOnAnUnknownChannelResendsTheWholeWindowMarkedLate) {
  FakeLog log;
  for (int i : {100, 200, 300, 400}) log.Add(Msg(i));
  LiveHub hub(Options(), log.Reader());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, Id(300), sink).ok());
  ASSERT_TRUE(sink->WaitLive());
  auto got = sink->Messages();
  ASSERT_EQ(Ids(got), (std::vector<uint64_t>{Id(100), Id(200), Id(300), Id(400)}));
  EXPECT_TRUE(got[0].late && got[1].late && got[2].late);
  EXPECT_FALSE(got[3].late);
}

TEST(LiveHubTest, ASlowStreamIsEndedAndTheOthersGetEverything) {
  FakeLog log;
  LiveHub hub(Options(), log.Reader());
  auto slow = std::make_shared<RecordingSink>(/*capacity=*/2);
  auto fast = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, std::nullopt, slow).ok());
  ASSERT_TRUE(hub.Subscribe(kChannel, std::nullopt, fast).ok());
  ASSERT_TRUE(slow->WaitLive() && fast->WaitLive());
  for (int i = 1; i <= 5; ++i) hub.Publish(Msg(i));
  ASSERT_TRUE(slow->end().has_value());
  EXPECT_EQ(slow->end()->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Ids(fast->Messages()), Range(1, 5));
  EXPECT_EQ(hub.subscribers(), 1u);
}

TEST(LiveHubTest, UnsubscribeStopsEventsAndForgetsTheChannel) {
  FakeLog log;
  LiveHub hub(Options(), log.Reader());
  auto sink = std::make_shared<RecordingSink>();
  auto id = hub.Subscribe(kChannel, std::nullopt, sink);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(sink->WaitLive());
  hub.Unsubscribe(*id);
  hub.Publish(Msg(1));
  EXPECT_TRUE(sink->Messages().empty());
  EXPECT_EQ(hub.channels(), 0u);
  EXPECT_FALSE(sink->end().has_value()) << "the caller ended it: no OnEnd";
}

TEST(LiveHubTest, SubscriberCapAndStop) {
  FakeLog log;
  HubOptions o = Options();
  o.max_subscribers = 1;
  LiveHub hub(o, log.Reader());
  auto a = std::make_shared<RecordingSink>();
  ASSERT_TRUE(hub.Subscribe(kChannel, std::nullopt, a).ok());
  auto refused = hub.Subscribe(kChannel + 1, std::nullopt, std::make_shared<RecordingSink>());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  hub.Stop(absl::UnavailableError("bye"));
  ASSERT_TRUE(a->end().has_value());
  EXPECT_EQ(a->end()->code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(hub.Subscribe(kChannel, std::nullopt, a).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ds::live
