//! When to try a route again, how long to wait, and how many retries traffic
//! can afford.

mod backoff;
mod budget;

use std::time::Duration;

pub use backoff::Backoff;
pub use budget::RetryBudget;

use crate::ConfigError;

/// How a chain retries a failing route.
///
/// A failed attempt is retried on the same route when its kind
/// [`is_retryable`](shipped_core::UpstreamErrorKind::is_retryable), the route has
/// attempts left, the wait fits `retry_after_cap` and the deadline, and the
/// [`RetryBudget`] has a retry left. The wait is the larger of the jittered
/// backoff and the `Retry-After` of the latest response. Otherwise the chain
/// moves on to the next route at once.
///
/// ```
/// use std::time::Duration;
/// use llm_resilience::RetryPolicy;
///
/// let mut policy = RetryPolicy::default();
/// policy.max_attempts = 2;
/// policy.deadline = Duration::from_secs(30);
/// assert!(policy.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Calls to one route per request, the first one included. Default 3; a
    /// [`Route`](crate::Route) may override it.
    pub max_attempts: u32,
    /// Backoff between attempts on the same route. Default 500 ms to 8 s.
    pub backoff: Backoff,
    /// The longest wait the chain sleeps before a retry. A longer
    /// `Retry-After` moves on to the next route instead. Default 20 s.
    pub retry_after_cap: Duration,
    /// Time from the start of a request after which no new attempt starts,
    /// over all attempts and routes. Default 60 s.
    pub deadline: Duration,
}

impl RetryPolicy {
    /// Checks the policy.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::ZeroAttempts`] when `max_attempts` is zero and
    /// [`ConfigError::ZeroDuration`] for a zero deadline.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::ZeroAttempts);
        }
        if self.deadline.is_zero() {
            return Err(ConfigError::ZeroDuration {
                name: "retry.deadline",
            });
        }
        Ok(())
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Backoff::default(),
            retry_after_cap: Duration::from_secs(20),
            deadline: Duration::from_secs(60),
        }
    }
}
