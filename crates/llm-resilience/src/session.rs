//! The per-request walk over a chain: which route to call next, whether to
//! retry, and when to give up. Both call styles drive it.

use std::sync::Arc;
use std::time::Duration;

use llm_providers::ProviderError;
use shipped_core::UpstreamErrorKind;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::breaker::BreakerPermit;
use crate::chain::{FallbackTier, Inner};
use crate::{Route, StageTimeouts};

/// The shortest time between two warnings that a route's fallback cap is
/// reached; the warning counts the requests skipped since the last one.
const CAP_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// One admitted call to a route.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) index: usize,
    pub(crate) route: Route,
    /// Calls made by this request so far, this one included.
    pub(crate) attempt: u32,
    pub(crate) tier: FallbackTier,
    permit: BreakerPermit,
}

/// The decision after a failed call.
pub(crate) enum Verdict {
    /// Ask [`Session::next_call`] for the next call.
    Continue,
    /// No route can answer this request: return the error to the caller.
    Reject(ProviderError),
}

/// The reason the chain ran out of routes.
pub(crate) enum Exhausted {
    /// Every route failed, was skipped or the deadline passed.
    Unavailable(Option<ProviderError>),
    /// The last route called reported a context-length failure and no route
    /// with a larger window was left.
    TooLong {
        /// The route that reported the latest context-length failure.
        route: String,
        error: ProviderError,
    },
}

#[derive(Debug)]
pub(crate) struct Session {
    inner: Arc<Inner>,
    started: Instant,
    deadline: Instant,
    /// Index of the first route not tried yet.
    cursor: usize,
    /// Index of the route of the latest call.
    current: Option<usize>,
    route_attempts: u32,
    attempts: u32,
    /// Set when the latest failure is to be retried on the same route.
    retry_delay: Option<Duration>,
    /// After a context-length failure: the failed route's window. Routes
    /// whose window is not larger are skipped.
    min_window: Option<u32>,
    last_error: Option<ProviderError>,
    fell_back: bool,
}

impl Session {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        let started = Instant::now();
        inner.budget.deposit();
        inner.share.record_request();
        Self {
            deadline: started + inner.config.retry.deadline,
            inner,
            started,
            cursor: 0,
            current: None,
            route_attempts: 0,
            attempts: 0,
            retry_delay: None,
            min_window: None,
            last_error: None,
            fell_back: false,
        }
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Returns the instant the whole request must end by.
    pub(crate) fn total_deadline(&self) -> Instant {
        self.started + self.inner.config.timeouts.total
    }

