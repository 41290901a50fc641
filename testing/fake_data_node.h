// FakeDataNode: a data-service node for tests — a real gRPC server on
// 127.0.0.1 serving dataservice.v1.MessageService and grpc.health.v1 (so a
// RoutedClient considers it healthy), with fault hooks and a record of every
// call. The one fake node of the project: routing, gateway, ds-gateway binary
// and loadgen tests all use it.
//
// Usage:
//   ds::testing::FakeDataNode node;
//   ASSERT_TRUE(node.Start().ok());           // port 0 the first time
//   ... point a RoutedClient (or a binary) at node.address() ...
//   node.FailNext(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
//   node.Freeze();  ... calls hang (health probes still pass) ...  node.Thaw();
//   node.Stop();  node.Start();               // the same port again
//   EXPECT_EQ(node.sends().size(), 1u);
//
// Answers. By default the node is a tiny in-memory store: SendMessage stores
// a message (ids from 1000 up) and is idempotent by (channel_id, nonce);
// GetMessages pages a channel newest first (before/after/limit, limit 0 means
// 50); GetMessage answers NOT_FOUND for an unknown id. The store outlives
// Stop()/Start(). A test may replace the answer of any method (Handlers):
// the handler fills the response and returns the status to answer.
//
// Call lifecycle. A call is recorded when it arrives (calls(), served(),
// seen(), lists()/gets()/sends()) and takes the oldest injected fault, if
// any. Like a real node, its answers carry the trailing metadata
// `x-ds-coalesced: leader` — except a FailNext answer, which stands for a
// transport failure. A call arriving while frozen is parked until Thaw() or
// Stop(); then (or at once) its handler runs and the call is answered.
//
// Every binary that links this library also gets a GoogleTest environment
// that keeps gRPC's callback machinery alive for the whole run (see
// testing/grpc_test_environment.cc).
//
// Threads: thread-safe; RPCs run on gRPC's callback threads. Handlers run on
// them (or on the thread calling Thaw/Stop) with no lock of the node held.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "dataservice/v1/messages.grpc.pb.h"

namespace ds::testing {

class FakeDataNode {
 public:
  template <typename Req, typename Resp>
  using Handler = std::function<grpc::Status(const Req&, Resp*)>;
  // Replacement answers; an empty one keeps the built-in store's answer.
  struct Handlers {
    Handler<dataservice::v1::GetMessagesRequest, dataservice::v1::GetMessagesResponse> get_messages;
    Handler<dataservice::v1::GetMessageRequest, dataservice::v1::GetMessageResponse> get_message;
    Handler<dataservice::v1::SendMessageRequest, dataservice::v1::SendMessageResponse> send_message;
  };

  // `extra_services` (not owned, must outlive the node) are served on the
  // same port, e.g. the reference messages.MessagesService.
  explicit FakeDataNode(Handlers handlers = {}, std::vector<grpc::Service*> extra_services = {});
  ~FakeDataNode();
  FakeDataNode(const FakeDataNode&) = delete;
  FakeDataNode& operator=(const FakeDataNode&) = delete;

  // Starts serving; the first start picks a free port, later ones reuse it.
  absl::Status Start();
  // Stops at once (held calls are cancelled, parked ones answered) and waits.
  // Idempotent.
  void Stop();

  std::string address() const;  // "127.0.0.1:<port>"
  int port() const;

  // --- faults (each applies to one call, in the order they were injected) ---
  // The next call (any method) answers `status` with no trailing metadata,
  // the way a transport failure looks to a client.
  void FailNext(grpc::Status status);
  // The next call answers `status` as a store error: with the trailing
  // `x-ds-coalesced` a real node's answers carry.
  void FailNextFromStore(grpc::Status status);
  // The next call never answers by itself: it finishes CANCELLED when the
  // client gives up (deadline or cancellation).
  void HoldNext();
  // Gray failure: while frozen, calls are accepted and recorded but not
  // answered (health probes keep passing). Thaw() answers them all.
  void Freeze();
  void Thaw();
  int parked() const;  // calls waiting for Thaw()
  // Sets the grpc.health.v1 status of the whole server (must be running).
  void SetServing(bool serving);

  // --- what the node saw ---
  // Blocks until `n` calls (any method, since construction) have arrived or
  // `timeout` passes; returns whether they did.
  bool WaitForCalls(size_t n, std::chrono::milliseconds timeout);
  size_t calls() const;  // every call since construction
  // Calls by channel id (since construction or ClearServed()).
  std::map<uint64_t, int> served() const;
  int total_served() const;
  void ClearServed();

  // The routing metadata of every call, in arrival order.
  struct SeenMetadata {
    std::string method;             // "GetMessages", "GetMessage" or "SendMessage"
    std::string consistency_token;  // x-ds-consistency-token, "" if absent
    std::string request_id;         // x-request-id, "" if absent
  };
  std::vector<SeenMetadata> seen() const;
  // The x-ds-consistency-token of every GetMessages call ("" if none).
  std::vector<std::string> list_tokens() const;

  std::vector<dataservice::v1::GetMessagesRequest> lists() const;
  std::vector<dataservice::v1::GetMessageRequest> gets() const;
  std::vector<dataservice::v1::SendMessageRequest> sends() const;

 private:
  class Service;
  friend class Service;
  struct Fault {
    grpc::Status status;
    bool from_store = false;  // with the trailing marker
    bool hold = false;        // HoldNext
  };

  // Records a call that has arrived and serves it: `answer` computes the
  // status of a call without an injected fault.
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* ctx, std::string method,
                                  uint64_t channel_id, std::function<grpc::Status()> answer);
  void Record(const dataservice::v1::GetMessagesRequest& req);
  void Record(const dataservice::v1::GetMessageRequest& req);
  void Record(const dataservice::v1::SendMessageRequest& req);

  // The built-in store's answers.
  grpc::Status StoreGetMessages(const dataservice::v1::GetMessagesRequest& req,
                                dataservice::v1::GetMessagesResponse* resp);
  grpc::Status StoreGetMessage(const dataservice::v1::GetMessageRequest& req,
                               dataservice::v1::GetMessageResponse* resp);
  grpc::Status StoreSendMessage(const dataservice::v1::SendMessageRequest& req,
                                dataservice::v1::SendMessageResponse* resp);

  const Handlers handlers_;
  const std::vector<grpc::Service*> extra_services_;

  // std::mutex, not absl::Mutex: the apt Abseil is not built with
  // ThreadSanitizer, which would then miss this synchronisation.
  mutable std::mutex mu_;
  std::condition_variable call_arrived_;
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<grpc::Service> service_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
  std::deque<Fault> faults_ ABSL_GUARDED_BY(mu_);
  bool frozen_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> parked_ ABSL_GUARDED_BY(mu_);
  size_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, int> served_ ABSL_GUARDED_BY(mu_);
  std::vector<SeenMetadata> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<dataservice::v1::GetMessagesRequest> lists_ ABSL_GUARDED_BY(mu_);
  std::vector<dataservice::v1::GetMessageRequest> gets_ ABSL_GUARDED_BY(mu_);
  std::vector<dataservice::v1::SendMessageRequest> sends_ ABSL_GUARDED_BY(mu_);
  // The store: channel -> id -> message, and (channel, nonce) -> message.
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1000;
  std::map<uint64_t, std::map<uint64_t, dataservice::v1::Message>> messages_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint64_t, uint64_t>, dataservice::v1::Message> by_nonce_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ds::testing
