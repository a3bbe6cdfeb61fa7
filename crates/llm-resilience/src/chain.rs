//! The fallback chain and its complete (non-streamed) call.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

use llm_providers::{ProviderError, ProviderRequest};
use shipped_core::{ChatMessage, ChatRequest, Completion, IncidentId, UpstreamErrorKind};
use tokio::time::Instant;
use tracing::warn;

use crate::breaker::CircuitBreaker;
use crate::fallback_cap::{RateCap, RepeatGate, ShareAlarm};
use crate::session::{Exhausted, Session, Verdict};
use crate::stream::{CommitMode, ResilientStream};
use crate::{
    BreakerConfig, BreakerState, ChainError, ConfigError, Degraded, DegradedConfig, RetryBudget,
    RetryPolicy, Route, ShareAlertConfig, StageTimeouts,
};

/// Settings of a chain. Every field has a production default.
///
/// ```
/// use std::num::NonZeroU32;
/// use llm_resilience::ChainConfig;
///
/// let mut config = ChainConfig::default();
/// config.retry.max_attempts = 2;
/// config.fallback_rpm = NonZeroU32::new(60);
/// config.continue_on_fallback = true;
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ChainConfig {
    /// Retries on one route, backoff, `Retry-After` cap and deadline.
    pub retry: RetryPolicy,
    /// When a route's circuit opens and for how long.
    pub breaker: BreakerConfig,
    /// Stage time limits; a route may override connect, first token and idle.
    pub timeouts: StageTimeouts,
    /// Requests per minute that each secondary route (every route after the
    /// first) may take; `None` for no cap. Default 300.
    pub fallback_rpm: Option<NonZeroU32>,
    /// When to warn that too many requests fall back.
    pub fallback_alert: ShareAlertConfig,
    /// The static answer after every route failed.
    pub degraded: DegradedConfig,
    /// Whether a stream that fails after output was sent asks the next route
    /// to continue the partial answer. Default `false`.
    pub continue_on_fallback: bool,
}

impl ChainConfig {
    /// Checks every part of the configuration.
    ///
    /// # Errors
    ///
    /// Returns the first [`ConfigError`] found in the retry policy, breaker,
    /// timeouts, fallback alert or degraded answer.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.retry.validate()?;
        self.breaker.validate()?;
        self.timeouts.validate()?;
        self.fallback_alert.validate()?;
        self.degraded.validate()
    }
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            timeouts: StageTimeouts::default(),
            fallback_rpm: NonZeroU32::new(300),
            fallback_alert: ShareAlertConfig::default(),
            degraded: DegradedConfig::default(),
            continue_on_fallback: false,
        }
    }
}

/// The request a chain sends to each route: the chat plus trace context. The model
/// comes from the route.
///
/// ```
/// use llm_resilience::ChainRequest;
/// use shipped_core::{ChatMessage, ChatRequest};
///
/// let mut request = ChainRequest::from(ChatRequest::new(vec![ChatMessage::user("hi")]));
/// request.request_id = Some("req_0123456789ab".to_owned());
/// assert!(request.traceparent.is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChainRequest {
    /// The conversation, with `max_tokens` already set to the effective cap.
    pub chat: ChatRequest,
    /// W3C `traceparent` to pass to providers.
    pub traceparent: Option<String>,
    /// Request id to pass to providers that accept one.
    pub request_id: Option<String>,
}

impl ChainRequest {
    /// Builds the provider request for `route`. A `partial` answer is appended as an
    /// assistant message for the route to continue.
    pub(crate) fn for_route(&self, route: &Route, partial: Option<&str>) -> ProviderRequest {
        let mut chat = self.chat.clone();
        if let Some(partial) = partial {
            chat.messages.push(ChatMessage::assistant(partial));
        }
        ProviderRequest {
            model: route.model().to_owned(),
            chat,
            traceparent: self.traceparent.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

impl From<ChatRequest> for ChainRequest {
    fn from(chat: ChatRequest) -> Self {
        Self {
            chat,
            traceparent: None,
            request_id: None,
        }
    }
}

/// The part of the chain that produced an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FallbackTier {
    /// The first route.
    Primary,
    /// The route at this position of the chain, counted from 0 for the
    /// primary, so the first fallback is `Fallback(1)`.
    Fallback(usize),
    /// The static degraded answer.
    Static,
}

impl FallbackTier {
    pub(crate) fn for_index(index: usize) -> Self {
        if index == 0 {
            Self::Primary
        } else {
            Self::Fallback(index)
        }
    }

    /// Returns the tier's name as logged in `fallback_tier`: `primary`, `fallback` or
    /// `static`.
    ///
    /// ```
    /// use llm_resilience::FallbackTier;
    ///
    /// assert_eq!(FallbackTier::Fallback(2).as_str(), "fallback");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Fallback(_) => "fallback",
            Self::Static => "static",
        }
    }
}

