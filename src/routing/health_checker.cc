#include "routing/health_checker.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>

#include <algorithm>
#include <atomic>
#include <utility>

#include "common/log.h"
#include "routing/internal/health_wire.h"

namespace ds::routing {
namespace {

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = ds::Logger("routing");
  return *logger;
}

// A wait bound that std::chrono can represent (InfiniteDuration is not).
std::chrono::nanoseconds WaitBound(absl::Duration timeout) {
  return absl::ToChronoNanoseconds(
      std::clamp(timeout, absl::ZeroDuration(), absl::Hours(24 * 365)));
}

}  // namespace

HealthState::HealthState(int eject_after, int readmit_after)
    : eject_after_(std::max(1, eject_after)), readmit_after_(std::max(1, readmit_after)) {}

bool HealthState::Record(bool ok) {
  if (ok) {
    confirmed_ = true;
    failures_ = 0;
    ++successes_;
    if (!healthy_ && successes_ >= readmit_after_) {
      healthy_ = true;
      return true;
    }
    return false;
  }
  successes_ = 0;
  ++failures_;
  if (healthy_ && failures_ >= eject_after_) {
    healthy_ = false;
    return true;
  }
  return false;
}

// One probe of one node: a Health/Check on each of its channels.
struct HealthChecker::Probe {
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer response;
  };
  grpc::ByteBuffer request;
  std::vector<std::unique_ptr<Call>> calls;
  std::atomic<int> remaining{0};
  std::atomic<bool> all_serving{true};
};

HealthChecker::HealthChecker(std::vector<std::string> names,
                             std::vector<std::vector<std::shared_ptr<grpc::Channel>>> channels,
                             HealthCheckerOptions options, Listener listener)
    : names_(std::move(names)),
      channels_(std::move(channels)),
      options_(std::move(options)),
      listener_(std::move(listener)) {
  const size_t n = names_.size();
  stubs_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    for (const auto& ch : channels_[i]) {
      stubs_[i].push_back(std::make_unique<grpc::GenericStub>(ch));
    }
  }
  settled_ = std::make_unique<std::atomic<bool>[]>(n);  // all false
  std::lock_guard<std::mutex> lock(mu_);
  states_.assign(n, HealthState(options_.eject_after, options_.readmit_after));
  next_probe_.assign(n, absl::InfinitePast());
  last_probe_.assign(n, absl::InfinitePast());
  probe_requested_.assign(n, false);
  in_flight_.resize(n);
}

HealthChecker::~HealthChecker() { Stop(); }

void HealthChecker::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void HealthChecker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    wake_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<std::shared_ptr<Probe>> probes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& p : in_flight_) {
      if (p != nullptr) probes.push_back(p);
    }
  }
  // Outside mu_: a cancelled call may complete inline, and its callback locks mu_.
  for (const auto& p : probes) {
    for (const auto& call : p->calls) call->context.TryCancel();
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return in_flight_count_ == 0; });
}

void HealthChecker::Loop() {
  // Requested (early) probes of one node are at least this far apart.
  const absl::Duration min_gap = options_.interval / 5;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    absl::Time next_due = absl::InfiniteFuture();
    std::vector<std::pair<int, std::shared_ptr<Probe>>> due;
    for (int i = 0; i < static_cast<int>(names_.size()); ++i) {
      if (in_flight_[i] != nullptr) continue;  // its completion wakes us
      absl::Time when = next_probe_[i];
      if (probe_requested_[i]) when = std::min(when, last_probe_[i] + min_gap);
      if (when <= now) {
        auto probe = std::make_shared<Probe>();
        in_flight_[i] = probe;
        ++in_flight_count_;
        probe_requested_[i] = false;
        last_probe_[i] = now;
        next_probe_[i] = now + options_.interval;
        due.emplace_back(i, std::move(probe));
      } else {
        next_due = std::min(next_due, when);
      }
    }
    if (!due.empty()) {
      // RPCs start outside mu_: a call that fails at once may run its callback inline.
      lock.unlock();
      for (auto& [node, probe] : due) StartProbe(node, std::move(probe));
      lock.lock();
      continue;
    }
    if (next_due == absl::InfiniteFuture()) {
      cv_.wait(lock, [this] { return wake_; });
    } else {
      cv_.wait_until(lock, absl::ToChronoTime(next_due), [this] { return wake_; });
    }
    wake_ = false;
  }
}

