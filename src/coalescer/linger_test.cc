// Hot-key linger (coalescing contract point 10), on simulated time.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coalescer/coalescer.h"
#include "coalescer/test_helpers.h"

namespace ds::coalescer::test {
namespace {

constexpr absl::Duration kStoreLatency = absl::Milliseconds(5);

// A store on simulated time whose answer names when its query started, and
// whether a write had been applied by then.
class SnapshotStore {
 public:
  explicit SnapshotStore(FakeClock* clock) : clock_(clock) {}
  C::Fetch Fetch() {
    return [this](const FetchContext&, C::FetchDone done) {
      ++calls_;
      const absl::Time started = clock_->Now();
      const bool written = written_;
      clock_->Schedule(started + kStoreLatency, [done = std::move(done), started, written] {
        done(Bytes(absl::StrCat(absl::ToUnixMicros(started), written ? "+write" : "")));
      });
    };
  }
  void Write() { written_ = true; }
  int calls() const { return calls_; }

 private:
  FakeClock* const clock_;
  bool written_ = false;
  int calls_ = 0;
};

struct Read {
  absl::Time joined;
  std::optional<C::Result> result;
  absl::Time answered;
  Role role = Role::kLeader;
};

class LingerTest : public ::testing::Test {
 protected:
  LingerTest() : timer_(&clock_), store_(&clock_) {}

  void Make(absl::Duration linger_max) {
    CoalescerOptions o;
    o.linger.max = linger_max;
    c_ = std::make_unique<C>(o, &timer_, nullptr, nullptr, &clock_);
  }
  // A read of `key` now, with `timeout` left.
  void ReadNow(Read& read, absl::Duration timeout = absl::Seconds(1),
               const std::string& key = "k") {
    read.joined = clock_.Now();
    auto ticket = c_->Join({key, 1, clock_.Now() + timeout}, store_.Fetch(),
                           [&read, this](const C::Result& r, const WaitInfo&) {
                             read.result = r;
                             read.answered = clock_.Now();
                           });
    ASSERT_TRUE(ticket.ok());
    read.role = ticket->role();
  }
  // Two quick flights make the key hot (arrivals 1 ms apart) and teach the
  // coalescer the store's latency.
  void Warm() {
    std::vector<Read> warm(4);
    for (Read& r : warm) {
      ReadNow(r);
      clock_.Advance(absl::Milliseconds(1));
    }
    clock_.Advance(absl::Milliseconds(20));
    for (const Read& r : warm) ASSERT_TRUE(r.result.has_value() && r.result->ok());
  }
  // What the read got (it must have got data).
  static const std::string& Value(const Read& read) { return *read.result->value(); }
  static absl::Time QueryStart(const Read& read) {
    const std::string& v = Value(read);
    return absl::FromUnixMicros(std::stoll(v.substr(0, v.find('+'))));
  }

