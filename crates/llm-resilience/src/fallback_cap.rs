//! Caps on fallback traffic: a request rate per secondary route, and a warning
//! when the share of requests that fall back is high over a window.

use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use crate::ConfigError;

/// A requests-per-minute limit, enforced with the generic cell rate algorithm
/// (GCRA).
///
/// The limit admits a burst of `rpm` requests and then one request every
/// `60 s / rpm`. Time comes from tokio's clock.
///
/// ```
/// use std::num::NonZeroU32;
/// use llm_resilience::RateCap;
///
/// let cap = RateCap::per_minute(NonZeroU32::new(2).unwrap());
/// assert!(cap.try_acquire());
/// assert!(cap.try_acquire());
/// assert!(!cap.try_acquire());
/// ```
#[derive(Debug)]
pub struct RateCap {
    interval: Duration,
    tolerance: Duration,
    /// Theoretical arrival time of the next request.
    next_arrival: Mutex<Option<Instant>>,
}

impl RateCap {
    /// Creates a cap of `rpm` requests per minute.
    pub fn per_minute(rpm: NonZeroU32) -> Self {
        let interval = Duration::from_secs(60) / rpm.get();
        Self {
            interval,
            tolerance: Duration::from_secs(60).saturating_sub(interval),
            next_arrival: Mutex::new(None),
        }
    }

    /// Takes one request from the cap. Returns `false`, and takes nothing, when
    /// the rate is used up.
    pub fn try_acquire(&self) -> bool {
        let now = Instant::now();
        let mut next_arrival = self
            .next_arrival
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let arrival = next_arrival.map_or(now, |at| at.max(now));
        if arrival.saturating_duration_since(now) > self.tolerance {
            return false;
        }
        *next_arrival = Some(arrival + self.interval);
        true
    }
}

/// A gate that lets a repeated log line through at most once per interval and
/// counts the repeats it held back.
#[derive(Debug, Default)]
pub(crate) struct RepeatGate {
    state: Mutex<(Option<Instant>, u64)>,
}

impl RepeatGate {
    /// Records one occurrence. Returns the number of occurrences since the
    /// last one let through, this one included, when the line may be logged.
    pub(crate) fn pass(&self, interval: Duration) -> Option<u64> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, held_back) = &mut *state;
        *held_back += 1;
        if last.is_some_and(|at| now.saturating_duration_since(at) < interval) {
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held_back))
    }
}

/// When to warn that too many requests fall back.
///
/// ```
/// use llm_resilience::ShareAlertConfig;
///
/// let mut config = ShareAlertConfig::default();
/// config.threshold = 0.10;
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShareAlertConfig {
    /// Share of requests, from 0.0 to 1.0, that may call a secondary route
    /// before the warning fires. Default 0.05.
    pub threshold: f64,
    /// The window the share is measured over; the warning fires at most once
    /// per window. Default 15 minutes.
    pub window: Duration,
    /// Requests the window must hold before a share is judged, so a handful of
    /// requests cannot raise the alarm. Default 20.
    pub min_requests: u64,
}

