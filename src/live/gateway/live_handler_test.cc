// LiveHandler on a real ds::http::Server (port 0) with a hand-driven upstream.
#include "live/gateway/live_handler.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "http/test_certs.h"
#include "http/tls.h"
#include "live/gateway/fake_upstream.h"
#include "testing/http_test_client.h"

namespace ds::live {
namespace {

namespace net = boost::asio;
namespace v1 = ::dataservice::v1;
using ::ds::testing::HttpTestClient;
constexpr uint64_t kMs = uint64_t{1} << 22;
constexpr uint64_t kBase = 1000000 * kMs;
uint64_t Id(int i) { return kBase + static_cast<uint64_t>(i) * kMs; }
v1::Message Msg(uint64_t channel, int i, size_t size = 8) {
  v1::Message m;
  m.set_channel_id(channel);
  m.set_message_id(Id(i));
  m.set_author_id(7);
  m.set_content(std::string(size, 'x'));
  return m;
}

bool Eventually(std::function<bool()> pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling a condition
  }
  return true;
}

// Answers every request it gets with 200 "next".
class NextHandler : public http::Handler {
 public:
  void Handle(http::Request, http::Responder r) override {
    http::Response res(200);
    res.SetBody("next");
    r.Send(std::move(res));
  }
};

class LiveHandlerTest : public ::testing::Test {
 protected:
  // `tls`: an HTTPS server (WSS) with these credentials.
  void Start(LiveHandlerOptions options = {}, std::shared_ptr<http::TlsCredentials> tls = nullptr) {
    upstream_ = std::make_shared<FakeUpstream>();
    fanout_ = std::make_shared<LiveFanout>(FanoutOptions{}, upstream_, registry_);
    handler_ = std::make_shared<LiveHandler>(options, fanout_, std::make_shared<NextHandler>());
    http::ServerOptions server_options;
    server_options.port = 0;
    server_options.io_threads = 2;
    server_options.tls = std::move(tls);
    auto server = http::Server::Start(server_options, handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void TearDown() override {
    if (fanout_) fanout_->Close();
    if (server_) server_->Shutdown(absl::Seconds(1));
  }
  // Waits for stream `i` of the upstream and makes it live at `head`.
  std::shared_ptr<FakeUpstream::Stream> LiveUpstream(size_t i, int head) {
    EXPECT_TRUE(Eventually([&] { return upstream_->streams() > i; }));
    auto s = upstream_->stream(i);
    s->events.on_heartbeat(Id(head), true);
    return s;
  }

  // Clients the fan-out dropped (ds_gateway_live_dropped_total, any code).
  int Dropped() {
    double n = 0;
    for (const prometheus::MetricFamily& family : registry_.Collect()) {
      if (family.name != "ds_gateway_live_dropped_total") continue;
      for (const prometheus::ClientMetric& m : family.metric) n += m.counter.value;
    }
    return static_cast<int>(n);
  }

  prometheus::Registry registry_;
  std::shared_ptr<FakeUpstream> upstream_;
  std::shared_ptr<LiveFanout> fanout_;
  std::shared_ptr<LiveHandler> handler_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(LiveHandlerTest, ServesThePageAndPassesOtherRoutesOn) {
  Start();
  HttpTestClient page(server_->port());
  page.SendGet("/");
  std::string got = page.ReadUntil("</html>");
  EXPECT_NE(got.find("200 OK"), std::string::npos);
  EXPECT_NE(got.find("text/html"), std::string::npos);
  EXPECT_NE(got.find("EventSource"), std::string::npos);
  HttpTestClient other(server_->port());
  other.SendGet("/v1/channels/42/messages");
  EXPECT_NE(other.ReadUntil("next"), "");
  HttpTestClient bad(server_->port());
  bad.SendGet("/v1/channels/abc/events");
  EXPECT_NE(bad.ReadUntil("channel_id").find("400"), std::string::npos);
}

TEST_F(LiveHandlerTest, SseStreamsMessagesAndResumesFromLastEventId) {
  Start();
  HttpTestClient a(server_->port());
  a.SendGet("/v1/channels/42/events");
  std::string head = a.ReadUntil("retry: 2000");
  EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;
  auto s = LiveUpstream(0, 0);
  ASSERT_NE(a.ReadUntil(absl::StrCat(": live ", Id(0))), "");
  for (int i = 1; i <= 3; ++i) s->events.on_message(Msg(42, i), false);
  std::string events = a.ReadUntil(absl::StrCat("id: ", Id(3)));
  EXPECT_NE(events.find(absl::StrCat("id: ", Id(1))), std::string::npos);
  ASSERT_NE(a.ReadUntil("\n\n"), "");
  // A reconnecting EventSource sends Last-Event-ID; it wins over ?after=.
  HttpTestClient b(server_->port());
  b.SendGet(absl::StrCat("/v1/channels/42/events?after=", Id(0)),
            absl::StrCat("Last-Event-ID: ", Id(2), "\r\n"));
  std::string resumed = b.ReadUntil(absl::StrCat(": live ", Id(3)));
  EXPECT_EQ(resumed.find(absl::StrCat("id: ", Id(1), "\n")), std::string::npos);
  EXPECT_EQ(resumed.find(absl::StrCat("id: ", Id(2), "\n")), std::string::npos);
  EXPECT_NE(resumed.find(absl::StrCat("id: ", Id(3), "\n")), std::string::npos);
  EXPECT_NE(resumed.find(R"("content":"xxxxxxxx")"), std::string::npos);
  EXPECT_EQ(upstream_->streams(), 1u) << "one upstream per channel per gateway";
}

TEST_F(LiveHandlerTest, RefusesStreamsPastTheLimitWith503) {
  LiveHandlerOptions o;
  o.max_streams = 1;
  Start(o);
  HttpTestClient a(server_->port());
  a.SendGet("/v1/channels/42/events");
  ASSERT_NE(a.ReadUntil("retry:"), "");
  HttpTestClient b(server_->port());
  b.SendGet("/v1/channels/42/events");
  std::string refused = b.ReadUntil("}");
  EXPECT_NE(refused.find("503"), std::string::npos);
  EXPECT_NE(refused.find("Retry-After: 5"), std::string::npos);
  EXPECT_EQ(handler_->streams(), 1u);
}

TEST_F(LiveHandlerTest, ASlowClientIsClosedWithAReasonAndTheOthersGetEverything) {
  LiveHandlerOptions o;
  o.sse_max_queued_bytes = 16 * 1024;
  Start(o);
  HttpTestClient slow(server_->port(), {.receive_buffer = 1024});  // backs up
  slow.SendGet("/v1/channels/42/events");
  HttpTestClient fast(server_->port());
  fast.SendGet("/v1/channels/42/events");
  auto s = LiveUpstream(0, 0);
  ASSERT_NE(fast.ReadUntil(": live"), "");
  // At the pace the fast client reads; the slow one reads nothing. How much
  // the kernel's socket buffers absorb before the server's queue fills varies
  // from run to run, so send until the slow client is dropped (bounded).
  constexpr int kMaxMessages = 5000;
  int sent = 0;
  while (sent < kMaxMessages && (sent < 600 || Dropped() == 0)) {
    ++sent;
    s->events.on_message(Msg(42, sent, 3000), false);
    ASSERT_NE(fast.ReadUntil(absl::StrCat("id: ", Id(sent), "\n")), "") << sent;
  }
  EXPECT_EQ(Dropped(), 1) << "the slow client was not dropped after " << sent << " messages";
  EXPECT_NE(slow.ReadUntil(": closing: slow client"), "")
      << "closed=" << slow.closed() << " received " << slow.pending().size() << " bytes ending "
      << slow.pending().substr(slow.pending().size() -
                               std::min<size_t>(300, slow.pending().size()));
}

TEST_F(LiveHandlerTest, WebSocketSubscribesSendsAndUnsubscribes) {
  Start();
  net::io_context ioc;
  boost::beast::websocket::stream<net::ip::tcp::socket> ws(ioc);
  ws.next_layer().connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
  ws.handshake("localhost", "/v1/ws");
  auto read = [&] {
    boost::beast::flat_buffer b;
    ws.read(b);
    return boost::beast::buffers_to_string(b.data());
  };
  ws.write(net::buffer(std::string(R"({"type":"subscribe","channel_id":"42"})")));
  auto s = LiveUpstream(0, 5);
  EXPECT_EQ(read(),
            absl::StrCat(R"({"type":"subscribed","channel_id":"42","position":")", Id(5), "\"}"));
  s->events.on_message(Msg(42, 6), false);
  std::string m = read();
  EXPECT_NE(m.find(R"("type":"message","channel_id":"42")"), std::string::npos) << m;
  EXPECT_NE(m.find(absl::StrCat(R"("position":")", Id(6))), std::string::npos) << m;
  ws.write(net::buffer(std::string(
      R"({"type":"send","channel_id":"42","author_id":"7","content":"hi","nonce":"9","request_id":"r1"})")));
  std::string sent = read();
  EXPECT_NE(sent.find(R"("type":"sent","request_id":"r1")"), std::string::npos) << sent;
  ASSERT_EQ(upstream_->sent().size(), 1u);
  EXPECT_EQ(upstream_->sent()[0].content(), "hi");
  ws.write(
      net::buffer(std::string(R"({"type":"send","channel_id":"42","author_id":"7","nonce":"9"})")));
  EXPECT_NE(read().find(R"("code":"INVALID_ARGUMENT")"), std::string::npos);
  ws.write(net::buffer(std::string(R"({"type":"unsubscribe","channel_id":"42"})")));
  EXPECT_NE(read().find(R"("type":"unsubscribed","channel_id":"42","code":"OK")"),
            std::string::npos);
  ws.close(boost::beast::websocket::close_code::normal);
}

// WSS: the HTTPS server hands the session its TLS stream; a Beast client
// over ssl::stream (verifying the test CA's certificate) subscribes, receives
// a message and sends one.
TEST_F(LiveHandlerTest, WebSocketOverTlsSubscribesAndReceives) {
  http::testing::TestCerts certs;
  const http::testing::TestCerts::Pair pair = certs.Issue("gateway");
  auto tls = http::TlsCredentials::Load({.cert_file = pair.cert, .key_file = pair.key});
  ASSERT_TRUE(tls.ok()) << tls.status();
  Start({}, *tls);
  auto ctx = http::MakeClientTlsContext(certs.ca_cert());
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  net::io_context ioc;
  boost::beast::websocket::stream<net::ssl::stream<net::ip::tcp::socket>> ws(ioc, **ctx);
  boost::beast::get_lowest_layer(ws).connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
  SSL_set_tlsext_host_name(ws.next_layer().native_handle(), "localhost");
  ws.next_layer().set_verify_callback(net::ssl::host_name_verification("localhost"));
  ws.next_layer().handshake(net::ssl::stream_base::client);
  ws.handshake("localhost", "/v1/ws");
  auto read = [&] {
    boost::beast::flat_buffer b;
    ws.read(b);
    return boost::beast::buffers_to_string(b.data());
  };
  ws.text(true);
  ws.write(net::buffer(std::string(R"({"type":"subscribe","channel_id":"42"})")));
  auto s = LiveUpstream(0, 5);
  EXPECT_EQ(read(),
            absl::StrCat(R"({"type":"subscribed","channel_id":"42","position":")", Id(5), "\"}"));
  s->events.on_message(Msg(42, 6), false);
  std::string m = read();
  EXPECT_NE(m.find(absl::StrCat(R"("type":"message","channel_id":"42","position":")", Id(6))),
            std::string::npos)
      << m;
  EXPECT_NE(m.find(R"("content":"xxxxxxxx")"), std::string::npos) << m;
  ws.write(net::buffer(std::string(
      R"({"type":"send","channel_id":"42","author_id":"7","content":"tls","nonce":"3","request_id":"r"})")));
  EXPECT_NE(read().find(R"("type":"sent","request_id":"r")"), std::string::npos);
  ASSERT_EQ(upstream_->sent().size(), 1u);
  EXPECT_EQ(upstream_->sent()[0].content(), "tls");
  ws.close(boost::beast::websocket::close_code::normal);
  // The session ends and gives its stream back.
  EXPECT_TRUE(Eventually([&] { return handler_->streams() == 0; }));
}

}  // namespace
}  // namespace ds::live
