#include "routing/routed_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "routing/internal/client_core.h"
#include "routing/internal/routed_call.h"
#include "routing/membership.h"

namespace ds::routing {
namespace internal {
namespace {

std::shared_ptr<grpc::Channel> MakeChannel(
    const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  grpc::ChannelArguments args;
  // Without a local pool, channels with equal arguments share one subchannel
  // (one TCP connection) process-wide; channels_per_node asks for separate ones.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Reconnect quickly after a node restarts (default backoff grows to 120 s),
  // and fail a connection attempt after 1 s so that requests to an unreachable
  // node fail over instead of waiting in CONNECTING until their deadline.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(
      address, credentials != nullptr ? credentials : grpc::InsecureChannelCredentials(), args);
}

}  // namespace

// Set once by the deleter of RoutedClient::core_, when the last reference to
// the core is dropped (on any thread); ~RoutedClient waits for it.
// Thread-safe.
class CoreReleased {
 public:
  void Signal() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return released_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace internal

absl::StatusOr<std::unique_ptr<RoutedClient>> RoutedClient::Create(RoutedClientOptions options) {
  if (options.nodes.empty()) return absl::InvalidArgumentError("RoutedClient: no nodes given");
  {
    // Validates every address and rejects duplicates.
    absl::StatusOr<std::vector<std::string>> parsed =
        ParseNodeList(absl::StrJoin(options.nodes, ","));
    if (!parsed.ok()) return parsed.status();
    if (parsed->size() != options.nodes.size()) {
      return absl::InvalidArgumentError("RoutedClient: a node address contains a separator");
    }
  }
  if (options.health_interval <= absl::ZeroDuration() ||
      options.health_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "RoutedClient: health_interval and health_timeout must be > 0");
  }
  if (options.eject_after < 1 || options.readmit_after < 1) {
    return absl::InvalidArgumentError("RoutedClient: eject_after and readmit_after must be >= 1");
  }
  if (options.channels_per_node < 1 || options.channels_per_node > 64) {
    return absl::InvalidArgumentError("RoutedClient: channels_per_node must be 1..64");
  }
  const GrayFailureOptions& gray = options.gray;
  if (gray.hedge_quantile <= 0 || gray.hedge_quantile > 1 || gray.hedge_budget_ratio < 0 ||
      gray.hedge_burst < 0 || gray.attempt_timeout_multiplier < 0 || gray.min_samples < 1 ||
      gray.latency_generation < 1 || gray.stall_multiplier <= 0 ||
      gray.min_stall_after > gray.max_stall_after || gray.sweep_interval <= absl::ZeroDuration() ||
      gray.timer_resolution < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("RoutedClient: a gray-failure option is out of range");
  }
  std::vector<std::unique_ptr<internal::ClientCore::Node>> nodes;
  for (const std::string& address : options.nodes) {
    auto node = std::make_unique<internal::ClientCore::Node>();
    node->address = address;
    for (int c = 0; c < options.channels_per_node; ++c) {
      node->channels.push_back(internal::MakeChannel(address, options.credentials));
      node->stubs.push_back(dataservice::v1::MessageService::NewStub(node->channels.back()));
    }
    nodes.push_back(std::move(node));
  }
  auto owned = std::make_unique<internal::ClientCore>(std::move(options), std::move(nodes));
  owned->Start();
  return std::unique_ptr<RoutedClient>(
      new RoutedClient(std::move(owned), std::make_shared<internal::CoreReleased>()));
}

RoutedClient::RoutedClient(std::unique_ptr<internal::ClientCore> owned,
                           std::shared_ptr<internal::CoreReleased> released)
    : owned_(std::move(owned)),
      released_(released),
      core_(owned_.get(), [released](internal::ClientCore*) { released->Signal(); }) {}

RoutedClient::~RoutedClient() {
  core_->Shutdown();
  core_.reset();
  // In-flight calls hold the core until their callbacks have run.
  released_->Wait();
  owned_.reset();  // the channels go here, on this thread (see owned_)
}

std::shared_ptr<grpc::ChannelCredentials> RoutedClient::channel_credentials() const {
  const std::shared_ptr<grpc::ChannelCredentials>& c = core_->options().credentials;
  return c != nullptr ? c : grpc::InsecureChannelCredentials();
}

namespace {

template <typename Response>
RoutedCallback<Response> WithoutInfo(std::function<void(grpc::Status, Response)> done) {
  return [done = std::move(done)](grpc::Status status, Response response, CallInfo) {
    done(std::move(status), std::move(response));
  };
}

}  // namespace

void RoutedClient::GetMessages(const dataservice::v1::GetMessagesRequest& req, absl::Time deadline,
                               const CallOptions& options,
                               RoutedCallback<dataservice::v1::GetMessagesResponse> done) {
  using Req = dataservice::v1::GetMessagesRequest;
  using Resp = dataservice::v1::GetMessagesResponse;
  internal::RoutedCall<Req, Resp>::Start(
      core_,
      {.method =
           [](dataservice::v1::MessageService::Stub* stub, grpc::ClientContext* ctx, const Req* r,
              Resp* out, std::function<void(grpc::Status)> cb) {
             stub->async()->GetMessages(ctx, r, out, std::move(cb));
           },
       .kind = internal::CallKind::kRead,
       .idempotent = true,
       .channel_id = req.channel_id(),
       .deadline = deadline},
      req, options, std::move(done));
}

void RoutedClient::GetMessage(const dataservice::v1::GetMessageRequest& req, absl::Time deadline,
                              const CallOptions& options,
                              RoutedCallback<dataservice::v1::GetMessageResponse> done) {
  using Req = dataservice::v1::GetMessageRequest;
  using Resp = dataservice::v1::GetMessageResponse;
  internal::RoutedCall<Req, Resp>::Start(
      core_,
      {.method =
           [](dataservice::v1::MessageService::Stub* stub, grpc::ClientContext* ctx, const Req* r,
              Resp* out, std::function<void(grpc::Status)> cb) {
             stub->async()->GetMessage(ctx, r, out, std::move(cb));
           },
       .kind = internal::CallKind::kRead,
       .idempotent = true,
       .channel_id = req.channel_id(),
       .deadline = deadline},
      req, options, std::move(done));
}

void RoutedClient::SendMessage(const dataservice::v1::SendMessageRequest& req, absl::Time deadline,
                               const CallOptions& options,
                               RoutedCallback<dataservice::v1::SendMessageResponse> done) {
  using Req = dataservice::v1::SendMessageRequest;
  using Resp = dataservice::v1::SendMessageResponse;
  internal::RoutedCall<Req, Resp>::Start(
      core_,
      {.method =
           [](dataservice::v1::MessageService::Stub* stub, grpc::ClientContext* ctx, const Req* r,
              Resp* out, std::function<void(grpc::Status)> cb) {
             stub->async()->SendMessage(ctx, r, out, std::move(cb));
           },
       .kind = internal::CallKind::kWrite,
       .idempotent = req.nonce() != 0,
       .channel_id = req.channel_id(),
       .deadline = deadline},
      req, options, std::move(done));
}

void RoutedClient::GetMessages(
    const dataservice::v1::GetMessagesRequest& req, absl::Time deadline,
    std::function<void(grpc::Status, dataservice::v1::GetMessagesResponse)> done) {
  GetMessages(req, deadline, CallOptions(), WithoutInfo(std::move(done)));
}

void RoutedClient::GetMessage(
    const dataservice::v1::GetMessageRequest& req, absl::Time deadline,
    std::function<void(grpc::Status, dataservice::v1::GetMessageResponse)> done) {
  GetMessage(req, deadline, CallOptions(), WithoutInfo(std::move(done)));
}

void RoutedClient::SendMessage(
    const dataservice::v1::SendMessageRequest& req, absl::Time deadline,
    std::function<void(grpc::Status, dataservice::v1::SendMessageResponse)> done) {
  SendMessage(req, deadline, CallOptions(), WithoutInfo(std::move(done)));
}

std::string RoutedClient::NodeFor(uint64_t channel_id) const {
  std::shared_ptr<const RingSnapshot> snapshot = core_->membership().Snapshot();
  const int node = snapshot->LiveOwner(channel_id);
  return node < 0 ? std::string() : snapshot->nodes()[node];
}

std::vector<std::string> RoutedClient::PreferenceFor(uint64_t channel_id, int k) const {
  std::shared_ptr<const RingSnapshot> snapshot = core_->membership().Snapshot();
  std::vector<std::string> out;
  if (snapshot->live_count() == 0 || k <= 0) return out;
  for (int node : snapshot->HashOrder(channel_id, k)) out.push_back(snapshot->nodes()[node]);
  return out;
}

std::vector<NodeStatus> RoutedClient::Nodes() const {
  std::shared_ptr<const RingSnapshot> snapshot = core_->membership().Snapshot();
  std::vector<NodeStatus> out;
  const auto& nodes = core_->nodes();
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    const internal::ClientCore::Node& n = *nodes[i];
    out.push_back(NodeStatus{
        n.address, snapshot->healthy(i), n.requests.load(std::memory_order_relaxed),
        n.failures.load(std::memory_order_relaxed), n.timeouts.load(std::memory_order_relaxed),
        n.outlier.load(std::memory_order_acquire)});
  }
  return out;
}

RoutedClientStats RoutedClient::Stats() const { return core_->Stats(); }

absl::Status RoutedClient::WaitForHealthy(absl::Duration timeout) {
  if (core_->health().AwaitAllHealthy(timeout)) return absl::OkStatus();
  return absl::DeadlineExceededError(
      absl::StrCat("nodes not healthy after ", absl::FormatDuration(timeout), ": ",
                   absl::StrJoin(core_->health().UnhealthyNodes(), ", ")));
}

absl::Status RoutedClient::WaitForNodeState(std::string_view address_in, bool healthy,
                                            absl::Duration timeout) {
  const absl::string_view address(address_in.data(), address_in.size());
  const auto& nodes = core_->nodes();
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    if (nodes[i]->address != address) continue;
    if (core_->health().AwaitNode(i, healthy, timeout)) return absl::OkStatus();
    return absl::DeadlineExceededError(absl::StrCat("node ", address, " not ",
                                                    healthy ? "healthy" : "ejected", " after ",
                                                    absl::FormatDuration(timeout)));
  }
  return absl::NotFoundError(absl::StrCat("unknown node ", address));
}

}  // namespace ds::routing
