// Microbenchmarks of the gateway's read path, counting heap allocations
// (every operator new in the process, all threads) per request:
//
//   BM_Encode/once        the JSON of a 50-message page, serialised directly
//   BM_Encode/dom         the same with a boost::json DOM (what the gateway did
//                         before, per response)
//   BM_HotRead/inline     HTTP GET through ApiHandler on ds::http::Server, the
//                         backend answering inline: every request is its own
//                         flight (leader, one encoding each)
//   BM_HotRead/coalesced  the same with the backend answering ~1 ms later, so
//                         identical reads in flight share a flight (the hot
//                         channel of scripts/bench gateway)
//
// The client is raw blocking sockets with reused buffers (no allocations of
// its own); 32 connections, 16 pipelined requests each per round.
//
// Run: build/dev/bin/gateway_benchmark (scripts/bench gateway-alloc).
#include <benchmark/benchmark.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "gateway/api_handler.h"
#include "gateway/json_codec.h"
#include "http/server.h"

namespace {

std::atomic<uint64_t> g_allocations{0};

}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace ds::gateway {
namespace {

using dataservice::v1::GetMessagesResponse;

GetMessagesResponse Page() {
  GetMessagesResponse page;
  for (int i = 0; i < 50; ++i) {
    dataservice::v1::Message* m = page.add_messages();
    m->set_channel_id(1);
    m->set_message_id(1'000'000'000'000 + static_cast<uint64_t>(i));
    m->set_author_id(42 + static_cast<uint64_t>(i));
    m->set_content(std::string(80, 'a' + static_cast<char>(i % 26)));
    m->set_created_at_ms(1'700'000'000'000 + i);
  }
  return page;
}

std::string EncodeWithDom(const GetMessagesResponse& page) {
  namespace json = boost::json;
  json::array messages;
  for (const auto& m : page.messages()) {
    json::object o;
    o["channel_id"] = std::to_string(m.channel_id());
    o["message_id"] = std::to_string(m.message_id());
    o["author_id"] = std::to_string(m.author_id());
    o["content"] = m.content();
    o["created_at_ms"] = m.created_at_ms();
    messages.push_back(std::move(o));
  }
  json::object root;
  root["messages"] = std::move(messages);
  return json::serialize(root);
}

void BM_Encode(benchmark::State& state) {
  const GetMessagesResponse page = Page();
  const bool dom = state.range(0) == 1;
  size_t bytes = 0;
  const uint64_t before = g_allocations.load();
  for (auto _ : state) {
    std::string body = dom ? EncodeWithDom(page) : EncodeGetMessagesResponse(page);
    bytes = body.size();
    benchmark::DoNotOptimize(body);
  }
  state.counters["allocs_per_encoding"] =
      static_cast<double>(g_allocations.load() - before) / static_cast<double>(state.iterations());
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetLabel(dom ? "dom" : "once");
}
BENCHMARK(BM_Encode)->Arg(0)->Arg(1);

// Answers GetMessages with a copy of one page: inline, or from its own thread
// about every millisecond (everything that arrived meanwhile at once).
class BenchBackend : public MessageBackend {
 public:
  explicit BenchBackend(bool delayed) : page_(Page()), delayed_(delayed) {
    if (delayed_) thread_ = std::thread([this] { Loop(); });
  }
  ~BenchBackend() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  void GetMessages(const dataservice::v1::GetMessagesRequest&, absl::Time, const BackendCall&,
                   BackendCallback<GetMessagesResponse> done) override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    if (!delayed_) return done(grpc::Status::OK, page_, BackendInfo{});
    std::lock_guard<std::mutex> lock(mu_);
    waiting_.push_back(std::move(done));
  }
  void GetMessage(const dataservice::v1::GetMessageRequest&, absl::Time, const BackendCall&,
                  BackendCallback<dataservice::v1::GetMessageResponse> done) override {
    done(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, ""), {}, BackendInfo{});
  }
  void SendMessage(const dataservice::v1::SendMessageRequest&, absl::Time, const BackendCall&,
                   BackendCallback<dataservice::v1::SendMessageResponse> done) override {
    done(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, ""), {}, BackendInfo{});
  }
  bool Healthy() const override { return true; }
  uint64_t calls() const { return calls_.load(); }

 private:
  void Loop() {
    std::vector<BackendCallback<GetMessagesResponse>> batch;
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) return;
        batch.swap(waiting_);
      }
      for (auto& done : batch) done(grpc::Status::OK, page_, BackendInfo{});
      batch.clear();
    }
  }

  const GetMessagesResponse page_;
  const bool delayed_;
  std::atomic<uint64_t> calls_{0};
  std::mutex mu_;
  std::vector<BackendCallback<GetMessagesResponse>> waiting_;
  bool stop_ = false;
  std::thread thread_;
};

