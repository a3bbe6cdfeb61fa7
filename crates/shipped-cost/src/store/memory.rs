//! A store in process memory, for tests and trials.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::local_rate::LocalRates;
use super::{
    BudgetState, CostStore, RateDecision, ReservationId, ReserveOutcome, ReserveRequest,
    SettleRequest, StoreError, StoreFuture,
};
use crate::{Nanodollars, RateCheck, TenantDay, UtcDay};

/// A [`CostStore`] in process memory: atomic within the process, lost on exit.
///
/// ```
/// use shipped_cost::{CostStore, MemoryStore, Nanodollars, ReserveOutcome, ReserveRequest, UtcDay};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let request = ReserveRequest {
///     tenant: "acme".into(),
///     day: UtcDay::from_micros(0),
///     amount: Nanodollars::new(600),
///     budget: Some(Nanodollars::new(1_000)),
///     now_micros: 0,
///     expires_at_micros: 60_000_000,
/// };
/// assert!(matches!(store.reserve(request.clone()).await.unwrap(), ReserveOutcome::Reserved(_)));
/// assert!(matches!(store.reserve(request).await.unwrap(), ReserveOutcome::Exceeded { .. }));
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    days: Mutex<MemoryDays>,
    rates: LocalRates,
}

#[derive(Debug, Default)]
struct MemoryDays {
    next_id: u64,
    days: BTreeMap<(UtcDay, String), DayState>,
}

#[derive(Debug, Default)]
struct DayState {
    spent: Nanodollars,
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    /// Reserved amount and expiry per reservation.
    reservations: HashMap<u64, (Nanodollars, u64)>,
}

impl DayState {
    fn reserved(&self, now: u64) -> Nanodollars {
        self.reservations
            .values()
            .filter(|(_, expires)| *expires > now)
            .fold(Nanodollars::ZERO, |sum, (amount, _)| sum + *amount)
    }
}

impl MemoryStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn days(&self) -> Result<MutexGuard<'_, MemoryDays>, StoreError> {
        self.days
            .lock()
            .map_err(|_| StoreError::backend("memory store lock poisoned"))
    }

    fn reserve_now(&self, request: ReserveRequest) -> Result<ReserveOutcome, StoreError> {
        let mut days = self.days()?;
        days.next_id += 1;
        let id = days.next_id;
        let state = days.days.entry((request.day, request.tenant)).or_default();
        state
            .reservations
            .retain(|_, (_, expires)| *expires > request.now_micros);
        let reserved = state.reserved(request.now_micros);
        if let Some(budget) = request.budget {
            if state.spent + reserved + request.amount > budget {
                return Ok(ReserveOutcome::Exceeded {
                    spent: state.spent,
                    reserved,
                });
            }
        }
        state
            .reservations
            .insert(id, (request.amount, request.expires_at_micros));
        Ok(ReserveOutcome::Reserved(ReservationId(id)))
    }

    fn settle_now(&self, request: SettleRequest) -> Result<(), StoreError> {
        let mut days = self.days()?;
        let state = days.days.entry((request.day, request.tenant)).or_default();
        if let Some(id) = request.reservation {
            state.reservations.remove(&id.0);
        }
        state.spent += request.entry.cost;
        state.requests += 1;
        state.input_tokens += request.entry.usage.input_tokens;
        state.output_tokens += request.entry.usage.output_tokens;
        Ok(())
    }
}

impl CostStore for MemoryStore {
    fn reserve(&self, request: ReserveRequest) -> StoreFuture<'_, ReserveOutcome> {
        Box::pin(async move { self.reserve_now(request) })
    }

    fn settle(&self, request: SettleRequest) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.settle_now(request) })
    }

    fn release(&self, tenant: String, day: UtcDay, id: ReservationId) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut days = self.days()?;
            if let Some(state) = days.days.get_mut(&(day, tenant)) {
                state.reservations.remove(&id.0);
            }
            Ok(())
        })
    }

    fn check_rate(&self, checks: Vec<RateCheck>, now_micros: u64) -> StoreFuture<'_, RateDecision> {
        Box::pin(async move { self.rates.check(&checks, now_micros) })
    }

    fn budget_state(
        &self,
        tenant: String,
        day: UtcDay,
        now_micros: u64,
    ) -> StoreFuture<'_, BudgetState> {
        Box::pin(async move {
            let days = self.days()?;
            Ok(days
                .days
                .get(&(day, tenant))
                .map(|state| BudgetState {
                    spent: state.spent,
                    reserved: state.reserved(now_micros),
                })
                .unwrap_or_default())
        })
    }

    fn usage(&self, from: UtcDay, to: UtcDay) -> StoreFuture<'_, Vec<TenantDay>> {
        Box::pin(async move {
            let days = self.days()?;
            Ok(days
                .days
                .iter()
                .filter(|((day, _), state)| *day >= from && *day <= to && state.requests > 0)
                .map(|((day, tenant), state)| TenantDay {
                    tenant: tenant.clone(),
                    day: *day,
                    requests: state.requests,
                    input_tokens: state.input_tokens,
                    output_tokens: state.output_tokens,
                    cost: state.spent,
                })
                .collect())
        })
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}
