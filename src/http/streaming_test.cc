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

namespace ds::http {
namespace {

namespace net = boost::asio;
using ::ds::http::testing::TestHandler;
using ::testing::HasSubstr;

// A raw client: sends bytes, reads until a substring shows up (10 s at most).
class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(ioc_) {
    socket_.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  void Send(std::string_view bytes) {
    net::write(socket_, net::buffer(bytes.data(), bytes.size()));
  }
  // Everything received up to and including `needle` (or all received when
  // the peer closed or 10 s passed).
  std::string ReadUntil(std::string_view needle) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (received_.find(needle) == std::string::npos && !closed_ &&
           std::chrono::steady_clock::now() < deadline) {
      ReadSome(deadline);
    }
    const size_t at = received_.find(needle);
    const size_t end = at == std::string::npos ? received_.size() : at + needle.size();
    std::string out = received_.substr(0, end);
    received_.erase(0, end);
    return out;
  }
  // Reads until at least `n` bytes arrived in total (10 s at most).
  void ReadBytes(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (received_.size() < n && !closed_ && std::chrono::steady_clock::now() < deadline) {
      ReadSome(deadline);
    }
  }
  bool closed() const { return closed_; }
  void Close() { socket_.close(); }
  // Makes the receive window tiny so that the server's writes back up.
  void ShrinkReceiveBuffer() { socket_.set_option(net::socket_base::receive_buffer_size(4096)); }

 private:
  void ReadSome(std::chrono::steady_clock::time_point deadline) {
    char chunk[8192];
    socket_.async_read_some(net::buffer(chunk), [&](boost::system::error_code ec, size_t n) {
      received_.append(chunk, n);
      if (ec) closed_ = true;
    });
    ioc_.restart();
    ioc_.run_until(deadline);
    if (!ioc_.stopped()) {
      socket_.cancel();
      ioc_.restart();
      ioc_.run();
    }
  }

  net::io_context ioc_;
  net::ip::tcp::socket socket_;
  std::string received_;
  bool closed_ = false;
};

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
  RawClient client(server_->port());
  client.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
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
  client.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_THAT(client.ReadUntil("POST ok"), HasSubstr("Content-Length: 7"));
}

TEST_F(StreamingTest, APipelinedRequestIsAnsweredAfterTheStreamBeforeIt) {
  RawClient client(server_->port());
  client.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
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
  RawClient client(server_->port());
  client.ShrinkReceiveBuffer();
  client.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
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
    RawClient client(server_->port());
    client.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(handler_->WaitForStreams(1));
    client.ReadUntil("\r\n\r\n");
  }
  auto record = handler_->stream(0);
  ASSERT_TRUE(handler_->WaitFor([&] { return record->closed.has_value(); }));
  EXPECT_EQ(record->closed->code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(record->stream->Write("nobody listens"));
}

TEST_F(StreamingTest, DrainTellsTheStreamWhichFinishesWithinTheGrace) {
  RawClient client(server_->port());
  client.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
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