// Blocking client connection: sends `n` pipelined GETs, reads `n` answers.
class Client {
 public:
  Client(boost::asio::io_context& ioc, uint16_t port) : socket_(ioc) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    socket_.set_option(boost::asio::ip::tcp::no_delay(true));
    in_.resize(1 << 20);
    out_.reserve(4096);
  }
  void Send(int n) {
    out_.clear();
    for (int i = 0; i < n; ++i) out_.append(kRequest);
    boost::asio::write(socket_, boost::asio::buffer(out_));
  }
  // Reads until `n` complete answers arrived; returns how many were 200.
  int Receive(int n) {
    int ok = 0;
    size_t have = 0, pos = 0;
    while (n > 0) {
      const std::string_view data(in_.data() + pos, have - pos);
      const size_t head_end = data.find("\r\n\r\n");
      if (head_end != std::string_view::npos) {
        const size_t cl = data.find("Content-Length: ");
        const size_t length = std::strtoul(data.data() + cl + 16, nullptr, 10);
        if (data.size() >= head_end + 4 + length) {
          if (data.substr(9, 3) == "200") ++ok;
          pos += head_end + 4 + length;
          --n;
          continue;
        }
      }
      if (pos > 0) {  // keep the partial answer at the start
        std::memmove(in_.data(), in_.data() + pos, have - pos);
        have -= pos;
        pos = 0;
      }
      have += socket_.read_some(boost::asio::buffer(in_.data() + have, in_.size() - have));
    }
    return ok;
  }

 private:
  static constexpr std::string_view kRequest =
      "GET /v1/channels/1/messages?limit=50 HTTP/1.1\r\nHost: bench\r\n\r\n";
  boost::asio::ip::tcp::socket socket_;
  std::string in_;
  std::string out_;
};

void BM_HotRead(benchmark::State& state) {
  const bool delayed = state.range(0) == 1;
  constexpr int kConnections = 32, kPipelined = 16;
  auto backend = std::make_shared<BenchBackend>(delayed);
  auto handler = std::make_shared<ApiHandler>(ApiHandlerOptions{}, backend,
                                              std::make_shared<prometheus::Registry>(), nullptr);
  auto server =
      http::Server::Start({.io_threads = 2, .max_pipelined_requests = kPipelined}, handler);
  if (!server.ok()) return state.SkipWithError("server did not start");
  boost::asio::io_context ioc;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<Client>(ioc, (*server)->port()));
  }
  auto round = [&] {
    int ok = 0;
    for (auto& c : clients) c->Send(kPipelined);
    for (auto& c : clients) ok += c->Receive(kPipelined);
    return ok;
  };
  for (int i = 0; i < 20; ++i) round();  // warm-up: buffers and pools reach their size
  const uint64_t allocs_before = g_allocations.load();
  const uint64_t calls_before = backend->calls();
  int64_t requests = 0, ok = 0;
  for (auto _ : state) {
    ok += round();
    requests += kConnections * kPipelined;
  }
  const double n = static_cast<double>(requests);
  state.counters["allocs_per_request"] =
      static_cast<double>(g_allocations.load() - allocs_before) / n;
  state.counters["upstream_calls_per_request"] =
      static_cast<double>(backend->calls() - calls_before) / n;
  state.counters["ok_fraction"] = static_cast<double>(ok) / n;
  state.SetItemsProcessed(requests);
  state.SetLabel(delayed ? "coalesced" : "inline");
  clients.clear();
  (*server)->Shutdown(absl::Seconds(1));
}
BENCHMARK(BM_HotRead)->Arg(0)->Arg(1)->UseRealTime()->MinTime(1.0);

}  // namespace
}  // namespace ds::gateway

BENCHMARK_MAIN();
