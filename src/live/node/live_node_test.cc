// LiveNode over real gRPC (port 0) and real SQLite files; FakeMessageStore
// only where a test must make reads overlap (Hold/Release).
#include "live/node/live_node.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/snowflake.h"
#include "dataservice/v1/live.grpc.pb.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "storage/embedded/sqlite_message_store.h"
#include "testing/fake_message_store.h"

namespace ds::live {
namespace {

namespace v1 = ::dataservice::v1;

struct Received {
  uint64_t id;
  bool late;
};

std::shared_ptr<grpc::Channel> SharedChannel(const std::string& address) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  std::lock_guard lock(mu);
  auto& ch = channels[address];
  if (!ch) ch = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  return ch;
}

// Polls `pred` (a condition another thread makes true) until it holds or
// 20 s pass.
bool Eventually(std::function<bool()> pred) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!pred()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// One Subscribe call read on its own thread.
class Subscriber {
 public:
  Subscriber(const std::string& address, uint64_t channel, std::optional<uint64_t> after) {
    stub_ = v1::LiveService::NewStub(SharedChannel(address));
    v1::SubscribeRequest req;
    req.set_channel_id(channel);
    if (after) req.set_after_message_id(*after);
    reader_ = stub_->Subscribe(&ctx_, req);
    thread_ = std::thread([this] {
      v1::SubscribeEvent e;
      while (reader_->Read(&e)) {
        std::lock_guard lock(mu_);
        if (e.has_message()) {
          got_.push_back({e.message().message_id(), e.late()});
        } else if (e.heartbeat().live()) {
          live_ = true;
        }
        cv_.notify_all();
      }
      grpc::Status s = reader_->Finish();
      std::lock_guard lock(mu_);
      status_ = s;
      cv_.notify_all();
    });
  }
  ~Subscriber() {
    ctx_.TryCancel();
    thread_.join();
  }
  bool WaitLive() {
    return Wait([this] { return live_; });
  }
  bool WaitCount(size_t n) {
    return Wait([this, n] { return got_.size() >= n; });
  }
  // Waits for `n` messages delivered in order (marked late re-sends of the
  // window behind a resume id do not count).
  bool WaitInOrder(size_t n) {
    return Wait([this, n] {
      return static_cast<size_t>(std::count_if(got_.begin(), got_.end(),
                                               [](const Received& r) { return !r.late; })) >= n;
    });
  }
  bool WaitEnd() {
    return Wait([this] { return status_.has_value(); });
  }
  std::vector<Received> got() {
    std::lock_guard lock(mu_);
    return got_;
  }
  grpc::Status status() {
    std::lock_guard lock(mu_);
    return *status_;
  }

 private:
  bool Wait(std::function<bool()> pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), pred);
  }
  std::unique_ptr<v1::LiveService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeEvent>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> got_;
  bool live_ = false;
  std::optional<grpc::Status> status_;
};

