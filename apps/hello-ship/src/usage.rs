//! `hello-ship usage`: spend per tenant per day from the state store, and a
//! monthly projection for budget planning.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use shipped_cost::{Backend, PriceTable, UtcDay, open_store, project_monthly, usage_report};

use crate::config::Config;

/// Reads the last `days` UTC days of usage and renders the report: one row
/// per tenant and day, then each tenant's projected monthly cost at the
/// prices of `model` (the first route of `default` when `None`), with the
/// threefold headroom a launch budget should plan for.
pub(crate) async fn report(
    config: &Config,
    days: u32,
    model: Option<&str>,
) -> anyhow::Result<String> {
    let days = days.max(1);
    let state = config.file.state.clone().unwrap_or_default();
    if state.backend == Backend::Memory {
        anyhow::bail!(
            "[state] backend is \"memory\", which keeps no usage after the server stops; point --config at the file the server runs with"
        );
    }
    if state.backend == Backend::Sqlite && !state.path.exists() {
        anyhow::bail!(
            "no usage ledger at {}: run the command where the server runs, or set [state] path",
            state.path.display()
        );
    }
    let store = open_store(&state, |name| std::env::var(name).ok())
        .await
        .context("cannot open the state store ([state])")?;

    let now_micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let today = UtcDay::from_micros(now_micros);
    let first_day = today.days_since_epoch().saturating_sub(days - 1);
    let from = UtcDay::from_micros(u64::from(first_day) * 86_400_000_000);
    let rows = usage_report(store.as_ref(), from, today)
        .await
        .context("cannot read usage from the state store")?;

    let mut text = String::new();
    let _ = writeln!(text, "Usage from {from} to {today} (UTC)\n");
    let _ = writeln!(
        text,
        "{:<20} {:<10} {:>9} {:>13} {:>13} {:>12}",
        "tenant", "day", "requests", "input tokens", "output tokens", "cost (USD)"
    );
    for row in &rows {
        let _ = writeln!(
            text,
            "{:<20} {:<10} {:>9} {:>13} {:>13} {:>12.6}",
            row.tenant,
            row.day.to_string(),
            row.requests,
            row.input_tokens,
            row.output_tokens,
            row.cost_usd()
        );
    }
    if rows.is_empty() {
        let _ = writeln!(text, "(no requests recorded)");
    }

    let model = match model {
        Some(model) => model.to_owned(),
        None => primary_model(config).unwrap_or_default(),
    };
    let prices = PriceTable::with_overrides(&config.file.prices)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.setting(), e.message()))?;
    let _ = writeln!(text);
    match prices.get(&model) {
        Some(price) => {
            let _ = writeln!(
                text,
                "Monthly projection at {model} prices: average tokens per request x requests per day x 30 days, and 3x headroom"
            );
            for projection in project_monthly(&rows, days, price) {
                let _ = writeln!(
                    text,
                    "{:<20} {:>8.1} requests/day {:>10.2} USD/month {:>10.2} USD/month with headroom",
                    projection.tenant,
                    projection.requests_per_day,
                    projection.monthly_usd,
                    projection.monthly_usd_with_headroom
                );
            }
        }
        None => {
            let _ = writeln!(
                text,
                "No projection: the price table has no entry for model {model:?}; add [prices.\"{model}\"] or pass --model"
            );
        }
    }
    Ok(text)
}

fn primary_model(config: &Config) -> Option<String> {
    let chain = &config.file.models.get("default")?.chain;
    let first = chain.first()?;
    config
        .file
        .routes
        .iter()
        .find(|route| &route.name == first)
        .map(|route| route.model.clone())
}
