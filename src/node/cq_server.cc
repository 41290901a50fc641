#include "node/cq_server.h"

#include <grpcpp/alarm.h>

#include <utility>

// gRPC's completion queues hand a tag from the thread that queued it to the
// polling thread that takes it, but gRPC is not built with ThreadSanitizer, so
// TSan cannot see that hand-off and reports the tag's construction and its use
// as a race. Under TSan only, tell it about the hand-off explicitly.
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#define DS_TAG_HANDED_OFF(tag) __tsan_release(tag)
#define DS_TAG_TAKEN(tag) __tsan_acquire(tag)
#else
#define DS_TAG_HANDED_OFF(tag) ((void)(tag))
#define DS_TAG_TAKEN(tag) ((void)(tag))
#endif

namespace ds::node {

UnaryCall::UnaryCall(CqServer* server, int method, int cq_index)
    : server_(server), method_(method), cq_index_(cq_index) {
  // Must be set before the call is requested; the tag comes back once the
  // call is complete (answered, cancelled or cut by the deadline).
  DS_TAG_HANDED_OFF(&done_tag_);
  ctx_.AsyncNotifyWhenDone(&done_tag_);
}

bool UnaryCall::Finish(const grpc::ByteBuffer& response, const grpc::Status& status) {
  if (finish_called_.exchange(true, std::memory_order_acq_rel)) return false;
  DS_TAG_HANDED_OFF(&finished_tag_);  // Finish may run on a store thread
  if (status.ok()) {
    writer_.Finish(response, status, &finished_tag_);
  } else {
    writer_.FinishWithError(status, &finished_tag_);
  }
  return true;
}

void UnaryCall::OnEvent(Event event, bool ok) {
  switch (event) {
    case Event::kRequested:
      if (!ok) {  // the server is shutting down; this call never started
        delete this;
        return;
      }
      server_->live_calls_.fetch_add(1, std::memory_order_relaxed);
      server_->Post(method_, cq_index_);  // keep the posted count constant
      server_->methods_[static_cast<size_t>(method_)].handle(this);
      return;
    case Event::kDone:
      // The done tag is delivered on this call's queue, whose only thread
      // also ran the handler: hooks_ is no longer written.
      if (hooks_ && ctx_.IsCancelled() && !finish_called_.load(std::memory_order_acquire)) {
        hooks_->OnCancel();
      }
      Release();
      return;
    case Event::kFinished:
      Release();
      return;
  }
}

void UnaryCall::Release() {
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  CqServer* server = server_;
  delete this;
  server->OnCallDestroyed();
}

CqServer::CqServer(grpc::ServerBuilder* builder, CqServerOptions options) : options_(options) {
  const int threads = options_.threads > 0 ? options_.threads : 1;
  for (int i = 0; i < threads; ++i) cqs_.push_back(builder->AddCompletionQueue());
}

CqServer::~CqServer() { Stop(); }

void CqServer::AddMethod(RequestFn request, HandleFn handle) {
  methods_.push_back({std::move(request), std::move(handle)});
}

void CqServer::Start() {
  for (int cq = 0; cq < static_cast<int>(cqs_.size()); ++cq) {
    for (int m = 0; m < static_cast<int>(methods_.size()); ++m) {
      for (int i = 0; i < options_.posted_per_method; ++i) Post(m, cq);
    }
  }
  for (int cq = 0; cq < static_cast<int>(cqs_.size()); ++cq) {
    threads_.emplace_back([this, cq] { Poll(cq); });
  }
}

void CqServer::Post(int method, int cq_index) {
  if (shutting_down_.load(std::memory_order_acquire)) return;
  auto* call = new UnaryCall(this, method, cq_index);
  grpc::ServerCompletionQueue* cq = cqs_[static_cast<size_t>(cq_index)].get();
  DS_TAG_HANDED_OFF(&call->requested_tag_);
  methods_[static_cast<size_t>(method)].request(&call->ctx_, &call->request_, &call->writer_, cq,
                                                &call->requested_tag_);
}

void CqServer::Poll(int cq_index) {
  grpc::ServerCompletionQueue* cq = cqs_[static_cast<size_t>(cq_index)].get();
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) {
    DS_TAG_TAKEN(tag);
    static_cast<CqTag*>(tag)->Fire(ok);
  }
}

namespace {
// A function run on a polling thread; deletes itself once run.
class Task final : public CqTag {
 public:
  explicit Task(absl::AnyInvocable<void() &&> fn) : fn_(std::move(fn)) {}
  void Fire(bool) override {
    std::move(fn_)();  // whether or not the alarm fired normally: the work must run
    delete this;
  }
  grpc::Alarm alarm;

 private:
  absl::AnyInvocable<void() &&> fn_;
};
}  // namespace

void CqServer::RunOn(int cq_index, absl::AnyInvocable<void() &&> fn) {
  posting_.fetch_add(1);
  if (!queues_open_.load()) {
    posting_.fetch_sub(1);
    std::move(fn)();
    return;
  }
  auto* task = new Task(std::move(fn));
  const size_t i = static_cast<size_t>(cq_index) % cqs_.size();
  // Already due: gRPC queues the tag from this thread at once instead of
  // waking its timer thread (a deadline of "now" is rounded up to the next
  // millisecond and would wait for the timer).
  DS_TAG_HANDED_OFF(static_cast<CqTag*>(task));
  task->alarm.Set(cqs_[i].get(), gpr_inf_past(GPR_CLOCK_MONOTONIC), task);
  posting_.fetch_sub(1);
}

void CqServer::OnCallDestroyed() {
  if (live_calls_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(mu_);
    idle_cv_.notify_all();
  }
}

void CqServer::Stop() {
  {
    std::unique_lock lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    shutting_down_.store(true, std::memory_order_release);
    // Matched calls still need their answers (and their finish tags need
    // live queues); the server's Shutdown already failed the unmatched ones.
    idle_cv_.wait(lock, [this] { return live_calls_.load(std::memory_order_acquire) == 0; });
  }
  // Hand-offs still arriving now run inline; those already set are
  // delivered before the queues report shutdown.
  queues_open_.store(false);
  while (posting_.load() != 0) std::this_thread::yield();
  for (auto& cq : cqs_) cq->Shutdown();
  if (threads_.empty()) {  // never started: drain the queues here
    for (int i = 0; i < static_cast<int>(cqs_.size()); ++i) Poll(i);
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace ds::node
