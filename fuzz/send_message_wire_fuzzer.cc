// libFuzzer target: the node's tolerant decoder of SendMessage request bytes
// (proto3 wire format with invalid UTF-8 allowed through to validation) and
// the validation after it — reached the way a client reaches it: raw bytes
// sent as the SendMessage request to a real in-process DataServiceNode
// (loopback gRPC, a FakeMessageStore behind it).
//
// Checks, beyond "no crash, no sanitizer report in the node's threads": the
// node answers with OK or INVALID_ARGUMENT (never INTERNAL, UNKNOWN or a
// hang), and an OK answer carries a message.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <memory>

#include "dataservice/v1/messages.pb.h"
#include "node/node.h"
#include "prometheus/registry.h"
#include "testing/fake_message_store.h"

namespace {

struct Fixture {
  std::unique_ptr<ds::storage::FakeMessageStore> store;
  std::unique_ptr<ds::node::DataServiceNode> node;
  std::unique_ptr<grpc::GenericStub> stub;
};

Fixture& Node() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;  // lives for the whole fuzzing process
    f->store = std::make_unique<ds::storage::FakeMessageStore>();
    ds::node::NodeOptions options;
    options.listen_address = "127.0.0.1:0";
    auto node = ds::node::DataServiceNode::Start(options, f->store.get(),
                                                 std::make_shared<prometheus::Registry>());
    if (!node.ok()) std::abort();
    f->node = std::move(*node);
    f->stub = std::make_unique<grpc::GenericStub>(
        grpc::CreateChannel(f->node->address(), grpc::InsecureChannelCredentials()));
    return f;
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = Node();
  grpc::Slice slice(data, size);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::promise<grpc::Status> done;
  f.stub->UnaryCall(&context, "/dataservice.v1.MessageService/SendMessage", grpc::StubOptions(),
                    &request, &response, [&done](grpc::Status s) { done.set_value(std::move(s)); });
  const grpc::Status status = done.get_future().get();
  switch (status.error_code()) {
    case grpc::StatusCode::OK: {
      std::vector<grpc::Slice> slices;
      dataservice::v1::SendMessageResponse parsed;
      if (!response.Dump(&slices).ok()) std::abort();
      std::string bytes;
      for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      if (!parsed.ParseFromString(bytes) || !parsed.has_message()) std::abort();
      break;
    }
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:  // over the node's message size limit
      break;
    default:
      std::abort();  // INTERNAL, UNKNOWN, DEADLINE_EXCEEDED (a hang), ...
  }
  return 0;
}
