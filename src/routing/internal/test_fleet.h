// Test helpers for the routing client's tests (test only): a fleet of
// FakeDataNodes, a client over it, a one-shot event.
//
// Usage:
//   Fleet fleet(3);
//   auto client = MakeClient(fleet.Options());   // waits until all are healthy
//   uint64_t channel = ChannelsOwnedBy(*client, fleet.node(0).address(), 1)[0];
//
// Threads: Done is thread-safe; Fleet is used from the test's thread.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "routing/internal/fake_message_service.h"
#include "routing/routed_client.h"

namespace ds::routing::testing {

inline constexpr absl::Duration kWait = absl::Seconds(5);

// A one-shot event (std primitives, which ThreadSanitizer sees; see membership.h).
class Done {
 public:
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

// A fleet of fake nodes plus a client routed over them.
class Fleet {
 public:
  explicit Fleet(int n) {
    for (int i = 0; i < n; ++i) {
      nodes_.push_back(std::make_unique<FakeDataNode>());
      EXPECT_TRUE(nodes_.back()->Start().ok());
    }
  }
  RoutedClientOptions Options(Policy policy = Policy::kHash) const {
    RoutedClientOptions o;
    for (const auto& n : nodes_) o.nodes.push_back(n->address());
    o.policy = policy;
    o.health_interval = absl::Milliseconds(50);
    o.health_timeout = absl::Milliseconds(500);
    // These tests count attempts exactly: no hedges, no per-attempt timeouts,
    // no outlier ejection (routed_client_gray_test.cc covers those).
    o.gray.hedge_reads = false;
    o.gray.attempt_timeout_multiplier = 0;
    o.gray.outlier.enabled = false;
    return o;
  }
  FakeDataNode& node(int i) { return *nodes_[i]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  int IndexOf(const std::string& address) const {
    for (int i = 0; i < size(); ++i) {
      if (nodes_[i]->address() == address) return i;
    }
    return -1;
  }

 private:
  std::vector<std::unique_ptr<FakeDataNode>> nodes_;
};

inline std::unique_ptr<RoutedClient> MakeClient(RoutedClientOptions options) {
  auto client = RoutedClient::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return nullptr;
  EXPECT_TRUE((*client)->WaitForHealthy(kWait).ok());
  return std::move(*client);
}

// Channels whose home node (hash policy, all nodes healthy) is `address`.
inline std::vector<uint64_t> ChannelsOwnedBy(const RoutedClient& client, const std::string& address,
                                             int count) {
  std::vector<uint64_t> out;
  for (uint64_t c = 1; static_cast<int>(out.size()) < count; ++c) {
    if (client.NodeFor(c) == address) out.push_back(c);
  }
  return out;
}

}  // namespace ds::routing::testing
