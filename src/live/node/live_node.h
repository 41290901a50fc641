// LiveNode: a DataServiceNode with live channels — the composition the ds-node
// binary and the tests share. It adds, around the node:
//   - a LiveHub whose catch-up, tail and head reads are GetMessages flights of
//     the node's coalescer (same keys as client reads, so they share flights
//     with them and with each other: a mass reconnect from one id is one
//     store query per page);
//   - the LiveService, registered on the node's gRPC server;
//   - a MessageStore decorator on the write path: once the store acknowledged
//     a write, it fences the channel's reads (read-your-writes, as the node
//     does), publishes the message to the hub and — when this node is not the
//     channel's owner on the ring of `peers` — pokes the owner (best effort).
//
// Usage:
//   auto live = ds::live::LiveNode::Start(node_options, live_options, store.get(), registry);
//   (*live)->node().port();
//   (*live)->Shutdown(absl::Seconds(5));
//
// Threads: Start and Shutdown from the owning thread; the rest is the node's
// and the hub's business. `store` must outlive the LiveNode.
#pragma once

#include <grpcpp/security/credentials.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "live/node/live_hub.h"
#include "live/node/live_metrics.h"
#include "live/node/live_service.h"
#include "node/node.h"
#include "storage/message_store.h"

namespace ds::live {

struct LiveOptions {
  HubOptions hub;
  LiveServiceOptions service;
  // Deadline of one catch-up, tail or head read.
  absl::Duration read_timeout = absl::Seconds(5);
  // The fleet's node addresses as the gateways know them, and this node's own
  // entry: a write to a channel owned by another node pokes that node. Empty
  // `peers`: no pokes (the owner's tail poll is the only path).
  std::vector<std::string> peers;
  std::string self;
  absl::Duration poke_timeout = absl::Seconds(1);
  // What pokes dial the peers with; null = plaintext (auth/grpc_tls.h's
  // LoadPeerCredentials for TLS nodes).
  std::shared_ptr<grpc::ChannelCredentials> peer_credentials;
};

class PokeSender;

class LiveNode {
 public:
  static absl::StatusOr<std::unique_ptr<LiveNode>> Start(
      node::NodeOptions node_options, LiveOptions options, storage::MessageStore* store,
      std::shared_ptr<prometheus::Registry> registry);
  ~LiveNode();

  node::DataServiceNode& node() { return *node_; }
  LiveHub& hub() { return *hub_; }

  // Health NOT_SERVING, every stream ended with UNAVAILABLE (receivers move to
  // the next node), then the node's own drain. Idempotent.
  void Shutdown(absl::Duration drain);

 private:
  LiveNode() = default;

  std::unique_ptr<LiveMetrics> metrics_;
  std::unique_ptr<PokeSender> pokes_;
  std::unique_ptr<storage::MessageStore> publishing_store_;
  std::unique_ptr<LiveHub> hub_;
  std::unique_ptr<LiveService> service_;
  std::unique_ptr<node::DataServiceNode> node_;
};

}  // namespace ds::live
