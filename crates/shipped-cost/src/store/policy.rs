//! The `on_unavailable` policy around a store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{
    BudgetState, CostStore, RateDecision, ReservationId, ReserveOutcome, ReserveRequest,
    SettleRequest, StoreError, StoreFuture,
};
use crate::config::OnUnavailable;
use crate::{RateCheck, TenantDay, UtcDay};

/// Minimum time between two warnings about admitting without the store.
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// A store wrapped in the `on_unavailable` policy.
///
/// With [`OnUnavailable::Open`], a reservation or rate check that cannot reach
/// the store admits the request without a check: [`CostStore::reserve`]
/// returns [`ReserveOutcome::Unchecked`] and [`CostStore::check_rate`] returns
/// `Allowed(None)`. A warning is logged at most once per 10 seconds with the
/// number of admissions since the last one. With [`OnUnavailable::Closed`]
/// the error is returned, and the server answers 503. Other errors, and every
/// error of the remaining methods, pass through under both policies.
///
/// ```
/// use std::sync::Arc;
/// use shipped_cost::{MemoryStore, OnUnavailable, PolicyStore};
///
/// let store = PolicyStore::new(Arc::new(MemoryStore::new()), OnUnavailable::Closed);
/// assert_eq!(store.policy(), OnUnavailable::Closed);
/// ```
#[derive(Debug)]
pub struct PolicyStore {
    inner: Arc<dyn CostStore>,
    policy: OnUnavailable,
    last_warning_micros: AtomicU64,
    unchecked_since_warning: AtomicU64,
}

impl PolicyStore {
    /// Wraps `inner` in `policy`.
    pub fn new(inner: Arc<dyn CostStore>, policy: OnUnavailable) -> Self {
        Self {
            inner,
            policy,
            last_warning_micros: AtomicU64::new(0),
            unchecked_since_warning: AtomicU64::new(0),
        }
    }

    /// Returns the policy in force.
    pub fn policy(&self) -> OnUnavailable {
        self.policy
    }

    /// Decides whether `error` admits the request unchecked, and logs a rate-limited warning if so.
    fn admits_despite(&self, error: &StoreError, now_micros: u64, what: &'static str) -> bool {
        if self.policy == OnUnavailable::Closed || !error.is_unavailable() {
            return false;
        }
        let unchecked = self.unchecked_since_warning.fetch_add(1, Ordering::Relaxed) + 1;
        let last = self.last_warning_micros.load(Ordering::Relaxed);
        let interval = u64::try_from(WARNING_INTERVAL.as_micros()).unwrap_or(u64::MAX);
        let due = last == 0 || now_micros.saturating_sub(last) >= interval;
        if due
            && self
                .last_warning_micros
                .compare_exchange(
                    last,
                    now_micros.max(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.unchecked_since_warning.store(0, Ordering::Relaxed);
            tracing::warn!(
                error = %error,
                cause = %error_chain(error),
                check = what,
                unchecked_admissions = unchecked,
                "state store unavailable; admitting requests without budget and rate checks (on_unavailable = \"open\")"
            );
        }
        true
    }
}

fn error_chain(error: &StoreError) -> String {
    let mut text = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl CostStore for PolicyStore {
    fn reserve(&self, request: ReserveRequest) -> StoreFuture<'_, ReserveOutcome> {
        Box::pin(async move {
            let now = request.now_micros;
            match self.inner.reserve(request).await {
                Err(error) if self.admits_despite(&error, now, "budget") => {
                    Ok(ReserveOutcome::Unchecked)
                }
                other => other,
            }
        })
    }

    fn settle(&self, request: SettleRequest) -> StoreFuture<'_, ()> {
        self.inner.settle(request)
    }

