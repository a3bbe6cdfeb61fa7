use std::time::Duration;

use crate::ConfigError;

/// Exponential backoff with full jitter.
///
/// Before retry number `n` (1 for the first retry) the ceiling is
/// `base * 2^(n-1)`, capped at `max`, and the wait is drawn uniformly from
/// zero to that ceiling. Full jitter spreads the retries of many clients that
/// failed at the same moment, so they do not hit the upstream again in step.
///
/// ```
/// use std::time::Duration;
/// use llm_resilience::Backoff;
///
/// let backoff = Backoff::try_new(Duration::from_millis(500), Duration::from_secs(8))?;
/// assert_eq!(backoff.ceiling(1), Duration::from_millis(500));
/// assert_eq!(backoff.ceiling(3), Duration::from_secs(2));
/// assert_eq!(backoff.ceiling(10), Duration::from_secs(8));
/// assert!(backoff.delay(3) <= Duration::from_secs(2));
/// # Ok::<_, llm_resilience::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    /// Creates a backoff that starts at `base` and never exceeds `max`.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::ZeroBackoffBase`] for a zero base and
    /// [`ConfigError::BackoffMaxBelowBase`] when `max < base`.
    pub fn try_new(base: Duration, max: Duration) -> Result<Self, ConfigError> {
        if base.is_zero() {
            return Err(ConfigError::ZeroBackoffBase);
        }
        if max < base {
            return Err(ConfigError::BackoffMaxBelowBase { base, max });
        }
        Ok(Self { base, max })
    }

    /// Returns the delay ceiling of the first retry.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// Returns the largest delay ceiling.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Returns the upper bound of the wait before retry number `retry`,
    /// counted from 1.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        self.base.saturating_mul(1 << exponent).min(self.max)
    }

    /// Draws the wait before retry number `retry` uniformly from
    /// `0..=ceiling(retry)`.
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_at(retry, random_unit())
    }

    /// Maps a uniform sample `unit` in `0.0..=1.0` to a wait.
    pub(crate) fn delay_at(&self, retry: u32, unit: f64) -> Duration {
        self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0))
    }
}

impl Default for Backoff {
    /// 500 ms base, 8 s maximum.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            max: Duration::from_secs(8),
        }
    }
}

/// Draws a uniform sample from `0.0..1.0`.
fn random_unit() -> f64 {
    // NOTE: if the OS random source fails, the clock's nanoseconds still spread
    // concurrent retries, which is all jitter needs.
    let bits = getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::from(elapsed.subsec_nanos()).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            })
    });
    // The top 53 bits fill an f64 mantissa exactly.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff::try_new(Duration::from_millis(100), Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn ceiling_doubles_then_caps() {
        let backoff = backoff();
        assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(1), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(2), Duration::from_millis(200));
        assert_eq!(backoff.ceiling(4), Duration::from_millis(800));
        assert_eq!(backoff.ceiling(5), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_stays_within_bounds() {
        let backoff = backoff();
        for retry in 1..=6 {
            let ceiling = backoff.ceiling(retry);
            let samples: Vec<Duration> = (0..2_000).map(|_| backoff.delay(retry)).collect();
            assert!(
                samples.iter().all(|delay| *delay <= ceiling),
                "retry {retry}"
            );
            // Full jitter covers the whole range, not only its upper half.
            let low = samples.iter().filter(|d| **d < ceiling / 4).count();
            let high = samples.iter().filter(|d| **d > ceiling * 3 / 4).count();
            assert!(
                low > 200,
                "retry {retry}: only {low} samples in the lowest quarter"
            );
            assert!(
                high > 200,
                "retry {retry}: only {high} samples in the highest quarter"
            );
        }
    }

    #[test]
    fn delay_at_maps_unit_to_range() {
        let backoff = backoff();
        assert_eq!(backoff.delay_at(2, 0.0), Duration::ZERO);
        assert_eq!(backoff.delay_at(2, 0.5), Duration::from_millis(100));
        assert_eq!(backoff.delay_at(2, 1.0), Duration::from_millis(200));
        assert_eq!(backoff.delay_at(2, 7.0), Duration::from_millis(200));
    }

    #[test]
    fn try_new_rejects_bad_bounds() {
        assert_eq!(
            Backoff::try_new(Duration::ZERO, Duration::from_secs(1)),
            Err(ConfigError::ZeroBackoffBase)
        );
        assert!(matches!(
            Backoff::try_new(Duration::from_secs(2), Duration::from_secs(1)),
            Err(ConfigError::BackoffMaxBelowBase { .. })
        ));
    }
}
