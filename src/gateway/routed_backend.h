// The MessageBackend that forwards to the data-service fleet through a
// ds::routing::RoutedClient (consistent hashing, health checks, failover).
//
// Usage:
//   auto client = ds::routing::RoutedClient::Create(opts);
//   std::shared_ptr<ds::gateway::MessageBackend> backend =
//       ds::gateway::MakeRoutedBackend(std::shared_ptr<ds::routing::RoutedClient>(std::move(*client)));
#pragma once

#include <memory>

#include "gateway/message_backend.h"
#include "routing/routed_client.h"

namespace ds::gateway {

// Thread-safe. Healthy() is true while any node is in the routing set.
std::shared_ptr<MessageBackend> MakeRoutedBackend(std::shared_ptr<routing::RoutedClient> client);

}  // namespace ds::gateway
