#include "storage/circuit_breaker_store.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/timer_thread.h"

namespace ds::storage {

std::string_view BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "unknown";
}

// ---------------------------------------------------------------- Breaker

CircuitBreakerStore::Breaker::Decision CircuitBreakerStore::Breaker::Admit(
    absl::Duration budget, std::function<void(const absl::Status&)> fail) {
  Decision d;
  if (options_.failures_to_open <= 0) return d;
  const absl::Time now = options_.clock->Now();
  bool half_opened = false;
  bool opened = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == BreakerState::kClosed) {
      OpenOnStalls(now, d);
      opened = state_ == BreakerState::kOpen;
    }
    if (state_ == BreakerState::kOpen && now >= open_until_) {
      state_ = BreakerState::kHalfOpen;
      half_opened = true;
    }
    const bool admit =
        state_ == BreakerState::kClosed || (state_ == BreakerState::kHalfOpen && !probe_in_flight_);
    if (admit) {
      if (state_ == BreakerState::kHalfOpen) probe_in_flight_ = d.probe = true;
      d.id = next_id_++;
      in_flight_.emplace(d.id, InFlight{now, budget >= options_.slow_call_budget, std::move(fail)});
      ArmWatchdog();
    } else {
      d.refusal = Refusal(now);
    }
  }
  if (opened && on_change_) on_change_(name_, BreakerState::kOpen, d.stalled);
  if (half_opened && on_change_) on_change_(name_, BreakerState::kHalfOpen, absl::OkStatus());
  return d;
}

void CircuitBreakerStore::Breaker::OpenOnStalls(absl::Time now, Decision& d) {
  if (now - last_answer_ < options_.slow_call_budget) return;  // the store is answering
  const InFlight* oldest = nullptr;
  for (const auto& [id, call] : in_flight_) {
    if (now - call.started < options_.slow_call_budget) break;  // the rest are younger
    if (call.counts) {
      oldest = &call;
      break;
    }
  }
  if (oldest == nullptr) return;
  const int stalled = static_cast<int>(in_flight_.size());
  d.stalled = absl::UnavailableError(absl::StrCat("store circuit open (", name_,
                                                  "s): the store answered nothing for ",
                                                  absl::FormatDuration(now - oldest->started),
                                                  " with ", stalled, " calls in flight (stalled)"));
  last_failure_ = d.stalled;
  state_ = BreakerState::kOpen;
  period_ = options_.open_for;
  open_until_ = now + period_;
  for (auto& [id, call] : in_flight_) d.to_fail.push_back(std::move(call.fail));
  in_flight_.clear();
}

absl::Status CircuitBreakerStore::Breaker::Refusal(absl::Time now) const {
  const absl::Duration left = std::max(open_until_ - now, absl::ZeroDuration());
  // A full disk stays RESOURCE_EXHAUSTED through the breaker (clients and the
  // routing client treat it as "no space", not as a node that is down).
  const absl::StatusCode code = last_failure_.code() == absl::StatusCode::kResourceExhausted
                                    ? absl::StatusCode::kResourceExhausted
                                    : absl::StatusCode::kUnavailable;
  return absl::Status(
      code,
      absl::StrCat("store circuit open (", name_, "s), last failure: ", last_failure_.message(),
                   state_ == BreakerState::kHalfOpen
                       ? "; a probe is in flight"
                       : absl::StrCat("; next probe in ", absl::ToInt64Milliseconds(left), " ms")));
}

CircuitBreakerStore::Breaker::Outcome CircuitBreakerStore::Breaker::Classify(
    const absl::Status& status, absl::Duration budget) const {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kResourceExhausted:
      return Outcome::kFailure;
    case absl::StatusCode::kDeadlineExceeded:
      return budget >= options_.slow_call_budget ? Outcome::kFailure : Outcome::kNeutral;
    case absl::StatusCode::kCancelled:
      return Outcome::kNeutral;
    default:
      return Outcome::kSuccess;  // the store answered
  }
}

void CircuitBreakerStore::Breaker::Record(const absl::Status& status, absl::Duration budget,
                                          bool probe, uint64_t id) {
  if (options_.failures_to_open <= 0) return;
  const Outcome outcome = Classify(status, budget);
  std::optional<BreakerState> changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.erase(id);
    const absl::Time now = options_.clock->Now();
    last_answer_ = now;
    if (probe) probe_in_flight_ = false;
    if (outcome == Outcome::kNeutral) return;
    if (outcome == Outcome::kSuccess) {
      failures_ = 0;
      last_success_ = now;
      // A call admitted before the breaker opened may succeed while it is
      // open; only the probe closes it.
      if (state_ == BreakerState::kHalfOpen && probe) {
        state_ = BreakerState::kClosed;
        period_ = options_.open_for;
        changed = state_;
      }
    } else {
      ++failures_;
      last_failure_ = status;
      const bool reopen = state_ == BreakerState::kHalfOpen && probe;
      const bool trip = state_ == BreakerState::kClosed && failures_ >= options_.failures_to_open &&
                        now - last_success_ >= options_.failure_window;
      if (reopen || trip) {
        if (reopen) period_ = std::min(period_ * 2, options_.max_open_for);
        if (trip) period_ = options_.open_for;
        state_ = BreakerState::kOpen;
        open_until_ = now + period_;
        changed = state_;
      }
    }
  }
  if (changed && on_change_) on_change_(name_, *changed, status);
}

