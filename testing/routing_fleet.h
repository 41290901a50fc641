// Test helpers for the routing client's tests (test only): a fleet of
// FakeDataNodes, a client over it, a one-shot event. Link ds_testing_grpc and
// ds_routing.
//
// The fleet's nodes answer every read of any channel at once (CannedReads):
// GetMessages with one message {channel, id 1, "hello"}, GetMessage with the
// requested ids; writes go to each node's built-in store.
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
#include "routing/routed_client.h"
#include "testing/fake_data_node.h"

namespace ds::testing {

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

// Answers for reads of channels nothing was written to (see above).
inline FakeDataNode::Handlers CannedReads() {
  FakeDataNode::Handlers h;
  h.get_messages = [](const dataservice::v1::GetMessagesRequest& req,
                      dataservice::v1::GetMessagesResponse* resp) {
    dataservice::v1::Message* m = resp->add_messages();
    m->set_channel_id(req.channel_id());
    m->set_message_id(1);
    m->set_content("hello");
    return grpc::Status::OK;
  };
  h.get_message = [](const dataservice::v1::GetMessageRequest& req,
                     dataservice::v1::GetMessageResponse* resp) {
    resp->mutable_message()->set_channel_id(req.channel_id());
    resp->mutable_message()->set_message_id(req.message_id());
    return grpc::Status::OK;
  };
  return h;
}

// The requests the routing tests send: a read of `channel` (limit 10), and a
// write of "hi" by author 5 with `nonce`.
inline dataservice::v1::GetMessagesRequest ListRequest(uint64_t channel) {
  dataservice::v1::GetMessagesRequest req;
  req.set_channel_id(channel);
  req.set_limit(10);
  return req;
}
inline dataservice::v1::SendMessageRequest SendRequest(uint64_t channel, uint64_t nonce) {
  dataservice::v1::SendMessageRequest req;
  req.set_channel_id(channel);
  req.set_author_id(5);
  req.set_content("hi");
  req.set_nonce(nonce);
  return req;
}
// `s`, or INTERNAL when an OK answer to ListRequest(channel) is not CannedReads'.
inline grpc::Status CheckCannedList(grpc::Status s,
                                    const dataservice::v1::GetMessagesResponse& resp,
                                    uint64_t channel) {
  if (s.ok() && (resp.messages_size() != 1 || resp.messages(0).channel_id() != channel)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "wrong response");
  }
  return s;
}

// A fleet of fake nodes plus a client routed over them.
class Fleet {
 public:
  explicit Fleet(int n) {
    for (int i = 0; i < n; ++i) {
      nodes_.push_back(std::make_unique<FakeDataNode>(CannedReads()));
      EXPECT_TRUE(nodes_.back()->Start().ok());
    }
  }
  routing::RoutedClientOptions Options(routing::Policy policy = routing::Policy::kHash) const {
    routing::RoutedClientOptions o;
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

inline std::unique_ptr<routing::RoutedClient> MakeClient(routing::RoutedClientOptions options) {
  auto client = routing::RoutedClient::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return nullptr;
  EXPECT_TRUE((*client)->WaitForHealthy(kWait).ok());
  return std::move(*client);
}

// Channels whose home node (hash policy, all nodes healthy) is `address`.
inline std::vector<uint64_t> ChannelsOwnedBy(const routing::RoutedClient& client,
                                             const std::string& address, int count) {
  std::vector<uint64_t> out;
  for (uint64_t c = 1; static_cast<int>(out.size()) < count; ++c) {
    if (client.NodeFor(c) == address) out.push_back(c);
  }
  return out;
}

}  // namespace ds::testing
