// The gateway target against a scripted HTTP server on a real loopback socket:
// when the server ends a connection with pipelined requests outstanding (it
// closes, says "Connection: close", or refuses a request with 400), those
// requests fail at once with the reason, instead of waiting for their
// deadline.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/loadgen/targets.h"

namespace ds::loadgen {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;

// One connection, scripted: reads `expect` header-only requests, answers the
// first `answers.size()` with the given raw responses, then either closes the
// connection or keeps it open until the client closes it.
class ScriptedServer {
 public:
  ScriptedServer(int expect, std::vector<std::string> answers, bool close_after)
      : acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this, expect, answers = std::move(answers), close_after] {
      tcp::socket socket(ioc_);
      acceptor_.accept(socket);
      boost::system::error_code ec;
      asio::streambuf in;
      for (int i = 0; i < expect && !ec; ++i) {
        const size_t n = asio::read_until(socket, in, "\r\n\r\n", ec);
        in.consume(n);
      }
      for (const std::string& a : answers) asio::write(socket, asio::buffer(a), ec);
      if (!close_after) {
        char byte;
        socket.read_some(asio::buffer(&byte, 1), ec);  // until the client goes
      }
      socket.close(ec);
    });
  }
  ~ScriptedServer() { thread_.join(); }

  std::string address() const {
    return absl::StrCat("127.0.0.1:", acceptor_.local_endpoint().port());
  }

 private:
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

std::string Answer(int status, const std::string& extra_headers = "") {
  return absl::StrCat("HTTP/1.1 ", status, " X\r\nContent-Length: 2\r\n", extra_headers, "\r\nok");
}

// Issues `n` pipelined reads on one connection and collects their outcomes.
class Outcomes {
 public:
  void IssueAll(Target& target, int n) {
    RequestSpec spec;
    spec.kind = RequestKind::kGetMessages;
    spec.channel_id = 1;
    spec.limit = 5;
    // Far away: the test fails if the client waits for it.
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    for (int i = 0; i < n; ++i) {
      target.Issue(spec, deadline, [this](Outcome o) {
        std::lock_guard<std::mutex> lock(mu_);
        got_.push_back(std::move(o));
        changed_.notify_all();
      });
    }
  }
  // All `n` outcomes (in completion order), or fewer after 60 s.
  std::vector<Outcome> Wait(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, std::chrono::seconds(60), [&] { return got_.size() >= n; });
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Outcome> got_;
};

std::unique_ptr<Target> OneConnection(const ScriptedServer& server, int pipeline) {
  auto target = MakeGatewayTarget(
      {.address = server.address(), .connections = 1, .threads = 1, .pipeline = pipeline});
  EXPECT_TRUE(target.ok()) << target.status();
  return std::move(*target);
}

void ExpectAnsweredThenFailed(const std::vector<Outcome>& got, size_t ok, const std::string& why) {
  ASSERT_EQ(got.size(), 8u) << "requests still waiting after the server ended the connection";
  for (size_t i = 0; i < ok; ++i) EXPECT_TRUE(got[i].ok) << i << ": " << got[i].message;
  for (size_t i = ok; i < got.size(); ++i) {
    EXPECT_EQ(got[i].code, "UNAVAILABLE") << i;
    EXPECT_THAT(got[i].message, HasSubstr(why)) << i;
    EXPECT_THAT(got[i].message, HasSubstr(absl::StrCat(got.size() - ok, " requests outstanding")));
  }
}

TEST(GatewayTargetTest, ServerClosingMidPipelineFailsTheOutstandingRequestsAtOnce) {
  ScriptedServer server(8, {Answer(200), Answer(200), Answer(200)}, /*close_after=*/true);
  Outcomes outcomes;  // outlives the target, whose thread calls it
  std::unique_ptr<Target> target = OneConnection(server, 8);
  outcomes.IssueAll(*target, 8);
  ExpectAnsweredThenFailed(outcomes.Wait(8), 3, "closed the connection");
}

TEST(GatewayTargetTest, ConnectionCloseHeaderFailsTheRestWithoutWaitingForTheClose) {
  // The server keeps the socket open: the header alone must end the wait.
  ScriptedServer server(8, {Answer(200), Answer(200, "Connection: close\r\n")},
                        /*close_after=*/false);
  Outcomes outcomes;  // outlives the target, whose thread calls it
  std::unique_ptr<Target> target = OneConnection(server, 8);
  outcomes.IssueAll(*target, 8);
  ExpectAnsweredThenFailed(outcomes.Wait(8), 2, "closed the connection");
}

TEST(GatewayTargetTest, A400ThatClosesIsReportedAndTheRestFail) {
  ScriptedServer server(8, {Answer(200), Answer(400, "Connection: close\r\n")},
                        /*close_after=*/true);
  Outcomes outcomes;  // outlives the target, whose thread calls it
  std::unique_ptr<Target> target = OneConnection(server, 8);
  outcomes.IssueAll(*target, 8);
  std::vector<Outcome> got = outcomes.Wait(8);
  ASSERT_EQ(got.size(), 8u);
  EXPECT_TRUE(got[0].ok);
  EXPECT_EQ(got[1].code, "HTTP_400");
  for (size_t i = 2; i < got.size(); ++i) {
    EXPECT_EQ(got[i].code, "UNAVAILABLE") << i;
    EXPECT_THAT(got[i].message, HasSubstr("6 requests outstanding")) << i;
  }
}

}  // namespace
}  // namespace ds::loadgen