void CircuitBreakerStore::Breaker::ArmWatchdog() {
  if (watchdog_armed_ || stopped_ || in_flight_.empty()) return;
  watchdog_armed_ = true;
  std::weak_ptr<Breaker> weak = weak_from_this();
  timers_->Schedule(absl::Now() + options_.slow_call_budget, [weak] {
    if (std::shared_ptr<Breaker> self = weak.lock()) self->CheckStalls();
  });
}

void CircuitBreakerStore::Breaker::CheckStalls() {
  Decision d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    watchdog_armed_ = false;
    if (stopped_) return;
    if (state_ == BreakerState::kClosed) OpenOnStalls(options_.clock->Now(), d);
    ArmWatchdog();
  }
  if (d.to_fail.empty()) return;
  if (on_change_) on_change_(name_, BreakerState::kOpen, d.stalled);
  for (const auto& fail : d.to_fail) fail(d.stalled);  // on the timer thread
}

void CircuitBreakerStore::Breaker::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
}

BreakerState CircuitBreakerStore::Breaker::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

// ---------------------------------------------------------------- the store

CircuitBreakerStore::CircuitBreakerStore(std::shared_ptr<MessageStore> inner,
                                         CircuitBreakerOptions options, BreakerListener on_change)
    : inner_(std::move(inner)),
      options_(options),
      timers_(std::make_unique<TimerThread>()),
      reads_(std::make_shared<Breaker>("read", options_, on_change, timers_.get())),
      writes_(std::make_shared<Breaker>("write", options_, on_change, timers_.get())) {}

CircuitBreakerStore::~CircuitBreakerStore() {
  reads_->Stop();
  writes_->Stop();
  timers_.reset();  // runs what is pending (refusals, early answers) now
}

namespace {

// One call's callback, answered once: by the store, or early by the breaker.
template <typename T>
class OnceAnswer {
 public:
  explicit OnceAnswer(Callback<T> done) : done_(std::move(done)) {}
  void Answer(absl::StatusOr<T> result) {
    if (!answered_.exchange(true)) done_(std::move(result));
  }

 private:
  Callback<T> done_;
  std::atomic<bool> answered_{false};
};

}  // namespace

template <typename T, typename Call>
void CircuitBreakerStore::Guard(const std::shared_ptr<Breaker>& breaker, const CallOptions& options,
                                Callback<T> done, Call call) {
  auto answer = std::make_shared<OnceAnswer<T>>(std::move(done));
  const absl::Duration budget = options.deadline - options_.clock->Now();
  Breaker::Decision d =
      breaker->Admit(budget, [answer](const absl::Status& why) { answer->Answer(why); });
  if (!d.to_fail.empty()) {
    timers_->Schedule(absl::InfinitePast(),
                      [fails = std::move(d.to_fail), why = std::move(d.stalled)] {
                        for (const auto& fail : fails) fail(why);
                      });
  }
  if (!d.refusal.ok()) {
    timers_->Schedule(absl::InfinitePast(),
                      [answer, why = std::move(d.refusal)] { answer->Answer(why); });
    return;
  }
  call([breaker, budget, probe = d.probe, id = d.id, answer](absl::StatusOr<T> result) {
    breaker->Record(result.status(), budget, probe, id);
    answer->Answer(std::move(result));
  });
}

void CircuitBreakerStore::GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                                      Callback<std::vector<Message>> done) {
  Guard<std::vector<Message>>(reads_, options, std::move(done), [&](auto answer) {
    inner_->GetMessages(query, options, std::move(answer));
  });
}

void CircuitBreakerStore::GetMessage(uint64_t channel_id, uint64_t message_id,
                                     const CallOptions& options, Callback<Message> done) {
  Guard<Message>(reads_, options, std::move(done), [&](auto answer) {
    inner_->GetMessage(channel_id, message_id, options, std::move(answer));
  });
}

void CircuitBreakerStore::SendMessage(const NewMessage& message, const CallOptions& options,
                                      Callback<SendResult> done) {
  Guard<SendResult>(writes_, options, std::move(done),
                    [&](auto answer) { inner_->SendMessage(message, options, std::move(answer)); });
}

void CircuitBreakerStore::BulkInsert(std::vector<Message> messages, const CallOptions& options,
                                     Callback<size_t> done) {
  inner_->BulkInsert(std::move(messages), options, std::move(done));
}

}  // namespace ds::storage
