//! The admission flow: rate limits, then a budget reservation.

use std::sync::Arc;
use std::time::Duration;

use shipped_core::{ApiErrorKind, ChatRequest};

use crate::reservation::Reservation;
use crate::store::{CostStore, RateDecision, ReserveOutcome, ReserveRequest, StoreError};
use crate::{
    Clock, InputTooLarge, LimitsConfig, Nanodollars, PriceTable, RateCheck, RateLimited,
    RateStatus, SystemClock, Tenant, TokenCount, UtcDay, count_input_tokens, effective_max_tokens,
};

/// Default time after which an unsettled reservation stops counting.
const DEFAULT_RESERVATION_TTL: Duration = Duration::from_secs(900);

/// A tenant whose daily budget cannot hold the request's worst-case cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "daily budget of {budget} is exhausted ({spent} spent, {reserved} reserved, {requested} requested); retry after {retry_after:?}"
)]
pub struct BudgetExceeded {
    /// Time until the budget resets at the next UTC midnight.
    pub retry_after: Duration,
    /// The tenant's daily budget.
    pub budget: Nanodollars,
    /// Settled spending of the day.
    pub spent: Nanodollars,
    /// Reservations of calls still in flight.
    pub reserved: Nanodollars,
    /// The worst-case cost of the rejected request.
    pub requested: Nanodollars,
}

/// Reasons a request is not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// A tenant or user rate limit was reached (429).
    #[error(transparent)]
    RateLimited(RateLimited),
    /// The tenant's daily budget is spent (429).
    #[error(transparent)]
    BudgetExceeded(BudgetExceeded),
    /// The state store failed or, under the `closed` policy, could not be
    /// reached (503 when unavailable, else 500).
    #[error("admission check failed")]
    Store(#[source] StoreError),
}

impl AdmissionError {
    /// Returns the error kind the client receives, with its HTTP status.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shipped_core::ApiErrorKind;
    /// use shipped_cost::{AdmissionError, RateLimited, RateScope};
    ///
    /// let error = AdmissionError::RateLimited(RateLimited {
    ///     scope: RateScope::Tenant,
    ///     retry_after: Duration::from_millis(1_200),
    ///     limit: 60,
    ///     remaining: 0,
    ///     reset: Duration::from_secs(60),
    /// });
    /// assert_eq!(error.api_error_kind(), ApiErrorKind::RateLimited);
    /// assert_eq!(error.retry_after_secs(), Some(2));
    /// ```
    pub fn api_error_kind(&self) -> ApiErrorKind {
        match self {
            Self::RateLimited(_) => ApiErrorKind::RateLimited,
            Self::BudgetExceeded(_) => ApiErrorKind::BudgetExceeded,
            Self::Store(error) if error.is_unavailable() => ApiErrorKind::ServiceUnavailable,
            Self::Store(_) => ApiErrorKind::Internal,
        }
    }

    /// Returns the wait before a retry can succeed, if there is one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(limited) => Some(limited.retry_after),
            Self::BudgetExceeded(exceeded) => Some(exceeded.retry_after),
            Self::Store(_) => None,
        }
    }

    /// Returns the `Retry-After` header value: whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after().map(|wait| {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            secs.max(1)
        })
    }
}

/// Admission and accounting of calls: rate limits, output caps, input limits
/// and daily budgets over one [`CostStore`].
///
/// The server calls, per request, after [`TenantKeys::authenticate`](crate::TenantKeys::authenticate):
/// [`count_input`](Self::count_input) (413 on error),
/// [`max_output_tokens`](Self::max_output_tokens) (write it into the request),
/// [`check_rate`](Self::check_rate) and [`reserve`](Self::reserve) (429 or 503
/// on error), then the provider call, then [`Reservation::settle`] with the
/// reported usage.
///
/// ```
/// use std::sync::Arc;
/// use shipped_core::{ChatMessage, ChatRequest, Usage};
/// use shipped_cost::{CostControl, LimitsConfig, MemoryStore, PriceTable, TenantConfig, TenantKeys};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let tenants: Vec<TenantConfig> = vec![toml::from_str(r#"
///     id = "acme"
///     key_sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
///     daily_budget_usd = 1.0
/// "#).unwrap()];
/// let limits = LimitsConfig::default();
/// let keys = TenantKeys::from_config(&tenants, &limits).unwrap();
/// let control = CostControl::new(Arc::new(MemoryStore::new()), PriceTable::defaults(), limits);
///
/// let tenant = keys.authenticate("foo").unwrap();
/// let mut request = ChatRequest::new(vec![ChatMessage::user("Say hello")]);
/// let input = control.count_input("gpt-4o-mini", &request).unwrap();
/// let max_tokens = control.max_output_tokens(&tenant, request.max_tokens);
/// request.max_tokens = Some(max_tokens);
/// control.check_rate(&tenant, Some("user-1")).await.unwrap();
/// let mut reservation = control.reserve(&tenant, &["gpt-4o-mini"], input, max_tokens).await.unwrap();
/// reservation.mark_upstream_called();
/// // ... call the provider ...
/// let usage = Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() };
/// let cost = reservation.settle("gpt-4o-mini", &usage).await.unwrap();
/// assert_eq!(cost.nanodollars.get(), 4_500);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct CostControl {
    store: Arc<dyn CostStore>,
    prices: Arc<PriceTable>,
    limits: LimitsConfig,
    clock: Arc<dyn Clock>,
    reservation_ttl: Duration,
}

impl CostControl {
    /// Creates the admission layer on the system clock, with a 15-minute
    /// reservation lifetime.
    pub fn new(store: Arc<dyn CostStore>, prices: PriceTable, limits: LimitsConfig) -> Self {
        Self {
            store,
            prices: Arc::new(prices),
            limits,
            clock: Arc::new(SystemClock),
            reservation_ttl: DEFAULT_RESERVATION_TTL,
        }
    }

