use std::time::Duration;

use crate::ConfigError;

/// Time limits for the stages of one call.
///
/// A stage that runs over its limit fails the attempt with
/// [`UpstreamErrorKind::Timeout`](shipped_core::UpstreamErrorKind::Timeout),
/// which the chain retries or falls back from like any other retryable failure.
///
/// - `connect`: until a streaming call's response headers arrive.
/// - `first_token`: from the start of an attempt until its first text or tool
///   call. A complete (non-streamed) call receives its whole answer at once, so
///   the whole call must fit this limit.
/// - `idle`: the longest gap between two events of a stream after its first
///   token.
/// - `total`: from the start of the request to the end of the answer, over all
///   attempts.
///
/// ```
/// use std::time::Duration;
/// use llm_resilience::StageTimeouts;
///
/// let mut timeouts = StageTimeouts::default();
/// timeouts.idle = Duration::from_secs(10);
/// assert!(timeouts.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageTimeouts {
    /// Default 5 s.
    pub connect: Duration,
    /// Default 30 s.
    pub first_token: Duration,
    /// Default 30 s.
    pub idle: Duration,
    /// Default 300 s.
    pub total: Duration,
}

impl StageTimeouts {
    /// Checks that no limit is zero.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::ZeroDuration`] naming the first zero limit.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limits = [
            ("timeouts.connect", self.connect),
            ("timeouts.first_token", self.first_token),
            ("timeouts.idle", self.idle),
            ("timeouts.total", self.total),
        ];
        for (name, limit) in limits {
            if limit.is_zero() {
                return Err(ConfigError::ZeroDuration { name });
            }
        }
        Ok(())
    }
}

impl Default for StageTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_token: Duration::from_secs(30),
            idle: Duration::from_secs(30),
            total: Duration::from_secs(300),
        }
    }
}
