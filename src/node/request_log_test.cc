// The node's request log (request_log.h) end to end: a real node on port 0
// with the FakeMessageStore (for its fault hooks) behind it, real gRPC clients
// sending `x-request-id` metadata, and the node's lines captured by a test
// spdlog sink.
#include "node/request_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "node/node.h"
#include "testing/fake_message_store.h"
#include "testing/node_fixture.h"

namespace ds::node {
namespace {

namespace v1 = ::dataservice::v1;
using storage::FakeMessageStore;

// Keeps every formatted line. Thread-safe (base_sink's mutex).
class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t out;
    formatter_->format(msg, out);
    std::string line = fmt::to_string(out);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    lines_.push_back(std::move(line));
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

// The lines that contain `what`.
std::vector<std::string> Matching(const std::vector<std::string>& lines, const std::string& what) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (absl::StrContains(l, what)) out.push_back(l);
  }
  return out;
}

// The value of `key=` in a line ("" if absent).
std::string Field(const std::string& line, const std::string& key) {
  const std::string k = absl::StrCat(" ", key, "=");
  const size_t at = line.find(k);
  if (at == std::string::npos) return "";
  const size_t start = at + k.size();
  return line.substr(start, line.find(' ', start) - start);
}

class RequestLogTest : public ds::testing::NodeOverFakeStoreTest {
 protected:
  void StartNode(NodeOptions options) {
    logger_->set_pattern("%l %v");
    options.service.request_log.logger = logger_;
    NodeOverFakeStoreTest::StartNode(std::move(options));
  }

  // One GetMessage per id, all at once (async); waits for every answer.
  std::vector<grpc::Status> ConcurrentGetMessage(const std::vector<std::string>& ids,
                                                 uint64_t channel, uint64_t message) {
    struct Call {
      grpc::ClientContext ctx;
      v1::GetMessageRequest req;
      v1::GetMessageResponse resp;
      grpc::Status status;
    };
    std::vector<std::unique_ptr<Call>> calls;
    std::mutex mu;
    std::condition_variable cv;
    size_t done = 0;
    for (const std::string& id : ids) {
      auto c = std::make_unique<Call>();
      c->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
      if (!id.empty()) c->ctx.AddMetadata(kRequestIdMetadataKey, id);
      c->req.set_channel_id(channel);
      c->req.set_message_id(message);
      stub_->async()->GetMessage(&c->ctx, &c->req, &c->resp, [&, call = c.get()](grpc::Status s) {
        std::lock_guard<std::mutex> lock(mu);
        call->status = std::move(s);
        ++done;
        cv.notify_all();
      });
      calls.push_back(std::move(c));
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == ids.size(); });
    std::vector<grpc::Status> out;
    for (const auto& c : calls) out.push_back(c->status);
    return out;
  }

  grpc::Status GetMessage(const std::string& id, uint64_t channel, uint64_t message) {
    return ConcurrentGetMessage({id}, channel, message)[0];
  }

  grpc::Status Send(const std::string& id, uint64_t channel, const std::string& content) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    ctx.AddMetadata(kRequestIdMetadataKey, id);
    v1::SendMessageRequest req;
    req.set_channel_id(channel);
    req.set_author_id(42);
    req.set_content(content);
    req.set_nonce(++nonce_);
    v1::SendMessageResponse resp;
    return stub_->SendMessage(&ctx, req, &resp);
  }

  std::shared_ptr<LineSink> sink_ = std::make_shared<LineSink>();
  std::shared_ptr<spdlog::logger> logger_ = std::make_shared<spdlog::logger>("node-test", sink_);
  uint64_t nonce_ = 0;
};

