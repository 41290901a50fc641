// The node end to end in one process: a real gRPC server on port 0, real gRPC
// clients, and the FakeMessageStore (for its fault hooks) behind it.
#include "node/node.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

#include "dataservice/v1/messages.grpc.pb.h"
#include "messages/messages.grpc.pb.h"
#include "testing/fake_message_store.h"
#include "testing/node_fixture.h"

namespace ds::node {
namespace {

namespace v1 = ::dataservice::v1;
using storage::FakeMessageStore;
using storage::StoreMethod;

class NodeTest : public ds::testing::NodeOverFakeStoreTest {
 protected:
  void StartNode(NodeOptions options = {}) {
    NodeOverFakeStoreTest::StartNode(std::move(options));
    if (HasFatalFailure()) return;
    ref_stub_ = messages::MessagesService::NewStub(channel_);
  }

  // Issues `n` GetMessage calls at once (async) and waits for all answers.
  struct Answer {
    grpc::Status status;
    std::string coalesced;
    std::string content;
  };
  std::vector<Answer> ConcurrentGetMessage(int n, uint64_t channel, uint64_t id,
                                           absl::Duration timeout = absl::Seconds(10)) {
    struct Call {
      grpc::ClientContext ctx;
      v1::GetMessageRequest req;
      v1::GetMessageResponse resp;
      grpc::Status status;
    };
    std::vector<std::unique_ptr<Call>> calls(n);
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    for (auto& c : calls) {
      c = std::make_unique<Call>();
      c->ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
      c->req.set_channel_id(channel);
      c->req.set_message_id(id);
      stub_->async()->GetMessage(&c->ctx, &c->req, &c->resp, [&, call = c.get()](grpc::Status s) {
        std::lock_guard lock(mu);
        call->status = std::move(s);
        ++done;
        cv.notify_all();
      });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == n; });
    std::vector<Answer> out;
    for (auto& c : calls) {
      std::string role;
      auto it = c->ctx.GetServerTrailingMetadata().find("x-ds-coalesced");
      if (it != c->ctx.GetServerTrailingMetadata().end())
        role = std::string(it->second.data(), it->second.size());
      out.push_back({c->status, role, c->resp.message().content()});
    }
    return out;
  }

  grpc::Status Send(uint64_t channel, uint64_t nonce, const std::string& content,
                    v1::SendMessageResponse* resp, uint64_t author = 42) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::SendMessageRequest req;
    req.set_channel_id(channel);
    req.set_author_id(author);
    req.set_content(content);
    req.set_nonce(nonce);
    return stub_->SendMessage(&ctx, req, resp);
  }

  grpc::Status List(const v1::GetMessagesRequest& req, v1::GetMessagesResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub_->GetMessages(&ctx, req, resp);
  }

  std::unique_ptr<messages::MessagesService::Stub> ref_stub_;
};

TEST_F(NodeTest, ThousandConcurrentIdenticalReadsAreOneStoreQuery) {
  store_.Put({{.channel_id = 9, .message_id = 900, .author_id = 1, .content = "hot"}});
  store_.Hold();  // the first query stays in the database until all 1000 have arrived
  StartNode();
  std::vector<Answer> answers;
  std::thread client([&] { answers = ConcurrentGetMessage(1000, 9, 900); });
  const absl::Time limit = absl::Now() + absl::Seconds(60);
  while (node_->coalescer().total_waiters() < 1000 && absl::Now() < limit) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_EQ(node_->coalescer().total_waiters(), 1000u);
  store_.Release();
  client.join();
  std::map<std::string, int> roles;
  for (const auto& a : answers) {
    ASSERT_TRUE(a.status.ok()) << a.status.error_message();
    EXPECT_EQ(a.content, "hot");
    roles[a.coalesced]++;
  }
  EXPECT_EQ(store_.calls(StoreMethod::kGetMessage), 1);
  EXPECT_EQ(roles["leader"], 1);
  EXPECT_EQ(roles["joiner"], 999);
}

