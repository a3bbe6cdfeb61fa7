//! Rate limiting for log lines that would repeat on every request during an
//! outage.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets one line per key through per interval and counts the rest, so an
/// outage that fails every request logs a line with a count instead of a
/// flood.
///
/// ```
/// use std::time::Duration;
/// use shipped_obs::RepeatGate;
///
/// let gate = RepeatGate::new(Duration::from_secs(10));
/// assert_eq!(gate.check("store_unavailable"), Some(0));
/// assert_eq!(gate.check("store_unavailable"), None);
/// assert_eq!(gate.check("store_unavailable"), None);
/// // Another key has its own allowance.
/// assert_eq!(gate.check("settle_failed"), Some(0));
/// ```
#[derive(Debug)]
pub struct RepeatGate {
    interval: Duration,
    keys: Mutex<HashMap<&'static str, Slot>>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    last_logged: Instant,
    suppressed: u64,
}

impl RepeatGate {
    /// Creates a gate that lets each key through once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Returns `Some(n)` when a line for `key` may be logged, where `n` is the
    /// number of lines suppressed since the last one, or `None` to suppress it.
    pub fn check(&self, key: &'static str) -> Option<u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &'static str, now: Instant) -> Option<u64> {
        // A poisoned lock only means another thread panicked mid-update; the
        // counts stay usable.
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match keys.get_mut(key) {
            Some(slot) if now.duration_since(slot.last_logged) < self.interval => {
                slot.suppressed += 1;
                None
            }
            Some(slot) => {
                let suppressed = slot.suppressed;
                *slot = Slot {
                    last_logged: now,
                    suppressed: 0,
                };
                Some(suppressed)
            }
            None => {
                keys.insert(
                    key,
                    Slot {
                        last_logged: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_suppressed_lines_per_window() {
        let gate = RepeatGate::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(gate.check_at("a", start), Some(0));
        for second in 1..=5 {
            assert_eq!(
                gate.check_at("a", start + Duration::from_secs(second)),
                None
            );
        }
        assert_eq!(gate.check_at("a", start + Duration::from_secs(11)), Some(5));
        assert_eq!(gate.check_at("a", start + Duration::from_secs(12)), None);
        assert_eq!(gate.check_at("a", start + Duration::from_secs(22)), Some(1));
    }
}
