// NodeOverFakeStoreTest: a GoogleTest fixture that runs a real DataServiceNode
// on 127.0.0.1:0 over a FakeMessageStore (for its fault hooks) and gives the
// test a gRPC channel and a dataservice.v1 stub to it.
//
// Usage:
//   class MyTest : public ds::testing::NodeOverFakeStoreTest {};
//   TEST_F(MyTest, Reads) {
//     StartNode();                 // or StartNode(options); again restarts it
//     store_.Put({...});
//     stub_->GetMessage(&ctx, req, &resp);
//   }
//
// Tests that link it need ds_node and ds_testing.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "dataservice/v1/messages.grpc.pb.h"
#include "node/node.h"
#include "testing/fake_message_store.h"

namespace ds::testing {

class NodeOverFakeStoreTest : public ::testing::Test {
 protected:
  // Starts the node (shutting down one already running) and connects to it.
  // A failure to start is a fatal test failure (check HasFatalFailure()).
  void StartNode(node::NodeOptions options = {}) {
    if (node_) node_->Shutdown(absl::Seconds(1));
    options.listen_address = "127.0.0.1:0";
    auto node =
        node::DataServiceNode::Start(options, &store_, std::make_shared<prometheus::Registry>());
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::move(*node);
    channel_ = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    stub_ = ::dataservice::v1::MessageService::NewStub(channel_);
  }
  void TearDown() override {
    if (node_) node_->Shutdown(absl::Seconds(1));
  }

  storage::FakeMessageStore store_;
  std::unique_ptr<node::DataServiceNode> node_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::dataservice::v1::MessageService::Stub> stub_;
};

}  // namespace ds::testing
