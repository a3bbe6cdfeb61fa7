//! Configuration shared by the provider clients: stage deadlines and the error
//! a builder returns.

use std::time::Duration;

/// Per-stage deadlines of one provider call.
///
/// | stage | bounds |
/// |---|---|
/// | `connect` | opening the TCP and TLS connection |
/// | `first_token` | from the start of a streaming call to its first text or tool-call event, response headers included |
/// | `idle` | the gap between two events of a stream after the first token; provider keep-alives such as Anthropic's `ping` do not count as events |
/// | `total` | the whole call, complete or streaming |
///
/// A complete (non-streaming) call is bounded by `connect` and `total` only,
/// because providers send no byte of a complete answer before it is done.
/// A deadline that passes fails the call with
/// [`UpstreamErrorKind::Timeout`](shipped_core::UpstreamErrorKind::Timeout).
///
/// ```
/// use std::time::Duration;
/// use llm_providers::Timeouts;
///
/// let timeouts = Timeouts::try_new(
///     Duration::from_secs(5),
///     Duration::from_secs(30),
///     Duration::from_secs(30),
///     Duration::from_secs(300),
/// )?;
/// assert_eq!(timeouts, Timeouts::default());
/// assert!(Timeouts::try_new(Duration::ZERO, Duration::from_secs(1), Duration::from_secs(1), Duration::from_secs(1)).is_err());
/// # Ok::<_, llm_providers::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    connect: Duration,
    first_token: Duration,
    idle: Duration,
    total: Duration,
}

impl Timeouts {
    /// Creates deadlines for the four stages.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::InvalidTimeouts`] when a deadline is zero, or when
    /// `connect`, `first_token` or `idle` is longer than `total`.
    pub fn try_new(
        connect: Duration,
        first_token: Duration,
        idle: Duration,
        total: Duration,
    ) -> Result<Self, ConfigError> {
        let stages = [
            ("connect", connect),
            ("first_token", first_token),
            ("idle", idle),
            ("total", total),
        ];
        for (name, value) in stages {
            if value.is_zero() {
                return Err(ConfigError::InvalidTimeouts(format!(
                    "{name} timeout must be greater than zero"
                )));
            }
            if value > total {
                return Err(ConfigError::InvalidTimeouts(format!(
                    "{name} timeout ({} ms) must not exceed the total timeout ({} ms)",
                    value.as_millis(),
                    total.as_millis()
                )));
            }
        }
        Ok(Self {
            connect,
            first_token,
            idle,
            total,
        })
    }

    /// Deadline for opening the connection.
    pub fn connect(&self) -> Duration {
        self.connect
    }

    /// Deadline from the start of a streaming call to its first token.
    pub fn first_token(&self) -> Duration {
        self.first_token
    }

    /// Maximum gap between two stream events after the first token.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Deadline for the whole call.
    pub fn total(&self) -> Duration {
        self.total
    }
}

impl Default for Timeouts {
    /// 5 s to connect, 30 s to the first token, 30 s between tokens and 300 s in
    /// total.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_token: Duration::from_secs(30),
            idle: Duration::from_secs(30),
            total: Duration::from_secs(300),
        }
    }
}

/// An invalid provider configuration, returned by the builders' `build()`.
///
/// The text names the setting and never contains a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting was not given.
    #[error("missing setting: {0}")]
    Missing(&'static str),
    /// The stage deadlines are inconsistent.
    #[error("invalid timeouts: {0}")]
    InvalidTimeouts(String),
    /// The base URL does not parse or has a scheme other than http or https.
    #[error("invalid base URL: {0}")]
    InvalidBaseUrl(String),
    /// A value cannot be sent as an HTTP header, e.g. a key with a newline.
    #[error("invalid value for setting {0}: not a valid HTTP header value")]
    InvalidHeaderValue(&'static str),
    /// A setting has a value outside its allowed range.
    #[error("invalid value for setting {name}: {reason}")]
    InvalidValue {
        /// The setting's name.
        name: &'static str,
        /// The reason the value was rejected.
        reason: String,
    },
    /// The HTTP client could not be created, e.g. no TLS roots were found.
    #[error("failed to build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
}
