//! The guard that settles or releases a budget reservation.

use std::fmt;
use std::sync::Arc;

use shipped_core::Usage;

use crate::store::{CostStore, LedgerEntry, ReservationId, SettleRequest, StoreError};
use crate::{Clock, Cost, Nanodollars, PriceTable, UtcDay};

/// A held part of a tenant's daily budget, for one call.
///
/// Settle it with the call's usage ([`settle`](Self::settle)) or give it back
/// ([`release`](Self::release)). A guard dropped without either is finished
/// in the background on the tokio runtime. It is released if the provider was
/// never called. Otherwise it is settled with the last usage passed to
/// [`record_partial_usage`](Self::record_partial_usage), or with the input
/// estimate, marked as estimated, when there was none. Without a runtime, or
/// if that background step fails, the reservation stops counting when it
/// expires.
pub struct Reservation {
    state: Option<State>,
}

struct State {
    store: Arc<dyn CostStore>,
    prices: Arc<PriceTable>,
    clock: Arc<dyn Clock>,
    tenant: String,
    day: UtcDay,
    id: Option<ReservationId>,
    amount: Nanodollars,
    model: String,
    input_estimate: u64,
    upstream_called: bool,
    partial_usage: Option<Usage>,
    request_id: Option<String>,
    user: Option<String>,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Reservation");
        if let Some(state) = &self.state {
            debug
                .field("tenant", &state.tenant)
                .field("day", &state.day)
                .field("id", &state.id)
                .field("amount", &state.amount)
                .field("model", &state.model)
                .field("upstream_called", &state.upstream_called);
        }
        debug.finish_non_exhaustive()
    }
}

impl Reservation {
    #[expect(clippy::too_many_arguments, reason = "crate-internal constructor")]
    pub(crate) fn new(
        store: Arc<dyn CostStore>,
        prices: Arc<PriceTable>,
        clock: Arc<dyn Clock>,
        tenant: String,
        day: UtcDay,
        id: Option<ReservationId>,
        amount: Nanodollars,
        model: String,
        input_estimate: u64,
    ) -> Self {
        Self {
            state: Some(State {
                store,
                prices,
                clock,
                tenant,
                day,
                id,
                amount,
                model,
                input_estimate,
                upstream_called: false,
                partial_usage: None,
                request_id: None,
                user: None,
            }),
        }
    }

    /// Returns the worst-case cost reserved against the budget.
    pub fn amount(&self) -> Nanodollars {
        self.state
            .as_ref()
            .map_or(Nanodollars::ZERO, |state| state.amount)
    }

    /// Returns true when the store has reserved the amount, and false when the
    /// `open` policy admitted the call while the store was unreachable.
    pub fn is_held(&self) -> bool {
        self.state.as_ref().is_some_and(|state| state.id.is_some())
    }

    /// Records the request id and user for the ledger row.
    pub fn set_request(&mut self, request_id: Option<String>, user: Option<String>) {
        if let Some(state) = &mut self.state {
            state.request_id = request_id;
            state.user = user;
        }
    }

    /// Sets the model that prices a settlement on drop, e.g. after a fallback.
    pub fn set_model(&mut self, model: impl Into<String>) {
        if let Some(state) = &mut self.state {
            state.model = model.into();
        }
    }

    /// Notes that the provider was called, so a drop bills instead of releasing.
    pub fn mark_upstream_called(&mut self) {
        if let Some(state) = &mut self.state {
            state.upstream_called = true;
        }
    }

    /// Records the usage so far of a streamed call, billed if the guard is dropped.
    pub fn record_partial_usage(&mut self, usage: Usage) {
        if let Some(state) = &mut self.state {
            state.partial_usage = Some(usage);
        }
    }

    /// Replaces the reservation with the real cost of the call to `model`.
    ///
    /// # Errors
    ///
    /// Returns the [`StoreError`] when the store cannot record the cost; the
    /// reservation then stops counting when it expires.
    pub async fn settle(mut self, model: &str, usage: &Usage) -> Result<Cost, StoreError> {
        let Some(state) = self.state.take() else {
            return Err(StoreError::backend("reservation already finished"));
        };
        state.settle(model, usage).await
    }

    /// Gives the reservation back without spending anything.
    ///
    /// # Errors
    ///
    /// Returns the [`StoreError`] when the store cannot be reached; the
    /// reservation then stops counting when it expires.
    pub async fn release(mut self) -> Result<(), StoreError> {
        match self.state.take() {
            Some(state) => state.release().await,
            None => Ok(()),
        }
    }
}

impl State {
    async fn settle(self, model: &str, usage: &Usage) -> Result<Cost, StoreError> {
        let cost = self.prices.cost_usd(model, usage);
        let request = SettleRequest {
            tenant: self.tenant,
            day: self.day,
            reservation: self.id,
            entry: LedgerEntry {
                at_micros: self.clock.now_micros(),
                request_id: self.request_id,
                user: self.user,
                model: model.to_owned(),
                usage: *usage,
                cost: cost.nanodollars,
                priced: cost.priced,
                prices_version: self.prices.version().to_owned(),
            },
        };
        self.store.settle(request).await?;
        Ok(cost)
    }

    async fn release(self) -> Result<(), StoreError> {
        match self.id {
            Some(id) => self.store.release(self.tenant, self.day, id).await,
            None => Ok(()),
        }
    }

    /// Finishes a dropped guard: bills a call that reached the provider,
    /// releases one that did not.
    async fn finish_dropped(self) {
        let tenant = self.tenant.clone();
        let result = if self.upstream_called {
            let usage = self.partial_usage.unwrap_or(Usage {
                input_tokens: self.input_estimate,
                estimated: true,
                ..Usage::default()
            });
            let model = self.model.clone();
            self.settle(&model, &usage).await.map(drop)
        } else {
            self.release().await
        };
        if let Err(error) = result {
            tracing::warn!(tenant = %tenant, error = %error, "failed to finish a dropped budget reservation; it counts until it expires");
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(state.finish_dropped());
            }
            Err(_) => {
                tracing::debug!(tenant = %state.tenant, "no runtime to finish a dropped budget reservation; it counts until it expires");
            }
        }
    }
}
