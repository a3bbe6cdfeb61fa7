//! Request-rate limits with the generic cell rate algorithm (GCRA).
//!
//! GCRA keeps one number per key, the theoretical arrival time (TAT) of the
//! next request. A request at `now` is allowed when
//! `max(tat, now) + interval - burst × interval <= now`, and then moves the
//! TAT forward by one interval. The same arithmetic runs in Rust for the
//! in-process stores and in a Lua script for Redis.

use std::time::Duration;

const MICROS_PER_MINUTE: u64 = 60_000_000;

/// A request rate: so many requests per minute, with a burst.
///
/// ```
/// use std::time::Duration;
/// use shipped_cost::RateLimit;
///
/// let limit = RateLimit::per_minute(600).unwrap();
/// assert_eq!(limit.interval(), Duration::from_millis(100));
/// assert_eq!(limit.burst(), 600);
/// assert_eq!(limit.with_burst(10).unwrap().burst(), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    per_minute: u32,
    burst: u32,
}

impl RateLimit {
    /// Allows `per_minute` requests per minute, all of them at once if they come
    /// in a burst. Returns `None` for zero.
    pub fn per_minute(per_minute: u32) -> Option<Self> {
        (per_minute > 0).then_some(Self {
            per_minute,
            burst: per_minute,
        })
    }

    /// Sets how many requests may arrive at once after a quiet period.
    /// Returns `None` for zero.
    pub fn with_burst(self, burst: u32) -> Option<Self> {
        (burst > 0).then_some(Self { burst, ..self })
    }

    /// Requests per minute, the value of `X-RateLimit-Limit`.
    pub fn requests_per_minute(&self) -> u32 {
        self.per_minute
    }

    /// The largest number of requests admitted at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Time between two requests at the steady rate.
    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.interval_micros())
    }

    /// The interval in whole microseconds, rounded up so the rate is never exceeded.
    pub(crate) fn interval_micros(&self) -> u64 {
        MICROS_PER_MINUTE.div_ceil(u64::from(self.per_minute))
    }

    /// The window of a full burst: `burst × interval`.
    pub(crate) fn burst_window_micros(&self) -> u64 {
        self.interval_micros().saturating_mul(u64::from(self.burst))
    }
}

/// A request over a rate limit, with what the `Retry-After` and
/// `X-RateLimit-*` headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit of {limit} requests per minute reached; retry after {retry_after:?}")]
pub struct RateLimited {
    /// The limit that was reached.
    pub scope: RateScope,
    /// Time until one more request is allowed.
    pub retry_after: Duration,
    /// Requests per minute (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Requests allowed right now (`X-RateLimit-Remaining`); always 0 here.
    pub remaining: u32,
    /// Time until the full burst is available again (`X-RateLimit-Reset`).
    pub reset: Duration,
}

/// Whose rate limit a check counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateScope {
    /// The whole tenant.
    Tenant,
    /// One user of a tenant.
    User,
}

/// An allowed request, with what the `X-RateLimit-*` headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    /// Requests per minute (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Requests still allowed right now (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Time until the full burst is available again (`X-RateLimit-Reset`).
    pub reset: Duration,
}

/// One key to check: the scope, the store key and its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCheck {
    /// Whose limit this is.
    pub scope: RateScope,
    /// The store key, e.g. `tenant:acme` or `user:acme:bob`.
    pub key: String,
    /// The limit of the key.
    pub limit: RateLimit,
}

impl RateCheck {
    /// Creates a check of the tenant's whole rate.
    pub fn tenant(tenant: &str, limit: RateLimit) -> Self {
        Self {
            scope: RateScope::Tenant,
            key: format!("tenant:{tenant}"),
            limit,
        }
    }

    /// Creates a check of one user's rate within a tenant.
    pub fn user(tenant: &str, user: &str, limit: RateLimit) -> Self {
        Self {
            scope: RateScope::User,
            // The tenant id's length keeps tenant `a:b` with user `c` apart
            // from tenant `a` with user `b:c`.
            key: format!("user:{}:{tenant}:{user}", tenant.len()),
            limit,
        }
    }
}

/// The result of one GCRA step for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GcraOutcome {
    /// Allowed; store `new_tat`.
    Allowed { new_tat: u64, status: RateStatus },
    /// Rejected; keep the old TAT.
    Limited(RateLimited),
}