uint64_t Send(const std::string& address, uint64_t channel, uint64_t nonce) {
  auto stub = v1::MessageService::NewStub(SharedChannel(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::SendMessageRequest req;
  req.set_channel_id(channel);
  req.set_author_id(7);
  req.set_content(absl::StrCat("message ", nonce));
  req.set_nonce(nonce);
  v1::SendMessageResponse resp;
  grpc::Status s = stub->SendMessage(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.message().message_id();
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            absl::StrCat("live_node_test_", getpid(), "_", counter_++);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

LiveOptions FastOptions() {
  LiveOptions o;
  o.hub.poll_interval = absl::Milliseconds(100);
  o.hub.heartbeat_interval = absl::Seconds(1);
  o.hub.late_window = absl::Seconds(5);
  return o;
}

std::unique_ptr<LiveNode> StartNode(storage::MessageStore* store, LiveOptions live,
                                    const std::string& listen = "127.0.0.1:0") {
  node::NodeOptions o;
  o.listen_address = listen;
  auto node = LiveNode::Start(o, std::move(live), store, std::make_shared<prometheus::Registry>());
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? std::move(*node) : nullptr;
}

std::unique_ptr<storage::SqliteMessageStore> OpenSqlite(const std::string& path, uint32_t node_id,
                                                        std::function<int64_t()> now_ms = nullptr) {
  auto store = storage::SqliteMessageStore::Open({.path = path,
                                                  .reader_threads = 2,
                                                  .node_id = node_id,
                                                  .durable_commits = false,
                                                  .now_ms = std::move(now_ms)});
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(*store);
}

TEST(LiveNodeTest, EveryAcknowledgedWriteReachesEverySubscriberOnceInOrder) {
  TempDir dir;
  auto store = OpenSqlite(dir.File("chat.db"), 1);
  auto node = StartNode(store.get(), FastOptions());
  const std::string addr = node->node().address();
  constexpr uint64_t kChannel = 11;
  const uint64_t first = Send(addr, kChannel, 1);
  Subscriber live_only(addr, kChannel, std::nullopt);
  Subscriber from_zero(addr, kChannel, 0);
  Subscriber from_first(addr, kChannel, first);
  ASSERT_TRUE(live_only.WaitLive() && from_zero.WaitLive() && from_first.WaitLive());

  std::vector<std::thread> writers;
  std::mutex mu;
  std::set<uint64_t> acked;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 50; ++i) {
        uint64_t id = Send(addr, kChannel, 1000 + w * 100 + i);
        std::lock_guard lock(mu);
        acked.insert(id);
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_TRUE(live_only.WaitInOrder(200));
  ASSERT_TRUE(from_zero.WaitInOrder(201));
  ASSERT_TRUE(from_first.WaitInOrder(200));
  struct Case {
    Subscriber* s;
    uint64_t resume;  // 0: none
  };
  for (const Case& c : {Case{&live_only, 0}, Case{&from_zero, 0}, Case{&from_first, first}}) {
    std::set<uint64_t> in_order;
    uint64_t last = 0;
    for (const Received& r : c.s->got()) {
      if (r.late) {
        // Only a re-send of the window behind the resume id may come late.
        EXPECT_LE(r.id, c.resume) << "late " << r.id;
        continue;
      }
      EXPECT_TRUE(in_order.insert(r.id).second) << "duplicate " << r.id;
      EXPECT_GT(r.id, last) << "out of order";
      last = r.id;
    }
    in_order.erase(first);
    std::vector<uint64_t> missing, extra;
    std::set_difference(acked.begin(), acked.end(), in_order.begin(), in_order.end(),
                        std::back_inserter(missing));
    std::set_difference(in_order.begin(), in_order.end(), acked.begin(), acked.end(),
                        std::back_inserter(extra));
    EXPECT_TRUE(missing.empty() && extra.empty())
        << "resume " << c.resume << ": " << missing.size() << " acknowledged ids not received in "
        << "order (first " << (missing.empty() ? 0 : missing[0]) << "), " << extra.size()
        << " received ids never acknowledged (first " << (extra.empty() ? 0 : extra[0]) << ")";
  }
}

TEST(LiveNodeTest, MassResumeFromOneIdCostsOneStoreQuery) {
  storage::FakeMessageStore store;
  LiveOptions options = FastOptions();
  options.hub.poll_interval = absl::Hours(1);  // no tail reads: count catch-up reads only
  auto node = StartNode(&store, options);
  const std::string addr = node->node().address();
  constexpr uint64_t kChannel = 12;
  std::vector<uint64_t> ids;
  for (int i = 1; i <= 30; ++i) ids.push_back(Send(addr, kChannel, i));
  const int reads_before = store.calls(storage::StoreMethod::kGetMessages);

  store.Hold();
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<Subscriber>> subs;
  for (int i = 0; i < kClients; ++i) {
    subs.push_back(std::make_unique<Subscriber>(addr, kChannel, ids[9]));
  }
  // Every stream waits on the one flight before the store may answer.
  ASSERT_TRUE(
      store.WaitForCalls(storage::StoreMethod::kGetMessages, reads_before + 1, absl::Seconds(20)));
  ASSERT_TRUE(Eventually([&] { return node->node().coalescer().total_waiters() == kClients; }))
      << node->node().coalescer().total_waiters() << " waiters";
  store.Release();
  for (auto& s : subs) {
    ASSERT_TRUE(s->WaitLive());
    std::vector<uint64_t> in_order;
    for (const Received& r : s->got())
      if (!r.late) in_order.push_back(r.id);
    EXPECT_EQ(in_order, std::vector<uint64_t>(ids.begin() + 10, ids.end()));
  }
  EXPECT_EQ(store.calls(storage::StoreMethod::kGetMessages) - reads_before, 1);
}

// The ordering hazard: node B's clock is 1.5 s behind node A's. A owns the
// channel; B acknowledges writes whose ids sort before ids A already sent.
TEST(LiveNodeTest, SkewedClocksTwoNodesOneChannelDeliverEveryWriteOnce) {
  TempDir dir;
  // Ports first, so each node knows the ring.
  auto a_store = OpenSqlite(dir.File("chat.db"), 1);
  auto b_store =
      OpenSqlite(dir.File("chat.db"), 2, [] { return absl::ToUnixMillis(absl::Now()) - 1500; });
  auto a = StartNode(a_store.get(), FastOptions());
  const std::string a_addr = a->node().address();
  // B's ring holds A only, so A owns every channel and B pokes A after each
  // write it acknowledges. A has no peers: no pokes from A.
  LiveOptions b_options = FastOptions();
  b_options.peers = {a_addr};
  b_options.self = "node-b";
  auto b = StartNode(b_store.get(), b_options);
  ASSERT_NE(b, nullptr);
  const std::string b_addr = b->node().address();
  const uint64_t channel = 100;

  Subscriber sub(a_addr, channel, std::nullopt);
  ASSERT_TRUE(sub.WaitLive());
  std::set<uint64_t> from_a, from_b;
  for (int i = 0; i < 20; ++i) {
    from_a.insert(Send(a_addr, channel, 2 * i + 1));
    from_b.insert(Send(b_addr, channel, 2 * i + 2));
  }
  ASSERT_TRUE(sub.WaitCount(40)) << "got " << sub.got().size();
  std::set<uint64_t> got;
  uint64_t last_in_order = 0;
  int late = 0;
  for (const Received& r : sub.got()) {
    EXPECT_TRUE(got.insert(r.id).second) << "duplicate " << r.id;
    if (r.late) {
      ++late;
      EXPECT_TRUE(from_b.contains(r.id)) << "only B's writes can be late";
    } else {
      EXPECT_GT(r.id, last_in_order);
      last_in_order = r.id;
    }
  }
  std::set<uint64_t> all = from_a;
  all.insert(from_b.begin(), from_b.end());
  EXPECT_EQ(got, all);
  EXPECT_GT(late, 0) << "B's ids are 1.5 s behind A's: some must arrive late";

  // A receiver resuming after A's last id is re-sent the late ones only.
  Subscriber resumed(a_addr, channel, last_in_order);
  ASSERT_TRUE(resumed.WaitLive());
  for (const Received& r : resumed.got()) {
    EXPECT_TRUE(r.late);
    EXPECT_TRUE(from_b.contains(r.id));
  }
}

TEST(LiveNodeTest, ANodeThatJoinsLaterServesFullCatchUpAndLearnsOtherNodesWrites) {
  TempDir dir;
  auto a_store = OpenSqlite(dir.File("chat.db"), 1);
  auto a = StartNode(a_store.get(), FastOptions());
  constexpr uint64_t kChannel = 13;
  std::vector<uint64_t> ids;
  for (int i = 1; i <= 120; ++i) ids.push_back(Send(a->node().address(), kChannel, i));

  auto b_store = OpenSqlite(dir.File("chat.db"), 2);
  auto b = StartNode(b_store.get(), FastOptions());
  Subscriber sub(b->node().address(), kChannel, 0);
  ASSERT_TRUE(sub.WaitLive());
  ids.push_back(Send(a->node().address(), kChannel, 121));  // B finds it by its tail read
  ASSERT_TRUE(sub.WaitCount(121));
  std::vector<uint64_t> got;
  for (const Received& r : sub.got()) got.push_back(r.id);
  EXPECT_EQ(got, ids);
}

TEST(LiveNodeTest, ShutdownEndsStreamsWithUnavailableAndBadRequestsAreRefused) {
  storage::FakeMessageStore store;
  auto node = StartNode(&store, FastOptions());
  Subscriber bad(node->node().address(), 0, std::nullopt);
  ASSERT_TRUE(bad.WaitEnd());
  EXPECT_EQ(bad.status().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  Subscriber sub(node->node().address(), 5, std::nullopt);
  ASSERT_TRUE(sub.WaitLive());
  node->Shutdown(absl::Seconds(1));
  ASSERT_TRUE(sub.WaitEnd());
  EXPECT_EQ(sub.status().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace ds::live