impl fmt::Display for FallbackTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer of a complete call and how the chain got it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The answer. For a degraded answer, the configured message with zero
    /// usage.
    pub completion: Completion,
    /// Name of the route that answered; `None` for a degraded answer.
    pub route: Option<String>,
    /// Provider calls made, the successful one included.
    pub attempts: u32,
    /// The part of the chain that answered.
    pub tier: FallbackTier,
    /// Set when the answer is the degraded one.
    pub degraded: Option<Degraded>,
}

#[derive(Debug)]
pub(crate) struct RouteSlot {
    pub(crate) route: Route,
    pub(crate) breaker: Arc<CircuitBreaker>,
    pub(crate) fallback_cap: Option<RateCap>,
    pub(crate) cap_warning: RepeatGate,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) routes: Vec<RouteSlot>,
    pub(crate) config: ChainConfig,
    pub(crate) budget: Arc<RetryBudget>,
    pub(crate) share: ShareAlarm,
}

impl Inner {
    /// Ends a request that ran out of routes before any output was sent: the
    /// degraded answer when enabled, else an error.
    pub(crate) fn degrade(
        &self,
        exhausted: Exhausted,
        attempts: u32,
    ) -> Result<Degraded, ChainError> {
        let last_error = match exhausted {
            Exhausted::TooLong { route, error } => {
                return Err(ChainError::Rejected {
                    route,
                    source: error,
                });
            }
            Exhausted::Unavailable(last_error) => last_error,
        };
        let incident_id = IncidentId::generate();
        let error_kind = last_error.as_ref().map(|e| e.kind().as_str());
        let error_type = last_error.as_ref().and_then(ProviderError::provider_code);
        if !self.config.degraded.enabled {
            warn!(
                chain = %self.name,
                incident_id = %incident_id,
                error_kind,
                error_type,
                attempts,
                "chain_unavailable"
            );
            return Err(ChainError::Unavailable {
                incident_id,
                last_error,
            });
        }
        warn!(
            chain = %self.name,
            incident_id = %incident_id,
            fallback_tier = "static",
            error_kind,
            error_type,
            attempts,
            "chain_degraded"
        );
        Ok(Degraded {
            incident_id,
            message: self.config.degraded.message.clone(),
        })
    }
}

/// A fallback chain: ordered routes, then the degraded answer.
///
/// Cloning is cheap and shares the routes, circuit breakers, fallback caps and
/// retry budget, so build one chain per model alias at start-up and clone it
/// into each request.
///
/// ```
/// use std::sync::Arc;
/// use llm_providers::mock::{MockProvider, MockScript};
/// use llm_resilience::{Chain, FallbackTier, Route};
/// use shipped_core::{ChatMessage, ChatRequest};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let down = Arc::new(MockProvider::new(MockScript::default().fault(
///     llm_providers::mock::MockFault::Status { status: 401, retry_after_secs: None },
/// )));
/// let up = Arc::new(MockProvider::new(MockScript::default().answer("Hello.")));
/// let chain = Chain::builder("default")
///     .route(Route::new("primary", "model-a", down))
///     .route(Route::new("secondary", "model-b", up))
///     .build()?;
///
/// let outcome = chain.complete(ChatRequest::new(vec![ChatMessage::user("hi")])).await?;
/// assert_eq!(outcome.completion.text, "Hello.");
/// assert_eq!(outcome.tier, FallbackTier::Fallback(1));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Chain {
    inner: Arc<Inner>,
}

impl Chain {
    /// Starts a chain named `name`, the model alias it serves, which appears
    /// in its log lines.
    pub fn builder(name: impl Into<String>) -> ChainBuilder {
        ChainBuilder {
            name: name.into(),
            routes: Vec::new(),
            config: ChainConfig::default(),
            budget: None,
        }
    }

    /// Returns the chain's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Returns the routes in order with their circuit state, for readiness checks and
    /// metrics.
    pub fn route_states(&self) -> Vec<(&str, BreakerState)> {
        self.inner
            .routes
            .iter()
            .map(|slot| (slot.route.name(), slot.breaker.state()))
            .collect()
    }

