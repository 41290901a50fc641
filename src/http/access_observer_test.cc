// The access-log hook: every request is reported once when it is over, with
// what the server knows (status, bytes, peer, latency) and what the handler
// noted; a noted request id is echoed as X-Request-Id.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "http/server.h"
#include "testing/http_test_client.h"

namespace ds::http {
namespace {

using ::ds::testing::HttpTestClient;

struct Seen {
  std::string method, target, request_id, principal, peer;
  int status;
  uint64_t bytes;
  absl::Duration latency;
};

class Recorder : public AccessObserver {
 public:
  void OnExchangeDone(const ExchangeRecord& r) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back({std::string(r.method), std::string(r.target), r.notes.request_id,
                       r.notes.principal, r.peer.address().to_string(), r.status, r.body_bytes,
                       r.latency});
    }
    cv_.notify_all();
  }
  std::vector<Seen> WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return seen_.size() >= n; });
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Seen> seen_;
};

// /noted answers with notes set; /park never answers.
class NotingHandler : public Handler {
 public:
  void Handle(Request req, Responder res) override {
    if (req.target() == "/park") {
      std::lock_guard<std::mutex> lock(mu_);
      parked_.push_back(res);
      return;
    }
    res.notes().request_id = "req-7";
    res.notes().principal = "sub:42";
    Response r(201);
    r.SetBody("hello");
    res.Send(std::move(r));
  }

 private:
  std::mutex mu_;
  std::vector<Responder> parked_;
};

TEST(AccessObserverTest, EveryRequestIsReportedOnceWithItsFields) {
  auto recorder = std::make_shared<Recorder>();
  auto server = Server::Start({.io_threads = 1, .access_observer = recorder},
                              std::make_shared<NotingHandler>());
  ASSERT_TRUE(server.ok()) << server.status();
  {
    HttpTestClient client((*server)->port());
    auto res = client.Post("/noted?x=1", "", {{"Host", "h"}});
    EXPECT_EQ(res.result_int(), 201);
    EXPECT_EQ(res["X-Request-Id"], "req-7");  // echoed by the server
    // A request the client gives up on, then a malformed one.
    client.SendRaw("GET /park HTTP/1.1\r\nHost: h\r\n\r\n");
  }
  {
    HttpTestClient client((*server)->port());
    client.SendRaw("BROKEN\r\n\r\n");
    client.ReadUntilClosed();
  }
  std::vector<Seen> seen = recorder->WaitFor(3);
  ASSERT_EQ(seen.size(), 3u);
  std::sort(seen.begin(), seen.end(),
            [](const Seen& a, const Seen& b) { return a.status > b.status; });
  EXPECT_EQ(seen[0].status, 400);  // malformed: no method or target
  EXPECT_EQ(seen[0].method, "");
  EXPECT_EQ(seen[1].status, 201);
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[1].target, "/noted?x=1");
  EXPECT_EQ(seen[1].bytes, 5u);
  EXPECT_EQ(seen[1].request_id, "req-7");
  EXPECT_EQ(seen[1].principal, "sub:42");
  EXPECT_EQ(seen[1].peer, "127.0.0.1");
  EXPECT_GE(seen[1].latency, absl::ZeroDuration());
  EXPECT_EQ(seen[2].status, 0);  // never answered: the client went away
  EXPECT_EQ(seen[2].target, "/park");
  (*server)->Shutdown(absl::ZeroDuration());
  EXPECT_EQ(recorder->WaitFor(3).size(), 3u);  // nothing is reported twice
}

}  // namespace
}  // namespace ds::http
