//! The SQLite store keeps spending across a restart and writes a ledger row per call.

#![allow(
    clippy::unwrap_used,
    reason = "a failed setup or store call fails the test where it happens"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use shipped_core::Usage;
use shipped_cost::{
    AdmissionError, CostControl, CostStore, LimitsConfig, ManualClock, Nanodollars, SqliteStore,
    TokenCount, UtcDay, project_monthly, usage_report,
};

use common::{CENT_MODEL, cent_prices, tenant};

/// 2026-12-04 at 12:00 UTC.
const NOON_MICROS: u64 = 1_796_385_600_000_000;

const NO_INPUT: TokenCount = TokenCount {
    tokens: 0,
    estimated: false,
};

fn control(store: Arc<dyn CostStore>, clock: &ManualClock) -> CostControl {
    CostControl::new(store, cent_prices(), LimitsConfig::default())
        .with_clock(Arc::new(clock.clone()))
}

#[tokio::test]
async fn spending_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let clock = ManualClock::at_micros(NOON_MICROS);
    let acme = tenant("acme", 0.02);

    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let mut reservation = control(store.clone(), &clock)
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    reservation.mark_upstream_called();
    // 128 output tokens cost two cents, the whole budget.
    let usage = Usage {
        input_tokens: 5,
        output_tokens: 128,
        ..Usage::default()
    };
    reservation.settle(CENT_MODEL, &usage).await.unwrap();
    drop(store);

    let reopened: Arc<dyn CostStore> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let day = UtcDay::from_micros(NOON_MICROS);
    let state = reopened
        .budget_state("acme".to_owned(), day, NOON_MICROS)
        .await
        .unwrap();
    assert_eq!(state.spent, Nanodollars::from_usd(0.02).unwrap());

    let error = control(reopened.clone(), &clock)
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AdmissionError::BudgetExceeded(_)),
        "{error:?}"
    );

    // The next UTC day starts with a fresh budget.
    clock.advance(Duration::from_secs(12 * 3600));
    let next_day = control(reopened, &clock)
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    next_day.release().await.unwrap();
}

#[tokio::test]
async fn ledger_has_one_row_per_call() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let clock = ManualClock::at_micros(NOON_MICROS);
    let acme = tenant("acme", 10.0);
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let control = control(store.clone(), &clock);

    for output_tokens in [64, 128, 192] {
        let mut reservation = control
            .reserve(&acme, &[CENT_MODEL], NO_INPUT, 256)
            .await
            .unwrap();
        reservation.set_request(Some(format!("req_{output_tokens}")), Some("bob".to_owned()));
        let usage = Usage {
            input_tokens: 10,
            output_tokens,
            ..Usage::default()
        };
        reservation.settle(CENT_MODEL, &usage).await.unwrap();
    }

    let connection = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<(String, String, i64, i64)> = connection
        .prepare(
            "SELECT request_id, user_id, output_tokens, cost_nanos FROM usage_ledger ORDER BY id",
        )
        .unwrap()
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0],
        ("req_64".to_owned(), "bob".to_owned(), 64, 10_000_000)
    );
    assert_eq!(rows[2].3, 30_000_000);

    let day = UtcDay::from_micros(NOON_MICROS);
    let report = usage_report(store.as_ref(), day, day).await.unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].tenant, "acme");
    assert_eq!(report[0].requests, 3);
    assert_eq!(report[0].input_tokens, 30);
    assert_eq!(report[0].output_tokens, 384);
    assert_eq!(report[0].cost, Nanodollars::from_usd(0.06).unwrap());
    assert!((report[0].cost_usd() - 0.06).abs() < 1e-12);

    // 3 calls of 10 in / 128 out on average, over one day, at the cent model's prices:
    // 128 × 156.25e-6 × 3 × 30 = $1.80 a month, $5.40 with headroom.
    let price = *cent_prices().get(CENT_MODEL).unwrap();
    let projection = &project_monthly(&report, 1, &price)[0];
    assert!((projection.requests_per_day - 3.0).abs() < 1e-12);
    assert!((projection.monthly_usd - 1.8).abs() < 1e-9);
    assert!((projection.monthly_usd_with_headroom - 5.4).abs() < 1e-9);
}

#[tokio::test]
async fn expired_reservation_stops_counting() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn CostStore> = Arc::new(
        SqliteStore::open(dir.path().join("ledger.db"))
            .await
            .unwrap(),
    );
    let clock = ManualClock::at_micros(NOON_MICROS);
    let acme = tenant("acme", 0.01);
    let control = control(store, &clock).with_reservation_ttl(Duration::from_secs(60));

    let held = control
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    assert!(
        control
            .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
            .await
            .is_err()
    );
    // A crashed process never settles; after the lifetime the cent is free again.
    std::mem::forget(held);
    clock.advance(Duration::from_secs(61));
    let again = control
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    again.release().await.unwrap();
}
