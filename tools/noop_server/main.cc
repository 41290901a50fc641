// ds-noop-server: the framework ceiling for benchmarks. Serves
// dataservice.v1.MessageService and the reference messages.MessagesService
// with the same raw gRPC methods, server model and process tuning as ds-node,
// but answers every call with one canned, pre-encoded response (no
// validation, no coalescer, no store). A benchmark that drives it and ds-node
// with the same client, in the same run, measures what our node costs on top
// of gRPC itself; `--model` and the tuning flags measure the floors of the
// alternative server models (docs/architecture.md, "Server model").
#include <grpc/slice.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cmd/common/signals.h"
#include "common/port_file.h"
#include "common/snowflake.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "messages/messages.grpc.pb.h"
#include "node/cq_server.h"
#include "node/health_service.h"
#include "node/raw_methods.h"
#include "node/server_tuning.h"

namespace {

namespace v1 = ::dataservice::v1;

grpc::Slice EncodeOnce(const google::protobuf::Message& m) {
  const size_t size = m.ByteSizeLong();
  grpc_slice s = grpc_slice_malloc(size);
  m.SerializeWithCachedSizesToArray(GRPC_SLICE_START_PTR(s));
  return grpc::Slice(s, grpc::Slice::STEAL_REF);
}

// The canned responses.
struct Canned {
  grpc::Slice page, one, sent, ref_one, ref_metrics;

  Canned(int messages, int content_bytes) {
    v1::GetMessagesResponse p;
    const uint64_t base = ds::SnowflakeFloor(1700000000000);
    for (int i = 0; i < messages; ++i) {
      v1::Message* m = p.add_messages();
      m->set_channel_id(1);
      m->set_message_id(base + static_cast<uint64_t>(messages - i));
      m->set_author_id(7);
      m->set_content(std::string(static_cast<size_t>(content_bytes), 'x'));
      m->set_created_at_ms(1700000000000);
    }
    page = EncodeOnce(p);
    v1::GetMessageResponse o;
    if (messages > 0) *o.mutable_message() = p.messages(0);
    one = EncodeOnce(o);
    v1::SendMessageResponse s;
    *s.mutable_message() = o.message();
    sent = EncodeOnce(s);
    messages::MessageReply r;
    r.set_channel_id(1);
    r.set_message_id(static_cast<int64_t>(base));
    r.set_author_id(7);
    r.set_content(std::string(static_cast<size_t>(content_bytes), 'x'));
    ref_one = EncodeOnce(r);
    ref_metrics = EncodeOnce(messages::MetricsReply());
  }
};

// ---- callback model ---------------------------------------------------------

using CallbackV1 = v1::MessageService::WithRawCallbackMethod_GetMessages<
    v1::MessageService::WithRawCallbackMethod_GetMessage<
        v1::MessageService::WithRawCallbackMethod_SendMessage<v1::MessageService::Service>>>;
using CallbackRef = messages::MessagesService::WithRawCallbackMethod_getMessage<
    messages::MessagesService::WithRawCallbackMethod_getAndResetMetrics<
        messages::MessagesService::Service>>;

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, grpc::ByteBuffer* resp,
                                const grpc::Slice& bytes) {
  *resp = grpc::ByteBuffer(&bytes, 1);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

class NoopCallbackV1 final : public CallbackV1 {
 public:
  explicit NoopCallbackV1(const Canned* c) : c_(c) {}
  grpc::ServerUnaryReactor* GetMessages(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer*,
                                        grpc::ByteBuffer* resp) override {
    return Reply(ctx, resp, c_->page);
  }
  grpc::ServerUnaryReactor* GetMessage(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer*,
                                       grpc::ByteBuffer* resp) override {
    return Reply(ctx, resp, c_->one);
  }
  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer*,
                                        grpc::ByteBuffer* resp) override {
    return Reply(ctx, resp, c_->sent);
  }

 private:
  const Canned* c_;
};

class NoopCallbackRef final : public CallbackRef {
 public:
  explicit NoopCallbackRef(const Canned* c) : c_(c) {}
  grpc::ServerUnaryReactor* getMessage(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer*,
                                       grpc::ByteBuffer* resp) override {
    return Reply(ctx, resp, c_->ref_one);
  }
  grpc::ServerUnaryReactor* getAndResetMetrics(grpc::CallbackServerContext* ctx,
                                               const grpc::ByteBuffer*,
                                               grpc::ByteBuffer* resp) override {
    return Reply(ctx, resp, c_->ref_metrics);
  }

 private:
  const Canned* c_;
};

// ---- completion-queue model -------------------------------------------------

void AddCannedMethods(ds::node::CqServer* cq, ds::node::RawV1Service* v1s,
                      ds::node::RawReferenceService* ref, const Canned* c) {
  auto answer = [](const grpc::Slice& bytes) {
    return [&bytes](ds::node::UnaryCall* call) {
      call->Finish(grpc::ByteBuffer(&bytes, 1), grpc::Status::OK);
    };
  };
  ds::node::AddRawMethods(cq, v1s, ref,
                          {.get_messages = answer(c->page),
                           .get_message = answer(c->one),
                           .send_message = answer(c->sent),
                           .reference_get_message = answer(c->ref_one),
                           .reference_get_and_reset_metrics = answer(c->ref_metrics)});
}

