// Integration test: runs the real ds-loadgen binary against in-process fakes
// on 127.0.0.1, port 0 — gRPC nodes (testing/fake_data_node.h) serving
// messages.MessagesService and dataservice.v1.MessageService (plus
// grpc.health.v1), and an HTTP server that
// is both a node's /metrics endpoint and a tiny gateway — and checks the
// printed summary lines and --json fields against what the fakes counted.
//
// The fakes count store queries with a rule no client could guess — one query
// per 4 requests of a key (the 1st, 5th, 9th, ...) — so a summary that matches
// them came from the nodes' metrics, not the client's arithmetic.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "messages/messages.grpc.pb.h"
#include "testing/fake_data_node.h"
#include "testing/process.h"

namespace ds::loadgen {
namespace {

using ::testing::HasSubstr;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// ------------------------------------------------------------------ counters

// What a fake node saw. Thread-safe.
class Counters {
 public:
  // Counts one request of `method` for `key`; returns true if it "queried the
  // store" (the 1st, 5th, 9th ... request of that key).
  bool Request(const std::string& method, const std::string& key) {
    std::lock_guard<std::mutex> l(mu_);
    ++requests_[method];
    const int64_t n = per_key_[method + "/" + key]++;
    const bool query = method == "SendMessage" || n % 4 == 0;
    if (query) {
      ++queries_[method];
      ++ref_queries_since_reset_;
    }
    ++ref_requests_since_reset_;
    return query;
  }
  void Preload(int64_t requests, int64_t queries) {
    std::lock_guard<std::mutex> l(mu_);
    requests_["GetMessages"] += requests;
    queries_["GetMessages"] += queries;
  }
  void Record(const std::string& what) {
    std::lock_guard<std::mutex> l(mu_);
    seen_.insert(what);
  }
  std::pair<int64_t, int64_t> GetAndReset() {
    std::lock_guard<std::mutex> l(mu_);
    ++resets_;
    auto out = std::make_pair(ref_requests_since_reset_, ref_queries_since_reset_);
    ref_requests_since_reset_ = ref_queries_since_reset_ = 0;
    return out;
  }
  // Prometheus text: every query took exactly 2 ms.
  std::string Exposition() {
    std::lock_guard<std::mutex> l(mu_);
    std::string out =
        "# HELP ds_requests_total Requests received\n"
        "# TYPE ds_requests_total counter\n";
    for (const auto& [m, n] : requests_) {
      absl::StrAppend(&out, "ds_requests_total{method=\"", m, "\"} ", n, "\n");
    }
    out += "# TYPE ds_store_queries_total counter\n";
    for (const auto& [m, n] : queries_) {
      absl::StrAppend(&out, "ds_store_queries_total{method=\"", m, "\"} ", n, "\n");
      absl::StrAppend(&out, "ds_store_query_seconds_sum{method=\"", m, "\"} ", 0.002 * n, "\n");
      absl::StrAppend(&out, "ds_store_query_seconds_count{method=\"", m, "\"} ", n, "\n");
    }
    out += "ds_rejected_total{method=\"GetMessages\",reason=\"max_waiters\"} 0\n";
    return out;
  }
  int64_t requests(const std::string& m) {
    std::lock_guard<std::mutex> l(mu_);
    return requests_[m];
  }
  int64_t queries(const std::string& m) {
    std::lock_guard<std::mutex> l(mu_);
    return queries_[m];
  }
  int resets() {
    std::lock_guard<std::mutex> l(mu_);
    return resets_;
  }
  std::set<std::string> seen() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, int64_t> requests_, queries_, per_key_;
  int64_t ref_requests_since_reset_ = 0, ref_queries_since_reset_ = 0;
  int resets_ = 0;
  std::set<std::string> seen_;
};

// ------------------------------------------------------------------ gRPC fakes

class FakeReference final : public messages::MessagesService::CallbackService {
 public:
  explicit FakeReference(Counters* c) : c_(c) {}
  grpc::ServerUnaryReactor* getMessage(grpc::CallbackServerContext* ctx,
                                       const messages::MessageRequest* req,
                                       messages::MessageReply* reply) override {
    c_->Request("ref.getMessage", absl::StrCat(req->channel_id(), "/", req->message_id()));
    c_->Record(absl::StrCat("ref channel ", req->channel_id(), " message ", req->message_id()));
    reply->set_channel_id(req->channel_id());
    reply->set_message_id(req->message_id());
    reply->set_content("hello");
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
  grpc::ServerUnaryReactor* getAndResetMetrics(grpc::CallbackServerContext* ctx,
                                               const messages::Empty*,
                                               messages::MetricsReply* reply) override {
    auto [requests, queries] = c_->GetAndReset();
    reply->set_total_requests(requests);
    reply->set_queries_executed(queries);
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

 private:
  Counters* c_;
};

// The data-service API's answers: GetMessages names the channel's "newest"
// message (channel * 7777); GetMessage of channel 3 is NOT_FOUND.
ds::testing::FakeDataNode::Handlers DataAnswers(Counters* c) {
  ds::testing::FakeDataNode::Handlers h;
  h.get_messages = [c](const dataservice::v1::GetMessagesRequest& req,
                       dataservice::v1::GetMessagesResponse* resp) {
    c->Request("GetMessages", absl::StrCat(req.channel_id(), "/", req.limit()));
    auto* m = resp->add_messages();
    m->set_channel_id(req.channel_id());
    m->set_message_id(req.channel_id() * 7777);
    return grpc::Status::OK;
  };
  h.get_message = [c](const dataservice::v1::GetMessageRequest& req,
                      dataservice::v1::GetMessageResponse* resp) {
    c->Request("GetMessage", absl::StrCat(req.channel_id(), "/", req.message_id()));
    c->Record(absl::StrCat("GetMessage message ", req.message_id()));
    if (req.channel_id() == 3) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such message");
    resp->mutable_message()->set_message_id(req.message_id());
    return grpc::Status::OK;
  };
  h.send_message = [c](const dataservice::v1::SendMessageRequest& req,
                       dataservice::v1::SendMessageResponse* resp) {
    c->Request("SendMessage", absl::StrCat(req.nonce()));
    c->Record(absl::StrCat("nonce ", req.nonce()));
    resp->mutable_message()->set_channel_id(req.channel_id());
    return grpc::Status::OK;
  };
  return h;
}

// ------------------------------------------------------------------ HTTP fake

// /metrics (the node's Prometheus text) and a miniature gateway:
//   GET  /v1/channels/{id}/messages?limit=N     200 {"messages":[...]}, 503 for channel 3
//   GET  /v1/channels/{id}/messages/{mid}        200 {"message":{...}}
//   POST /v1/channels/{id}/messages              200 {"message":{...}}
class FakeHttpServer {
 public:
  explicit FakeHttpServer(Counters* c)
      : c_(c), acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FakeHttpServer() {
    ioc_.stop();
    thread_.join();
  }
  int port() const { return acceptor_.local_endpoint().port(); }

 private:
  struct Session : std::enable_shared_from_this<Session> {
    Session(FakeHttpServer* s, tcp::socket sock) : server(s), stream(std::move(sock)) {}
    void Read() {
      req = {};
      http::async_read(stream, buffer, req,
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return;
                         self->Respond();
                       });
    }
    void Respond() {
      auto res = std::make_shared<http::response<http::string_body>>(server->Handle(req));
      res->keep_alive(req.keep_alive());
      res->prepare_payload();
      http::async_write(stream, *res,
                        [self = shared_from_this(), res](beast::error_code ec, size_t) {
                          if (ec || !res->keep_alive()) return;
                          self->Read();
                        });
    }
    FakeHttpServer* server;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
  };

  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket sock) {
      if (ec) return;
      std::make_shared<Session>(this, std::move(sock))->Read();
      Accept();
    });
  }