// Three callers share one flight whose store calls all fail: each caller's
// own `request failed` line carries its own id; the flight's store failures
// (first attempt and retry) are logged once each, with the leader's id.
TEST_F(RequestLogTest, CoalescedFailureLogsEveryCallersOwnIdAndTheFlightOnce) {
  NodeOptions options;
  options.coalescer.retry.max_attempts = 2;
  store_.FailNext(2, absl::UnavailableError("disk \"on\" fire\nsecond line"));
  store_.Hold();
  StartNode(options);
  std::vector<grpc::Status> answers;
  std::thread client([&] { answers = ConcurrentGetMessage({"req-a", "req-b", "req-c"}, 9, 90); });
  const absl::Time limit = absl::Now() + absl::Seconds(20);
  while (node_->coalescer().total_waiters() < 3 && absl::Now() < limit) {
    absl::SleepFor(absl::Milliseconds(1));  // polling a condition, not a fixed wait
  }
  ASSERT_EQ(node_->coalescer().total_waiters(), 3u);
  store_.Release();
  client.join();
  for (const auto& s : answers) EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);

  const std::vector<std::string> lines = sink_->Lines();
  const auto failed = Matching(lines, "warning request failed ");
  ASSERT_EQ(failed.size(), 3u) << absl::StrJoin(lines, "\n");
  std::vector<std::string> ids;
  std::string leader;
  for (const auto& l : failed) {
    EXPECT_EQ(Field(l, "method"), "GetMessage") << l;
    EXPECT_EQ(Field(l, "channel"), "9") << l;
    EXPECT_EQ(Field(l, "code"), "UNAVAILABLE") << l;
    EXPECT_TRUE(absl::StrContains(l, "error='disk 'on' fire?second line'")) << l;
    ids.push_back(Field(l, "request_id"));
    if (Field(l, "role") == "leader") leader = ids.back();
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"req-a", "req-b", "req-c"}));
  ASSERT_FALSE(leader.empty()) << "one caller led the flight";
  EXPECT_EQ(Matching(failed, "role=joiner").size(), 2u);

  const auto store = Matching(lines, "warning store call failed ");
  ASSERT_EQ(store.size(), 2u) << absl::StrJoin(lines, "\n");
  for (int attempt = 0; attempt < 2; ++attempt) {
    EXPECT_EQ(Field(store[attempt], "attempt"), absl::StrCat(attempt)) << store[attempt];
    EXPECT_EQ(Field(store[attempt], "request_id"), leader) << store[attempt];
    EXPECT_EQ(Field(store[attempt], "code"), "UNAVAILABLE") << store[attempt];
  }
  for (const auto& l : lines) EXPECT_FALSE(absl::StrContains(l, "\"on\"")) << l;
}

// Ids that break the gateway's rules are not logged at all (never raw bytes
// from a caller); a valid one of the longest allowed length is kept whole.
TEST_F(RequestLogTest, InvalidIdsAreIgnoredAndValidOnesKeptWhole) {
  NodeOptions options;
  options.coalescer.retry.max_attempts = 1;
  StartNode(options);
  const std::string longest(64, 'x');
  const std::vector<std::string> bad = {std::string(65, 'y'), "has space", "semi;colon=1",
                                        "quote\"d"};
  store_.FailNext(static_cast<int>(bad.size()) + 1, absl::InternalError("boom"));
  for (const std::string& id : bad) {
    EXPECT_EQ(GetMessage(id, 3, 30).error_code(), grpc::StatusCode::INTERNAL);
  }
  EXPECT_EQ(GetMessage(longest, 3, 31).error_code(), grpc::StatusCode::INTERNAL);

  const std::vector<std::string> lines = sink_->Lines();
  const auto failed = Matching(lines, "warning request failed ");
  ASSERT_EQ(failed.size(), bad.size() + 1) << absl::StrJoin(lines, "\n");
  for (size_t i = 0; i < bad.size(); ++i) EXPECT_EQ(Field(failed[i], "request_id"), "-");
  EXPECT_EQ(Field(failed.back(), "request_id"), longest);
  for (const auto& l : lines) {
    for (const std::string& id : bad) EXPECT_FALSE(absl::StrContains(l, id)) << l;
  }
}