struct Flags {
  std::string listen = "127.0.0.1:0";
  std::string port_file;
  int messages = 50;
  int content_bytes = 64;
  std::string model = "cq";
  int threads = 0;
  bool deadlock_detection = false;
  bool keep_freed_memory = true;
  int max_concurrent_streams = 0;
  bool default_health = false;
  bool reflection = false;
};

void AddFlags(CLI::App* app, Flags* f) {
  app->add_option("--listen", f->listen, "host:port (port 0 picks one)")->capture_default_str();
  app->add_option("--port-file", f->port_file, "write the bound port here once serving");
  app->add_option("--messages", f->messages, "messages in each GetMessages response")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  app->add_option("--content-bytes", f->content_bytes, "bytes of content per message")
      ->check(CLI::Range(0, 4000))
      ->capture_default_str();
  app->add_option("--server-model", f->model,
                  "gRPC server model: cq (completion queues, handlers inline on the polling "
                  "threads; ds-node's) or callback (gRPC's callback API)")
      ->check(CLI::IsMember({"cq", "callback"}))
      ->capture_default_str();
  app->add_option("--server-threads", f->threads,
                  "cq model: completion queues, one polling thread each (0 = one per core)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app->add_option("--mutex-deadlock-detection", f->deadlock_detection,
                  "Abseil's mutex deadlock detection (on in Debian's build unless switched off)")
      ->capture_default_str();
  app->add_option("--keep-freed-memory", f->keep_freed_memory,
                  "Keep freed memory in the allocator between bursts")
      ->capture_default_str();
  app->add_option("--max-concurrent-streams", f->max_concurrent_streams,
                  "HTTP/2 streams per connection (0 = gRPC's default)")
      ->capture_default_str();
  app->add_option("--default-health-service", f->default_health,
                  "gRPC's own grpc.health.v1 service (a callback service: its threads poll too); "
                  "otherwise the cq model serves ds-node's HealthService")
      ->capture_default_str();
  app->add_option("--reflection", f->reflection,
                  "gRPC server reflection (a sync service: its threads poll too)")
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{
      "ds-noop-server: canned-response gRPC server with ds-node's API, the benchmark "
      "ceiling"};
  AddFlags(&app, &f);
  CLI11_PARSE(app, argc, argv);

  const sigset_t signals = ds::BlockSignals({SIGTERM, SIGINT});
  ds::node::ApplyProcessTuning(
      {.mutex_deadlock_detection = f.deadlock_detection, .keep_freed_memory = f.keep_freed_memory});

  grpc::EnableDefaultHealthCheckService(f.default_health || f.model == "callback");
  if (f.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const Canned canned(f.messages, f.content_bytes);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(f.listen, grpc::InsecureServerCredentials(), &port);
  ds::node::ApplyServerTuning({.max_concurrent_streams_per_connection = f.max_concurrent_streams},
                              &builder);
  std::unique_ptr<grpc::Service> v1s, ref;
  std::unique_ptr<ds::node::CqServer> cq;
  std::unique_ptr<ds::node::HealthService> health;
  if (f.model == "callback") {
    v1s = std::make_unique<NoopCallbackV1>(&canned);
    ref = std::make_unique<NoopCallbackRef>(&canned);
  } else {
    v1s = std::make_unique<ds::node::RawV1Service>();
    ref = std::make_unique<ds::node::RawReferenceService>();
    const int threads =
        f.threads > 0 ? f.threads : static_cast<int>(std::thread::hardware_concurrency());
    cq = std::make_unique<ds::node::CqServer>(&builder,
                                              ds::node::CqServerOptions{.threads = threads});
    AddCannedMethods(cq.get(), static_cast<ds::node::RawV1Service*>(v1s.get()),
                     static_cast<ds::node::RawReferenceService*>(ref.get()), &canned);
    if (!f.default_health) {
      health = std::make_unique<ds::node::HealthService>(std::vector<std::string>{});
      health->AddMethods(cq.get());
      health->SetServing(true);
      builder.RegisterService(health->service());
    }
  }
  builder.RegisterService(v1s.get());
  builder.RegisterService(ref.get());
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    fprintf(stderr, "ds-noop-server: cannot listen on %s\n", f.listen.c_str());
    return 1;
  }
  if (cq) cq->Start();
  fprintf(stderr, "ds-noop-server listening on port %d (%s model)\n", port, f.model.c_str());
  if (!f.port_file.empty() && !ds::WritePortFile(f.port_file, port, 0)) {
    fprintf(stderr, "ds-noop-server: cannot write %s\n", f.port_file.c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (cq) cq->Stop();
  server.reset();
  return 0;
}