    /// Replaces the clock, e.g. with a [`ManualClock`](crate::ManualClock) in tests.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets how long an unsettled reservation counts against the budget
    /// (`state.reservation_ttl_secs`); it must outlast the longest request.
    pub fn with_reservation_ttl(mut self, ttl: Duration) -> Self {
        self.reservation_ttl = ttl;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn CostStore> {
        &self.store
    }

    /// The price table.
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// The global limits.
    pub fn limits(&self) -> &LimitsConfig {
        &self.limits
    }

    /// Counts the request's input tokens for `model` and checks the input limit.
    ///
    /// # Errors
    ///
    /// Returns [`InputTooLarge`] with the count and `limits.max_input_tokens`
    /// when the input is over the limit.
    pub fn count_input(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<TokenCount, InputTooLarge> {
        count_input_tokens(model, request).check_limit(self.limits.max_input_tokens)
    }

    /// Returns the output cap for a request of `tenant` whose `max_tokens` is `requested`.
    pub fn max_output_tokens(&self, tenant: &Tenant, requested: Option<u32>) -> u32 {
        effective_max_tokens(
            requested,
            tenant.max_output_tokens,
            self.limits.max_output_tokens,
        )
    }

    /// Counts the request against the tenant's rate and, when `user` is given,
    /// the user's rate; both or neither.
    ///
    /// Returns the status of the tighter limit for the `X-RateLimit-*`
    /// headers, or `None` when no limit applies (or the store was unreachable
    /// under the `open` policy).
    ///
    /// # Errors
    ///
    /// Returns [`AdmissionError::RateLimited`] with `Retry-After` and the header
    /// values when a limit is reached, and [`AdmissionError::Store`] when the
    /// store fails.
    pub async fn check_rate(
        &self,
        tenant: &Tenant,
        user: Option<&str>,
    ) -> Result<Option<RateStatus>, AdmissionError> {
        let mut checks = Vec::with_capacity(2);
        if let Some(limit) = tenant.rate {
            checks.push(RateCheck::tenant(&tenant.id, limit));
        }
        if let (Some(user), Some(limit)) = (user, tenant.rate_per_user) {
            checks.push(RateCheck::user(&tenant.id, user, limit));
        }
        if checks.is_empty() {
            return Ok(None);
        }
        let now = self.clock.now_micros();
        match self.store.check_rate(checks, now).await {
            Ok(RateDecision::Allowed(status)) => Ok(status),
            Ok(RateDecision::Limited(limited)) => Err(AdmissionError::RateLimited(limited)),
            Err(error) => Err(AdmissionError::Store(error)),
        }
    }

    /// Computes the worst-case cost of a call: `input` tokens and
    /// `max_output_tokens` on the most expensive of `models`.
    ///
    /// Pass every model the call may reach (the fallback chain), so a fallback
    /// to a dearer model cannot overspend. Unpriced models count as free.
    pub fn max_cost(
        &self,
        models: &[&str],
        input: TokenCount,
        max_output_tokens: u32,
    ) -> Nanodollars {
        models
            .iter()
            .filter_map(|model| self.prices.get(model))
            .map(|price| price.max_cost(input.tokens, u64::from(max_output_tokens)))
            .max()
            .unwrap_or(Nanodollars::ZERO)
    }

    /// Reserves the worst-case cost of a call against the tenant's budget for
    /// the current UTC day.
    ///
    /// The check and the reservation are one atomic step in the store, so
    /// concurrent requests cannot all pass against the same remaining budget.
    /// The returned guard must be settled with the real usage; dropping it
    /// releases the reservation, or settles the partial usage if
    /// [`Reservation::mark_upstream_called`] was called.
    ///
    /// # Errors
    ///
    /// Returns [`AdmissionError::BudgetExceeded`], with the time until the next
    /// UTC midnight, when spent plus reserved plus this cost would exceed the
    /// budget, and [`AdmissionError::Store`] when the store fails.
    pub async fn reserve(
        &self,
        tenant: &Tenant,
        models: &[&str],
        input: TokenCount,
        max_output_tokens: u32,
    ) -> Result<Reservation, AdmissionError> {
        let amount = self.max_cost(models, input, max_output_tokens);
        let now = self.clock.now_micros();
        let day = UtcDay::from_micros(now);
        let ttl = u64::try_from(self.reservation_ttl.as_micros()).unwrap_or(u64::MAX);
        let request = ReserveRequest {
            tenant: tenant.id.clone(),
            day,
            amount,
            budget: tenant.daily_budget,
            now_micros: now,
            expires_at_micros: now.saturating_add(ttl),
        };
        let outcome = self
            .store
            .reserve(request)
            .await
            .map_err(AdmissionError::Store)?;
        let id = match outcome {
            ReserveOutcome::Reserved(id) => Some(id),
            ReserveOutcome::Unchecked => None,
            ReserveOutcome::Exceeded { spent, reserved } => {
                return Err(AdmissionError::BudgetExceeded(BudgetExceeded {
                    retry_after: UtcDay::until_next_midnight(now),
                    budget: tenant.daily_budget.unwrap_or(Nanodollars::ZERO),
                    spent,
                    reserved,
                    requested: amount,
                }));
            }
        };
        Ok(Reservation::new(
            Arc::clone(&self.store),
            Arc::clone(&self.prices),
            Arc::clone(&self.clock),
            tenant.id.clone(),
            day,
            id,
            amount,
            models
                .first()
                .map(|model| (*model).to_owned())
                .unwrap_or_default(),
            input.tokens,
        ))
    }
}
