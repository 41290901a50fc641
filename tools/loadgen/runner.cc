#include "tools/loadgen/runner.h"

#include <algorithm>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace ds::loadgen {
namespace {

class WallClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepUntil(absl::Time t) override {
    absl::Duration d = t - absl::Now();
    if (d > absl::ZeroDuration()) absl::SleepFor(d);
  }
};

}  // namespace

Clock* RealClock() {
  static auto* const kClock = new WallClock();
  return kClock;
}

std::string ReadKeyOf(const RequestSpec& r) {
  switch (r.kind) {
    case RequestKind::kGetMessages:
      return absl::StrCat("GetMessages/", r.channel_id, "/", r.limit);
    case RequestKind::kGetMessage:
      return absl::StrCat("GetMessage/", r.channel_id, "/", r.message_id);
    case RequestKind::kSendMessage:
      return "";
  }
  return "";
}

struct Runner::Shared {
  absl::Mutex mu;
  absl::CondVar cv;  // signalled on every completion
  std::vector<RequestRecord> records ABSL_GUARDED_BY(mu);
  std::vector<std::string> codes ABSL_GUARDED_BY(mu) = {"OK"};
  std::map<std::string, std::string> first_error_message ABSL_GUARDED_BY(mu);
  int64_t in_flight ABSL_GUARDED_BY(mu) = 0;

