//! Wall-clock time and UTC days, behind a trait so tests can set the time.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MICROS_PER_DAY: u64 = 86_400 * 1_000_000;

/// A source of wall-clock time in microseconds since the Unix epoch.
///
/// Budgets reset at UTC midnight and rate limits count real time, so both read
/// the wall clock. Tokio's paused clock does not move it, so tests inject a
/// [`ManualClock`] through this trait.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Microseconds since 1970-01-01T00:00:00Z.
    fn now_micros(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that moves only when a test sets or advances it. Clones share the time.
///
/// ```
/// use std::time::Duration;
/// use shipped_cost::{Clock, ManualClock};
///
/// let clock = ManualClock::at_micros(1_000);
/// clock.advance(Duration::from_millis(2));
/// assert_eq!(clock.now_micros(), 3_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    micros: Arc<AtomicU64>,
}

impl ManualClock {
    /// Creates a clock showing the given time.
    pub fn at_micros(micros: u64) -> Self {
        Self {
            micros: Arc::new(AtomicU64::new(micros)),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(by, Ordering::SeqCst);
    }

    /// Sets the clock to the given time.
    pub fn set_micros(&self, micros: u64) {
        self.micros.store(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> u64 {
        self.micros.load(Ordering::SeqCst)
    }
}

/// A UTC calendar day, the period of a daily budget.
///
/// ```
/// use shipped_cost::UtcDay;
///
/// let day: UtcDay = "2026-12-04".parse().unwrap();
/// assert_eq!(day.to_string(), "2026-12-04");
/// assert_eq!(day.next().to_string(), "2026-12-05");
/// assert_eq!(UtcDay::from_micros(day.start_micros() + 5), day);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDay(u32);

impl UtcDay {
    /// The day that contains the given time.
    pub fn from_micros(micros: u64) -> Self {
        Self(u32::try_from(micros / MICROS_PER_DAY).unwrap_or(u32::MAX))
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> u32 {
        self.0
    }

    /// The following day.
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// Midnight at the start of the day, in microseconds since the epoch.
    pub fn start_micros(self) -> u64 {
        u64::from(self.0) * MICROS_PER_DAY
    }

    /// Time from `now_micros` until the next UTC midnight.
    pub fn until_next_midnight(now_micros: u64) -> Duration {
        let next = Self::from_micros(now_micros).next().start_micros();
        Duration::from_micros(next.saturating_sub(now_micros))
    }
}

impl fmt::Display for UtcDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(i64::from(self.0));
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

/// A day that is not written as `YYYY-MM-DD` or lies before 1970.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid day {0:?}: expected YYYY-MM-DD on or after 1970-01-01")]
pub struct InvalidDay(String);

impl FromStr for UtcDay {
    type Err = InvalidDay;

    fn from_str(text: &str) -> Result<Self, InvalidDay> {
        let invalid = || InvalidDay(text.to_owned());
        let mut parts = text.splitn(3, '-');
        let mut number = |digits: usize| -> Result<u32, InvalidDay> {
            let part = parts.next().ok_or_else(invalid)?;
            if part.len() != digits || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            part.parse().map_err(|_| invalid())
        };
        let (year, month, day) = (number(4)?, number(2)?, number(2)?);
        if year < 1970 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month)
        {
            return Err(invalid());
        }
        let days = days_from_civil(i64::from(year), month, day);
        Ok(Self(u32::try_from(days).map_err(|_| invalid())?))
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// The two conversions below are Howard Hinnant's `days_from_civil` and
// `civil_from_days` for the proleptic Gregorian calendar.

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both values are in 1..=31 and 1..=12 by construction.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_round_trip() {
        for (text, days) in [
            ("1970-01-01", 0),
            ("2000-02-29", 11_016),
            ("2024-12-31", 20_088),
            ("2026-12-04", 20_791),
        ] {
            let day: UtcDay = text.parse().unwrap();
            assert_eq!(day.days_since_epoch(), days, "{text}");
            assert_eq!(day.to_string(), text);
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        for days in 0..146_097u32 {
            let text = UtcDay(days).to_string();
            assert_eq!(text.parse::<UtcDay>().unwrap(), UtcDay(days), "{text}");
        }
    }

    #[test]
    fn invalid_days_are_rejected() {
        for text in [
            "2026-02-29",
            "2026-13-01",
            "1969-12-31",
            "2026-1-01",
            "26-01-01",
            "x",
        ] {
            assert!(text.parse::<UtcDay>().is_err(), "{text}");
        }
    }

    #[test]
    fn time_until_midnight() {
        let day: UtcDay = "2026-12-04".parse().unwrap();
        let one_hour_before = day.next().start_micros() - 3_600_000_000;
        assert_eq!(
            UtcDay::until_next_midnight(one_hour_before),
            Duration::from_secs(3_600)
        );
        assert_eq!(
            UtcDay::until_next_midnight(day.start_micros()),
            Duration::from_secs(86_400)
        );
    }
}
