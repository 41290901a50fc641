// Test-only: keeps gRPC's process-wide callback machinery alive for the whole
// test binary.
//
// Rationale: gRPC 1.51 runs callback-API completions on a ref-counted shared
// completion queue with its own polling threads, created when the first
// channel or server needs it and torn down when the last one is destroyed.
// Tests that destroy every server and channel and immediately create new ones
// cycle it through zero; under ThreadSanitizer that crashed inside gRPC
// (SEGV in grpc_completion_queue_next on a polling thread) about one run in
// three. Holding one idle channel that has made a callback call keeps the
// count above zero, as in a real process. The channel is never released:
// releasing it at exit let the queue's threads finish while another gRPC
// thread was still joining them, which ThreadSanitizer reports as a leak.
// It stays reachable from a static, so LeakSanitizer does not count it.
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <memory>
#include <mutex>

#include "dataservice/v1/messages.grpc.pb.h"
#include "gtest/gtest.h"

namespace ds::testing {
namespace {

struct KeptChannel {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<dataservice::v1::MessageService::Stub> stub;
};
// Never deleted (see above); gtest deletes its environments at exit, so the
// channel is not a member of GrpcKeepAlive.
KeptChannel* kept = nullptr;

class GrpcKeepAlive : public ::testing::Environment {
 public:
  void SetUp() override {
    if (kept != nullptr) return;  // --gtest_repeat
    kept = new KeptChannel;
    // Port 1 on loopback: nothing listens; the call fails fast either way.
    kept->channel = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
    kept->stub = dataservice::v1::MessageService::NewStub(kept->channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    dataservice::v1::GetMessageRequest request;
    dataservice::v1::GetMessageResponse response;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    kept->stub->async()->GetMessage(&context, &request, &response, [&](grpc::Status) {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
};

[[maybe_unused]] ::testing::Environment* const kKeepAlive =
    ::testing::AddGlobalTestEnvironment(new GrpcKeepAlive);

}  // namespace
}  // namespace ds::testing