    /// Makes a complete call over the chain.
    ///
    /// Each route is tried in order with retries per the [`RetryPolicy`]; when
    /// every route failed or was skipped, the degraded answer is returned with
    /// [`FallbackTier::Static`]. Dropping the future cancels the upstream call
    /// at once and starts no retry.
    ///
    /// # Errors
    ///
    /// Returns [`ChainError::Rejected`] when a route rejected the request in a
    /// way no other route can fix (invalid request, filtered content, or a
    /// prompt longer than every context window), and
    /// [`ChainError::Unavailable`] when every route failed while degraded
    /// answers are disabled.
    pub async fn complete(&self, request: impl Into<ChainRequest>) -> Result<Outcome, ChainError> {
        let request = request.into();
        let mut session = Session::new(Arc::clone(&self.inner));
        loop {
            let call = match session.next_call().await {
                Ok(call) => call,
                Err(exhausted) => {
                    let degraded = self.inner.degrade(exhausted, session.attempts())?;
                    return Ok(Outcome {
                        completion: degraded.to_completion(),
                        route: None,
                        attempts: session.attempts(),
                        tier: FallbackTier::Static,
                        degraded: Some(degraded),
                    });
                }
            };
            let provider_request = request.for_route(&call.route, None);
            let timeouts = session.timeouts(&call.route);
            let limit = (Instant::now() + timeouts.first_token).min(session.total_deadline());
            let result =
                tokio::time::timeout_at(limit, call.route.provider().complete(&provider_request))
                    .await
                    .unwrap_or_else(|_| Err(ProviderError::new(UpstreamErrorKind::Timeout)));

            match result {
                Ok(completion) => {
                    let route = call.route.name().to_owned();
                    let tier = call.tier;
                    session.succeed(call);
                    return Ok(Outcome {
                        completion,
                        route: Some(route),
                        attempts: session.attempts(),
                        tier,
                        degraded: None,
                    });
                }
                Err(error) => {
                    let route = call.route.name().to_owned();
                    if let Verdict::Reject(source) = session.fail(call, error, true) {
                        return Err(ChainError::Rejected { route, source });
                    }
                }
            }
        }
    }

    /// Makes a streaming call over the chain.
    ///
    /// Failures before the stream is committed fail over without the caller
    /// seeing an error; after it, the stream ends with
    /// [`ChainEvent::Failed`](crate::ChainEvent::Failed). See [`CommitMode`]
    /// for when a stream commits. Dropping the stream cancels the upstream call
    /// at once.
    pub fn stream(&self, request: impl Into<ChainRequest>, commit: CommitMode) -> ResilientStream {
        ResilientStream::start(Arc::clone(&self.inner), request.into(), commit)
    }
}

/// Builds a [`Chain`]; see [`Chain::builder`].
#[derive(Debug)]
#[must_use]
pub struct ChainBuilder {
    name: String,
    routes: Vec<Route>,
    config: ChainConfig,
    budget: Option<Arc<RetryBudget>>,
}

impl ChainBuilder {
    /// Appends a route. The first route is the primary; the others are tried
    /// in the order added.
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// Replaces the configuration, which starts as [`ChainConfig::default`].
    pub fn config(mut self, config: ChainConfig) -> Self {
        self.config = config;
        self
    }

    /// Shares a retry budget with other chains. Without one, the chain gets its
    /// own [`RetryBudget::default`].
    pub fn retry_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Checks the configuration and builds the chain.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::NoRoutes`] for a chain without routes,
    /// [`ConfigError::DuplicateRoute`] when two routes share a name, and any
    /// error of [`ChainConfig::validate`].
    pub fn build(self) -> Result<Chain, ConfigError> {
        let Self {
            name,
            routes,
            config,
            budget,
        } = self;
        config.validate()?;
        if routes.is_empty() {
            return Err(ConfigError::NoRoutes);
        }
        for (index, route) in routes.iter().enumerate() {
            if routes[..index].iter().any(|r| r.name() == route.name()) {
                return Err(ConfigError::DuplicateRoute {
                    name: route.name().to_owned(),
                });
            }
        }
        let slots = routes
            .into_iter()
            .map(|route| RouteSlot {
                breaker: Arc::new(CircuitBreaker::new(route.name(), config.breaker)),
                fallback_cap: config.fallback_rpm.map(RateCap::per_minute),
                cap_warning: RepeatGate::default(),
                route,
            })
            .collect();
        Ok(Chain {
            inner: Arc::new(Inner {
                share: ShareAlarm::new(name.clone(), config.fallback_alert),
                name,
                routes: slots,
                config,
                budget: budget.unwrap_or_default(),
            }),
        })
    }
}
