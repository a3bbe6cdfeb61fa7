//! Usage per tenant and day, and a monthly cost projection.

use crate::store::{CostStore, StoreError};
use crate::{ModelPrice, Nanodollars, UtcDay};

/// Days in the projected month.
const DAYS_PER_MONTH: f64 = 30.0;
/// Factor over the projection to leave room for growth and bursts.
const HEADROOM: f64 = 3.0;

/// Settled usage of one tenant on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDay {
    /// The tenant id.
    pub tenant: String,
    /// The UTC day.
    pub day: UtcDay,
    /// Settled calls.
    pub requests: u64,
    /// Input tokens over all calls.
    pub input_tokens: u64,
    /// Output tokens over all calls.
    pub output_tokens: u64,
    /// Spending over all calls.
    pub cost: Nanodollars,
}

impl TenantDay {
    /// Spending in US dollars.
    pub fn cost_usd(&self) -> f64 {
        self.cost.usd()
    }
}

/// Reads per-tenant usage for each day from `from` to `to`, both included,
/// ordered by day then tenant. Days without settled calls are left out.
///
/// # Errors
///
/// Returns the [`StoreError`] when the store cannot be read.
///
/// ```
/// use shipped_cost::{MemoryStore, usage_report};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let rows = usage_report(&store, "2026-12-01".parse().unwrap(), "2026-12-04".parse().unwrap())
///     .await
///     .unwrap();
/// assert!(rows.is_empty());
/// # });
/// ```
pub async fn usage_report(
    store: &dyn CostStore,
    from: UtcDay,
    to: UtcDay,
) -> Result<Vec<TenantDay>, StoreError> {
    store.usage(from, to).await
}

/// A tenant's projected monthly cost at one model's prices.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyProjection {
    /// The tenant id.
    pub tenant: String,
    /// Average calls per day over the whole period, idle days included.
    pub requests_per_day: f64,
    /// Average input tokens per call.
    pub input_tokens_per_request: f64,
    /// Average output tokens per call.
    pub output_tokens_per_request: f64,
    /// 30 days at the average rate and the given prices, in USD.
    pub monthly_usd: f64,
    /// `monthly_usd` times 3, the amount to plan a budget for.
    pub monthly_usd_with_headroom: f64,
}

/// Projects each tenant's monthly cost from usage rows covering `days` days.
///
/// The projection is average tokens per request × requests per day × 30 at
/// `price`, then ×3 headroom. It ignores prompt caching, so it errs high for
/// tenants whose input is mostly cached.
///
/// ```
/// use shipped_cost::{ModelPrice, TenantDay, project_monthly};
///
/// let rows = vec![TenantDay {
///     tenant: "acme".into(),
///     day: "2026-12-01".parse().unwrap(),
///     requests: 1_000,
///     input_tokens: 500_000,
///     output_tokens: 200_000,
///     cost: Default::default(),
/// }];
/// let price = ModelPrice::per_million(0.15, 0.60).unwrap();
/// let projection = &project_monthly(&rows, 1, &price)[0];
/// // (500 × 0.15 + 200 × 0.60) / 1e6 × 1,000 × 30 = 5.85 USD
/// assert!((projection.monthly_usd - 5.85).abs() < 1e-9);
/// assert!((projection.monthly_usd_with_headroom - 17.55).abs() < 1e-9);
/// ```
pub fn project_monthly(
    rows: &[TenantDay],
    days: u32,
    price: &ModelPrice,
) -> Vec<MonthlyProjection> {
    let mut totals: Vec<(String, u64, u64, u64)> = Vec::new();
    for row in rows {
        match totals.iter_mut().find(|(tenant, ..)| *tenant == row.tenant) {
            Some((_, requests, input, output)) => {
                *requests += row.requests;
                *input += row.input_tokens;
                *output += row.output_tokens;
            }
            None => totals.push((
                row.tenant.clone(),
                row.requests,
                row.input_tokens,
                row.output_tokens,
            )),
        }
    }
    let days = f64::from(days.max(1));
    totals
        .into_iter()
        .map(|(tenant, requests, input, output)| {
            let calls = requests.max(1) as f64;
            let input_per_request = input as f64 / calls;
            let output_per_request = output as f64 / calls;
            let requests_per_day = requests as f64 / days;
            let usd_per_request = (input_per_request * price.input_usd_per_million()
                + output_per_request * price.output_usd_per_million())
                / 1e6;
            let monthly_usd = usd_per_request * requests_per_day * DAYS_PER_MONTH;
            MonthlyProjection {
                tenant,
                requests_per_day,
                input_tokens_per_request: input_per_request,
                output_tokens_per_request: output_per_request,
                monthly_usd,
                monthly_usd_with_headroom: monthly_usd * HEADROOM,
            }
        })
        .collect()
}