TEST_F(NodeTest, TimingMetadataReportsArrivalOnlyWhenAsked) {
  store_.Put({{.channel_id = 9, .message_id = 900, .author_id = 1, .content = "x"}});
  StartNode();
  v1::GetMessageRequest req;
  req.set_channel_id(9);
  req.set_message_id(900);
  v1::GetMessageResponse resp;
  grpc::ClientContext plain;
  ASSERT_TRUE(stub_->GetMessage(&plain, req, &resp).ok());
  EXPECT_EQ(plain.GetServerTrailingMetadata().count("x-ds-arrived-us"), 0u);
  grpc::ClientContext timed;
  timed.AddMetadata("x-ds-timing", "1");
  const int64_t before = absl::ToUnixMicros(absl::Now());
  ASSERT_TRUE(stub_->GetMessage(&timed, req, &resp).ok());
  const int64_t after = absl::ToUnixMicros(absl::Now());
  auto it = timed.GetServerTrailingMetadata().find("x-ds-arrived-us");
  ASSERT_NE(it, timed.GetServerTrailingMetadata().end());
  const int64_t arrived = std::stoll(std::string(it->second.data(), it->second.size()));
  EXPECT_GE(arrived, before);
  EXPECT_LE(arrived, after);
}

TEST_F(NodeTest, ShortDeadlineCallerTimesOutOthersGetData) {
  store_.Put({{.channel_id = 4, .message_id = 40, .author_id = 1, .content = "late"}});
  store_.SetLatency(absl::Milliseconds(400));
  StartNode();
  grpc::ClientContext short_ctx, long_ctx;
  short_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)));
  long_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::GetMessageRequest req;
  req.set_channel_id(4);
  req.set_message_id(40);
  v1::GetMessageResponse short_resp, long_resp;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<grpc::Status> short_status, long_status;
  stub_->async()->GetMessage(&short_ctx, &req, &short_resp, [&](grpc::Status s) {
    std::lock_guard l(mu);
    short_status = s;
    cv.notify_all();
  });
  stub_->async()->GetMessage(&long_ctx, &req, &long_resp, [&](grpc::Status s) {
    std::lock_guard l(mu);
    long_status = s;
    cv.notify_all();
  });
  std::unique_lock l(mu);
  cv.wait(l, [&] { return short_status && long_status; });
  EXPECT_EQ(short_status->error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(long_status->ok()) << long_status->error_message();
  EXPECT_EQ(long_resp.message().content(), "late");
}

TEST_F(NodeTest, TransientStoreFailuresAreRetriedInsideTheFlight) {
  store_.Put({{.channel_id = 5, .message_id = 50, .author_id = 1, .content = "eventually"}});
  store_.FailNext(2, absl::UnavailableError("db restarting"));
  store_.Hold();
  StartNode();
  std::vector<Answer> answers;
  std::thread client([&] { answers = ConcurrentGetMessage(50, 5, 50); });
  const absl::Time limit = absl::Now() + absl::Seconds(60);
  while (node_->coalescer().total_waiters() < 50 && absl::Now() < limit) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  store_.Release();  // the first attempt and both retries now fail/succeed in turn
  client.join();
  for (const auto& a : answers) {
    ASSERT_TRUE(a.status.ok()) << a.status.error_message();
    EXPECT_EQ(a.content, "eventually");
  }
  EXPECT_EQ(store_.calls(StoreMethod::kGetMessage), 3);
}

