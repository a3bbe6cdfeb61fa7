//! State stores for budgets, the usage ledger and rate limits.
//!
//! Every backend implements [`CostStore`]. Its futures are boxed so the trait
//! is object-safe and the server can hold an `Arc<dyn CostStore>` chosen by
//! configuration.

mod local_rate;
mod memory;
mod policy;
mod redis;
mod sqlite;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use shipped_core::Usage;

use crate::config::{Backend, ConfigError, StateConfig};
use crate::{Nanodollars, RateCheck, RateLimited, RateStatus, TenantDay, UtcDay};

pub use self::memory::MemoryStore;
pub use self::policy::PolicyStore;
pub use self::redis::RedisStore;
pub use self::sqlite::SqliteStore;

/// The future every [`CostStore`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A failure of the state store.
///
/// [`is_unavailable`](Self::is_unavailable) separates a store that cannot be
/// reached (Redis down, a timeout) from one that returned an error. Only the
/// first is subject to the `on_unavailable` policy.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    source: BoxError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreErrorKind {
    Unavailable,
    Backend,
}

impl StoreError {
    /// Creates the error for a store that cannot be reached or did not respond in time.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self {
            kind: StoreErrorKind::Unavailable,
            source: source.into(),
        }
    }

    /// Creates the error for a store that returned an error, or for stored data that does not parse.
    pub fn backend(source: impl Into<BoxError>) -> Self {
        Self {
            kind: StoreErrorKind::Backend,
            source: source.into(),
        }
    }

    /// Returns true when the store could not be reached.
    pub fn is_unavailable(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            StoreErrorKind::Unavailable => f.write_str("state store unavailable"),
            StoreErrorKind::Backend => f.write_str("state store failed"),
        }
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Identifies one reservation within its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReservationId(pub u64);

/// A request to hold `amount` of a tenant's budget for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveRequest {
    /// The tenant id.
    pub tenant: String,
    /// The budget day.
    pub day: UtcDay,
    /// The worst-case cost of the call.
    pub amount: Nanodollars,
    /// The tenant's daily budget; `None` records the reservation without a limit.
    pub budget: Option<Nanodollars>,
    /// The current time, microseconds since the epoch; reservations that
    /// expired by then stop counting.
    pub now_micros: u64,
    /// When this reservation stops counting if it is never settled.
    pub expires_at_micros: u64,
}

/// The result of a [`ReserveRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// The amount is held under this id.
    Reserved(ReservationId),
    /// Spent plus reserved plus the amount would exceed the budget.
    Exceeded {
        /// Settled spending of the day.
        spent: Nanodollars,
        /// Reservations of calls still in flight.
        reserved: Nanodollars,
    },
    /// The store could not be reached and the `open` policy admits the call
    /// without a reservation.
    Unchecked,
}

/// One settled call: what the ledger records.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// When the call ended, microseconds since the epoch.
    pub at_micros: u64,
    /// The request id, when the server has one.
    pub request_id: Option<String>,
    /// The end user, when the request named one.
    pub user: Option<String>,
    /// The model that served the call.
    pub model: String,
    /// Token counts of the call.
    pub usage: Usage,
    /// The cost of the call.
    pub cost: Nanodollars,
    /// Whether the model had a price.
    pub priced: bool,
    /// Version of the price table the cost comes from.
    pub prices_version: String,
}

/// A request to turn a reservation into the real cost.
#[derive(Debug, Clone, PartialEq)]
pub struct SettleRequest {
    /// The tenant id.
    pub tenant: String,
    /// The budget day of the reservation.
    pub day: UtcDay,
    /// The reservation to drop; `None` for a call admitted without one.
    pub reservation: Option<ReservationId>,
    /// The ledger row to add.
    pub entry: LedgerEntry,
}

/// Settled and reserved amounts of one tenant on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetState {
    /// Settled spending.
    pub spent: Nanodollars,
    /// Reservations of calls still in flight that have not expired.
    pub reserved: Nanodollars,
}

/// The result of a rate check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Every limit allows the request; the status of the tightest one, if any.
    Allowed(Option<RateStatus>),
    /// A limit rejects the request; no limit counted it.
    Limited(RateLimited),
}

/// The state behind budgets, rate limits and the usage ledger.
///
/// Implementations make [`reserve`](Self::reserve) atomic: two calls can never
/// both pass against the same remaining budget, within a process or, for a
/// shared store, across processes.
pub trait CostStore: Send + Sync + fmt::Debug {
    /// Holds `request.amount` of the tenant's budget unless that would exceed it.
    fn reserve(&self, request: ReserveRequest) -> StoreFuture<'_, ReserveOutcome>;

    /// Drops the reservation (if it still exists), adds the real cost to the
    /// day's spending and records the ledger entry, in one step.
    fn settle(&self, request: SettleRequest) -> StoreFuture<'_, ()>;

    /// Drops a reservation without spending anything.
    fn release(&self, tenant: String, day: UtcDay, id: ReservationId) -> StoreFuture<'_, ()>;

    /// Counts a request against every check, or against none if one rejects it.
    fn check_rate(&self, checks: Vec<RateCheck>, now_micros: u64) -> StoreFuture<'_, RateDecision>;

    /// Settled and reserved amounts of a tenant's day.
    fn budget_state(
        &self,
        tenant: String,
        day: UtcDay,
        now_micros: u64,
    ) -> StoreFuture<'_, BudgetState>;

    /// Per-tenant totals for each day from `from` to `to`, both included,
    /// ordered by day then tenant.
    fn usage(&self, from: UtcDay, to: UtcDay) -> StoreFuture<'_, Vec<TenantDay>>;

    /// Returns `Ok` when the store can be reached; cheap enough to poll for `/ready`.
    fn health(&self) -> StoreFuture<'_, ()>;
}

/// Opens the store that `[state]` names, wrapped in its `on_unavailable` policy.
///
/// `lookup` reads an environment variable, e.g. `|name| std::env::var(name).ok()`;
/// Redis reads its URL from the variable `state.url_env` names. A Redis store
/// connects on first use, so this succeeds while Redis is down and
/// [`CostStore::health`] reports it.
///
/// ```
/// use shipped_cost::{Backend, StateConfig, open_store};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let config = StateConfig { backend: Backend::Memory, ..StateConfig::default() };
/// let store = open_store(&config, |_| None).await.unwrap();
/// store.health().await.unwrap();
/// # });
/// ```
///
/// # Errors
///
/// Returns [`OpenError::Config`] when the section is invalid or the URL
/// variable is unset, and [`OpenError::Store`] when the SQLite file cannot be
/// opened or the Redis URL does not parse.
pub async fn open_store(
    config: &StateConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn CostStore>, OpenError> {
    config.validate()?;
    let store: Arc<dyn CostStore> = match config.backend {
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Sqlite => Arc::new(SqliteStore::open(&config.path).await?),
        Backend::Redis => {
            let variable = config.url_env.as_deref().unwrap_or_default();
            let url = lookup(variable).filter(|url| !url.is_empty()).ok_or_else(|| {
                ConfigError::new(
                    "state.url_env",
                    format!("the environment variable {variable} is not set: set it to the Redis URL, e.g. redis://127.0.0.1:6379"),
                )
            })?;
            Arc::new(RedisStore::connect(&url, &config.key_prefix)?)
        }
    };
    Ok(Arc::new(PolicyStore::new(store, config.on_unavailable)))
}

/// Errors from [`open_store`].
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The `[state]` section is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error("failed to open the state store")]
    Store(#[from] StoreError),
}