    fn release(&self, tenant: String, day: UtcDay, id: ReservationId) -> StoreFuture<'_, ()> {
        self.inner.release(tenant, day, id)
    }

    fn check_rate(&self, checks: Vec<RateCheck>, now_micros: u64) -> StoreFuture<'_, RateDecision> {
        Box::pin(async move {
            match self.inner.check_rate(checks, now_micros).await {
                Err(error) if self.admits_despite(&error, now_micros, "rate") => {
                    Ok(RateDecision::Allowed(None))
                }
                other => other,
            }
        })
    }

    fn budget_state(
        &self,
        tenant: String,
        day: UtcDay,
        now_micros: u64,
    ) -> StoreFuture<'_, BudgetState> {
        self.inner.budget_state(tenant, day, now_micros)
    }

    fn usage(&self, from: UtcDay, to: UtcDay) -> StoreFuture<'_, Vec<TenantDay>> {
        self.inner.usage(from, to)
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        self.inner.health()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Nanodollars, RateLimit};

    /// A store whose every call fails with an unavailable or a backend error.
    #[derive(Debug)]
    struct FailingStore {
        unavailable: bool,
    }

    impl FailingStore {
        fn error(&self) -> StoreError {
            if self.unavailable {
                StoreError::unavailable("connection refused")
            } else {
                StoreError::backend("script error")
            }
        }
    }

    impl CostStore for FailingStore {
        fn reserve(&self, _: ReserveRequest) -> StoreFuture<'_, ReserveOutcome> {
            Box::pin(async { Err(self.error()) })
        }
        fn settle(&self, _: SettleRequest) -> StoreFuture<'_, ()> {
            Box::pin(async { Err(self.error()) })
        }
        fn release(&self, _: String, _: UtcDay, _: ReservationId) -> StoreFuture<'_, ()> {
            Box::pin(async { Err(self.error()) })
        }
        fn check_rate(&self, _: Vec<RateCheck>, _: u64) -> StoreFuture<'_, RateDecision> {
            Box::pin(async { Err(self.error()) })
        }
        fn budget_state(&self, _: String, _: UtcDay, _: u64) -> StoreFuture<'_, BudgetState> {
            Box::pin(async { Err(self.error()) })
        }
        fn usage(&self, _: UtcDay, _: UtcDay) -> StoreFuture<'_, Vec<TenantDay>> {
            Box::pin(async { Err(self.error()) })
        }
        fn health(&self) -> StoreFuture<'_, ()> {
            Box::pin(async { Err(self.error()) })
        }
    }

    fn store(unavailable: bool, policy: OnUnavailable) -> PolicyStore {
        PolicyStore::new(Arc::new(FailingStore { unavailable }), policy)
    }

    fn reserve_request() -> ReserveRequest {
        ReserveRequest {
            tenant: "acme".to_owned(),
            day: UtcDay::from_micros(0),
            amount: Nanodollars::new(1),
            budget: Some(Nanodollars::new(10)),
            now_micros: 1,
            expires_at_micros: 2,
        }
    }

    fn checks() -> Vec<RateCheck> {
        vec![RateCheck::tenant("acme", RateLimit::per_minute(1).unwrap())]
    }

    #[tokio::test]
    async fn open_admits_unchecked_while_unavailable() {
        let store = store(true, OnUnavailable::Open);
        for _ in 0..3 {
            let outcome = store.reserve(reserve_request()).await.unwrap();
            assert_eq!(outcome, ReserveOutcome::Unchecked);
            let decision = store.check_rate(checks(), 1).await.unwrap();
            assert_eq!(decision, RateDecision::Allowed(None));
        }
        assert!(store.health().await.unwrap_err().is_unavailable());
    }

    #[tokio::test]
    async fn closed_rejects_while_unavailable() {
        let store = store(true, OnUnavailable::Closed);
        assert!(
            store
                .reserve(reserve_request())
                .await
                .unwrap_err()
                .is_unavailable()
        );
        assert!(
            store
                .check_rate(checks(), 1)
                .await
                .unwrap_err()
                .is_unavailable()
        );
    }

    #[tokio::test]
    async fn open_passes_backend_errors_through() {
        let store = store(false, OnUnavailable::Open);
        let error = store.reserve(reserve_request()).await.unwrap_err();
        assert!(!error.is_unavailable());
        assert!(store.check_rate(checks(), 1).await.is_err());
    }

    #[test]
    fn error_chain_lists_causes() {
        let error = StoreError::unavailable("connection refused");
        assert_eq!(error.to_string(), "state store unavailable");
        assert_eq!(error_chain(&error), "connection refused");
    }
}
