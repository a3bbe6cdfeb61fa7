use std::fmt;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

/// Nano-dollars in one US dollar.
const NANOS_PER_USD: f64 = 1e9;

/// An amount of US dollars, counted in whole nano-dollars (10⁻⁹ USD).
///
/// Budgets, reservations and ledger rows add and compare these integers, so a
/// day of small requests never drifts the way a sum of `f64` would. Use
/// [`usd`](Self::usd) for display and logs.
///
/// ```
/// use shipped_cost::Nanodollars;
///
/// let budget = Nanodollars::from_usd(1.0).unwrap();
/// assert_eq!(budget.get(), 1_000_000_000);
/// assert_eq!(budget.usd(), 1.0);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Nanodollars(u64);

impl Nanodollars {
    /// Zero dollars.
    pub const ZERO: Self = Self(0);

    /// Wraps a count of nano-dollars.
    pub const fn new(nanos: u64) -> Self {
        Self(nanos)
    }

    /// Converts dollars to nano-dollars, rounding to the nearest nano-dollar.
    ///
    /// Returns `None` for a negative, non-finite or too large amount (over about
    /// 9.2 billion USD, the range SQLite and Redis integers hold).
    pub fn from_usd(usd: f64) -> Option<Self> {
        if !usd.is_finite() || usd < 0.0 {
            return None;
        }
        let nanos = (usd * NANOS_PER_USD).round();
        if nanos > i64::MAX as f64 {
            return None;
        }
        // The checks above keep the value inside 0..=i64::MAX, so the cast is exact
        // up to f64 precision.
        Some(Self(nanos as u64))
    }

    /// The count of nano-dollars.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The amount in dollars, for display.
    pub fn usd(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD
    }

    /// Adds two amounts, stopping at the largest value instead of wrapping.
    pub const fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    /// Subtracts `other`, stopping at zero.
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// The amount as an SQLite or Redis integer, saturated at `i64::MAX`.
    pub(crate) fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// Reads an SQLite or Redis integer; a negative value counts as zero.
    pub(crate) fn from_i64(value: i64) -> Self {
        Self(u64::try_from(value).unwrap_or(0))
    }
}

impl Add for Nanodollars {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        self.saturating_add(other)
    }
}

impl AddAssign for Nanodollars {
    fn add_assign(&mut self, other: Self) {
        *self = self.saturating_add(other);
    }
}

impl fmt::Display for Nanodollars {
    /// Formats the amount as dollars with six decimals, e.g. `$0.000027`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${:.6}", self.usd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_usd_rounds_to_nearest_nanodollar() {
        assert_eq!(
            Nanodollars::from_usd(0.985),
            Some(Nanodollars::new(985_000_000))
        );
        assert_eq!(Nanodollars::from_usd(1e-10), Some(Nanodollars::ZERO));
        assert_eq!(Nanodollars::from_usd(6e-10), Some(Nanodollars::new(1)));
    }

    #[test]
    fn from_usd_rejects_invalid_amounts() {
        assert_eq!(Nanodollars::from_usd(-0.01), None);
        assert_eq!(Nanodollars::from_usd(f64::NAN), None);
        assert_eq!(Nanodollars::from_usd(f64::INFINITY), None);
        assert_eq!(Nanodollars::from_usd(1e12), None);
    }

    #[test]
    fn sums_do_not_drift() {
        let mut total = Nanodollars::ZERO;
        for _ in 0..1_000_000 {
            total += Nanodollars::new(100);
        }
        assert_eq!(total, Nanodollars::from_usd(0.1).unwrap());
    }

    #[test]
    fn display_shows_dollars() {
        assert_eq!(Nanodollars::new(27_000).to_string(), "$0.000027");
    }
}
