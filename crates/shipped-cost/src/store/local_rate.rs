//! GCRA state in process memory, for the memory and SQLite stores.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::rate::{GcraOutcome, gcra};
use crate::store::{RateDecision, StoreError};
use crate::{RateCheck, RateStatus};

/// Entries kept before a sweep drops the ones whose TAT has passed.
const SWEEP_THRESHOLD: usize = 10_000;

/// Theoretical arrival times per key.
///
/// Rate limits need no durability: after a restart every key starts with a
/// full burst, as it would after a quiet minute.
#[derive(Debug, Default)]
pub(crate) struct LocalRates {
    tats: Mutex<HashMap<String, u64>>,
}

impl LocalRates {
    pub(crate) fn check(&self, checks: &[RateCheck], now: u64) -> Result<RateDecision, StoreError> {
        let mut tats = self
            .tats
            .lock()
            .map_err(|_| StoreError::backend("rate-limit table lock poisoned"))?;
        let mut updates = Vec::with_capacity(checks.len());
        let mut tightest: Option<RateStatus> = None;
        for check in checks {
            match gcra(check.scope, check.limit, tats.get(&check.key).copied(), now) {
                GcraOutcome::Limited(limited) => return Ok(RateDecision::Limited(limited)),
                GcraOutcome::Allowed { new_tat, status } => {
                    updates.push((check.key.as_str(), new_tat));
                    if tightest.is_none_or(|current| status.remaining < current.remaining) {
                        tightest = Some(status);
                    }
                }
            }
        }
        if tats.len() > SWEEP_THRESHOLD {
            tats.retain(|_, tat| *tat > now);
        }
        for (key, new_tat) in updates {
            tats.insert(key.to_owned(), new_tat);
        }
        Ok(RateDecision::Allowed(tightest))
    }
}