impl ShareAlertConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::InvalidShareThreshold`] for a threshold outside
    /// `0.0..=1.0` and [`ConfigError::ZeroDuration`] for a zero window.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(ConfigError::InvalidShareThreshold {
                threshold: self.threshold,
            });
        }
        if self.window.is_zero() {
            return Err(ConfigError::ZeroDuration {
                name: "fallback_alert.window",
            });
        }
        Ok(())
    }
}

impl Default for ShareAlertConfig {
    fn default() -> Self {
        Self {
            threshold: 0.05,
            window: Duration::from_secs(15 * 60),
            min_requests: 20,
        }
    }
}

const BUCKETS: usize = 15;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    epoch: u64,
    requests: u64,
    fallbacks: u64,
}

#[derive(Debug)]
struct AlarmState {
    buckets: [Bucket; BUCKETS],
    last_warning: Option<Instant>,
}

/// Counts requests and fallbacks over a sliding window and warns, at most once
/// per window, when the fallback share over the last window is above the
/// threshold. The window slides in steps of one fifteenth of its length.
#[derive(Debug)]
pub(crate) struct ShareAlarm {
    chain: String,
    config: ShareAlertConfig,
    bucket_len: Duration,
    origin: Instant,
    state: Mutex<AlarmState>,
}

impl ShareAlarm {
    pub(crate) fn new(chain: String, config: ShareAlertConfig) -> Self {
        Self {
            chain,
            config,
            bucket_len: (config.window / BUCKETS as u32).max(Duration::from_millis(1)),
            origin: Instant::now(),
            state: Mutex::new(AlarmState {
                buckets: [Bucket::default(); BUCKETS],
                last_warning: None,
            }),
        }
    }

    /// Records the start of a request.
    pub(crate) fn record_request(&self) {
        let epoch = self.epoch_now();
        bucket(&mut self.lock().buckets, epoch).requests += 1;
    }

    /// Records that a request called a secondary route, then checks the share.
    pub(crate) fn record_fallback(&self) {
        let now = Instant::now();
        let epoch = self.epoch_now();
        let mut state = self.lock();
        bucket(&mut state.buckets, epoch).fallbacks += 1;

        // Judge only once a whole window has been observed.
        if now.saturating_duration_since(self.origin) < self.config.window {
            return;
        }
        if let Some(last) = state.last_warning {
            if now.saturating_duration_since(last) < self.config.window {
                return;
            }
        }
        let (requests, fallbacks) = state
            .buckets
            .iter()
            .filter(|b| epoch - b.epoch.min(epoch) < BUCKETS as u64)
            .fold((0, 0), |(r, f), b| (r + b.requests, f + b.fallbacks));
        if requests < self.config.min_requests.max(1) {
            return;
        }
        let share = fallbacks as f64 / requests as f64;
        if share > self.config.threshold {
            state.last_warning = Some(now);
            warn!(
                chain = %self.chain,
                fallback_share = share,
                threshold = self.config.threshold,
                requests,
                fallbacks,
                window_secs = self.config.window.as_secs(),
                "fallback_share_high"
            );
        }
    }

    fn epoch_now(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos() / self.bucket_len.as_nanos()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, AlarmState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn last_warning(&self) -> Option<Instant> {
        self.lock().last_warning
    }
}

fn bucket(buckets: &mut [Bucket; BUCKETS], epoch: u64) -> &mut Bucket {
    let slot = &mut buckets[(epoch % BUCKETS as u64) as usize];
    if slot.epoch != epoch {
        *slot = Bucket {
            epoch,
            ..Bucket::default()
        };
    }
    slot
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpm(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn repeat_gate_counts_held_back_lines() {
        let gate = RepeatGate::default();
        let interval = Duration::from_secs(60);
        assert_eq!(gate.pass(interval), Some(1));
        assert_eq!(gate.pass(interval), None);
        assert_eq!(gate.pass(interval), None);
        tokio::time::advance(interval).await;
        assert_eq!(gate.pass(interval), Some(3));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_cap_admits_burst_then_steady_rate() {
        let cap = RateCap::per_minute(rpm(60));
        assert_eq!((0..100).filter(|_| cap.try_acquire()).count(), 60);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(cap.try_acquire());
        assert!(!cap.try_acquire());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!((0..100).filter(|_| cap.try_acquire()).count(), 60);
    }

    fn alarm() -> ShareAlarm {
        let config = ShareAlertConfig {
            threshold: 0.05,
            window: Duration::from_secs(15 * 60),
            min_requests: 20,
        };
        ShareAlarm::new("default".to_owned(), config)
    }

    /// Sends `requests` requests spread over one minute, `fallbacks` of which
    /// fall back.
    async fn minute_of_traffic(alarm: &ShareAlarm, requests: u32, fallbacks: u32) {
        for index in 0..requests {
            alarm.record_request();
            if index < fallbacks {
                alarm.record_fallback();
            }
        }
        tokio::time::advance(Duration::from_secs(60)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn share_alarm_waits_for_a_full_window() {
        let alarm = alarm();
        for _ in 0..15 {
            minute_of_traffic(&alarm, 100, 50).await;
        }
        assert!(alarm.last_warning().is_none());
        minute_of_traffic(&alarm, 100, 50).await;
        assert!(alarm.last_warning().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn share_alarm_quiet_below_threshold() {
        let alarm = alarm();
        for _ in 0..30 {
            minute_of_traffic(&alarm, 100, 4).await;
        }
        assert!(alarm.last_warning().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn share_alarm_warns_once_per_window() {
        let alarm = alarm();
        for _ in 0..16 {
            minute_of_traffic(&alarm, 100, 50).await;
        }
        let first = alarm.last_warning().unwrap();
        minute_of_traffic(&alarm, 100, 50).await;
        assert_eq!(alarm.last_warning(), Some(first));
        for _ in 0..15 {
            minute_of_traffic(&alarm, 100, 50).await;
        }
        assert!(alarm.last_warning().unwrap() > first);
    }
}
