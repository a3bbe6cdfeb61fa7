//! Per-route circuit breaking.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use crate::ConfigError;

/// When a route's circuit opens and for how long.
///
/// ```
/// use std::time::Duration;
/// use llm_resilience::BreakerConfig;
///
/// let config = BreakerConfig { failure_threshold: 3, cool_down: Duration::from_secs(10) };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed calls that open the circuit. Default 5; zero turns
    /// circuit breaking off.
    pub failure_threshold: u32,
    /// How long an open circuit skips its route before one probe call may
    /// test it. Default 30 s.
    pub cool_down: Duration,
}

impl BreakerConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::ZeroDuration`] for a zero cool-down while circuit
    /// breaking is on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.failure_threshold > 0 && self.cool_down.is_zero() {
            return Err(ConfigError::ZeroDuration {
                name: "breaker.cool_down",
            });
        }
        Ok(())
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// The state of a route's circuit, as reported to health checks and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped until the cool-down ends.
    Open,
    /// The cool-down ended: one probe call decides whether the circuit closes.
    HalfOpen,
}

impl BreakerState {
    /// Returns the state's name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A circuit breaker for one route.
///
/// After `failure_threshold` consecutive failures the circuit opens and
/// [`try_acquire`](Self::try_acquire) returns `None` until the cool-down ends,
/// so requests skip the route without waiting. Then one request gets a probe
/// permit: its success closes the circuit, its failure opens it again. Time
/// comes from tokio's clock, so tests can run it on a paused clock.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use llm_resilience::{BreakerConfig, BreakerState, CircuitBreaker};
///
/// let config = BreakerConfig { failure_threshold: 1, cool_down: Duration::from_secs(30) };
/// let breaker = Arc::new(CircuitBreaker::new("primary", config));
///
/// let permit = breaker.try_acquire().expect("a closed circuit admits calls");
/// permit.failure();
/// assert_eq!(breaker.state(), BreakerState::Open);
/// assert!(breaker.try_acquire().is_none());
/// ```
#[derive(Debug)]
pub struct CircuitBreaker {
    route: Arc<str>,
    config: BreakerConfig,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// Creates a closed breaker for the route named `route`.
    pub fn new(route: impl Into<Arc<str>>, config: BreakerConfig) -> Self {
        Self {
            route: route.into(),
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Returns the current state. An open circuit whose cool-down has ended reports
    /// [`BreakerState::HalfOpen`].
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if Instant::now() < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to call the route. Returns `None` while the circuit is open or
    /// while another request's probe is in flight.
    ///
    /// Report the call's result through the permit. A permit dropped without a
    /// result, for example when the request was cancelled, changes nothing
    /// except that a probe slot becomes free again.
    pub fn try_acquire(self: &Arc<Self>) -> Option<BreakerPermit> {
        let mut state = self.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if Instant::now() < until => return None,
            State::Open { .. } => {
                info!(route = %self.route, breaker_state = "half_open", "circuit_half_open");
                *state = State::HalfOpen { probing: true };
                true
            }
            State::HalfOpen { probing: true } => return None,
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                true
            }
        };
        Some(BreakerPermit {
            breaker: Arc::clone(self),
            probe,
            settled: false,
        })
    }

    fn record_success(&self) {
        let mut state = self.lock();
        if !matches!(*state, State::Closed { .. }) {
            info!(route = %self.route, breaker_state = "closed", "circuit_closed");
        }
        *state = State::Closed { failures: 0 };
    }

    fn record_failure(&self, probe: bool) {
        let threshold = self.config.failure_threshold;
        if threshold == 0 {
            return;
        }
        let mut state = self.lock();
        let until = Instant::now() + self.config.cool_down;
        let cool_down_ms = duration_ms(self.config.cool_down);
        match *state {
            State::Closed { failures } if failures + 1 >= threshold => {
                warn!(
                    route = %self.route,
                    breaker_state = "open",
                    failures = failures + 1,
                    cool_down_ms,
                    "circuit_opened"
                );
                *state = State::Open { until };
            }
            State::Closed { failures } => {
                *state = State::Closed {
                    failures: failures + 1,
                }
            }
            State::HalfOpen { .. } if probe => {
                warn!(route = %self.route, breaker_state = "open", cool_down_ms, "circuit_reopened");
                *state = State::Open { until };
            }
            // A call admitted before the circuit opened failed late; the
            // circuit is already open or probing.
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }

    fn release(&self, probe: bool) {
        let mut state = self.lock();
        if probe && matches!(*state, State::HalfOpen { probing: true }) {
            *state = State::HalfOpen { probing: false };
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every state is valid on its own, so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Permission to make one call through a [`CircuitBreaker`].
///
/// Consume it with [`success`](Self::success), [`failure`](Self::failure) or
/// [`release`](Self::release); dropping it is the same as `release`.
#[derive(Debug)]
pub struct BreakerPermit {
    breaker: Arc<CircuitBreaker>,
    probe: bool,
    settled: bool,
}

impl BreakerPermit {
    /// Returns whether this call is the half-open circuit's probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Records a successful call, which closes the circuit.
    pub fn success(mut self) {
        self.settled = true;
        self.breaker.record_success();
    }

    /// Records a failed call, which counts toward opening the circuit or
    /// re-opens a half-open one.
    pub fn failure(mut self) {
        self.settled = true;
        self.breaker.record_failure(self.probe);
    }

    /// Ends the call without counting it either way, e.g. for a request the
    /// route rejected as invalid. A probe slot becomes free again.
    pub fn release(self) {}
}

impl Drop for BreakerPermit {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.release(self.probe);
        }
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32) -> Arc<CircuitBreaker> {
        let config = BreakerConfig {
            failure_threshold: threshold,
            cool_down: Duration::from_secs(30),
        };
        Arc::new(CircuitBreaker::new("primary", config))
    }

    fn fail(breaker: &Arc<CircuitBreaker>) {
        breaker.try_acquire().unwrap().failure();
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures() {
        let breaker = breaker(3);
        fail(&breaker);
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Closed);
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.try_acquire().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_failure_count() {
        let breaker = breaker(2);
        fail(&breaker);
        breaker.try_acquire().unwrap().success();
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_admits_one_probe() {
        let breaker = breaker(1);
        fail(&breaker);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(breaker.state(), BreakerState::HalfOpen);

        let probe = breaker.try_acquire().unwrap();
        assert!(probe.is_probe());
        assert!(breaker.try_acquire().is_none());
        probe.success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens() {
        let breaker = breaker(1);
        fail(&breaker);
        tokio::time::advance(Duration::from_secs(30)).await;
        breaker.try_acquire().unwrap().failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(breaker.try_acquire().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_probe_frees_slot() {
        let breaker = breaker(1);
        fail(&breaker);
        tokio::time::advance(Duration::from_secs(30)).await;
        drop(breaker.try_acquire().unwrap());
        assert!(breaker.try_acquire().unwrap().is_probe());
    }

    #[tokio::test(start_paused = true)]
    async fn zero_threshold_never_opens() {
        let breaker = breaker(0);
        for _ in 0..100 {
            fail(&breaker);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