TEST_F(NodeTest, ErrorsAreMappedAndNeverOkWithEmptyData) {
  StartNode();
  for (const auto& a : ConcurrentGetMessage(20, 6, 60)) {
    EXPECT_EQ(a.status.error_code(), grpc::StatusCode::NOT_FOUND);
  }
  store_.FailNext(3, absl::UnavailableError("db down"));
  auto answers = ConcurrentGetMessage(5, 6, 61);
  for (const auto& a : answers) EXPECT_EQ(a.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(NodeTest, SendIsIdempotentByNonceAndReadYourWrites) {
  StartNode();
  v1::SendMessageResponse first, again, other;
  ASSERT_TRUE(Send(77, 1234, "hello", &first).ok());
  ASSERT_TRUE(Send(77, 1234, "hello", &again).ok());
  ASSERT_TRUE(Send(77, 1235, "second", &other).ok());
  EXPECT_FALSE(first.duplicate());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(first.message().message_id(), again.message().message_id());
  EXPECT_NE(first.message().message_id(), other.message().message_id());
  EXPECT_EQ(store_.RowCount(77), 2u);
  EXPECT_GT(first.message().created_at_ms(), 1600000000000);

  v1::GetMessagesRequest req;
  req.set_channel_id(77);
  v1::GetMessagesResponse page;
  ASSERT_TRUE(List(req, &page).ok());
  ASSERT_EQ(page.messages_size(), 2);
  EXPECT_EQ(page.messages(0).content(), "second");  // newest first
  EXPECT_EQ(page.messages(1).content(), "hello");
}

TEST_F(NodeTest, ReadStartedAfterAcknowledgedWriteSeesIt) {
  StartNode();
  store_.SetLatency(absl::Milliseconds(200));
  // A slow read is running; a write to the same channel is acknowledged; a
  // read issued afterwards must not join the older flight.
  v1::GetMessagesRequest req;
  req.set_channel_id(88);
  grpc::ClientContext old_ctx;
  v1::GetMessagesResponse old_page;
  std::mutex mu;
  std::condition_variable cv;
  bool old_done = false;
  stub_->async()->GetMessages(&old_ctx, &req, &old_page, [&](grpc::Status) {
    std::lock_guard l(mu);
    old_done = true;
    cv.notify_all();
  });
  ASSERT_TRUE(store_.WaitForCalls(StoreMethod::kGetMessages, 1, absl::Seconds(5)));
  v1::SendMessageResponse sent;
  ASSERT_TRUE(Send(88, 1, "fresh", &sent).ok());
  v1::GetMessagesResponse new_page;
  ASSERT_TRUE(List(req, &new_page).ok());
  ASSERT_EQ(new_page.messages_size(), 1);
  EXPECT_EQ(new_page.messages(0).message_id(), sent.message().message_id());
  std::unique_lock l(mu);
  cv.wait(l, [&] { return old_done; });
  EXPECT_EQ(store_.calls(StoreMethod::kGetMessages), 2);
}

TEST_F(NodeTest, BadInputIsInvalidArgumentNamingTheFieldAndNodeStaysUp) {
  StartNode();
  v1::SendMessageResponse r;
  struct Case {
    uint64_t channel, nonce, author;
    std::string content;
    std::string field;
  };
  const std::vector<Case> sends = {
      {0, 1, 1, "x", "channel_id"},
      {1, 0, 1, "x", "nonce"},
      {1, 1, 0, "x", "author_id"},
      {1, 1, 1, "", "content"},
      {1, 1, 1, std::string(4001, 'a'), "content"},
      {1, 1, 1, "bad \xC3\x28 utf8", "content"},
  };
  for (const auto& c : sends) {
    grpc::Status s = Send(c.channel, c.nonce, c.content, &r, c.author);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_EQ(s.error_message().rfind(c.field + ":", 0), 0u) << s.error_message();
  }
  v1::GetMessagesRequest bad_limit;
  bad_limit.set_channel_id(1);
  bad_limit.set_limit(500);
  v1::GetMessagesResponse page;
  grpc::Status s = List(bad_limit, &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("limit"), std::string::npos);
  v1::GetMessagesRequest both;
  both.set_channel_id(1);
  both.set_before(10);
  both.set_after(5);
  EXPECT_EQ(List(both, &page).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(List(v1::GetMessagesRequest(), &page).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Bytes that are not a protobuf at all, through the generic stub.
  grpc::GenericStub generic(channel_);
  for (const std::string& garbage :
       {std::string("\xff\xff\xff\xff\x0f", 5), std::string("\x0a\xff", 2)}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Slice slice(garbage);
    grpc::ByteBuffer request(&slice, 1), response;
    std::mutex mu;
    std::condition_variable cv;
    std::optional<grpc::Status> status;
    generic.UnaryCall(&ctx, "/dataservice.v1.MessageService/GetMessages", grpc::StubOptions(),
                      &request, &response, [&](grpc::Status st) {
                        std::lock_guard l(mu);
                        status = st;
                        cv.notify_all();
                      });
    std::unique_lock l(mu);
    cv.wait(l, [&] { return status.has_value(); });
    EXPECT_EQ(status->error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Far oversized: refused by gRPC's receive limit before our code parses it.
  grpc::Status huge = Send(1, 1, std::string(1 << 20, 'a'), &r);
  EXPECT_EQ(huge.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Still up and correct.
  ASSERT_TRUE(Send(3, 3, "still here", &r).ok());
  EXPECT_EQ(r.message().content(), "still here");
}

TEST_F(NodeTest, FlightCapAnswersResourceExhaustedAtOnce) {
  NodeOptions options;
  options.coalescer.max_waiters_per_flight = 5;
  store_.Put({{.channel_id = 2, .message_id = 20, .author_id = 1, .content = "x"}});
  // Long enough for all 20 to arrive while the first query runs, even under
  // ThreadSanitizer on a loaded machine.
  store_.SetLatency(absl::Seconds(3));
  StartNode(options);
  int ok = 0, exhausted = 0;
  for (const auto& a : ConcurrentGetMessage(20, 2, 20)) {
    ok += a.status.ok();
    exhausted += a.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(exhausted, 15);
}

TEST_F(NodeTest, CoalescingOffRunsOneQueryPerRequest) {
  NodeOptions options;
  options.coalescer.enabled = false;
  store_.Put({{.channel_id = 2, .message_id = 20, .author_id = 1, .content = "x"}});
  store_.SetLatency(absl::Milliseconds(50));
  StartNode(options);
  for (const auto& a : ConcurrentGetMessage(30, 2, 20)) ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(store_.calls(StoreMethod::kGetMessage), 30);
}

TEST_F(NodeTest, ReferenceApiServesAndCountsLikeTheReferenceService) {
  store_.Put({{.channel_id = 1, .message_id = 1000, .author_id = 5000, .content = "Hello"}});
  StartNode();
  grpc::ClientContext ctx;
  messages::MessageRequest req;
  req.set_channel_id(1);
  req.set_message_id(1000);
  messages::MessageReply reply;
  ASSERT_TRUE(ref_stub_->getMessage(&ctx, req, &reply).ok());
  EXPECT_EQ(reply.channel_id(), 1);
  EXPECT_EQ(reply.message_id(), 1000);
  EXPECT_EQ(reply.author_id(), 5000);
  EXPECT_EQ(reply.content(), "Hello");
  grpc::ClientContext mctx;
  messages::MetricsReply metrics;
  ASSERT_TRUE(ref_stub_->getAndResetMetrics(&mctx, messages::Empty(), &metrics).ok());
  EXPECT_EQ(metrics.total_requests(), 1);
  EXPECT_EQ(metrics.queries_executed(), 1);
  grpc::ClientContext mctx2;
  ASSERT_TRUE(ref_stub_->getAndResetMetrics(&mctx2, messages::Empty(), &metrics).ok());
  EXPECT_EQ(metrics.total_requests(), 0);  // reset
}

TEST_F(NodeTest, HealthServingUntilShutdownAndDrainsRunningFlights) {
  store_.Put({{.channel_id = 3, .message_id = 30, .author_id = 1, .content = "drained"}});
  StartNode();
  auto health = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(health);
  // grpc.health.v1.HealthCheckRequest{service=""} is the empty message;
  // the response's field 1 (status) = 1 means SERVING.
  {
    grpc::ClientContext ctx;
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;
    std::mutex mu;
    std::condition_variable cv;
    std::optional<grpc::Status> status;
    generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                      &response, [&](grpc::Status st) {
                        std::lock_guard l(mu);
                        status = st;
                        cv.notify_all();
                      });
    std::unique_lock l(mu);
    cv.wait(l, [&] { return status.has_value(); });
    ASSERT_TRUE(status->ok());
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(response.Dump(&slices).ok());
    std::string bytes;
    for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    EXPECT_EQ(bytes, std::string("\x08\x01", 2));
  }
  // A read is parked in the store when shutdown begins: it still completes.
  store_.Hold();
  std::vector<Answer> answers;
  std::thread reader([&] { answers = ConcurrentGetMessage(3, 3, 30); });
  ASSERT_TRUE(store_.WaitForParked(1, absl::Seconds(5)));
  // All three must be inside the node (joined to the one flight) before the
  // shutdown starts; a call still on the wire would be refused, not drained.
  const absl::Time limit = absl::Now() + absl::Seconds(10);
  while (node_->coalescer().total_waiters() < 3 && absl::Now() < limit) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(node_->coalescer().total_waiters(), 3u);
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(100));
    store_.Release();
  });
  node_->Shutdown(absl::Seconds(5));
  EXPECT_FALSE(node_->serving());
  reader.join();
  releaser.join();
  for (const auto& a : answers) {
    ASSERT_TRUE(a.status.ok()) << a.status.error_message();
    EXPECT_EQ(a.content, "drained");
  }
}

}  // namespace
}  // namespace ds::node