void HealthChecker::StartProbe(int node, std::shared_ptr<Probe> probe) {
  const std::string request = internal::EncodeHealthCheckRequest(options_.service);
  grpc::Slice slice(request);
  probe->request = grpc::ByteBuffer(&slice, 1);
  const auto& stubs = stubs_[node];
  const std::chrono::system_clock::time_point deadline =
      absl::ToChronoTime(absl::Now() + options_.timeout);
  for (size_t c = 0; c < stubs.size(); ++c) {
    probe->calls.push_back(std::make_unique<Probe::Call>());
    probe->calls.back()->context.set_deadline(deadline);
  }
  probe->remaining.store(static_cast<int>(stubs.size()));
  for (size_t c = 0; c < stubs.size(); ++c) {
    Probe::Call* call = probe->calls[c].get();
    stubs[c]->UnaryCall(
        &call->context, internal::kHealthCheckMethod, grpc::StubOptions(), &probe->request,
        &call->response, [this, node, probe, call](grpc::Status status) {
          bool serving = false;
          if (status.ok()) {
            grpc::Slice bytes;
            if (call->response.TrySingleSlice(&bytes).ok() ||
                call->response.DumpToSingleSlice(&bytes).ok()) {
              auto decoded = internal::DecodeHealthCheckResponse(
                  std::string_view(reinterpret_cast<const char*>(bytes.begin()), bytes.size()));
              serving = decoded.ok() && *decoded == internal::ServingStatus::kServing;
            }
          }
          if (!serving) probe->all_serving.store(false);
          if (probe->remaining.fetch_sub(1) == 1) {
            OnProbeDone(node, probe->all_serving.load());
          }
        });
  }
}

void HealthChecker::OnProbeDone(int node, bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A probe cut short by Stop() says nothing about the node.
    if (!stopping_) RecordLocked(node, ok, "health probe");
    in_flight_[node] = nullptr;
    --in_flight_count_;
    wake_ = true;
  }
  cv_.notify_all();
}

void HealthChecker::ReportResult(int node, bool ok) {
  if (node < 0 || node >= static_cast<int>(names_.size())) return;
  // The common case, once per answered call: a success that would change
  // nothing. Skips the lock and the wake-up.
  if (ok && settled_[node].load(std::memory_order_relaxed)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (node < 0 || node >= static_cast<int>(names_.size())) return;
    // Only probes re-admit: late answers to calls sent before an ejection
    // must not undo it.
    if (ok && !states_[node].healthy()) return;
    RecordLocked(node, ok, "request");
    if (!ok) {
      probe_requested_[node] = true;
      wake_ = true;
    }
  }
  cv_.notify_all();
}

void HealthChecker::RecordLocked(int node, bool ok, std::string_view source) {
  HealthState& state = states_[node];
  const bool changed = state.Record(ok);
  settled_[node].store(state.healthy() && state.confirmed() && state.consecutive_failures() == 0,
                       std::memory_order_relaxed);
  if (!changed) return;
  if (state.healthy()) {
    Log().info("node {} re-admitted after {} consecutive successes ({})", names_[node],
               state.consecutive_successes(), source);
  } else {
    Log().warn("node {} ejected after {} consecutive failures (last: {})", names_[node],
               state.consecutive_failures(), source);
  }
  if (listener_) listener_(node, state.healthy());
}

bool HealthChecker::Healthy(int node) const {
  std::lock_guard<std::mutex> lock(mu_);
  return node >= 0 && node < static_cast<int>(states_.size()) && states_[node].healthy();
}

bool HealthChecker::AwaitAllHealthy(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, WaitBound(timeout), [this] {
    return std::all_of(states_.begin(), states_.end(),
                       [](const HealthState& s) { return s.healthy() && s.confirmed(); });
  });
}

bool HealthChecker::AwaitNode(int node, bool healthy, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (node < 0 || node >= static_cast<int>(states_.size())) return false;
  return cv_.wait_for(lock, WaitBound(timeout), [this, node, healthy] {
    const HealthState& s = states_[node];
    return healthy ? (s.healthy() && s.confirmed()) : !s.healthy();
  });
}

std::vector<std::string> HealthChecker::UnhealthyNodes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (size_t i = 0; i < states_.size(); ++i) {
    if (!states_[i].healthy() || !states_[i].confirmed()) out.push_back(names_[i]);
  }
  return out;
}

}  // namespace ds::routing
