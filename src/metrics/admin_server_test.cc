#include "metrics/admin_server.h"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "testing/http_test_client.h"

namespace ds::metrics {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;
using ::ds::testing::HttpTestClient;
using ::testing::HasSubstr;

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    auto& family = prometheus::BuildCounter()
                       .Name("ds_test_events_total")
                       .Help("Events seen by the test.")
                       .Register(*registry_);
    counter_ = &family.Add({{"kind", "probe"}});
    auto server = AdminServer::Start({}, registry_, [this] { return healthy_.load(); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_NE(server_->port(), 0);
  }

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* counter_ = nullptr;
  std::atomic<bool> healthy_{true};
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, MetricsServesRegisteredCounterInTextFormat) {
  counter_->Increment(3);
  HttpTestClient conn(server_->port());
  auto res = conn.Request(http::verb::get, "/metrics");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_THAT(std::string(res[http::field::content_type]), HasSubstr("version=0.0.4"));
  EXPECT_THAT(res.body(), HasSubstr("# TYPE ds_test_events_total counter"));
  EXPECT_THAT(res.body(), HasSubstr("ds_test_events_total{kind=\"probe\"} 3"));
}

TEST_F(AdminServerTest, MetricsReflectsLaterIncrements) {
  HttpTestClient conn(server_->port());
  EXPECT_THAT(conn.Request(http::verb::get, "/metrics").body(),
              HasSubstr("ds_test_events_total{kind=\"probe\"} 0"));
  counter_->Increment();
  EXPECT_THAT(conn.Request(http::verb::get, "/metrics?x=1").body(),
              HasSubstr("ds_test_events_total{kind=\"probe\"} 1"));
}

TEST_F(AdminServerTest, HealthzFlipsBetween200And503) {
  HttpTestClient conn(server_->port());
  auto ok = conn.Request(http::verb::get, "/healthz");
  EXPECT_EQ(ok.result(), http::status::ok);
  EXPECT_EQ(ok.body(), "ok\n");
  healthy_ = false;
  auto bad = conn.Request(http::verb::get, "/healthz");
  EXPECT_EQ(bad.result(), http::status::service_unavailable);
  EXPECT_EQ(bad.body(), "unhealthy\n");
  healthy_ = true;
  EXPECT_EQ(conn.Request(http::verb::get, "/healthz").result(), http::status::ok);
}

TEST_F(AdminServerTest, UnknownPathIs404AndNonGetIs405) {
  HttpTestClient conn(server_->port());
  EXPECT_EQ(conn.Request(http::verb::get, "/nope").result(), http::status::not_found);
  auto res = conn.Request(http::verb::post, "/metrics");
  EXPECT_EQ(res.result(), http::status::method_not_allowed);
  EXPECT_EQ(res[http::field::allow], "GET");
  // The connection survived all of the above (keep-alive).
  EXPECT_EQ(conn.Request(http::verb::get, "/healthz").result(), http::status::ok);
}

TEST_F(AdminServerTest, MalformedRequestGets400AndServerStillServes) {
  {
    HttpTestClient conn(server_->port());
    conn.SendRaw("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(conn.Read().result(), http::status::bad_request);
    EXPECT_TRUE(conn.ClosedByPeer());
  }
  {
    HttpTestClient conn(server_->port());
    conn.SendRaw("GET /metrics HTTP/1.1\r\nContent-Length: banana\r\n\r\n");
    EXPECT_EQ(conn.Read().result(), http::status::bad_request);
  }
  HttpTestClient conn(server_->port());
  EXPECT_EQ(conn.Request(http::verb::get, "/healthz").result(), http::status::ok);
}

TEST_F(AdminServerTest, OversizedHeaderGets431AndOversizedBody413) {
  {
    HttpTestClient conn(server_->port());
    conn.SendRaw("GET /metrics HTTP/1.1\r\nX-Big: " + std::string(10000, 'a') + "\r\n\r\n");
    EXPECT_EQ(conn.Read().result(), http::status::request_header_fields_too_large);
  }
  {
    HttpTestClient conn(server_->port());
    conn.SendRaw("POST /metrics HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
    EXPECT_EQ(conn.Read().result(), http::status::payload_too_large);
  }
  HttpTestClient conn(server_->port());
  EXPECT_EQ(conn.Request(http::verb::get, "/metrics").result(), http::status::ok);
}

TEST_F(AdminServerTest, PipelinedRequestsAreAnsweredInOrder) {
  HttpTestClient conn(server_->port());
  conn.SendRaw(
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(conn.Read().result(), http::status::ok);
  EXPECT_EQ(conn.Read().result(), http::status::not_found);
  EXPECT_THAT(conn.Read().body(), HasSubstr("ds_test_events_total"));
  EXPECT_TRUE(conn.ClosedByPeer());
}

TEST_F(AdminServerTest, StopIsIdempotentAndClosesOpenConnections) {
  HttpTestClient idle(server_->port());
  EXPECT_EQ(idle.Request(http::verb::get, "/healthz").result(), http::status::ok);
  server_->Stop();
  server_->Stop();
  EXPECT_TRUE(idle.ClosedByPeer());
  net::io_context ioc;
  tcp::socket socket(ioc);
  beast::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()), ec);
  EXPECT_TRUE(ec) << "still accepting after Stop()";
}

TEST(AdminServerStartTest, RejectsBadAddressAndNullRegistry) {
  auto registry = std::make_shared<prometheus::Registry>();
  EXPECT_EQ(AdminServer::Start({.address = "not-an-ip"}, registry, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AdminServer::Start({}, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AdminServerStartTest, PortInUseIsUnavailable) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto first = AdminServer::Start({}, registry, nullptr);
  ASSERT_TRUE(first.ok());
  auto second = AdminServer::Start({.port = (*first)->port()}, registry, nullptr);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST(AdminServerStartTest, NullHealthCallbackMeansHealthy) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto server = AdminServer::Start({}, registry, nullptr);
  ASSERT_TRUE(server.ok());
  HttpTestClient conn((*server)->port());
  EXPECT_EQ(conn.Request(http::verb::get, "/healthz").result(), http::status::ok);
}

}  // namespace
}  // namespace ds::metrics
