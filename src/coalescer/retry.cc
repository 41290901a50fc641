#include "coalescer/retry.h"

#include <algorithm>
#include <cmath>

namespace ds::coalescer {

bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

absl::Duration BackoffFor(const RetryOptions& options, int attempt, double uniform01) {
  const double base = absl::ToDoubleSeconds(options.initial_backoff) *
                      std::pow(options.multiplier, static_cast<double>(attempt));
  const double capped = std::min(base, absl::ToDoubleSeconds(options.max_backoff));
  const double factor = 1.0 + options.jitter * (2.0 * uniform01 - 1.0);
  return absl::Seconds(std::max(0.0, capped * factor));
}

RetryBudget::RetryBudget(const RetryOptions& options)
    : max_(options.budget_tokens), refund_(options.budget_refund), tokens_(options.budget_tokens) {}

bool RetryBudget::TryWithdraw() {
  MutexLock lock(mu_);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void RetryBudget::OnSuccess() {
  MutexLock lock(mu_);
  tokens_ = std::min(max_, tokens_ + refund_);
}

double RetryBudget::balance() const {
  MutexLock lock(mu_);
  return tokens_;
}

}  // namespace ds::coalescer
