// The cases of the MessageStore contract suite (see message_store_contract.h).
#include "storage/message_store_contract.h"

#include <future>

namespace ds::storage {
namespace {

using contract_internal::Waiter;

GetMessagesQuery Q(uint64_t channel, uint32_t limit, std::optional<uint64_t> before = {},
                   std::optional<uint64_t> after = {}) {
  return GetMessagesQuery{.channel_id = channel, .limit = limit, .before = before, .after = after};
}

bool NewestFirst(const std::vector<Message>& page) {
  return std::is_sorted(page.begin(), page.end(), [](const Message& a, const Message& b) {
    return a.message_id > b.message_id;
  });
}

CallOptions PastDeadline() {
  return CallOptions{.deadline = absl::Now() - absl::Seconds(1), .cancel = nullptr};
}

CallOptions CancelledToken() {
  auto token = std::make_shared<CancelToken>();
  token->Cancel();
  return CallOptions{.deadline = absl::InfiniteFuture(), .cancel = token};
}

TEST_P(MessageStoreContractTest, SendThenGetRoundTripsEveryField) {
  const uint64_t channel = NewChannel();
  const std::string content =
      "h\xC3\xA9llo w\xC3\xB6rld \xE2\x80\x94 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x8E\x89 "
      "'quotes' \"double\" ; DROP TABLE messages; --" +
      std::string(2000, 'x');
  const absl::Time before_send = absl::Now();
  auto sent = Send({.channel_id = channel, .author_id = 4242, .content = content, .nonce = 99});
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_FALSE(sent->duplicate);
  EXPECT_EQ(sent->message.channel_id, channel);
  EXPECT_EQ(sent->message.author_id, 4242u);
  EXPECT_EQ(sent->message.content, content);
  EXPECT_NE(sent->message.message_id, 0u);
  // A fresh snowflake: its timestamp is "now" (generous for clock skew).
  const absl::Time id_time = absl::FromUnixMillis(SnowflakeTimestampMs(sent->message.message_id));
  EXPECT_GT(id_time, before_send - absl::Minutes(5));
  EXPECT_LT(id_time, absl::Now() + absl::Minutes(5));

  auto got = Get(channel, sent->message.message_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, sent->message);

  auto page = Page(Q(channel, 10));
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ(page->front(), sent->message);
}

TEST_P(MessageStoreContractTest, GetMessagesIsNewestFirstAndRespectsLimit) {
  const uint64_t channel = NewChannel();
  std::vector<Message> messages = SpreadMessages(channel, 30, 10);
  auto inserted = Bulk(messages);
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_EQ(*inserted, 30u);

  auto page = Page(Q(channel, 10));
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ((*page)[i], messages[29 - i]) << i;

  auto all = Page(Q(channel, 100));
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 30u);
  EXPECT_TRUE(NewestFirst(*all));

  auto one = Page(Q(channel, 1));
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(one->front(), messages.back());
}

TEST_P(MessageStoreContractTest, EmptyChannelGivesEmptyPage) {
  auto page = Page(Q(NewChannel(), 50));
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->empty());
}

