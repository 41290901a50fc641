// The hot-key linger (coalescing contract point 10) through the whole node: a
// real gRPC server on port 0, real gRPC clients, the FakeMessageStore behind it
// for its latency and call counts. The coalescer's own tests
// (src/coalescer/linger_test.cc) pin the timing on simulated time; these check
// that the node's options reach it and that the guarantees hold end to end.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "node/node.h"
#include "testing/fake_message_store.h"
#include "testing/node_fixture.h"

namespace ds::node {
namespace {

namespace v1 = ::dataservice::v1;
using storage::FakeMessageStore;
using storage::StoreMethod;

// One asynchronous call; Wait() blocks until it has been answered.
template <typename Request, typename Response>
class Pending {
 public:
  Pending(absl::Duration timeout) { ctx_.set_deadline(absl::ToChronoTime(absl::Now() + timeout)); }
  grpc::ClientContext* ctx() { return &ctx_; }
  Request* request() { return &request_; }
  Response* response() { return &response_; }
  std::function<void(grpc::Status)> Done() {
    return [this](grpc::Status s) {
      std::lock_guard lock(mu_);
      status_ = std::move(s);
      answered_ = absl::Now();
      done_ = true;
      cv_.notify_all();
    };
  }
  const grpc::Status& Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    return status_;
  }
  absl::Time answered() {
    Wait();
    return answered_;
  }
  // "leader" or "joiner" (x-ds-coalesced); call after Wait().
  std::string Role() {
    const auto& trailers = ctx_.GetServerTrailingMetadata();
    auto it = trailers.find("x-ds-coalesced");
    return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
  }