  http::response<http::string_body> Handle(const http::request<http::string_body>& req) {
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/json");
    const std::string target(req.target());
    if (target == "/metrics") {
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.body() = c_->Exposition();
      return res;
    }
    // /v1/channels/{id}/messages[/{mid}][?limit=N]
    std::vector<std::string> path = absl::StrSplit(target.substr(0, target.find('?')), '/');
    uint64_t channel = 0;
    if (path.size() < 5 || path[1] != "v1" || path[2] != "channels" || path[4] != "messages" ||
        !absl::SimpleAtoi(path[3], &channel)) {
      res.result(http::status::not_found);
      res.body() = R"({"error":{"code":"NOT_FOUND","message":"no route"}})";
      return res;
    }
    if (req.method() == http::verb::post) {
      nlohmann::json body = nlohmann::json::parse(req.body(), nullptr, false);
      const std::string nonce =
          body.is_object() && body.contains("nonce") && body["nonce"].is_string()
              ? body["nonce"].get<std::string>()
              : "";
      c_->Request("SendMessage", nonce);
      c_->Record("http nonce " + nonce);
      res.body() =
          absl::StrCat(R"({"message":{"channel_id":")", channel, R"("},"duplicate":false})");
      return res;
    }
    if (path.size() == 6) {
      c_->Request("GetMessage", absl::StrCat(channel, "/", path[5]));
      res.body() = absl::StrCat(R"({"message":{"message_id":")", path[5], R"("}})");
      return res;
    }
    c_->Request("GetMessages", absl::StrCat(channel));
    if (channel == 3) {
      res.result(http::status::service_unavailable);
      res.body() = R"({"error":{"code":"UNAVAILABLE","message":"node down"}})";
      return res;
    }
    res.body() = absl::StrCat(R"({"messages":[{"message_id":")", channel * 7777, R"("}]})");
    return res;
  }

