use std::time::Duration;

use llm_providers::ProviderError;
use shipped_core::{IncidentId, UpstreamErrorKind};

/// A chain configuration that cannot work, reported by a constructor or by
/// [`ChainBuilder::build`](crate::ChainBuilder::build).
///
/// ```
/// use std::time::Duration;
/// use llm_resilience::{Backoff, ConfigError};
///
/// let error = Backoff::try_new(Duration::from_secs(2), Duration::from_secs(1)).unwrap_err();
/// assert!(matches!(error, ConfigError::BackoffMaxBelowBase { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The backoff base is zero, so every retry would fire at once.
    #[error("invalid backoff: the base delay must be greater than zero")]
    ZeroBackoffBase,
    /// The backoff maximum is below its base.
    #[error("invalid backoff: the maximum delay {max:?} is below the base delay {base:?}")]
    BackoffMaxBelowBase {
        /// The configured base delay.
        base: Duration,
        /// The configured maximum delay.
        max: Duration,
    },
    /// `max_attempts` is zero, so no route would ever be called.
    #[error("invalid retry policy: max_attempts must be at least 1")]
    ZeroAttempts,
    /// A duration setting is zero where a zero would fail every request.
    #[error("invalid setting {name}: the duration must be greater than zero")]
    ZeroDuration {
        /// The setting's name, such as `timeouts.idle`.
        name: &'static str,
    },
    /// The retry budget ratio is negative or not a number.
    #[error("invalid retry budget: the ratio {ratio} must be a finite number >= 0")]
    InvalidBudgetRatio {
        /// The configured ratio.
        ratio: f64,
    },
    /// The fallback share threshold is outside `0.0..=1.0`.
    #[error("invalid fallback share threshold {threshold}: use a value from 0.0 to 1.0")]
    InvalidShareThreshold {
        /// The configured threshold.
        threshold: f64,
    },
    /// The chain has no route.
    #[error("invalid chain: add at least one route")]
    NoRoutes,
    /// Two routes share a name, so logs and breakers could not tell them apart.
    #[error("invalid chain: the route name {name:?} is used twice")]
    DuplicateRoute {
        /// The repeated name.
        name: String,
    },
    /// Degraded answers are enabled with an empty message.
    #[error(
        "invalid degraded answer: the message is empty; set a message or disable degraded answers"
    )]
    EmptyDegradedMessage,
}

/// Why a chain call returned no answer.
///
/// A chain returns an error only in two cases: the request itself is at fault,
/// so no route can answer it, or every route failed while degraded answers are
/// disabled. Use [`kind`](Self::kind) to choose the HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// A route rejected the request in a way no other route can fix: the
    /// request is invalid, the provider filtered the content, or the prompt is
    /// longer than every route's context window. The server answers with a
    /// client error (400, 413 or a content-filter answer), not a degraded one.
    #[error("the request was rejected by route {route}")]
    Rejected {
        /// Name of the route that rejected the request.
        route: String,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },
    /// Every route failed or was skipped and degraded answers are disabled;
    /// the server answers 503.
    #[error("every route of the chain failed (incident {incident_id})")]
    Unavailable {
        /// Id to quote in the error answer and to find the logs by.
        incident_id: IncidentId,
        /// The last provider error, or `None` when every route was skipped
        /// because its circuit was open or its fallback cap was reached.
        #[source]
        last_error: Option<ProviderError>,
    },
}

impl ChainError {
    /// Returns the kind of upstream failure behind the error.
    ///
    /// When every route was skipped without a call, the kind is
    /// [`UpstreamErrorKind::Overloaded`].
    ///
    /// ```
    /// use llm_providers::ProviderError;
    /// use llm_resilience::ChainError;
    /// use shipped_core::UpstreamErrorKind;
    ///
    /// let error = ChainError::Rejected {
    ///     route: "primary".to_owned(),
    ///     source: ProviderError::from_status(400),
    /// };
    /// assert_eq!(error.kind(), UpstreamErrorKind::InvalidRequest);
    /// ```
    pub fn kind(&self) -> UpstreamErrorKind {
        match self {
            Self::Rejected { source, .. } => source.kind(),
            Self::Unavailable { last_error, .. } => last_error
                .as_ref()
                .map_or(UpstreamErrorKind::Overloaded, ProviderError::kind),
        }
    }
}