 private:
  grpc::ClientContext ctx_;
  Request request_;
  Response response_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
  absl::Time answered_;
};
using PendingGet = Pending<v1::GetMessageRequest, v1::GetMessageResponse>;
using PendingList = Pending<v1::GetMessagesRequest, v1::GetMessagesResponse>;

class LingerNodeTest : public ds::testing::NodeOverFakeStoreTest {
 protected:
  // A node whose linger waits up to `max`, as long as the deadline allows
  // (target_joiners so large that the arrival rate never shortens it).
  static NodeOptions Lingering(absl::Duration max) {
    NodeOptions options;
    options.coalescer.linger.max = max;
    options.coalescer.linger.target_joiners = 1e9;
    return options;
  }
  std::unique_ptr<PendingGet> Get(uint64_t channel, uint64_t id, absl::Duration timeout) {
    auto call = std::make_unique<PendingGet>(timeout);
    call->request()->set_channel_id(channel);
    call->request()->set_message_id(id);
    stub_->async()->GetMessage(call->ctx(), call->request(), call->response(), call->Done());
    return call;
  }
  std::unique_ptr<PendingList> List(uint64_t channel, absl::Duration timeout) {
    auto call = std::make_unique<PendingList>(timeout);
    call->request()->set_channel_id(channel);
    stub_->async()->GetMessages(call->ctx(), call->request(), call->response(), call->Done());
    return call;
  }
  // Polls (does not time the test) until `n` requests wait in the coalescer.
  void AwaitWaiters(size_t n) {
    const absl::Time limit = absl::Now() + absl::Seconds(30);
    while (node_->coalescer().total_waiters() < n && absl::Now() < limit) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_EQ(node_->coalescer().total_waiters(), n);
  }
};

TEST_F(LingerNodeTest, DeadlineShorterThanTheLingerIsHonoured) {
  store_.Put({{.channel_id = 4, .message_id = 40, .author_id = 1, .content = "hot"}});
  store_.SetLatency(absl::Milliseconds(50));
  NodeOptions options = Lingering(absl::Seconds(20));
  // The linger ends 6 store latencies (~300 ms) before the deadline: room
  // for the 50 ms query even under ThreadSanitizer on a loaded machine.
  options.coalescer.linger.deadline_headroom = 6;
  StartNode(options);
  // The first read of the key queries at once (no arrival rate yet) and
  // teaches the node the store's latency; the second finds the key hot.
  ASSERT_TRUE(Get(4, 40, absl::Seconds(10))->Wait().ok());
  const absl::Time start = absl::Now();
  auto hot = Get(4, 40, absl::Milliseconds(1500));
  ASSERT_TRUE(hot->Wait().ok()) << hot->Wait().error_message();
  EXPECT_EQ(hot->response()->message().content(), "hot");
  // It lingered (a 50 ms query alone answers far sooner) but not for 20 s.
  EXPECT_GE(hot->answered() - start, absl::Milliseconds(500));
  EXPECT_LT(hot->answered() - start, absl::Milliseconds(1500));
  EXPECT_EQ(store_.calls(StoreMethod::kGetMessage), 2);
}

TEST_F(LingerNodeTest, WriteDuringTheLingerIsSeenByReadersThatArriveAfterIt) {
  StartNode(Lingering(absl::Seconds(3)));
  ASSERT_TRUE(List(88, absl::Seconds(10))->Wait().ok());  // the key's first arrival
  auto before = List(88, absl::Seconds(30));              // lingers up to 3 s
  AwaitWaiters(1);
  ASSERT_EQ(store_.calls(StoreMethod::kGetMessages), 1);  // its query has not started
  grpc::ClientContext send_ctx;
  send_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::SendMessageRequest send;
  send.set_channel_id(88);
  send.set_author_id(7);
  send.set_content("fresh");
  send.set_nonce(1);
  v1::SendMessageResponse sent;
  ASSERT_TRUE(stub_->SendMessage(&send_ctx, send, &sent).ok());
  auto after = List(88, absl::Seconds(30));
  for (PendingList* read : {before.get(), after.get()}) {
    ASSERT_TRUE(read->Wait().ok()) << read->Wait().error_message();
    ASSERT_EQ(read->response()->messages_size(), 1);
    EXPECT_EQ(read->response()->messages(0).message_id(), sent.message().message_id());
  }
  // The read after the write joined the lingering flight: its query started
  // after the write, so one query served both.
  EXPECT_EQ(after->Role(), "joiner");
  EXPECT_EQ(store_.calls(StoreMethod::kGetMessages), 2);
}

// N identical reads spread over time, 10 ms apart, against a 2 ms store:
// without the linger nearly every read finds no flight to join; with it each
// flight collects the reads of its linger.
TEST_F(LingerNodeTest, LingerCutsStoreQueriesForReadsSpreadOverTime) {
  constexpr int kReads = 30;
  store_.Put({{.channel_id = 5, .message_id = 50, .author_id = 1, .content = "spread"}});
  store_.SetLatency(absl::Milliseconds(2));
  int64_t queries[2];
  for (bool linger : {false, true}) {
    NodeOptions options;
    options.coalescer.linger.max = linger ? absl::Milliseconds(50) : absl::ZeroDuration();
    StartNode(options);
    const int64_t calls_before = store_.calls(StoreMethod::kGetMessage);
    std::vector<std::unique_ptr<PendingGet>> reads;
    for (int i = 0; i < kReads; ++i) {
      reads.push_back(Get(5, 50, absl::Seconds(10)));
      absl::SleepFor(absl::Milliseconds(10));  // spreads the arrivals; no waiting on results
    }
    for (auto& read : reads) {
      ASSERT_TRUE(read->Wait().ok()) << read->Wait().error_message();
      EXPECT_EQ(read->response()->message().content(), "spread");
    }
    queries[linger] = store_.calls(StoreMethod::kGetMessage) - calls_before;
  }
  EXPECT_GE(queries[false], kReads / 2);
  EXPECT_LE(queries[true] * 3, queries[false])
      << "without " << queries[false] << ", with " << queries[true];
}

}  // namespace
}  // namespace ds::node