/// One GCRA step: decides on a request at `now` given the stored TAT.
pub(crate) fn gcra(
    scope: RateScope,
    limit: RateLimit,
    stored_tat: Option<u64>,
    now: u64,
) -> GcraOutcome {
    let interval = limit.interval_micros();
    let window = limit.burst_window_micros();
    let tat = stored_tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(interval);
    let allow_at = new_tat.saturating_sub(window);
    if now < allow_at {
        return GcraOutcome::Limited(RateLimited {
            scope,
            retry_after: Duration::from_micros(allow_at - now),
            limit: limit.per_minute,
            remaining: 0,
            reset: Duration::from_micros(tat - now),
        });
    }
    let remaining = (now - allow_at) / interval;
    GcraOutcome::Allowed {
        new_tat,
        status: RateStatus {
            limit: limit.per_minute,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset: Duration::from_micros(new_tat - now),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000;

    fn allowed(outcome: GcraOutcome) -> (u64, RateStatus) {
        match outcome {
            GcraOutcome::Allowed { new_tat, status } => (new_tat, status),
            GcraOutcome::Limited(limited) => panic!("expected allowed, got {limited:?}"),
        }
    }

    fn limited(outcome: GcraOutcome) -> RateLimited {
        match outcome {
            GcraOutcome::Limited(limited) => limited,
            GcraOutcome::Allowed { status, .. } => panic!("expected limited, got {status:?}"),
        }
    }

    #[test]
    fn burst_is_admitted_then_steady_rate() {
        // 60 per minute with a burst of 3: one per second after three at once.
        let limit = RateLimit::per_minute(60).unwrap().with_burst(3).unwrap();
        let now = 1_000 * SECOND;
        let mut tat = None;
        for expected_remaining in [2, 1, 0] {
            let (new_tat, status) = allowed(gcra(RateScope::Tenant, limit, tat, now));
            assert_eq!(status.remaining, expected_remaining);
            assert_eq!(status.limit, 60);
            tat = Some(new_tat);
        }
        let rejected = limited(gcra(RateScope::Tenant, limit, tat, now));
        assert_eq!(rejected.retry_after, Duration::from_secs(1));
        assert_eq!(rejected.reset, Duration::from_secs(3));
        assert_eq!(rejected.remaining, 0);
        assert_eq!(rejected.limit, 60);

        // 400 ms later the wait is 600 ms.
        let rejected = limited(gcra(RateScope::Tenant, limit, tat, now + 400_000));
        assert_eq!(rejected.retry_after, Duration::from_millis(600));

        // After exactly one interval one request passes, and none after it.
        let (new_tat, status) = allowed(gcra(RateScope::Tenant, limit, tat, now + SECOND));
        assert_eq!(status.remaining, 0);
        assert_eq!(status.reset, Duration::from_secs(3));
        let rejected = limited(gcra(RateScope::Tenant, limit, Some(new_tat), now + SECOND));
        assert_eq!(rejected.retry_after, Duration::from_secs(1));
    }

    #[test]
    fn quiet_period_restores_full_burst() {
        let limit = RateLimit::per_minute(60).unwrap().with_burst(3).unwrap();
        let now = 1_000 * SECOND;
        let tat = Some(now + 3 * SECOND);
        let (_, status) = allowed(gcra(RateScope::User, limit, tat, now + 10 * SECOND));
        assert_eq!(status.remaining, 2);
        assert_eq!(status.reset, Duration::from_secs(1));
    }

    #[test]
    fn burst_admits_exactly_the_limit() {
        let limit = RateLimit::per_minute(100).unwrap();
        let now = 5 * SECOND;
        let mut tat = None;
        for _ in 0..100 {
            tat = Some(allowed(gcra(RateScope::Tenant, limit, tat, now)).0);
        }
        let rejected = limited(gcra(RateScope::Tenant, limit, tat, now));
        assert_eq!(rejected.retry_after, Duration::from_millis(600));
        assert_eq!(rejected.reset, Duration::from_secs(60));
    }

    #[test]
    fn zero_rates_are_not_limits() {
        assert_eq!(RateLimit::per_minute(0), None);
        assert_eq!(RateLimit::per_minute(1).unwrap().with_burst(0), None);
    }

    #[test]
    fn user_keys_of_different_tenants_differ() {
        let limit = RateLimit::per_minute(1).unwrap();
        let a = RateCheck::user("a:b", "c", limit);
        let b = RateCheck::user("a", "b:c", limit);
        assert_ne!(a.key, b.key);
    }
}