    /// Returns the instant after which no new attempt starts.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline.min(self.total_deadline())
    }

    /// Starts a fresh retry deadline from now, for a continuation after
    /// output was already sent.
    pub(crate) fn restart_deadline(&mut self) {
        self.deadline = Instant::now() + self.inner.config.retry.deadline;
    }

    /// Returns the stage timeouts that apply to `route`.
    pub(crate) fn timeouts(&self, route: &Route) -> StageTimeouts {
        let mut timeouts = route.timeouts().unwrap_or(self.inner.config.timeouts);
        timeouts.total = self.inner.config.timeouts.total;
        timeouts
    }

    /// Waits out a pending retry delay, then returns the next admitted call:
    /// the same route for a retry, else the next route whose circuit is closed,
    /// whose context window is large enough and whose fallback cap has room.
    /// Skipping a route costs no waiting.
    pub(crate) async fn next_call(&mut self) -> Result<Call, Exhausted> {
        if let (Some(delay), Some(index)) = (self.retry_delay.take(), self.current) {
            tokio::time::sleep(delay).await;
            if let Some(permit) = self.inner.routes[index].breaker.try_acquire() {
                return Ok(self.admit(index, permit));
            }
            debug!(route = %self.inner.routes[index].route.name(), "circuit_opened_before_retry");
        }

        while self.cursor < self.inner.routes.len() {
            if Instant::now() >= self.deadline() {
                info!(attempts = self.attempts, "retry_deadline_passed");
                break;
            }
            let index = self.cursor;
            self.cursor += 1;
            let slot = &self.inner.routes[index];
            let name = slot.route.name();
            if let (Some(min), Some(window)) = (self.min_window, slot.route.context_window()) {
                if window <= min {
                    debug!(route = %name, context_window = window, "route_skipped_context_window");
                    continue;
                }
            }
            let Some(permit) = slot.breaker.try_acquire() else {
                debug!(route = %name, breaker_state = "open", "route_skipped_circuit_open");
                continue;
            };
            if let Some(cap) = slot.fallback_cap.as_ref().filter(|_| index > 0) {
                if !cap.try_acquire() {
                    debug!(route = %name, "route_skipped_fallback_cap");
                    if let Some(skipped) = slot.cap_warning.pass(CAP_WARNING_INTERVAL) {
                        warn!(route = %name, skipped, "fallback_cap_reached");
                    }
                    continue;
                }
            }
            if index > 0 {
                let from = self.current.map(|i| self.inner.routes[i].route.name());
                info!(
                    route = %name,
                    from_route = from,
                    fallback_tier = %FallbackTier::for_index(index),
                    error_kind = self.last_error.as_ref().map(|e| e.kind().as_str()),
                    "falling_back"
                );
                if !self.fell_back {
                    self.fell_back = true;
                    self.inner.share.record_fallback();
                }
            }
            self.current = Some(index);
            self.route_attempts = 0;
            return Ok(self.admit(index, permit));
        }

        Err(self.exhausted())
    }

    fn admit(&mut self, index: usize, permit: BreakerPermit) -> Call {
        self.attempts += 1;
        self.route_attempts += 1;
        let route = self.inner.routes[index].route.clone();
        debug!(route = %route.name(), attempt = self.attempts, probe = permit.is_probe(), "calling_route");
        Call {
            index,
            route,
            attempt: self.attempts,
            tier: FallbackTier::for_index(index),
            permit,
        }
    }

    fn exhausted(&mut self) -> Exhausted {
        match self.last_error.take() {
            Some(error) if error.kind() == UpstreamErrorKind::ContextLengthExceeded => {
                let route = self
                    .current
                    .map(|index| self.inner.routes[index].route.name().to_owned())
                    .unwrap_or_default();
                Exhausted::TooLong { route, error }
            }
            last_error => Exhausted::Unavailable(last_error),
        }
    }

    /// Records a successful call.
    pub(crate) fn succeed(&mut self, call: Call) {
        call.permit.success();
    }

    /// Records a failed call and decides what comes next. With
    /// `may_retry == false` the same route is not tried again, as after
    /// output was already sent.
    pub(crate) fn fail(&mut self, call: Call, error: ProviderError, may_retry: bool) -> Verdict {
        let Call {
            index,
            route,
            attempt,
            permit,
            ..
        } = call;
        let kind = error.kind();
        let error_type = error.provider_code().map(str::to_owned);
        self.retry_delay = None;

        if kind == UpstreamErrorKind::ContextLengthExceeded {
            // The route works; this request is too long for it.
            permit.release();
            if let Some(window) = route.context_window() {
                self.min_window = Some(self.min_window.map_or(window, |min| min.max(window)));
            }
            info!(
                route = %route.name(),
                error_kind = kind.as_str(),
                error_type,
                attempt,
                "context_window_exceeded"
            );
            self.last_error = Some(error);
            return Verdict::Continue;
        }
        if !kind.may_fall_back() {
            permit.release();
            info!(
                route = %route.name(),
                error_kind = kind.as_str(),
                error_type,
                attempt,
                "request_rejected"
            );
            return Verdict::Reject(error);
        }

        permit.failure();
        match self.retry_delay_for(&route, &error, may_retry) {
            Ok(delay) => {
                info!(
                    route = %route.name(),
                    error_kind = kind.as_str(),
                    error_type,
                    attempt,
                    delay_ms = millis(delay),
                    "retrying"
                );
                self.retry_delay = Some(delay);
                self.current = Some(index);
            }
            Err(reason) => {
                info!(
                    route = %route.name(),
                    error_kind = kind.as_str(),
                    error_type,
                    attempt,
                    reason,
                    "route_failed"
                );
            }
        }
        self.last_error = Some(error);
        Verdict::Continue
    }

    /// Computes the wait before retrying `route`, or the reason it is not
    /// retried.
    fn retry_delay_for(
        &self,
        route: &Route,
        error: &ProviderError,
        may_retry: bool,
    ) -> Result<Duration, &'static str> {
        let policy = &self.inner.config.retry;
        if !may_retry {
            return Err("output already sent");
        }
        if !error.is_retryable() {
            return Err("error kind is not retryable");
        }
        let max_attempts = route.max_attempts().unwrap_or(policy.max_attempts);
        if self.route_attempts >= max_attempts {
            return Err("attempts exhausted");
        }
        let backoff = policy.backoff.delay(self.route_attempts);
        let delay = backoff.max(error.retry_after().unwrap_or_default());
        if delay > policy.retry_after_cap {
            return Err("retry-after above cap");
        }
        if Instant::now() + delay >= self.deadline() {
            return Err("deadline too close");
        }
        if !self.inner.budget.try_withdraw() {
            return Err("retry budget exhausted");
        }
        Ok(delay)
    }
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
