#include "node/node.h"

#include <grpcpp/alarm.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace ds::node {

namespace {
// Runs `fn` on one of gRPC's callback threads by way of an alarm that is due
// now. A flight's fan-out finishes many calls; gRPC finishes them far more
// cheaply from its own threads (where the completions batch) than from the
// store thread that completed the query. The alarm deletes itself after `fn`.
void RunOnGrpcThread(std::function<void()> fn) {
  auto* alarm = new grpc::Alarm();
  alarm->Set(gpr_now(GPR_CLOCK_MONOTONIC), [alarm, fn = std::move(fn)](bool) {
    fn();  // runs whether or not the alarm fired normally: every waiter must be answered
    delete alarm;
  });
}
}  // namespace

absl::StatusOr<std::unique_ptr<DataServiceNode>> DataServiceNode::Start(
    NodeOptions options, storage::MessageStore* store,
    std::shared_ptr<prometheus::Registry> registry) {
  static const bool kOnce = [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    return true;
  }();
  (void)kOnce;

  std::unique_ptr<DataServiceNode> node(new DataServiceNode());
  node->timer_ = std::make_unique<coalescer::ThreadTimer>();
  node->metrics_ = std::make_unique<NodeMetrics>(std::move(registry));
  node->coalescer_ = std::make_unique<ReadCoalescer>(
      options.coalescer, node->timer_.get(), node->metrics_.get(),
      options.fan_out_on_grpc_threads ? coalescer::FanOutExecutor(RunOnGrpcThread) : nullptr);
  node->services_ = std::make_unique<MessageServices>(store, node->coalescer_.get(),
                                                      node->metrics_.get(), options.service);

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  ApplyServerTuning(options.server_tuning, &builder);
  builder.RegisterService(node->services_->v1());
  builder.RegisterService(node->services_->reference());
  const int threads = options.server_threads > 0
                          ? options.server_threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  node->cq_server_ = std::make_unique<CqServer>(&builder, CqServerOptions{.threads = threads});
  node->services_->AddMethods(node->cq_server_.get());
  node->server_ = builder.BuildAndStart();
  if (!node->server_ || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address));
  }
  node->cq_server_->Start();
  node->port_ = port;
  node->host_ = options.listen_address.substr(0, options.listen_address.rfind(':'));
  node->SetServing(true);
  Logger("node")->info("listening on {}:{} coalescing={}", node->host_, port,
                       options.coalescer.enabled ? "on" : "off");
  return node;
}

std::string DataServiceNode::address() const { return absl::StrCat(host_, ":", port_); }

void DataServiceNode::SetServing(bool serving) {
  serving_ = serving;
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(serving);
  }
}

void DataServiceNode::Shutdown(absl::Duration drain) {
  if (shut_down_.exchange(true)) return;
  SetServing(false);
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(drain));
  server_->Wait();
  // Every call still open was cancelled at the drain deadline; its answer
  // (or CANCELLED) comes when its flight ends or it leaves it.
  cq_server_->Stop();
}

DataServiceNode::~DataServiceNode() {
  if (server_) Shutdown(absl::ZeroDuration());
}

}  // namespace ds::node