  // Lock-free mirrors for progress().
  std::atomic<int64_t> issued{0};
  std::atomic<int64_t> completed{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> start_unix_ns{INT64_MIN};
};

Runner::Runner(Target* target, Workload* workload, RunOptions options, Clock* clock)
    : target_(target),
      workload_(workload),
      options_(options),
      clock_(clock),
      shared_(std::make_shared<Shared>()) {}

Runner::~Runner() = default;

Progress Runner::progress() const {
  Progress p;
  p.issued = shared_->issued.load(std::memory_order_relaxed);
  p.completed = shared_->completed.load(std::memory_order_relaxed);
  p.errors = shared_->errors.load(std::memory_order_relaxed);
  const int64_t start = shared_->start_unix_ns.load(std::memory_order_relaxed);
  if (start != INT64_MIN) p.start = absl::FromUnixNanos(start);
  return p;
}

void Runner::IssueOne(std::optional<absl::Time> scheduled) {
  RequestSpec spec = workload_->Next();
  int32_t key = -1;
  if (IsRead(spec.kind)) {
    auto [it, inserted] =
        key_index_.emplace(ReadKeyOf(spec), static_cast<int32_t>(read_keys_.size()));
    if (inserted) read_keys_.push_back(it->first);
    key = it->second;
  }
  {
    absl::MutexLock lock(&shared_->mu);
    ++shared_->in_flight;
  }
  const absl::Time now = clock_->Now();
  const absl::Time latency_base = scheduled.value_or(now);
  if (first_issue_ == absl::InfinitePast()) first_issue_ = now;
  last_issue_ = now;
  shared_->issued.fetch_add(1, std::memory_order_relaxed);
  const absl::Time start = absl::FromUnixNanos(shared_->start_unix_ns.load());
  const int64_t issue_ns = absl::ToInt64Nanoseconds(now - start);
  const RequestKind kind = spec.kind;
  std::shared_ptr<Shared> shared = shared_;
  Clock* clock = clock_;
  // `done` must not block: it takes the mutex only to append one record.
  target_->Issue(spec, now + options_.deadline,
                 [shared, clock, key, kind, issue_ns, latency_base](Outcome outcome) {
                   RequestRecord record;
                   record.key = key;
                   record.kind = kind;
                   record.issue_ns = issue_ns;
                   record.latency_ns = absl::ToInt64Nanoseconds(clock->Now() - latency_base);
                   record.node_arrived_us = outcome.node_arrived_us;
                   absl::MutexLock lock(&shared->mu);
                   if (!outcome.ok) {
                     auto it = std::find(shared->codes.begin(), shared->codes.end(), outcome.code);
                     record.code = static_cast<uint16_t>(it - shared->codes.begin());
                     if (it == shared->codes.end()) shared->codes.push_back(outcome.code);
                     shared->first_error_message.emplace(outcome.code, outcome.message);
                     shared->errors.fetch_add(1, std::memory_order_relaxed);
                   }
                   shared->records.push_back(record);
                   --shared->in_flight;
                   shared->completed.fetch_add(1, std::memory_order_relaxed);
                   shared->cv.Signal();
                 });
}

void Runner::WaitForCompletions() {
  // Every request has a deadline, and both transports report a timed-out
  // request, so waiting past deadline + grace means something is stuck.
  const absl::Time give_up = absl::Now() + options_.deadline + options_.completion_grace;
  absl::MutexLock lock(&shared_->mu);
  while (shared_->in_flight > 0) {
    if (shared_->cv.WaitWithDeadline(&shared_->mu, give_up)) break;
  }
}

RunResult Runner::Run() {
  const absl::Time start = clock_->Now();
  shared_->start_unix_ns.store(absl::ToUnixNanos(start));
  switch (options_.mode) {
    case Mode::kBurst:
      for (int64_t i = 0; i < options_.requests; ++i) IssueOne(std::nullopt);
      break;
    case Mode::kClosed: {
      const absl::Time end = start + options_.duration;
      while (true) {
        const absl::Time now = clock_->Now();
        if (now >= end) break;
        bool slot_free;
        {
          absl::MutexLock lock(&shared_->mu);
          if (shared_->in_flight >= options_.concurrency) {
            // Real-time wait, capped so that the end of the run is noticed.
            shared_->cv.WaitWithTimeout(&shared_->mu, std::min(end - now, absl::Milliseconds(50)));
          }
          slot_free = shared_->in_flight < options_.concurrency;
        }
        if (slot_free) IssueOne(std::nullopt);
      }
      break;
    }
    case Mode::kOpen: {
      const absl::Time end = start + options_.duration;
      const double interval_ns = 1e9 / options_.rate;
      for (int64_t i = 0;; ++i) {
        const absl::Time scheduled =
            start + absl::Nanoseconds(static_cast<int64_t>(interval_ns * static_cast<double>(i)));
        if (scheduled >= end) break;
        clock_->SleepUntil(scheduled);
        IssueOne(scheduled);
      }
      break;
    }
  }
  WaitForCompletions();

  RunResult result;
  result.start = start;
  result.elapsed = clock_->Now() - start;
  result.issued = shared_->issued.load();
  result.read_keys = read_keys_;
  result.arrival_window =
      first_issue_ == absl::InfinitePast() ? absl::ZeroDuration() : last_issue_ - first_issue_;
  absl::MutexLock lock(&shared_->mu);
  // Moved out: a straggler completing after this point appends to an empty
  // vector that nobody reads.
  result.records = std::move(shared_->records);
  result.codes = shared_->codes;
  result.first_error_message = shared_->first_error_message;
  result.unfinished = shared_->in_flight;
  return result;
}

std::vector<uint64_t> DiscoverNewestMessageIds(Target* target, int64_t channels,
                                               absl::Duration deadline, int window) {
  struct State {
    absl::Mutex mu;
    std::vector<uint64_t> ids ABSL_GUARDED_BY(mu);
    int64_t in_flight ABSL_GUARDED_BY(mu) = 0;
  };
  auto state = std::make_shared<State>();
  {
    absl::MutexLock lock(&state->mu);
    state->ids.assign(static_cast<size_t>(channels), 0);
  }
  auto below = [state, window]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) { return state->in_flight < window; };
  for (int64_t ch = 1; ch <= channels; ++ch) {
    {
      absl::MutexLock lock(&state->mu);
      state->mu.Await(absl::Condition(&below));
      ++state->in_flight;
    }
    RequestSpec r;
    r.kind = RequestKind::kGetMessages;
    r.channel_id = static_cast<uint64_t>(ch);
    r.limit = 1;
    target->Issue(r, absl::Now() + deadline, [state, ch](Outcome o) {
      absl::MutexLock lock(&state->mu);
      if (o.ok) state->ids[static_cast<size_t>(ch - 1)] = o.newest_message_id;
      --state->in_flight;
    });
  }
  absl::MutexLock lock(&state->mu);
  auto none = [state]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) { return state->in_flight == 0; };
  state->mu.Await(absl::Condition(&none));
  return state->ids;
}

}  // namespace ds::loadgen