TEST_P(MessageStoreContractTest, BeforeAndAfterPagingWalkSeveralBucketsWithoutGapsOrDuplicates) {
  const uint64_t channel = NewChannel();
  std::vector<Message> messages = SpreadMessages(channel, 250, 50);
  std::set<int32_t> buckets;
  for (const Message& m : messages) buckets.insert(BucketOf(m.message_id));
  ASSERT_GE(buckets.size(), 5u);  // the walk must cross bucket boundaries
  ASSERT_TRUE(Bulk(messages).ok());
  std::vector<uint64_t> ascending = Ids(messages);
  std::vector<uint64_t> descending(ascending.rbegin(), ascending.rend());

  // Backwards with `before`, 40 at a time (pages straddle buckets).
  std::vector<uint64_t> walked;
  std::optional<uint64_t> before;
  for (int pages = 0; pages < 20; ++pages) {
    auto page = Page(Q(channel, 40, before));
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    EXPECT_LE(page->size(), 40u);
    for (const Message& m : *page) walked.push_back(m.message_id);
    before = page->back().message_id;
  }
  EXPECT_EQ(walked, descending);

  // Forwards with `after`: each page is the 40 oldest ids > after, newest first.
  std::vector<uint64_t> forward;
  std::optional<uint64_t> after = 0;
  for (int pages = 0; pages < 20; ++pages) {
    auto page = Page(Q(channel, 40, {}, after));
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    EXPECT_TRUE(NewestFirst(*page));
    for (auto it = page->rbegin(); it != page->rend(); ++it) forward.push_back(it->message_id);
    after = page->front().message_id;
  }
  EXPECT_EQ(forward, ascending);

  // Both bounds: a window strictly inside (after, before).
  auto window = Page(Q(channel, 100, ascending[120], ascending[60]));
  ASSERT_TRUE(window.ok()) << window.status();
  EXPECT_EQ(Ids(*window),
            std::vector<uint64_t>(descending.begin() + 130, descending.begin() + 189));
  auto capped = Page(Q(channel, 5, ascending[120], ascending[60]));
  ASSERT_TRUE(capped.ok()) << capped.status();
  EXPECT_EQ(Ids(*capped), (std::vector<uint64_t>{ascending[65], ascending[64], ascending[63],
                                                 ascending[62], ascending[61]}));
}

TEST_P(MessageStoreContractTest, MissingMessageIsNotFound) {
  const uint64_t channel = NewChannel();
  auto missing = Get(channel, SnowflakeFloor(absl::ToUnixMillis(absl::Now())));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();

  // A message exists, but in another channel.
  auto sent = Send({.channel_id = channel, .author_id = 1, .content = "here", .nonce = 1});
  ASSERT_TRUE(sent.ok()) << sent.status();
  auto elsewhere = Get(NewChannel(), sent->message.message_id);
  EXPECT_EQ(elsewhere.status().code(), absl::StatusCode::kNotFound) << elsewhere.status();
}

TEST_P(MessageStoreContractTest, SameNonceTwiceReturnsTheStoredMessage) {
  const uint64_t channel = NewChannel();
  auto first = Send({.channel_id = channel, .author_id = 7, .content = "original", .nonce = 555});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->duplicate);
  // The retry may even carry different content: the stored message wins.
  auto again = Send({.channel_id = channel, .author_id = 7, .content = "retry", .nonce = 555});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->message, first->message);
  EXPECT_EQ(All(channel).size(), 1u);
}

TEST_P(MessageStoreContractTest, ConcurrentSendsOfOneNonceStoreOneRow) {
  const uint64_t channel = NewChannel();
  constexpr int kSenders = 20;
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<SendResult>> results(kSenders, absl::UnknownError("not run"));
  std::atomic<int> ready{0};
  for (int i = 0; i < kSenders; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kSenders) std::this_thread::yield();  // start together
      results[i] = Send({.channel_id = channel, .author_id = 9, .content = "once", .nonce = 777});
    });
  }
  for (std::thread& t : threads) t.join();
  int originals = 0;
  for (int i = 0; i < kSenders; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    EXPECT_EQ(results[i]->message, results[0]->message) << i;
    if (!results[i]->duplicate) ++originals;
  }
  EXPECT_EQ(originals, 1);
  EXPECT_EQ(All(channel).size(), 1u);
}

TEST_P(MessageStoreContractTest, DifferentNoncesStoreDifferentRows) {
  const uint64_t channel = NewChannel();
  std::set<uint64_t> ids;
  for (uint64_t nonce = 1; nonce <= 10; ++nonce) {
    auto sent =
        Send({.channel_id = channel, .author_id = 3, .content = "same text", .nonce = nonce});
    ASSERT_TRUE(sent.ok()) << sent.status();
    EXPECT_FALSE(sent->duplicate);
    ids.insert(sent->message.message_id);
  }
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_EQ(All(channel).size(), 10u);
  // The same nonce in another channel is another message.
  auto other =
      Send({.channel_id = NewChannel(), .author_id = 3, .content = "same text", .nonce = 1});
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(other->duplicate);
}