  FakeClock clock_;
  FakeTimer timer_;
  SnapshotStore store_;
  std::unique_ptr<C> c_;
};

TEST_F(LingerTest, HotKeyLingersAndEveryJoinerGetsAQueryThatStartedAfterIt) {
  Make(absl::Milliseconds(20));
  Warm();
  const int warm_calls = store_.calls();
  std::vector<Read> reads(10);
  for (Read& r : reads) {
    ReadNow(r);
    clock_.Advance(absl::Milliseconds(2));
  }
  clock_.Advance(absl::Milliseconds(50));
  EXPECT_EQ(store_.calls() - warm_calls, 1);  // 10 reads over 18 ms: one query
  for (const Read& r : reads) {
    ASSERT_TRUE(r.result.has_value() && r.result->ok());
    EXPECT_GE(QueryStart(r), r.joined);  // zero staleness
  }
  // The leader waited the whole linger (capped at 20 ms) plus the query.
  EXPECT_EQ(reads[0].answered - reads[0].joined, absl::Milliseconds(20) + kStoreLatency);
}

TEST_F(LingerTest, OffByDefaultAndForColdKeys) {
  Make(absl::ZeroDuration());
  Warm();
  Read hot;
  ReadNow(hot);
  EXPECT_EQ(store_.calls(), 2);  // queried at once: no linger
  clock_.Advance(absl::Milliseconds(10));
  ASSERT_TRUE(hot.result.has_value());
  Make(absl::Milliseconds(20));
  Read cold;
  ReadNow(cold, absl::Seconds(1), "never-seen");  // no arrival rate yet
  EXPECT_EQ(store_.calls(), 3);
  clock_.Advance(absl::Milliseconds(10));
  EXPECT_TRUE(cold.result.has_value());
}

TEST_F(LingerTest, DeadlineShorterThanTheLingerIsHonoured) {
  Make(absl::Milliseconds(50));
  Warm();
  // 20 ms left, 5 ms queries: the linger ends 2 x 5 ms before the deadline.
  Read leader;
  ReadNow(leader, absl::Milliseconds(20));
  clock_.Advance(absl::Milliseconds(100));
  ASSERT_TRUE(leader.result.has_value() && leader.result->ok());
  EXPECT_EQ(QueryStart(leader) - leader.joined, absl::Milliseconds(10));
  EXPECT_LE(leader.answered, leader.joined + absl::Milliseconds(20));
}

TEST_F(LingerTest, JoinerWithAShortDeadlineEndsTheLingerSooner) {
  Make(absl::Milliseconds(50));
  Warm();
  Read leader, hurried;
  ReadNow(leader, absl::Seconds(1));
  clock_.Advance(absl::Milliseconds(5));
  ReadNow(hurried, absl::Milliseconds(20));
  EXPECT_EQ(hurried.role, Role::kJoiner);
  clock_.Advance(absl::Milliseconds(100));
  ASSERT_TRUE(hurried.result.has_value() && hurried.result->ok());
  EXPECT_LE(hurried.answered, hurried.joined + absl::Milliseconds(20));
  EXPECT_EQ(QueryStart(hurried), hurried.joined + absl::Milliseconds(10));
  ASSERT_TRUE(leader.result.has_value());
  EXPECT_EQ(Value(leader), Value(hurried));  // one query for both
}

TEST_F(LingerTest, WriteDuringTheLingerIsSeenByReadersThatArriveAfterIt) {
  Make(absl::Milliseconds(20));
  Warm();
  const int warm_calls = store_.calls();
  Read before, after;
  ReadNow(before);
  clock_.Advance(absl::Milliseconds(3));
  store_.Write();
  c_->OnWriteAcknowledged(1);
  clock_.Advance(absl::Milliseconds(2));
  ReadNow(after);
  // The lingering flight's query has not started: joining it is safe.
  EXPECT_EQ(after.role, Role::kJoiner);
  clock_.Advance(absl::Milliseconds(50));
  ASSERT_TRUE(after.result.has_value() && after.result->ok());
  EXPECT_EQ(Value(after), absl::StrCat(absl::ToUnixMicros(QueryStart(after)), "+write"));
  EXPECT_EQ(Value(before), Value(after));
  EXPECT_EQ(store_.calls() - warm_calls, 1);
}

TEST_F(LingerTest, WriteAfterTheQueryStartedStillStartsANewFlight) {
  Make(absl::Milliseconds(20));
  Warm();
  Read before, after;
  ReadNow(before, absl::Milliseconds(30));  // lingers 30 - 2 x 5 = 20 ms
  clock_.Advance(absl::Milliseconds(21));   // its query is running now
  store_.Write();
  c_->OnWriteAcknowledged(1);
  ReadNow(after);
  EXPECT_EQ(after.role, Role::kLeader);
  clock_.Advance(absl::Milliseconds(100));
  ASSERT_TRUE(after.result.has_value() && after.result->ok());
  EXPECT_NE(Value(after).find("+write"), std::string::npos);
  EXPECT_EQ(Value(before).find("+write"), std::string::npos);
}

TEST_F(LingerTest, EveryoneLeavingDuringTheLingerCostsNoQuery) {
  Make(absl::Milliseconds(20));
  Warm();
  const int warm_calls = store_.calls();
  auto ticket = c_->Join({"k", 1, clock_.Now() + absl::Seconds(1)}, store_.Fetch(),
                         [](const C::Result&, const WaitInfo&) { ADD_FAILURE(); });
  ASSERT_TRUE(ticket.ok());
  EXPECT_TRUE(c_->Leave(*ticket));
  clock_.Advance(absl::Milliseconds(50));
  EXPECT_EQ(store_.calls(), warm_calls);
  EXPECT_EQ(c_->live_flights(), 0u);
  EXPECT_EQ(c_->active_queries(), 0u);
}

}  // namespace
}  // namespace ds::coalescer::test
