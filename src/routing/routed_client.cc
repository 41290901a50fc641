#include "routing/routed_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "routing/hash_ring.h"
#include "routing/health_checker.h"
#include "routing/membership.h"

namespace ds::routing {
namespace internal {

using dataservice::v1::MessageService;

// Everything a call needs; shared by the RoutedClient and its calls in flight.
//
// Threads: thread-safe. Calls read the membership snapshot once, at their
// start, and report outcomes to the health checker from callback threads.
class ClientCore {
 public:
  struct Node {
    std::string address;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    std::vector<std::unique_ptr<MessageService::Stub>> stubs;  // one per channel
    std::atomic<uint64_t> next_stub{0};
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> failures{0};
  };

  ClientCore(RoutedClientOptions options, std::vector<std::unique_ptr<Node>> nodes)
      : options_(std::move(options)),
        nodes_(std::move(nodes)),
        membership_(options_.nodes),
        random_state_(HashRing::Mix64(options_.seed)) {
    std::vector<std::vector<std::shared_ptr<grpc::Channel>>> channels;
    for (const auto& n : nodes_) channels.push_back(n->channels);
    HealthCheckerOptions health;
    health.interval = options_.health_interval;
    health.timeout = options_.health_timeout;
    health.eject_after = options_.eject_after;
    health.readmit_after = options_.readmit_after;
    health_ = std::make_unique<HealthChecker>(
        options_.nodes, std::move(channels), health,
        // Runs under the checker's lock; Membership never calls back.
        [this](int node, bool healthy) { membership_.SetHealthy(node, healthy); });
  }

  ~ClientCore() { health_->Stop(); }

  void Start() { health_->Start(); }
  void Shutdown() { health_->Stop(); }

  // Node ids in the order a request for `channel_id` tries them.
  std::vector<int> FailoverOrder(uint64_t channel_id) {
    std::shared_ptr<const RingSnapshot> snapshot = membership_.Snapshot();
    switch (options_.policy) {
      case Policy::kHash:
        return snapshot->HashOrder(channel_id);
      case Policy::kRoundRobin:
        return snapshot->RotationOrder(round_robin_.fetch_add(1, std::memory_order_relaxed));
      case Policy::kRandom: {
        // A counter-based stream (splitmix64): seeded, lock-free, reproducible
        // for a given sequence of calls.
        const uint64_t r = HashRing::Mix64(
            random_state_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed));
        return snapshot->RotationOrder(r);
      }
    }
    return snapshot->HashOrder(channel_id);
  }

  MessageService::Stub* StubFor(int node) {
    Node& n = *nodes_[node];
    n.requests.fetch_add(1, std::memory_order_relaxed);
    const uint64_t i = n.next_stub.fetch_add(1, std::memory_order_relaxed);
    return n.stubs[i % n.stubs.size()].get();
  }

  // Records an attempt's outcome. Only UNAVAILABLE is a failure; a deadline
  // says nothing about the node (the caller's budget may have been tiny).
  void Report(int node, const grpc::Status& status) {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      nodes_[node]->failures.fetch_add(1, std::memory_order_relaxed);
      health_->ReportResult(node, false);
    } else if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
               status.error_code() != grpc::StatusCode::CANCELLED) {
      health_->ReportResult(node, true);
    }
  }

  const RoutedClientOptions& options() const { return options_; }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  Membership& membership() { return membership_; }
  HealthChecker& health() { return *health_; }

 private:
  const RoutedClientOptions options_;
  const std::vector<std::unique_ptr<Node>> nodes_;
  Membership membership_;
  std::unique_ptr<HealthChecker> health_;
  std::atomic<uint64_t> round_robin_{0};
  std::atomic<uint64_t> random_state_;
};

namespace {

template <typename Request, typename Response>
using AsyncMethod = void (*)(MessageService::Stub*, grpc::ClientContext*, const Request*, Response*,
                             std::function<void(grpc::Status)>);

// One routed call: attempts along `order` until one ends with a status other
// than UNAVAILABLE, the list is exhausted, or the deadline passes. Each
// attempt's callback owns the call (shared_ptr) and starts the next attempt.
template <typename Request, typename Response>
struct RoutedCall : std::enable_shared_from_this<RoutedCall<Request, Response>> {
  std::shared_ptr<ClientCore> core;
  AsyncMethod<Request, Response> method;
  Request request;
  absl::Time deadline;
  CallOptions call_options;
  RoutedCallback<Response> done;
  std::vector<int> order;
  size_t next = 0;
  // Every attempt's context stays alive until the call is destroyed.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  Response response;
  grpc::Status last_status;
  std::vector<std::string> tried;
  CallInfo info;

