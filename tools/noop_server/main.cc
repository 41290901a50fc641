// ds-noop-server: the framework ceiling for benchmarks. Serves
// dataservice.v1.MessageService with the same gRPC callback API, raw methods
// and health service as ds-node, but answers every read with one canned,
// pre-encoded response (no validation, no coalescer, no store). A benchmark
// that drives it and ds-node with the same client, in the same run, measures
// what our node costs on top of gRPC itself.
#include <signal.h>

#include <fstream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <grpc/slice.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "common/port_file.h"
#include "common/snowflake.h"
#include "dataservice/v1/messages.grpc.pb.h"

namespace {

namespace v1 = ::dataservice::v1;

grpc::Slice EncodeOnce(const google::protobuf::Message& m) {
  const size_t size = m.ByteSizeLong();
  grpc_slice s = grpc_slice_malloc(size);
  m.SerializeWithCachedSizesToArray(GRPC_SLICE_START_PTR(s));
  return grpc::Slice(s, grpc::Slice::STEAL_REF);
}

using Base = v1::MessageService::WithRawCallbackMethod_GetMessages<
    v1::MessageService::WithRawCallbackMethod_GetMessage<
        v1::MessageService::WithRawCallbackMethod_SendMessage<v1::MessageService::Service>>>;

class NoopService final : public Base {
 public:
  NoopService(int messages, int content_bytes) {
    v1::GetMessagesResponse page;
    const uint64_t base = ds::SnowflakeFloor(1700000000000);
    for (int i = 0; i < messages; ++i) {
      v1::Message* m = page.add_messages();
      m->set_channel_id(1);
      m->set_message_id(base + static_cast<uint64_t>(messages - i));
      m->set_author_id(7);
      m->set_content(std::string(static_cast<size_t>(content_bytes), 'x'));
      m->set_created_at_ms(1700000000000);
    }
    page_ = EncodeOnce(page);
    v1::GetMessageResponse one;
    if (messages > 0) *one.mutable_message() = page.messages(0);
    one_ = EncodeOnce(one);
    v1::SendMessageResponse sent;
    *sent.mutable_message() = one.message();
    sent_ = EncodeOnce(sent);
  }

  grpc::ServerUnaryReactor* GetMessages(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer*,
                                        grpc::ByteBuffer* resp) override {
    return Reply(ctx, resp, page_);
  }
  grpc::ServerUnaryReactor* GetMessage(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer*,
                                       grpc::ByteBuffer* resp) override {
    return Reply(ctx, resp, one_);
  }
  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer*,
                                        grpc::ByteBuffer* resp) override {
    return Reply(ctx, resp, sent_);
  }

 private:
  static grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, grpc::ByteBuffer* resp,
                                         const grpc::Slice& bytes) {
    *resp = grpc::ByteBuffer(&bytes, 1);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::Slice page_, one_, sent_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", port_file;
  int messages = 50, content_bytes = 64;
  CLI::App app{"ds-noop-server: canned-response dataservice.v1 server, the benchmark ceiling"};
  app.add_option("--listen", listen, "host:port (port 0 picks one)")->capture_default_str();
  app.add_option("--port-file", port_file, "write the bound port here once serving");
  app.add_option("--messages", messages, "messages in each GetMessages response")
      ->check(CLI::Range(0, 100))->capture_default_str();
  app.add_option("--content-bytes", content_bytes, "bytes of content per message")
      ->check(CLI::Range(0, 4000))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  grpc::EnableDefaultHealthCheckService(true);
  NoopService service(messages, content_bytes);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    fprintf(stderr, "ds-noop-server: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  fprintf(stderr, "ds-noop-server listening on port %d\n", port);
  if (!port_file.empty()) {
    if (!ds::WritePortFile(port_file, port, 0)) {
      fprintf(stderr, "ds-noop-server: cannot write %s\n", port_file.c_str());
      return 1;
    }
  }
  int sig = 0;
  sigwait(&signals, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
