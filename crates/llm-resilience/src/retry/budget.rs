use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::ConfigError;

/// Number of slots the budget's time window is cut into.
const SLOTS: usize = 10;

/// A cap on retries as a share of traffic, shared by all requests of a chain.
///
/// Every request deposits `ratio` of a retry into the budget and every retry
/// withdraws one whole retry. Deposits and withdrawals expire after `ttl`, and
/// a reserve of `min_per_sec * ttl` retries is always there, so a quiet service
/// can still retry. During an outage retries therefore add at most
/// `ratio * requests + min_per_sec * ttl` calls per `ttl` instead of
/// multiplying the load on a struggling upstream.
///
/// The state sits behind a `std::sync::Mutex` whose critical section only adds
/// up ten counters; it never awaits.
///
/// ```
/// use std::time::Duration;
/// use llm_resilience::RetryBudget;
///
/// let budget = RetryBudget::try_new(0.5, 0, Duration::from_secs(10))?;
/// budget.deposit();
/// budget.deposit();
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// # Ok::<_, llm_resilience::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    reserve: f64,
    slot_len: Duration,
    origin: Instant,
    slots: Mutex<[Slot; SLOTS]>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Number of the time slot these counts belong to, counted from `origin`.
    epoch: u64,
    deposits: u64,
    withdrawals: u64,
}

impl RetryBudget {
    /// Creates a budget that lets retries add `ratio` of the requests seen in
    /// the last `ttl`, plus `min_per_sec` retries per second of `ttl`.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::InvalidBudgetRatio`] for a negative or non-finite
    /// ratio and [`ConfigError::ZeroDuration`] for a zero `ttl`.
    pub fn try_new(ratio: f64, min_per_sec: u32, ttl: Duration) -> Result<Self, ConfigError> {
        if !ratio.is_finite() || ratio < 0.0 {
            return Err(ConfigError::InvalidBudgetRatio { ratio });
        }
        if ttl.is_zero() {
            return Err(ConfigError::ZeroDuration {
                name: "retry_budget.ttl",
            });
        }
        Ok(Self {
            ratio,
            reserve: f64::from(min_per_sec) * ttl.as_secs_f64(),
            slot_len: ttl / SLOTS as u32,
            origin: Instant::now(),
            slots: Mutex::new([Slot::default(); SLOTS]),
        })
    }

    /// Records one request, which earns `ratio` of a retry.
    pub fn deposit(&self) {
        self.update(|slot| slot.deposits += 1);
    }

    /// Takes one retry from the budget if one is left.
    ///
    /// Returns `false` when retries already make up the configured share of
    /// traffic; the caller then falls back or gives up instead of retrying.
    pub fn try_withdraw(&self) -> bool {
        let epoch = self.epoch_now();
        let mut slots = self.lock();
        let (deposits, withdrawals) = live_totals(&slots, epoch);
        let balance = self.reserve + self.ratio * deposits as f64 - withdrawals as f64;
        if balance < 1.0 {
            return false;
        }
        current_slot(&mut slots, epoch).withdrawals += 1;
        true
    }

    fn update(&self, change: impl FnOnce(&mut Slot)) {
        let epoch = self.epoch_now();
        let mut slots = self.lock();
        change(current_slot(&mut slots, epoch));
    }

    fn epoch_now(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.origin);
        let nanos = elapsed.as_nanos() / self.slot_len.as_nanos().max(1);
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, [Slot; SLOTS]> {
        // A panic while holding the lock cannot leave the counters
        // inconsistent in a way that matters, so a poisoned lock is used as is.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for RetryBudget {
    /// Retries may add 20% to traffic, with a floor of 1 retry per second over
    /// a 10 s window.
    fn default() -> Self {
        Self {
            ratio: 0.2,
            reserve: 10.0,
            slot_len: Duration::from_secs(1),
            origin: Instant::now(),
            slots: Mutex::new([Slot::default(); SLOTS]),
        }
    }
}

/// The slot for `epoch`, cleared first if it still holds an older epoch.
fn current_slot(slots: &mut [Slot; SLOTS], epoch: u64) -> &mut Slot {
    let index = (epoch % SLOTS as u64) as usize;
    let slot = &mut slots[index];
    if slot.epoch != epoch {
        *slot = Slot {
            epoch,
            ..Slot::default()
        };
    }
    slot
}

/// Deposits and withdrawals of the slots that have not expired at `epoch`.
fn live_totals(slots: &[Slot; SLOTS], epoch: u64) -> (u64, u64) {
    slots
        .iter()
        .filter(|slot| epoch - slot.epoch.min(epoch) < SLOTS as u64)
        .fold((0, 0), |(deposits, withdrawals), slot| {
            (deposits + slot.deposits, withdrawals + slot.withdrawals)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reserve_allows_retries_without_traffic() {
        let budget = RetryBudget::try_new(0.2, 1, Duration::from_secs(10)).unwrap();
        let granted = (0..20).filter(|_| budget.try_withdraw()).count();
        assert_eq!(granted, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn ratio_limits_retries_to_share_of_requests() {
        let budget = RetryBudget::try_new(0.2, 0, Duration::from_secs(10)).unwrap();
        for _ in 0..100 {
            budget.deposit();
        }
        let granted = (0..100).filter(|_| budget.try_withdraw()).count();
        assert_eq!(granted, 20);
    }

    #[tokio::test(start_paused = true)]
    async fn spent_retries_return_after_ttl() {
        let budget = RetryBudget::try_new(0.0, 1, Duration::from_secs(10)).unwrap();
        assert_eq!((0..20).filter(|_| budget.try_withdraw()).count(), 10);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!budget.try_withdraw());
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!((0..20).filter(|_| budget.try_withdraw()).count(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_expire_after_ttl() {
        let budget = RetryBudget::try_new(1.0, 0, Duration::from_secs(10)).unwrap();
        budget.deposit();
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!budget.try_withdraw());
    }

    #[test]
    fn try_new_rejects_bad_ratio() {
        assert!(RetryBudget::try_new(-0.1, 1, Duration::from_secs(10)).is_err());
        assert!(RetryBudget::try_new(f64::NAN, 1, Duration::from_secs(10)).is_err());
        assert!(RetryBudget::try_new(0.2, 1, Duration::ZERO).is_err());
    }
}
