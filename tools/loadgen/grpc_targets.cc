// gRPC targets: the routed dataservice.v1 client and the reference API.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_names.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "messages/messages.grpc.pb.h"
#include "routing/policy.h"
#include "routing/routed_client.h"
#include "tools/loadgen/targets.h"

namespace ds::loadgen {

std::string GrpcCodeName(int code) {
  // gRPC's codes are absl's, by number and by name.
  const std::string name = StatusCodeName(static_cast<absl::StatusCode>(code));
  return name == "UNKNOWN" && code != static_cast<int>(absl::StatusCode::kUnknown)
             ? absl::StrCat("CODE_", code)
             : name;
}

namespace {

Outcome FromGrpc(const grpc::Status& s) {
  Outcome o;
  o.ok = s.ok();
  o.code = GrpcCodeName(static_cast<int>(s.error_code()));
  if (!s.ok()) o.message = s.error_message();
  return o;
}

// A callback that reports only the status of a call (its answer unused).
template <typename Response>
std::function<void(grpc::Status, Response)> StatusOnly(std::function<void(Outcome)> done) {
  return [done = std::move(done)](grpc::Status s, Response) { done(FromGrpc(s)); };
}

// ---------------------------------------------------------------- nodes

class NodesTarget : public Target {
 public:
  explicit NodesTarget(std::unique_ptr<routing::RoutedClient> client)
      : client_(std::move(client)) {}

  absl::Status WaitReady(absl::Duration timeout) override {
    return client_->WaitForHealthy(timeout);
  }

  void Issue(const RequestSpec& r, absl::Time deadline,
             std::function<void(Outcome)> done) override {
    switch (r.kind) {
      case RequestKind::kGetMessages: {
        dataservice::v1::GetMessagesRequest req;
        req.set_channel_id(r.channel_id);
        req.set_limit(r.limit);
        client_->GetMessages(
            req, deadline,
            [done = std::move(done)](grpc::Status s, dataservice::v1::GetMessagesResponse resp) {
              Outcome o = FromGrpc(s);
              if (s.ok() && resp.messages_size() > 0) {
                o.newest_message_id = resp.messages(0).message_id();
              }
              done(std::move(o));
            });
        return;
      }
      case RequestKind::kGetMessage: {
        dataservice::v1::GetMessageRequest req;
        req.set_channel_id(r.channel_id);
        req.set_message_id(r.message_id);
        client_->GetMessage(req, deadline,
                            StatusOnly<dataservice::v1::GetMessageResponse>(std::move(done)));
        return;
      }
      case RequestKind::kSendMessage: {
        dataservice::v1::SendMessageRequest req;
        req.set_channel_id(r.channel_id);
        req.set_author_id(r.author_id);
        req.set_content(r.content);
        req.set_nonce(r.nonce);
        client_->SendMessage(req, deadline,
                             StatusOnly<dataservice::v1::SendMessageResponse>(std::move(done)));
        return;
      }
    }
  }

  std::string Name() const override { return "nodes"; }

 private:
  std::unique_ptr<routing::RoutedClient> client_;
};

// ---------------------------------------------------------------- reference

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(
    const std::string& node, int count,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  std::vector<std::shared_ptr<grpc::Channel>> out;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    // A distinct argument per channel keeps gRPC from sharing one connection.
    args.SetInt("ds.loadgen.channel_index", i);
    out.push_back(grpc::CreateCustomChannel(
        node, credentials != nullptr ? credentials : grpc::InsecureChannelCredentials(), args));
  }
  return out;
}

class ReferenceTarget : public Target {
 public:
  ReferenceTarget(const std::vector<std::string>& nodes, int channels_per_node,
                  const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
    for (const std::string& node : nodes) {
      std::vector<std::unique_ptr<messages::MessagesService::Stub>> stubs;
      for (auto& ch : MakeChannels(node, channels_per_node, credentials)) {
        stubs.push_back(messages::MessagesService::NewStub(ch));
      }
      stubs_.push_back(std::move(stubs));
    }
  }

