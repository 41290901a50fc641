//! Retry policy: the driver's default decisions, limited by a retry budget.
//!
//! The driver's `DefaultRetryPolicy` decides *whether* an error is worth
//! another attempt (Unavailable once on the next node, Overloaded or a broken
//! connection on the next node only for idempotent statements, read timeouts
//! where the data was there, never for LWTs). On its own it can multiply load
//! on a cluster that is already failing: every request may become two or
//! three. The budget caps retries at a fixed fraction of requests.
//!
//! Rationale: a token bucket in milli-tokens. Every request deposits
//! `percent * 10` milli-tokens, every retry withdraws 1000, and the balance
//! never exceeds `capacity` retries, so over any window retries are at most
//! `percent`% of requests plus the burst capacity. The initial balance (the
//! reserve) lets a quiet client still retry its first few failures.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use scylla::policies::retry::{
    DefaultRetryPolicy, RequestInfo, RetryDecision, RetryPolicy, RetrySession,
};

const MILLI: i64 = 1000;

/// Shared, lock-free retry budget. Thread-safe.
#[derive(Debug)]
pub struct RetryBudget {
    balance: AtomicI64,
    deposit: i64,
    capacity: i64,
    denied: AtomicU64,
}

impl RetryBudget {
    /// `percent`: retries allowed per 100 requests (0 disables retries).
    /// `reserve`: retries available before any request was made.
    /// `capacity`: most retries that can be saved up for a burst.
    pub fn new(percent: u32, reserve: u32, capacity: u32) -> Self {
        let enabled = percent > 0;
        Self {
            balance: AtomicI64::new(if enabled {
                i64::from(reserve) * MILLI
            } else {
                0
            }),
            deposit: i64::from(percent) * MILLI / 100,
            capacity: i64::from(capacity.max(reserve)) * MILLI,
            denied: AtomicU64::new(0),
        }
    }

    /// Records one request; call once per request submitted.
    pub fn deposit(&self) {
        if self.deposit == 0 {
            return;
        }
        let capacity = self.capacity;
        let deposit = self.deposit;
        // fetch_update cannot fail here: the closure always returns Some.
        let _ = self
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((b + deposit).min(capacity))
            });
    }

    /// Takes one retry from the budget; false if it is exhausted.
    pub fn try_withdraw(&self) -> bool {
        let ok = self
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b >= MILLI).then_some(b - MILLI)
            })
            .is_ok();
        if !ok {
            self.denied.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Retries refused so far for lack of budget.
    pub fn denied(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }
}

/// `DefaultRetryPolicy` gated by a `RetryBudget`.
#[derive(Debug)]
pub struct BudgetedRetryPolicy {
    inner: DefaultRetryPolicy,
    budget: Arc<RetryBudget>,
}

impl BudgetedRetryPolicy {
    pub fn new(budget: Arc<RetryBudget>) -> Self {
        Self {
            inner: DefaultRetryPolicy::new(),
            budget,
        }
    }
}

impl RetryPolicy for BudgetedRetryPolicy {
    // The driver opens a retry session lazily, on a request's first error,
    // so deposits cannot be made here: the shim deposits once per submitted
    // request (cql_execute) instead.
    fn new_session(&self) -> Box<dyn RetrySession> {
        Box::new(BudgetedRetrySession {
            inner: self.inner.new_session(),
            budget: Arc::clone(&self.budget),
        })
    }
}

struct BudgetedRetrySession {
    inner: Box<dyn RetrySession>,
    budget: Arc<RetryBudget>,
}

impl RetrySession for BudgetedRetrySession {
    fn decide_should_retry(&mut self, request_info: RequestInfo) -> RetryDecision {
        match self.inner.decide_should_retry(request_info) {
            decision @ (RetryDecision::RetrySameTarget(_) | RetryDecision::RetryNextTarget(_)) => {
                if self.budget.try_withdraw() {
                    decision
                } else {
                    RetryDecision::DontRetry
                }
            }
            other => other,
        }
    }

    fn reset(&mut self) {
        self.inner.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_is_available_before_any_request() {
        let budget = RetryBudget::new(10, 3, 100);
        assert!(budget.try_withdraw());
        assert!(budget.try_withdraw());
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
        assert_eq!(budget.denied(), 1);
    }

    #[test]
    fn ten_percent_allows_one_retry_per_ten_requests() {
        let budget = RetryBudget::new(10, 0, 100);
        for _ in 0..9 {
            budget.deposit();
        }
        assert!(!budget.try_withdraw());
        budget.deposit();
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
    }

    #[test]
    fn savings_are_capped() {
        let budget = RetryBudget::new(100, 0, 2);
        for _ in 0..50 {
            budget.deposit();
        }
        assert!(budget.try_withdraw());
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
    }

    #[test]
    fn zero_percent_never_retries() {
        let budget = RetryBudget::new(0, 10, 100);
        budget.deposit();
        assert!(!budget.try_withdraw());
    }
}
