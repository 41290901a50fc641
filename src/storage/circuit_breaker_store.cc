#include "storage/circuit_breaker_store.h"

#include <algorithm>
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

absl::Status CircuitBreakerStore::Breaker::Admit(bool* probe) {
  *probe = false;
  if (options_.failures_to_open <= 0) return absl::OkStatus();
  const absl::Time now = options_.clock->Now();
  bool half_opened = false;
  absl::Status refusal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == BreakerState::kClosed) return absl::OkStatus();
    if (state_ == BreakerState::kOpen && now >= open_until_) {
      state_ = BreakerState::kHalfOpen;
      half_opened = true;
    }
    if (state_ == BreakerState::kHalfOpen && !probe_in_flight_) {
      probe_in_flight_ = true;
      *probe = true;
    } else {
      const absl::Duration left = std::max(open_until_ - now, absl::ZeroDuration());
      refusal = absl::UnavailableError(absl::StrCat(
          "store circuit open (", name_, "s): ", failures_,
          " store failures in a row, last: ", last_failure_.message(),
          state_ == BreakerState::kHalfOpen
              ? "; a probe is in flight"
              : absl::StrCat("; next probe in ", absl::ToInt64Milliseconds(left), " ms")));
    }
  }
  if (half_opened && on_change_) on_change_(name_, BreakerState::kHalfOpen, absl::OkStatus());
  return refusal;
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
                                          bool probe) {
  if (options_.failures_to_open <= 0) return;
  const Outcome outcome = Classify(status, budget);
  std::optional<BreakerState> changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (probe) probe_in_flight_ = false;
    if (outcome == Outcome::kNeutral) return;
    if (outcome == Outcome::kSuccess) {
      failures_ = 0;
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
      const bool trip = state_ == BreakerState::kClosed && failures_ >= options_.failures_to_open;
      if (reopen || trip) {
        if (reopen) period_ = std::min(period_ * 2, options_.max_open_for);
        if (trip) period_ = options_.open_for;
        state_ = BreakerState::kOpen;
        open_until_ = options_.clock->Now() + period_;
        changed = state_;
      }
    }
  }
  if (changed && on_change_) on_change_(name_, *changed, status);
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
      reads_(std::make_shared<Breaker>("read", options_, on_change)),
      writes_(std::make_shared<Breaker>("write", options_, on_change)),
      timers_(std::make_unique<TimerThread>()) {}

CircuitBreakerStore::~CircuitBreakerStore() = default;

template <typename T, typename Call>
void CircuitBreakerStore::Guard(const std::shared_ptr<Breaker>& breaker, const CallOptions& options,
                                Callback<T> done, Call call) {
  bool probe = false;
  absl::Status refusal = breaker->Admit(&probe);
  if (!refusal.ok()) {
    timers_->Schedule(absl::InfinitePast(),
                      [done = std::move(done), refusal = std::move(refusal)]() mutable {
                        done(std::move(refusal));
                      });
    return;
  }
  const absl::Duration budget = options.deadline - options_.clock->Now();
  call([breaker, budget, probe, done = std::move(done)](absl::StatusOr<T> result) mutable {
    breaker->Record(result.status(), budget, probe);
    done(std::move(result));
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