  void Attempt() {
    if (next >= order.size()) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("all nodes unavailable (tried ", absl::StrJoin(tried, ", "),
                                       "); last error: ", last_status.error_message())));
      return;
    }
    if (absl::Now() >= deadline) {
      Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          tried.empty() ? "deadline passed before the first attempt"
                                        : absl::StrCat("deadline passed after trying ",
                                                       absl::StrJoin(tried, ", "))));
      return;
    }
    const int node = order[next++];
    tried.push_back(core->nodes()[node]->address);
    auto context = std::make_unique<grpc::ClientContext>();
    if (deadline != absl::InfiniteFuture()) context->set_deadline(absl::ToChronoTime(deadline));
    if (!call_options.consistency_token.empty()) {
      context->AddMetadata(kConsistencyTokenKey, call_options.consistency_token);
    }
    if (!call_options.request_id.empty()) {
      context->AddMetadata(kRequestIdKey, call_options.request_id);
    }
    ++info.attempts;
    grpc::ClientContext* ctx = context.get();
    contexts.push_back(std::move(context));
    response.Clear();
    method(core->StubFor(node), ctx, &request, &response,
           [self = this->shared_from_this(), node](grpc::Status status) {
             self->OnAttemptDone(node, std::move(status));
           });
  }

  void OnAttemptDone(int node, grpc::Status status) {
    core->Report(node, status);
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      last_status = std::move(status);
      Attempt();  // the next node, or the final answer
      return;
    }
    RecordAnswer(node, *contexts.back());
    Finish(std::move(status));
  }

  // Fills `info` from the attempt whose answer the caller gets.
  void RecordAnswer(int node, const grpc::ClientContext& context) {
    info.node = core->nodes()[node]->address;
    for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
      info.trailing_metadata.emplace_back(std::string(key.data(), key.size()),
                                          std::string(value.data(), value.size()));
      if (key == kCoalescedKey) info.coalesced.assign(value.data(), value.size());
    }
  }

  void Finish(grpc::Status status) {
    auto callback = std::move(done);
    callback(std::move(status), std::move(response), std::move(info));
  }
};

template <typename Request, typename Response>
void Route(std::shared_ptr<ClientCore> core, AsyncMethod<Request, Response> method,
           uint64_t channel_id, const Request& request, absl::Time deadline,
           const CallOptions& call_options, RoutedCallback<Response> done) {
  auto call = std::make_shared<RoutedCall<Request, Response>>();
  call->order = core->FailoverOrder(channel_id);
  call->core = std::move(core);
  call->method = method;
  call->request = request;
  call->deadline = deadline;
  call->call_options = call_options;
  call->done = std::move(done);
  call->Attempt();
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
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
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace
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
  std::vector<std::unique_ptr<internal::ClientCore::Node>> nodes;
  for (const std::string& address : options.nodes) {
    auto node = std::make_unique<internal::ClientCore::Node>();
    node->address = address;
    for (int c = 0; c < options.channels_per_node; ++c) {
      node->channels.push_back(internal::MakeChannel(address));
      node->stubs.push_back(dataservice::v1::MessageService::NewStub(node->channels.back()));
    }
    nodes.push_back(std::move(node));
  }
  auto core = std::make_shared<internal::ClientCore>(std::move(options), std::move(nodes));
  core->Start();
  return std::unique_ptr<RoutedClient>(new RoutedClient(std::move(core)));
}

RoutedClient::RoutedClient(std::shared_ptr<internal::ClientCore> core) : core_(std::move(core)) {}

RoutedClient::~RoutedClient() { core_->Shutdown(); }

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
  internal::Route<Req, Resp>(
      core_,
      [](dataservice::v1::MessageService::Stub* stub, grpc::ClientContext* ctx, const Req* r,
         Resp* out, std::function<void(grpc::Status)> cb) {
        stub->async()->GetMessages(ctx, r, out, std::move(cb));
      },
      req.channel_id(), req, deadline, options, std::move(done));
}

void RoutedClient::GetMessage(const dataservice::v1::GetMessageRequest& req, absl::Time deadline,
                              const CallOptions& options,
                              RoutedCallback<dataservice::v1::GetMessageResponse> done) {
  using Req = dataservice::v1::GetMessageRequest;
  using Resp = dataservice::v1::GetMessageResponse;
  internal::Route<Req, Resp>(
      core_,
      [](dataservice::v1::MessageService::Stub* stub, grpc::ClientContext* ctx, const Req* r,
         Resp* out, std::function<void(grpc::Status)> cb) {
        stub->async()->GetMessage(ctx, r, out, std::move(cb));
      },
      req.channel_id(), req, deadline, options, std::move(done));
}

void RoutedClient::SendMessage(const dataservice::v1::SendMessageRequest& req, absl::Time deadline,
                               const CallOptions& options,
                               RoutedCallback<dataservice::v1::SendMessageResponse> done) {
  using Req = dataservice::v1::SendMessageRequest;
  using Resp = dataservice::v1::SendMessageResponse;
  internal::Route<Req, Resp>(
      core_,
      [](dataservice::v1::MessageService::Stub* stub, grpc::ClientContext* ctx, const Req* r,
         Resp* out, std::function<void(grpc::Status)> cb) {
        stub->async()->SendMessage(ctx, r, out, std::move(cb));
      },
      req.channel_id(), req, deadline, options, std::move(done));
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
    out.push_back(NodeStatus{nodes[i]->address, snapshot->healthy(i),
                             nodes[i]->requests.load(std::memory_order_relaxed),
                             nodes[i]->failures.load(std::memory_order_relaxed)});
  }
  return out;
}

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