  Counters* c_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// A fake data-service node: gRPC (both APIs + health) and an admin HTTP port.
class FakeNode {
 public:
  FakeNode()
      : reference_(&counters_), http_(&counters_), grpc_(DataAnswers(&counters_), {&reference_}) {
    EXPECT_TRUE(grpc_.Start().ok());
  }

  std::string address() const { return grpc_.address(); }
  std::string metrics_url() const {
    return absl::StrCat("http://127.0.0.1:", http_.port(), "/metrics");
  }
  std::string http_address() const { return absl::StrCat("127.0.0.1:", http_.port()); }
  Counters& counters() { return counters_; }

 private:
  Counters counters_;
  FakeReference reference_;
  FakeHttpServer http_;
  ds::testing::FakeDataNode grpc_;  // stops first: it serves reference_
};

// ------------------------------------------------------------------ running the binary

using RunOutput = ds::testing::CommandResult;

// Runs ds-loadgen with `args` (stdin closed, stderr to a file); stdout captured.
RunOutput RunLoadgen(const std::string& args, std::string* err = nullptr) {
  const std::string err_file = absl::StrCat(::testing::TempDir(), "/loadgen_stderr_", getpid());
  RunOutput r = ds::testing::RunCommand(
      absl::StrCat("env -u DS_NODES -u DS_METRICS_URLS -u DS_GATEWAY ",
                   ds::testing::BinaryPath("ds-loadgen"), " ", args, " </dev/null 2>", err_file));
  if (err != nullptr) {
    std::ifstream f(err_file);
    err->append(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  std::remove(err_file.c_str());
  return r;
}

std::vector<std::string> Lines(const std::string& s) {
  return absl::StrSplit(s, '\n', absl::SkipEmpty());
}

// "2024/10/26 17:08:11 " + text, exactly.
void ExpectGoLogLine(const std::string& line, const std::string& text) {
  static const std::regex kPrefix(R"(^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} )");
  EXPECT_TRUE(std::regex_search(line, kPrefix)) << line;
  ASSERT_GE(line.size(), 20u) << line;
  EXPECT_EQ(line.substr(20), text);
}

// ------------------------------------------------------------------ tests

TEST(LoadgenIntegrationTest, ReferenceFlagsAndTargetPrintTheReferenceSummary) {
  FakeNode a, b;
  std::string err;
  RunOutput r = RunLoadgen(absl::StrCat("-channels 5 -requests 200 --target reference --nodes ",
                                        a.address(), ",", b.address(), " --no-progress"),
                           &err);
  ASSERT_EQ(r.exit_code, 0) << r.out << err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_GE(lines.size(), 4u) << r.out;
  // 5 keys x 40 requests, one query per 4 → 10 per key → 50 store queries.
  ExpectGoLogLine(lines[0], "Unique requests: 5, Total requests: 200, Total queries executed: 50");
  ExpectGoLogLine(lines[1], "Average queries per request: 0.25");
  ExpectGoLogLine(lines[2], "Saved queries by coalescing: 150");
  EXPECT_THAT(lines[3], HasSubstr(" Total time taken: "));
  EXPECT_THAT(r.out, HasSubstr("Errors by status: none"));
  EXPECT_THAT(r.out, HasSubstr("Latency: p50 "));
  // Like the reference client: channel c goes to nodes[(c - 1) % 2] with
  // message_id = c * 1000; getAndResetMetrics before and after the run.
  EXPECT_EQ(a.counters().seen(),
            (std::set<std::string>{"ref channel 1 message 1000", "ref channel 3 message 3000",
                                   "ref channel 5 message 5000"}));
  EXPECT_EQ(b.counters().seen(),
            (std::set<std::string>{"ref channel 2 message 2000", "ref channel 4 message 4000"}));
  EXPECT_EQ(a.counters().resets(), 2);
  EXPECT_EQ(a.counters().requests("ref.getMessage"), 120);
  EXPECT_EQ(b.counters().requests("ref.getMessage"), 80);
}

TEST(LoadgenIntegrationTest, NodesTargetJsonUsesPrometheusDeltas) {
  FakeNode a, b;
  a.counters().Preload(1000, 300);  // earlier traffic: must not be counted
  RunOutput r = RunLoadgen(absl::StrCat("--channels 4 --requests 400 --target nodes --nodes ",
                                        a.address(), ",", b.address(), " --metrics ",
                                        a.metrics_url(), ",", b.metrics_url(), " --json"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["unique_requests"], 4);
  EXPECT_EQ(j["total_requests"], 400);
  // Hash routing keeps each channel on one node: 100 requests per key, 25 queries each.
  const int64_t queries =
      a.counters().queries("GetMessages") + b.counters().queries("GetMessages") - 300;
  EXPECT_EQ(queries, 100);
  EXPECT_EQ(j["total_queries_executed"], queries);
  EXPECT_EQ(j["saved_queries"], 400 - queries);
  EXPECT_EQ(j["issued"], 400);
  EXPECT_EQ(j["ok"], 400);
  EXPECT_TRUE(j["errors"].empty());
  EXPECT_EQ(j["metrics_origin"], "prometheus");
  EXPECT_DOUBLE_EQ(j["mean_store_query_time_ms"].get<double>(), 2.0);
  EXPECT_TRUE(j["ideal_queries"].is_number_integer());
  EXPECT_GE(j["ideal_queries"].get<int64_t>(), 4);
  EXPECT_TRUE(j["measured_ideal_ratio"].is_number());
  EXPECT_GT(j["throughput_rps"].get<double>(), 0);
  for (const char* k : {"p50", "p90", "p99", "p999"}) {
    EXPECT_TRUE(j["latency_ms"][k].is_number()) << k;
  }
  EXPECT_GE(j["arrival_window_ms"].get<double>(), 0);
}

TEST(LoadgenIntegrationTest, WritesCarryUniqueNoncesAndGetMessageUsesDiscoveredIds) {
  FakeNode a;
  RunOutput r = RunLoadgen(absl::StrCat("--channels 4 --requests 300 --nodes ", a.address(),
                                        " --write-ratio 0.5 --keys uniform --seed 3 "
                                        "--read-method message --no-metrics --json"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  const int64_t writes = j["writes"].get<int64_t>();
  EXPECT_GT(writes, 100);
  EXPECT_LT(writes, 200);
  EXPECT_EQ(j["reads"].get<int64_t>() + writes, 300);
  EXPECT_EQ(a.counters().requests("SendMessage"), writes);
  std::set<std::string> seen = a.counters().seen();
  int64_t nonces = 0;
  for (const std::string& s : seen) nonces += s.rfind("nonce ", 0) == 0;
  EXPECT_EQ(nonces, writes);  // all distinct
  // GetMessage used the ids the fake reported as newest (channel * 7777).
  EXPECT_TRUE(seen.count("GetMessage message 7777"));
  EXPECT_TRUE(seen.count("GetMessage message 15554"));
  EXPECT_FALSE(seen.count("GetMessage message 1000"));
  // Channel 3 answers NOT_FOUND: counted by status.
  EXPECT_GT(j["errors"]["NOT_FOUND"].get<int64_t>(), 0);
  EXPECT_EQ(j["metrics_origin"], "disabled");
  EXPECT_TRUE(j["total_queries_executed"].is_null());
}

TEST(LoadgenIntegrationTest, ClosedAndOpenModes) {
  FakeNode a;
  RunOutput closed =
      RunLoadgen(absl::StrCat("--mode closed --concurrency 8 --duration 300ms "
                              "--nodes ",
                              a.address(), " --metrics ", a.metrics_url(), " --json"));
  ASSERT_EQ(closed.exit_code, 0) << closed.out;
  nlohmann::json c = nlohmann::json::parse(closed.out, nullptr, false);
  ASSERT_TRUE(c.is_object()) << closed.out;
  EXPECT_GT(c["issued"].get<int64_t>(), 8);
  EXPECT_EQ(c["completed"], c["issued"]);
  EXPECT_EQ(c["total_requests"], c["issued"]);  // the node saw every request

  RunOutput open = RunLoadgen(absl::StrCat("-mode open -rate 200 -duration 500ms -nodes ",
                                           a.address(), " -no-metrics -json"));
  ASSERT_EQ(open.exit_code, 0) << open.out;
  nlohmann::json o = nlohmann::json::parse(open.out, nullptr, false);
  ASSERT_TRUE(o.is_object()) << open.out;
  EXPECT_EQ(o["issued"], 100);  // 200/s x 0.5 s, on schedule
  EXPECT_EQ(o["mode"], "open");
}

TEST(LoadgenIntegrationTest, GatewayTargetCountsHttpStatuses) {
  FakeNode node;  // its HTTP port plays the gateway and the metrics endpoint
  RunOutput r = RunLoadgen(absl::StrCat("--target gateway --gateway ", node.http_address(),
                                        " --connections 4 --channels 4 --requests 400 "
                                        "--write-ratio 0.25 --seed 5 --metrics ",
                                        node.metrics_url(), " --json"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["issued"], 400);
  EXPECT_EQ(j["completed"], 400);
  EXPECT_EQ(j["total_requests"], 400);
  const int64_t writes = j["writes"].get<int64_t>();
  EXPECT_GT(writes, 0);
  EXPECT_EQ(node.counters().requests("SendMessage"), writes);
  // Round-robin keys: every 4th request is channel 3, which answers 503 when read.
  EXPECT_GT(j["errors"]["HTTP_503"].get<int64_t>(), 0);
  EXPECT_EQ(j["errors"]["HTTP_503"].get<int64_t>() + j["ok"].get<int64_t>(), 400);
  EXPECT_EQ(j["target"], "gateway");
}

TEST(LoadgenIntegrationTest, BadFlagsExitTwoWithAMessage) {
  for (const char* args :
       {"-channels 0", "--mode sideways", "--bogus", "-requests abc",
        "--target reference --write-ratio 0.5", "--duration forever --mode open"}) {
    std::string err;
    RunOutput r = RunLoadgen(args, &err);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_THAT(err, HasSubstr("ds-loadgen: ")) << args;
    EXPECT_TRUE(r.out.empty()) << args;
  }
}

TEST(LoadgenIntegrationTest, HelpListsTheReferenceFlags) {
  RunOutput r = RunLoadgen("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--channels", "--requests", "--mode", "--keys", "--target", "--policy",
                           "--metrics", "--json", "--deadline-ms", "--write-ratio"}) {
    EXPECT_THAT(r.out, HasSubstr(flag));
  }
}

TEST(LoadgenIntegrationTest, UnreachableMetricsExitOne) {
  FakeNode a;
  std::string err;
  RunOutput r = RunLoadgen(
      absl::StrCat("--requests 10 --nodes ", a.address(), " --metrics http://127.0.0.1:1/metrics"),
      &err);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(err, HasSubstr("node metrics unavailable"));
  EXPECT_THAT(r.out, HasSubstr("Total queries executed: n/a"));
}

}  // namespace
}  // namespace ds::loadgen