TEST_F(RequestLogTest, OrdinaryRequestsWriteNothingUnlessSampled) {
  NodeOptions options;
  options.service.request_log.slow_threshold = absl::ZeroDuration();  // no slow lines
  store_.Put({{.channel_id = 4, .message_id = 40, .author_id = 1, .content = "x"}});
  StartNode(options);
  ASSERT_TRUE(GetMessage("quiet-1", 4, 40).ok());
  ASSERT_TRUE(Send("quiet-2", 4, "y").ok());
  EXPECT_EQ(GetMessage("quiet-3", 4, 41).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(sink_->Lines().empty()) << absl::StrJoin(sink_->Lines(), "\n");
}

// --log-requests 1: one info line per request, writes and the caller's own
// mistakes included.
TEST_F(RequestLogTest, SampledLinesCoverReadsWritesAndCallerErrors) {
  NodeOptions options;
  options.service.request_log.slow_threshold = absl::ZeroDuration();
  options.service.request_log.sample_rate = 1;
  store_.Put({{.channel_id = 4, .message_id = 40, .author_id = 1, .content = "x"}});
  StartNode(options);
  ASSERT_TRUE(GetMessage("r-1", 4, 40).ok());
  ASSERT_TRUE(Send("w-1", 77, "hello").ok());
  EXPECT_EQ(GetMessage("bad-1", 0, 40).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  const std::vector<std::string> lines = sink_->Lines();
  ASSERT_EQ(lines.size(), 3u) << absl::StrJoin(lines, "\n");
  EXPECT_EQ(Field(lines[0], "request_id"), "r-1") << lines[0];
  EXPECT_EQ(Field(lines[0], "role"), "leader") << lines[0];
  EXPECT_EQ(Field(lines[0], "code"), "OK") << lines[0];
  EXPECT_TRUE(absl::StartsWith(lines[1], "info request method=SendMessage channel=77 code=OK"))
      << lines[1];
  EXPECT_EQ(Field(lines[1], "request_id"), "w-1") << lines[1];
  EXPECT_TRUE(absl::StrContains(Field(lines[1], "peer"), "127.0.0.1")) << lines[1];
  EXPECT_EQ(Field(lines[2], "code"), "INVALID_ARGUMENT") << lines[2];
  EXPECT_EQ(Field(lines[2], "request_id"), "bad-1") << lines[2];
}

TEST_F(RequestLogTest, SlowRequestsAreLoggedWithTheirId) {
  NodeOptions options;
  options.service.request_log.slow_threshold = absl::Milliseconds(50);
  store_.Put({{.channel_id = 4, .message_id = 40, .author_id = 1, .content = "x"}});
  store_.SetLatency(absl::Milliseconds(80));  // every store call: slower than the threshold
  StartNode(options);
  ASSERT_TRUE(GetMessage("slow-1", 4, 40).ok());
  const std::vector<std::string> lines = sink_->Lines();
  ASSERT_EQ(lines.size(), 1u) << absl::StrJoin(lines, "\n");
  EXPECT_TRUE(absl::StartsWith(lines[0], "warning slow request method=GetMessage")) << lines[0];
  EXPECT_EQ(Field(lines[0], "code"), "OK");
  EXPECT_EQ(Field(lines[0], "request_id"), "slow-1");
  EXPECT_GE(std::stod(Field(lines[0], "latency_ms")), 80.0) << lines[0];
}

// ---------------------------------------------------------------- no node

TEST(RequestIdTest, KeepsOnlyIdsThatFollowTheGatewaysRules) {
  EXPECT_EQ(RequestId::FromString("9f2c-01.a_b:c").view(), "9f2c-01.a_b:c");
  EXPECT_EQ(RequestId::FromString(std::string(64, 'a')).view(), std::string(64, 'a'));
  EXPECT_TRUE(RequestId::FromString(std::string(65, 'a')).empty());
  EXPECT_TRUE(RequestId::FromString("").empty());
  for (const char* bad : {"a b", "a\nb", "a\"b", "a\\b", "a\x01", "caf\xc3\xa9", "a=b"}) {
    EXPECT_TRUE(RequestId::FromString(bad).empty()) << bad;
  }
}

// Warn lines are capped per second; a line written after some were dropped
// says how many.
TEST(RequestLogBudgetTest, WarnLinesAreCappedPerSecond) {
  auto sink = std::make_shared<LineSink>();
  auto logger = std::make_shared<spdlog::logger>("budget-test", sink);
  logger->set_pattern("%v");
  RequestLog log({.max_warn_lines_per_second = 2, .logger = logger});
  const RequestId id = RequestId::FromString("b-1");
  for (int i = 0; i < 10; ++i) {
    log.OnStoreFailure(kGetMessages, 5, 0, absl::Milliseconds(1), absl::UnavailableError("x"), id);
  }
  // Ten calls take microseconds: one window, or two if a second boundary
  // falls between them.
  const size_t written = sink->Lines().size();
  EXPECT_GE(written, 2u);
  EXPECT_LE(written, 4u);
  EXPECT_EQ(Field(sink->Lines()[0], "request_id"), "b-1");
}

}  // namespace
}  // namespace ds::node
