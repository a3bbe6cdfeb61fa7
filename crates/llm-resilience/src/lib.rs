//! Retries, fallback chains, circuit breaking, stage timeouts and degraded
//! answers for LLM calls.
//!
//! A [`Chain`] holds ordered [`Route`]s (a provider and a model), followed by a
//! static degraded answer. A request walks the chain:
//!
//! 1. **Retry.** A failure whose kind
//!    [`is_retryable`](shipped_core::UpstreamErrorKind::is_retryable) (429, 500,
//!    502, 503, 504, 529, connection failures, timeouts) is retried on the same
//!    route, up to [`RetryPolicy::max_attempts`] calls, after a wait of
//!    `max(full-jitter backoff, Retry-After)`. A wait above
//!    [`RetryPolicy::retry_after_cap`], past the deadline, or beyond the shared
//!    [`RetryBudget`] moves on to the next route at once. 400, 401, 403 and 404
//!    are never retried.
//! 2. **Fall back.** The next route whose circuit is closed and whose fallback
//!    cap ([`ChainConfig::fallback_rpm`]) has room is tried. An authentication
//!    failure falls back without retrying; a context-length failure skips to a
//!    route with a larger context window and does not count against the
//!    route's [`CircuitBreaker`]. A failure that no route can fix (invalid
//!    request, filtered content) stops the chain with [`ChainError::Rejected`],
//!    because a degraded answer would hide the caller's bug.
//! 3. **Degrade.** When every route failed or was skipped, the chain answers
//!    with the configured [`DegradedConfig::message`] and a fresh
//!    [`IncidentId`](shipped_core::IncidentId), or with
//!    [`ChainError::Unavailable`] when degraded answers are disabled.
//!
//! Each retry, fallback, circuit change and degradation is logged with
//! `tracing` fields (`route`, `error_kind`, `error_type`, `attempt`,
//! `delay_ms`, `fallback_tier`); callers add `request_id` with a span.
//!
//! # Complete calls
//!
//! ```
//! use std::sync::Arc;
//! use llm_providers::mock::{MockFault, MockProvider, MockScript};
//! use llm_resilience::{Chain, ChainConfig, FallbackTier, Route};
//! use shipped_core::{ChatMessage, ChatRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let overloaded = MockFault::Status { status: 503, retry_after_secs: None };
//! let primary = Arc::new(MockProvider::new(MockScript::default().fault(overloaded)));
//! let secondary = Arc::new(MockProvider::new(MockScript::default().answer("Paris.")));
//!
//! let chain = Chain::builder("default")
//!     .route(Route::new("primary", "gpt-4o-mini", primary.clone()))
//!     .route(Route::new("secondary", "claude-3-5-haiku", secondary))
//!     .config(ChainConfig::default())
//!     .build()?;
//!
//! let request = ChatRequest::new(vec![ChatMessage::user("Capital of France?")]);
//! let outcome = chain.complete(request).await?;
//! assert_eq!(outcome.completion.text, "Paris.");
//! assert_eq!(outcome.tier, FallbackTier::Fallback(1));
//! assert_eq!(primary.calls(), 3); // the first call and two retries
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Streaming calls
//!
//! [`Chain::stream`] returns a [`ResilientStream`] of [`ChainEvent`]s. Before
//! the stream commits (see [`CommitMode`]), failures fail over without the
//! caller seeing them; after it, the stream ends with [`ChainEvent::Failed`]
//! and nothing follows. With [`ChainConfig::continue_on_fallback`] the next
//! route is instead asked to continue the partial answer, and any repeat of
//! the text already sent is dropped. Stage timeouts ([`StageTimeouts`]) bound
//! the connect, the first token, each idle gap and the whole request.
//!
//! # Cancellation
//!
//! Dropping the future of [`Chain::complete`] or a [`ResilientStream`] drops
//! the upstream call at once and starts no retry.
#![warn(missing_docs)]

mod breaker;
mod chain;
mod degraded;
mod error;
mod fallback_cap;
mod overlap;
pub mod retry;
mod route;
mod session;
mod stream;
mod timeouts;

pub use breaker::{BreakerConfig, BreakerPermit, BreakerState, CircuitBreaker};
pub use chain::{Chain, ChainBuilder, ChainConfig, ChainRequest, FallbackTier, Outcome};
pub use degraded::{Degraded, DegradedConfig};
pub use error::{ChainError, ConfigError};
pub use fallback_cap::{RateCap, ShareAlertConfig};
pub use retry::{Backoff, RetryBudget, RetryPolicy};
pub use route::Route;
pub use stream::{
    Attempt, ChainEvent, CommitHandle, CommitMode, ResilientStream, StreamEnd, StreamFailure,
};
pub use timeouts::StageTimeouts;
