// RoutedUpstream: LiveUpstream over the routing library. Reads and sends go
// through RoutedClient (consistent hashing, health checks, failover); a
// Subscribe stream goes to the channel's owner as RoutedClient sees it, on a
// gRPC channel of this class's own (one per node address, made on first use).
//
// Usage:
//   auto upstream = std::make_shared<ds::live::RoutedUpstream>(routed_client);
//
// Threads: thread-safe. The destructor waits until every stream it opened has
// ended (Cancel them first).
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "live/gateway/upstream.h"
#include "routing/routed_client.h"

namespace ds::live {

class RoutedUpstream final : public LiveUpstream {
 public:
  explicit RoutedUpstream(std::shared_ptr<routing::RoutedClient> client);
  ~RoutedUpstream() override;

  std::unique_ptr<UpstreamStream> Subscribe(uint64_t channel, std::optional<uint64_t> after,
                                            UpstreamEvents events,
                                            const std::string& avoid) override;
  void ReadAfter(
      uint64_t channel, uint64_t after, uint32_t limit, absl::Time deadline,
      std::function<void(absl::StatusOr<std::vector<dataservice::v1::Message>>)> done) override;
  void Send(
      const dataservice::v1::SendMessageRequest& request, absl::Time deadline,
      std::function<void(absl::StatusOr<dataservice::v1::SendMessageResponse>)> done) override;
  std::string OwnerOf(uint64_t channel) const override;

 private:
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);
  void StreamEnded();

  const std::shared_ptr<routing::RoutedClient> client_;
  std::mutex mu_;
  std::condition_variable idle_;
  int streams_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ds::live
