// Pipelined requests reach the handler intact and are answered in request
// order however the bytes are cut into reads: at every byte boundary, and in
// seeded random chunkings, with the read-ahead limit (max_pipelined_requests)
// both below and above the number of requests in flight.
//
// The cuts matter because of what the connection does with bytes it has read
// but not parsed yet (more requests than the read-ahead limit): it keeps them
// while a new read is already under way, and parses them when earlier answers
// have gone out.
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "http/server.h"
#include "testing/http_test_client.h"

namespace ds::http {
namespace {

using ::ds::testing::HttpTestClient;

// Answers every request at once with "<METHOD> <target> <body>".
class EchoTargetHandler : public Handler {
 public:
  void Handle(Request req, Responder res) override {
    Response r(200);
    r.SetBody(std::string(req.method_string()) + " " + std::string(req.target()) + " " +
              req.body());
    res.Send(std::move(r));
  }
};

struct Pipelined {
  std::string bytes;                 // the requests back to back
  std::vector<size_t> ends;          // where each request ends in `bytes`
  std::vector<std::string> answers;  // the expected bodies, in order
};

// `n` distinct requests of several shapes: bare GETs, GETs with more header
// lines, POSTs with a Content-Length body and with a chunked body.
Pipelined MakeRequests(int n) {
  Pipelined p;
  for (int i = 0; i < n; ++i) {
    const std::string id = std::to_string(i);
    std::string target;
    std::string request;
    std::string answer;
    switch (i % 4) {
      case 0:
        target = "/get/" + id;
        request = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
        answer = "GET " + target + " ";
        break;
      case 1:
        target = "/post/" + id + "?q=" + std::string(i % 7, 'q');
        request = "POST " + target +
                  " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(5 + id.size()) +
                  "\r\n\r\nbody-" + id;
        answer = "POST " + target + " body-" + id;
        break;
      case 2:
        target = "/hdr/" + id;
        request = "GET " + target + " HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(i, 'p') +
                  "\r\nAccept: */*\r\n\r\n";
        answer = "GET " + target + " ";
        break;
      default:
        target = "/chunked/" + id;
        request = "POST " + target +
                  " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n" +
                  std::to_string(id.size()) + "\r\n" + id + "\r\n0\r\n\r\n";
        answer = "POST " + target + " abc" + id;
        break;
    }
    p.bytes += request;
    p.ends.push_back(p.bytes.size());
    p.answers.push_back(std::move(answer));
  }
  return p;
}

class PipeliningTest : public ::testing::Test {
 protected:
  void StartServer(int max_pipelined) {
    auto server = Server::Start({.io_threads = 1, .max_pipelined_requests = max_pipelined},
                                std::make_shared<EchoTargetHandler>());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  // Reads answers until `*next` reaches `upto`, checking each; false (with a
  // test failure) on a wrong or missing answer.
  static bool ReadAnswers(HttpTestClient& client, const Pipelined& p, size_t upto, size_t* next,
                          const std::string& where) {
    for (; *next < upto; ++*next) {
      boost::beast::error_code ec;
      HttpTestClient::Response res = client.Read(&ec);
      if (ec) {
        ADD_FAILURE() << where << ": no answer to request " << *next << ": " << ec.message();
        return false;
      }
      if (res.result_int() != 200 || res.body() != p.answers[*next]) {
        ADD_FAILURE() << where << ": request " << *next << " answered " << res.result_int() << " '"
                      << res.body() << "', expected '" << p.answers[*next] << "'";
        return false;
      }
    }
    return true;
  }

  // Requests complete within the first `sent` bytes.
  static size_t CompleteWithin(const Pipelined& p, size_t sent) {
    size_t n = 0;
    while (n < p.ends.size() && p.ends[n] <= sent) ++n;
    return n;
  }

  std::unique_ptr<Server> server_;
};

// Two reads, cut at every byte. Between them the client reads every answer
// the first part allows, so the second part arrives while the server is
// parsing the bytes it read ahead (or after it has).
TEST_F(PipeliningTest, RequestsCutAtEveryByteAreAnsweredInOrder) {
  for (int max_pipelined : {2, 16}) {
    StartServer(max_pipelined);
    const Pipelined p = MakeRequests(7);
    for (size_t cut = 1; cut < p.bytes.size(); ++cut) {
      const std::string where =
          "max_pipelined " + std::to_string(max_pipelined) + ", cut at " + std::to_string(cut);
      HttpTestClient client(server_->port());
      client.SetNoDelay();
      size_t next = 0;
      client.SendRaw(std::string_view(p.bytes).substr(0, cut));
      ASSERT_TRUE(ReadAnswers(client, p, CompleteWithin(p, cut), &next, where));
      client.SendRaw(std::string_view(p.bytes).substr(cut));
      ASSERT_TRUE(ReadAnswers(client, p, p.ends.size(), &next, where));
    }
  }
}

// Seeded random chunkings of 20 pipelined requests (the load generator's
// --pipeline 20 against the default read-ahead of 16), each chunk its own
// write; after a chunk the client sometimes reads the answers due so far.
TEST_F(PipeliningTest, RandomChunkingsAreAnsweredInOrder) {
  std::mt19937 rng(20261130);
  for (int max_pipelined : {2, 16}) {
    StartServer(max_pipelined);
    for (int trial = 0; trial < 150; ++trial) {
      const Pipelined p = MakeRequests(20);
      const std::string where =
          "max_pipelined " + std::to_string(max_pipelined) + ", trial " + std::to_string(trial);
      HttpTestClient client(server_->port());
      client.SetNoDelay();
      size_t sent = 0;
      size_t next = 0;
      while (sent < p.bytes.size()) {
        const size_t n = std::min<size_t>(1 + rng() % 120, p.bytes.size() - sent);
        client.SendRaw(std::string_view(p.bytes).substr(sent, n));
        sent += n;
        if (rng() % 2 == 0) {
          ASSERT_TRUE(ReadAnswers(client, p, CompleteWithin(p, sent), &next, where));
        }
      }
      ASSERT_TRUE(ReadAnswers(client, p, p.ends.size(), &next, where));
    }
  }
}

// The same connection keeps going: rounds of pipelined bursts, each larger
// than the read-ahead limit, the next sent once the previous is answered.
TEST_F(PipeliningTest, BurstAfterBurstOnOneConnection) {
  StartServer(16);
  HttpTestClient client(server_->port());
  for (int round = 0; round < 50; ++round) {
    const Pipelined p = MakeRequests(20 + round % 7);
    client.SendRaw(p.bytes);
    size_t next = 0;
    ASSERT_TRUE(ReadAnswers(client, p, p.ends.size(), &next, "round " + std::to_string(round)));
  }
}

}  // namespace
}  // namespace ds::http
