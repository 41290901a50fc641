// Long-lived responses on ds::http::Server: streams (Server-Sent Events style)
// and taken-over connections (WebSocket).
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "http/test_handler.h"
#include "testing/http_test_client.h"

namespace ds::http {
namespace {

namespace net = boost::asio;
using ::ds::http::testing::TestHandler;
using ::ds::testing::HttpTestClient;
using ::testing::HasSubstr;

class StreamingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = Server::Start({.io_threads = 2}, handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::shared_ptr<TestHandler> handler_ = std::make_shared<TestHandler>();
  std::unique_ptr<Server> server_;
};

TEST_F(StreamingTest, StreamGoesOutChunkedAndEndsWithClose) {
  HttpTestClient client(server_->port());
  client.SendRaw("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(handler_->WaitForStreams(1));
  auto record = handler_->stream(0);
  const std::string head = client.ReadUntil("\r\n\r\n");
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(head, HasSubstr("Transfer-Encoding: chunked\r\n"));
  EXPECT_THAT(head, HasSubstr("Content-Type: text/event-stream\r\n"));
  EXPECT_TRUE(record->stream->Write("data: one\n\n"));
  EXPECT_EQ(client.ReadUntil("data: one\n\n\r\n"), "b\r\ndata: one\n\n\r\n");
  std::thread writer([&] { EXPECT_TRUE(record->stream->Write("data: two\n\n")); });  // any thread
  writer.join();
  EXPECT_THAT(client.ReadUntil("data: two\n\n\r\n"), HasSubstr("data: two"));
  record->stream->Close();
  EXPECT_EQ(client.ReadUntil("0\r\n\r\n"), "0\r\n\r\n");
  ASSERT_TRUE(handler_->WaitFor([&] { return record->closed.has_value(); }));
  EXPECT_TRUE(record->closed->ok());
  EXPECT_FALSE(record->written.empty());  // completions were reported
  EXPECT_FALSE(record->stream->Write("late"));
  // The connection is reusable after the stream ended.
  client.SendRaw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_THAT(client.ReadUntil("POST ok"), HasSubstr("Content-Length: 7"));
}

TEST_F(StreamingTest, APipelinedRequestIsAnsweredAfterTheStreamBeforeIt) {
  HttpTestClient client(server_->port());
  client.SendRaw("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(handler_->WaitForStreams(1));
  auto record = handler_->stream(0);
  record->stream->Write("data: x\n\n");
  record->stream->Close();
  const std::string all = client.ReadUntil("GET ");
  EXPECT_LT(all.find("data: x"), all.find("0\r\n\r\n"));
  EXPECT_LT(all.find("0\r\n\r\n"),
            all.find("HTTP/1.1 200 OK\r\nServer: ds\r\nContent-Type: text/plain"));
}

TEST_F(StreamingTest, ASlowClientFillsTheQueueAndWriteSaysSo) {
  HttpTestClient client(server_->port(), {.receive_buffer = 4096});
  client.SendRaw("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(handler_->WaitForStreams(1));
  auto record = handler_->stream(0);
  // The client reads nothing: socket buffers fill, then the 64 KiB queue.
  const std::string piece(16 * 1024, 'x');
  size_t accepted = 0;
  for (int i = 0; i < 10'000 && record->stream->Write(piece); ++i) accepted += piece.size();
  EXPECT_LT(accepted, 10'000u * piece.size());  // Write said "full" at some point
  EXPECT_GT(record->stream->queued_bytes(), 0u);
  // Once the client reads, completions report the queue emptying, and
  // writes are accepted again.
  client.ReadBytes(accepted);
  EXPECT_TRUE(
      handler_->WaitFor([&] { return !record->written.empty() && record->written.back() == 0; }));
  EXPECT_TRUE(record->stream->Write(piece));
}

TEST_F(StreamingTest, AClientThatGoesAwayEndsTheStreamCancelled) {
  {
    HttpTestClient client(server_->port());
    client.SendRaw("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(handler_->WaitForStreams(1));
    client.ReadUntil("\r\n\r\n");
  }
  auto record = handler_->stream(0);
  ASSERT_TRUE(handler_->WaitFor([&] { return record->closed.has_value(); }));
  EXPECT_EQ(record->closed->code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(record->stream->Write("nobody listens"));
}

TEST_F(StreamingTest, DrainTellsTheStreamWhichFinishesWithinTheGrace) {
  HttpTestClient client(server_->port());
  client.SendRaw("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(handler_->WaitForStreams(1));
  client.ReadUntil("\r\n\r\n");
  server_->Shutdown(absl::Seconds(10));  // the handler's on_drain closes the stream
  auto record = handler_->stream(0);
  EXPECT_TRUE(record->drained);
  ASSERT_TRUE(record->closed.has_value());
  EXPECT_TRUE(record->closed->ok());
  const std::string rest = client.ReadUntil("0\r\n\r\n");
  EXPECT_THAT(rest, HasSubstr("event: bye"));
}

TEST_F(StreamingTest, WebSocketUpgradeTakesTheSocketOver) {
  namespace websocket = boost::beast::websocket;
  net::io_context ioc;
  websocket::stream<net::ip::tcp::socket> ws(ioc);
  ws.next_layer().connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
  ws.handshake("127.0.0.1", "/ws");
  ws.write(net::buffer(std::string("hello")));
  boost::beast::flat_buffer buffer;
  ws.read(buffer);
  EXPECT_EQ(boost::beast::buffers_to_string(buffer.data()), "hello");
  EXPECT_EQ(server_->connections(), 1);  // the lease counts it
  // Shutdown tells the taken-over connection (a close frame here).
  std::thread stopper([&] { server_->Shutdown(absl::Seconds(10)); });
  boost::beast::error_code ec;
  buffer.clear();
  ws.read(buffer, ec);
  EXPECT_EQ(ec, websocket::error::closed);
  stopper.join();
  EXPECT_EQ(server_->connections(), 0);
}

}  // namespace
}  // namespace ds::http