TEST_P(MessageStoreContractTest, BulkInsertTwiceAddsNoRows) {
  const uint64_t channel = NewChannel();
  std::vector<Message> messages = SpreadMessages(channel, 20, 10);
  ASSERT_TRUE(Bulk(messages).ok());
  ASSERT_TRUE(Bulk(messages).ok());
  EXPECT_EQ(All(channel).size(), 20u);
  auto got = Get(channel, messages[3].message_id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, messages[3]);
}

// Waiter::Wait() fails the test if a callback ran inline; this test makes sure
// every method and the early-error paths (the usual place for an inline
// answer) are exercised, and that answers come from another thread.
TEST_P(MessageStoreContractTest, CallbacksNeverRunInline) {
  const uint64_t channel = NewChannel();
  for (const CallOptions& options : {CallOptions{}, PastDeadline(), CancelledToken()}) {
    Waiter<SendResult> send;
    store().SendMessage({.channel_id = channel, .author_id = 1, .content = "x", .nonce = 1},
                        options, send.Cb());
    send.Returned();
    (void)send.Wait();
    Waiter<Message> get;
    store().GetMessage(channel, 1, options, get.Cb());
    get.Returned();
    (void)get.Wait();
    Waiter<std::vector<Message>> page;
    store().GetMessages(Q(channel, 5), options, page.Cb());
    page.Returned();
    (void)page.Wait();
    Waiter<size_t> bulk;
    store().BulkInsert(SpreadMessages(channel, 2, 2), options, bulk.Cb());
    bulk.Returned();
    (void)bulk.Wait();
  }
  std::promise<std::thread::id> where;
  store().GetMessage(channel, 1, {},
                     [&](absl::StatusOr<Message>) { where.set_value(std::this_thread::get_id()); });
  EXPECT_NE(where.get_future().get(), std::this_thread::get_id());
}

TEST_P(MessageStoreContractTest, PastDeadlineAnswersDeadlineExceededAndWritesNothing) {
  const uint64_t channel = NewChannel();
  const NewMessage late{.channel_id = channel, .author_id = 1, .content = "late", .nonce = 1};
  EXPECT_EQ(Send(late, PastDeadline()).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Get(channel, 1, PastDeadline()).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Page(Q(channel, 5), PastDeadline()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Bulk(SpreadMessages(channel, 3, 3), PastDeadline()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(All(channel).empty());
  // The nonce was not consumed: a timely retry stores the message.
  auto retry = Send(late);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE(retry->duplicate);
}

TEST_P(MessageStoreContractTest, CancelledTokenAnswersCancelledAndWritesNothing) {
  const uint64_t channel = NewChannel();
  const NewMessage never{.channel_id = channel, .author_id = 1, .content = "never", .nonce = 1};
  EXPECT_EQ(Send(never, CancelledToken()).status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(Get(channel, 1, CancelledToken()).status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(Page(Q(channel, 5), CancelledToken()).status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(Bulk(SpreadMessages(channel, 3, 3), CancelledToken()).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_TRUE(All(channel).empty());
}

TEST_P(MessageStoreContractTest, ConcurrentReadersAndWritersAllSucceed) {
  const uint64_t channel = NewChannel();
  ASSERT_TRUE(Bulk(SpreadMessages(channel, 50, 25)).ok());
  constexpr int kThreads = 8;
  constexpr int kOpsPerThread = 30;
  std::atomic<int> sends{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOpsPerThread; ++i) {
        if ((i + t) % 3 == 0) {
          const uint64_t nonce = static_cast<uint64_t>(t) * 1000 + i + 1;
          auto sent = Send({.channel_id = channel,
                            .author_id = 10 + static_cast<uint64_t>(t),
                            .content = "c" + std::to_string(nonce),
                            .nonce = nonce});
          EXPECT_TRUE(sent.ok()) << sent.status();
          if (!sent.ok()) continue;
          sends.fetch_add(1);
          auto got = Get(channel, sent->message.message_id);
          EXPECT_TRUE(got.ok()) << got.status();  // read-your-own-write
        } else {
          auto page = Page(Q(channel, 20));
          EXPECT_TRUE(page.ok()) << page.status();
          if (page.ok()) {
            EXPECT_EQ(page->size(), 20u);
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(All(channel).size(), 50u + static_cast<size_t>(sends.load()));
}

}  // namespace
}  // namespace ds::storage
