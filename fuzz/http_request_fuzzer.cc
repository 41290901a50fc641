// libFuzzer target: the gateway's whole HTTP request path — bytes on a real
// loopback connection to a real ds::gateway::Gateway (HTTP parsing, routing,
// path/query/header validation, JSON body decoding, status mapping, JSON
// encoding), over a backend that answers at once.
//
// Each input is written on a fresh connection, whose sending side is then
// closed; the target reads until the server closes (or 2 s pass). Checks,
// beyond "no crash, no sanitizer report in the server's threads": whatever
// comes back starts like an HTTP/1.x response (the server answers an HTTP/1.0
// request in HTTP/1.0).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "gateway/gateway.h"
#include "gateway/message_backend.h"
#include "prometheus/registry.h"

namespace {

namespace v1 = ::dataservice::v1;

// Answers every call at once, echoing the request's ids (and an error status
// for some channels, so the error mapping is reached too).
class EchoBackend final : public ds::gateway::MessageBackend {
 public:
  void GetMessages(const v1::GetMessagesRequest& req, absl::Time, const ds::gateway::BackendCall&,
                   ds::gateway::BackendCallback<v1::GetMessagesResponse> done) override {
    v1::GetMessagesResponse resp;
    auto* m = resp.add_messages();
    m->set_channel_id(req.channel_id());
    m->set_message_id(req.before() + 1);
    m->set_content("fuzz \"quoted\" \xc3\xa9");
    done(StatusFor(req.channel_id()), std::move(resp), ds::gateway::BackendInfo{.node = "fuzz"});
  }
  void GetMessage(const v1::GetMessageRequest& req, absl::Time, const ds::gateway::BackendCall&,
                  ds::gateway::BackendCallback<v1::GetMessageResponse> done) override {
    v1::GetMessageResponse resp;
    resp.mutable_message()->set_channel_id(req.channel_id());
    resp.mutable_message()->set_message_id(req.message_id());
    done(StatusFor(req.channel_id()), std::move(resp), ds::gateway::BackendInfo{.node = "fuzz"});
  }
  void SendMessage(const v1::SendMessageRequest& req, absl::Time, const ds::gateway::BackendCall&,
                   ds::gateway::BackendCallback<v1::SendMessageResponse> done) override {
    v1::SendMessageResponse resp;
    *resp.mutable_message()->mutable_content() = req.content();
    resp.mutable_message()->set_channel_id(req.channel_id());
    done(StatusFor(req.channel_id()), std::move(resp), ds::gateway::BackendInfo{.node = "fuzz"});
  }
  bool Healthy() const override { return true; }

 private:
  static grpc::Status StatusFor(uint64_t channel) {
    return channel % 7 == 3 ? grpc::Status(static_cast<grpc::StatusCode>(channel % 17), "fuzz")
                            : grpc::Status::OK;
  }
};

uint16_t GatewayPort() {
  static const uint16_t port = [] {
    ds::gateway::GatewayOptions options;
    options.http.port = 0;
    auto gateway = ds::gateway::Gateway::Start(options, std::make_shared<EchoBackend>(),
                                               std::make_shared<prometheus::Registry>());
    if (!gateway.ok()) std::abort();
    // Lives for the whole fuzzing process.
    ds::gateway::Gateway* leaked = gateway->release();
    return leaked->port();
  }();
  return port;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint16_t port = GatewayPort();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) std::abort();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // libFuzzer's -timeout arms SIGALRM without SA_RESTART: a connect it
  // interrupts goes on in the background (EINTR, then EALREADY/EISCONN).
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  for (int i = 0; rc != 0 && (errno == EINTR || errno == EALREADY) && i < 100; ++i) {
    pollfd w{fd, POLLOUT, 0};
    poll(&w, 1, 100);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (rc != 0 && errno == EISCONN) rc = 0;
  }
  if (rc != 0) {
    std::fprintf(stderr, "connect to the gateway: %s\n", std::strerror(errno));
    std::abort();
  }
  for (size_t sent = 0; sent < size;) {
    const ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server closed early (e.g. after a 400): fine
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string reply;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    const int ready = poll(&p, 1, 2000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (!reply.empty() && reply.rfind("HTTP/1.1 ", 0) != 0 && reply.rfind("HTTP/1.0 ", 0) != 0) {
    std::abort();
  }
  return 0;
}
