//! Cost control for hello-ship: tenants and their API keys, token counts,
//! output caps, a versioned price table, daily budgets and request-rate limits.
//!
//! Admission of one request runs in this order:
//!
//! 1. [`TenantKeys::authenticate`] maps the bearer key to a [`Tenant`] (401 on error).
//! 2. [`CostControl::count_input`] counts the input tokens and checks the input
//!    limit (413 on error).
//! 3. [`CostControl::max_output_tokens`] gives the output cap to send upstream.
//! 4. [`CostControl::check_rate`] counts the request against the tenant's and
//!    the user's rate (429 with `Retry-After`).
//! 5. [`CostControl::reserve`] atomically reserves the worst-case cost against the
//!    tenant's daily budget (429 with `Retry-After` until UTC midnight).
//! 6. After the call, [`Reservation::settle`] replaces the reservation with the
//!    cost of the reported usage, from [`PriceTable::cost_usd`].
//!
//! State lives behind [`CostStore`]: [`MemoryStore`] for tests,
//! [`SqliteStore`] for one durable replica and [`RedisStore`] for several,
//! wrapped in the `on_unavailable` policy by [`open_store`].
//!
//! ```
//! use std::sync::Arc;
//! use shipped_core::{ChatMessage, ChatRequest, Usage};
//! use shipped_cost::{AdmissionError, CostControl, LimitsConfig, MemoryStore, PriceTable, TenantConfig, TenantKeys};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let tenants: Vec<TenantConfig> = vec![toml::from_str(r#"
//!     id = "acme"
//!     key_sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
//!     daily_budget_usd = 0.0001
//! "#).unwrap()];
//! let limits = LimitsConfig::default();
//! let keys = TenantKeys::from_config(&tenants, &limits).unwrap();
//! let control = CostControl::new(Arc::new(MemoryStore::new()), PriceTable::defaults(), limits);
//! let tenant = keys.authenticate("foo").unwrap();
//!
//! let request = ChatRequest::new(vec![ChatMessage::user("hi")]);
//! let input = control.count_input("gpt-4o-mini", &request).unwrap();
//! // Each reservation takes the worst case of 8 input and 64 output tokens: 39.6 micro-dollars.
//! let first = control.reserve(&tenant, &["gpt-4o-mini"], input, 64).await.unwrap();
//! let second = control.reserve(&tenant, &["gpt-4o-mini"], input, 64).await.unwrap();
//! // A third would take the worst case over the 100 micro-dollar budget.
//! let third = control.reserve(&tenant, &["gpt-4o-mini"], input, 64).await;
//! assert!(matches!(third, Err(AdmissionError::BudgetExceeded(_))));
//! first.release().await.unwrap();
//! second.settle("gpt-4o-mini", &Usage { input_tokens: 8, output_tokens: 2, ..Usage::default() }).await.unwrap();
//! # });
//! ```
#![warn(missing_docs)]

mod admission;
mod clock;
mod config;
mod cost;
mod money;
mod price;
mod rate;
mod report;
mod reservation;
mod store;
mod tenant;
mod tokens;

pub use admission::{AdmissionError, BudgetExceeded, CostControl};
pub use clock::{Clock, InvalidDay, ManualClock, SystemClock, UtcDay};
pub use config::{
    Backend, ConfigError, LimitsConfig, OnUnavailable, PriceConfig, StateConfig, TenantConfig,
};
pub use cost::Cost;
pub use money::Nanodollars;
pub use price::{DEFAULT_PRICES_VERSION, InvalidPrice, ModelPrice, PriceTable};
pub use rate::{RateCheck, RateLimit, RateLimited, RateScope, RateStatus};
pub use report::{MonthlyProjection, TenantDay, project_monthly, usage_report};
pub use reservation::Reservation;
pub use store::{
    BudgetState, CostStore, LedgerEntry, MemoryStore, OpenError, PolicyStore, RateDecision,
    RedisStore, ReservationId, ReserveOutcome, ReserveRequest, SettleRequest, SqliteStore,
    StoreError, StoreFuture, open_store,
};
pub use tenant::{Tenant, TenantKeys, Unauthenticated};
pub use tokens::{InputTooLarge, TokenCount, Tokenizer, count_input_tokens, effective_max_tokens};