  void Issue(const RequestSpec& r, absl::Time deadline,
             std::function<void(Outcome)> done) override {
    if (r.kind != RequestKind::kGetMessage) {
      Outcome o;
      o.code = "UNIMPLEMENTED";
      o.message = "the reference API only has getMessage";
      done(std::move(o));
      return;
    }
    // Like the reference client: node = (channel - 1) % number of nodes.
    auto& node_stubs = stubs_[(r.channel_id - 1) % stubs_.size()];
    auto& stub = node_stubs[next_++ % node_stubs.size()];
    struct Call {
      grpc::ClientContext ctx;
      messages::MessageRequest req;
      messages::MessageReply resp;
      std::function<void(Outcome)> done;
    };
    auto* call = new Call;
    call->ctx.set_deadline(absl::ToChronoTime(deadline));
    // Ask the node for its arrival time: the ideal-queries figure then uses
    // the arrivals the coalescer saw rather than our send times.
    call->ctx.AddMetadata("x-ds-timing", "1");
    call->req.set_channel_id(static_cast<int64_t>(r.channel_id));
    call->req.set_message_id(static_cast<int64_t>(r.message_id));
    call->done = std::move(done);
    stub->async()->getMessage(&call->ctx, &call->req, &call->resp, [call](grpc::Status s) {
      std::unique_ptr<Call> owned(call);
      Outcome o = FromGrpc(s);
      const auto& trailers = owned->ctx.GetServerTrailingMetadata();
      if (auto it = trailers.find("x-ds-arrived-us"); it != trailers.end()) {
        int64_t us = 0;
        if (absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &us)) {
          o.node_arrived_us = us;
        }
      }
      owned->done(std::move(o));
    });
  }

  std::string Name() const override { return "reference"; }

 private:
  std::vector<std::vector<std::unique_ptr<messages::MessagesService::Stub>>> stubs_;
  uint64_t next_ = 0;  // Issue() is called from one thread
};

class ReferenceMetricsSource : public MetricsSource {
 public:
  ReferenceMetricsSource(const std::vector<std::string>& nodes, absl::Duration timeout,
                         const std::shared_ptr<grpc::ChannelCredentials>& credentials)
      : nodes_(nodes), timeout_(timeout) {
    for (const std::string& node : nodes) {
      stubs_.push_back(messages::MessagesService::NewStub(MakeChannels(node, 1, credentials)[0]));
    }
  }

  absl::Status Begin() override { return GetAndReset().status(); }
  absl::StatusOr<NodeCounters> End() override { return GetAndReset(); }

 private:
  absl::StatusOr<NodeCounters> GetAndReset() {
    NodeCounters total;
    for (size_t i = 0; i < stubs_.size(); ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
      messages::Empty req;
      messages::MetricsReply reply;
      grpc::Status s = stubs_[i]->getAndResetMetrics(&ctx, req, &reply);
      if (!s.ok()) {
        return absl::Status(
            static_cast<absl::StatusCode>(s.error_code()),
            absl::StrCat("getAndResetMetrics on ", nodes_[i], ": ", s.error_message()));
      }
      total.requests += static_cast<double>(reply.total_requests());
      total.store_queries += static_cast<double>(reply.queries_executed());
    }
    total.read_store_queries = total.store_queries;
    return total;
  }

  std::vector<std::string> nodes_;
  absl::Duration timeout_;
  std::vector<std::unique_ptr<messages::MessagesService::Stub>> stubs_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Target>> MakeNodesTarget(const NodesTargetOptions& options) {
  absl::StatusOr<routing::Policy> policy = routing::ParsePolicy(options.policy);
  if (!policy.ok()) return policy.status();
  routing::RoutedClientOptions opts;
  opts.nodes = options.nodes;
  opts.policy = *policy;
  opts.channels_per_node = options.channels_per_node;
  opts.seed = options.seed;
  opts.gray.hedge_reads = options.hedge_reads;
  opts.credentials = options.credentials;
  absl::StatusOr<std::unique_ptr<routing::RoutedClient>> client =
      routing::RoutedClient::Create(std::move(opts));
  if (!client.ok()) return client.status();
  return std::make_unique<NodesTarget>(*std::move(client));
}

absl::StatusOr<std::unique_ptr<Target>> MakeReferenceTarget(
    const std::vector<std::string>& nodes, int channels_per_node,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  if (nodes.empty()) return absl::InvalidArgumentError("--nodes: no node given");
  if (channels_per_node < 1) return absl::InvalidArgumentError("channels per node must be >= 1");
  return std::make_unique<ReferenceTarget>(nodes, channels_per_node, credentials);
}

std::unique_ptr<MetricsSource> MakeReferenceMetricsSource(
    const std::vector<std::string>& nodes, absl::Duration timeout,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return std::make_unique<ReferenceMetricsSource>(nodes, timeout, credentials);
}

}  // namespace ds::loadgen
