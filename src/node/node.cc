#include "node/node.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace ds::node {

absl::StatusOr<std::unique_ptr<DataServiceNode>> DataServiceNode::Start(
    NodeOptions options, storage::MessageStore* store,
    std::shared_ptr<prometheus::Registry> registry) {
  static const bool kOnce = [] {
    // The node serves grpc.health.v1 itself (HealthService): gRPC's default
    // one is a callback service whose threads would poll beside ours.
    grpc::EnableDefaultHealthCheckService(false);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    return true;
  }();
  (void)kOnce;

  std::unique_ptr<DataServiceNode> node(new DataServiceNode());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(
      options.listen_address,
      options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials(),
      &port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  ApplyServerTuning(options.server_tuning, &builder);
  const int threads = options.server_threads > 0
                          ? options.server_threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

  node->timer_ = std::make_unique<coalescer::ThreadTimer>();
  node->metrics_ = std::make_unique<NodeMetrics>(std::move(registry));
  node->health_ = std::make_unique<HealthService>(
      std::vector<std::string>{"dataservice.v1.MessageService", "messages.MessagesService"});
  node->cq_server_ = std::make_unique<CqServer>(&builder, CqServerOptions{.threads = threads});
  node->coalescer_ =
      std::make_unique<ReadCoalescer>(options.coalescer, node->timer_.get(), node->metrics_.get());
  node->services_ = std::make_unique<MessageServices>(
      store, node->coalescer_.get(), node->metrics_.get(), options.service,
      options.fan_out_on_polling_thread ? node->cq_server_.get() : nullptr);

  builder.RegisterService(node->services_->v1());
  builder.RegisterService(node->services_->reference());
  builder.RegisterService(node->health_->service());
  node->services_->AddMethods(node->cq_server_.get());
  node->health_->AddMethods(node->cq_server_.get());
  // Beside the raw CQ methods: e.g. live's LiveService, a callback service
  // (its server-streaming Subscribe); gRPC then also runs its callback
  // threads for those methods.
  if (options.extra_services) options.extra_services(builder, *node->coalescer_);
  node->server_ = builder.BuildAndStart();
  if (!node->server_ || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address));
  }
  node->cq_server_->Start();
  node->port_ = port;
  node->host_ = options.listen_address.substr(0, options.listen_address.rfind(':'));
  node->SetServing(true);
  Logger("node")->info("listening on {}:{} coalescing={} server_threads={}", node->host_, port,
                       options.coalescer.enabled ? "on" : "off", threads);
  return node;
}

std::string DataServiceNode::address() const { return absl::StrCat(host_, ":", port_); }

void DataServiceNode::SetServing(bool serving) { health_->SetServing(serving); }

bool DataServiceNode::serving() const { return health_->serving(); }

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
