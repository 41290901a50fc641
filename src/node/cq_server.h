// CqServer: raw unary gRPC methods served on the completion-queue (async)
// API, with one polling thread per completion queue and every handler run
// inline on the thread that polled its call.
//
// Why not the callback API: on Linux the packaged gRPC (1.51) has no
// background poller, so the callback API runs handlers on a separate set of
// "nexting" threads fed by a shared completion queue, and every call crosses
// threads at least twice. Here the thread that read a request from its socket
// runs the handler, and a call that is answered at once never leaves that
// thread. docs/architecture.md ("server model") has the measured floors.
//
// Usage:
//   grpc::ServerBuilder builder;
//   CqServer cq_server(&builder, {.threads = 2});         // adds the CQs
//   cq_server.AddMethod(
//       [svc](auto* ctx, auto* req, auto* writer, auto* cq, void* tag) {
//         svc->RequestGetMessages(ctx, req, writer, cq, cq, tag);
//       },
//       [](UnaryCall* call) { call->Finish(bytes, grpc::Status::OK); });
//   auto server = builder.BuildAndStart();
//   cq_server.Start();
//   ...
//   server->Shutdown(deadline);   // then:
//   cq_server.Stop();             // waits for every call, stops the threads
//
// Threads: handlers and CallHooks::OnCancel run on the polling threads and
// must not block. UnaryCall::Finish may be called from any thread. AddMethod before
// Start; Stop once, after grpc::Server::Shutdown has returned.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/async_unary_call.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"

namespace ds::node {

class CqServer;

// What every tag on a CqServer queue is: the polling thread calls Fire with
// the event's `ok`.
class CqTag {
 public:
  virtual void Fire(bool ok) = 0;

 protected:
  ~CqTag() = default;
};

// Optional state a handler keeps with its call, destroyed with the call (on
// a polling thread).
class CallHooks {
 public:
  virtual ~CallHooks() = default;
  // Runs at most once, on the call's polling thread, when the call ends
  // without having been answered: the client cancelled, its deadline passed
  // or the server shut down. Whoever answers the call must still Finish it
  // (gRPC then drops the answer).
  virtual void OnCancel() {}
};

// One unary call. Owned by the CqServer: it is destroyed after it has been
// finished and gRPC has reported the call complete, never earlier.
class UnaryCall {
 public:
  grpc::ServerContext& context() { return ctx_; }
  const grpc::ByteBuffer& request() const { return request_; }

  // Answers the call: `response` is sent only with an OK status. Returns true
  // for the one Finish that answers the call; any later one does nothing and
  // returns false. Any thread. Add trailing metadata to context() first.
  bool Finish(const grpc::ByteBuffer& response, const grpc::Status& status);
  bool FinishWithError(const grpc::Status& status) { return Finish(grpc::ByteBuffer(), status); }

  // By the handler, on the polling thread, before it returns.
  void set_hooks(std::unique_ptr<CallHooks> hooks) { hooks_ = std::move(hooks); }

  // The completion queue (and so the polling thread) this call belongs to.
  int cq_index() const { return cq_index_; }

 private:
  friend class CqServer;
  enum class Event { kRequested, kFinished, kDone };
  class Tag final : public CqTag {
   public:
    Tag(UnaryCall* call, Event event) : call_(call), event_(event) {}
    void Fire(bool ok) override { call_->OnEvent(event_, ok); }

   private:
    UnaryCall* const call_;
    const Event event_;
  };

  UnaryCall(CqServer* server, int method, int cq_index);
  void OnEvent(Event event, bool ok);
  void Release();

  CqServer* const server_;
  const int method_;
  const int cq_index_;
  grpc::ServerContext ctx_;
  grpc::ByteBuffer request_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> writer_{&ctx_};
  Tag requested_tag_{this, Event::kRequested};
  Tag finished_tag_{this, Event::kFinished};
  Tag done_tag_{this, Event::kDone};
  std::unique_ptr<CallHooks> hooks_;  // written by the handler, read on the same thread
  std::atomic<bool> finish_called_{false};
  // Events still to come before the call may be destroyed: the finish tag
  // and the done tag.
  std::atomic<int> pending_{2};
};

struct CqServerOptions {
  int threads = 2;  // completion queues, one polling thread each
  // Requests kept posted per method and completion queue, so a burst of
  // calls is matched without waiting for a handler to re-post.
  int posted_per_method = 16;
};

class CqServer {
 public:
  // How to ask gRPC for the next call of one raw unary method: the generated
  // WithRawMethod_X::RequestX, with `cq` as both new-call and notification
  // queue.
  using RequestFn = std::function<void(grpc::ServerContext*, grpc::ByteBuffer*,
                                       grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>*,
                                       grpc::ServerCompletionQueue* cq, void* tag)>;
  // Handles one call on its polling thread; must make sure Finish is called.
  using HandleFn = std::function<void(UnaryCall*)>;

  CqServer(grpc::ServerBuilder* builder, CqServerOptions options);
  ~CqServer();  // Stop()s if needed

  CqServer(const CqServer&) = delete;
  CqServer& operator=(const CqServer&) = delete;

  void AddMethod(RequestFn request, HandleFn handle);
  // After grpc::ServerBuilder::BuildAndStart: posts the requests and starts
  // the polling threads.
  void Start();
  // After grpc::Server::Shutdown: waits until every call has been answered
  // and destroyed, then shuts the queues down and joins the threads.
  void Stop();

  // Runs `fn` on the polling thread of queue `cq_index` (by way of an alarm
  // that is due now), or inline if the queues are already shut down. Any
  // thread. A store thread hands its result over this way so that the
  // calls it answers are finished on the thread that owns them: one wake-up
  // per hand-off instead of gRPC's transport lock contended between threads.
  void RunOn(int cq_index, absl::AnyInvocable<void() &&> fn);
  int threads() const { return static_cast<int>(cqs_.size()); }

  // Calls matched and not yet destroyed.
  int live_calls() const { return live_calls_.load(std::memory_order_relaxed); }

 private:
  friend class UnaryCall;
  struct Method {
    RequestFn request;
    HandleFn handle;
  };

  void Post(int method, int cq_index);
  void Poll(int cq_index);
  void OnCallDestroyed();

  const CqServerOptions options_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs_;
  std::vector<Method> methods_;  // fixed after Start
  std::vector<std::thread> threads_;
  std::atomic<bool> shutting_down_{false};
  // RunOn callers between checking `queues_open_` and setting their alarm;
  // Stop waits for them before shutting the queues down.
  std::atomic<bool> queues_open_{true};
  std::atomic<int> posting_{0};
  std::atomic<int> live_calls_{0};
  std::mutex mu_;
  std::condition_variable idle_cv_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ds::node
