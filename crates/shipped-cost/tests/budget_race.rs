//! Concurrent requests near the end of a daily budget: each store admits
//! exactly as many as the budget fits and the day's spending never passes it.
//!
//! The first case is the classic report: $1.00 budget, $0.985 spent, a worst
//! case of $0.01 per request and 8 requests released at once; one is admitted.

#![allow(
    clippy::unwrap_used,
    reason = "a failed setup or store call fails the test where it happens"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use shipped_core::{ChatMessage, ChatRequest, Usage};
use shipped_cost::{
    AdmissionError, CostControl, CostStore, LimitsConfig, ManualClock, MemoryStore, Nanodollars,
    SqliteStore, UtcDay,
};
use tokio::sync::Barrier;

use common::{CENT_MODEL, RedisServer, cent_prices, redis_store, seed_spend, tenant};

/// 2026-12-04 at 12:00 UTC.
const NOON_MICROS: u64 = 1_796_385_600_000_000;

struct RaceResult {
    admitted: usize,
    rejected: Vec<AdmissionError>,
    spent: Nanodollars,
    reserved: Nanodollars,
}

/// Releases `requests` reservations at once, spread over `stores` (one
/// controller per store, as separate replicas would have). The admitted calls
/// stay in flight until every request has been decided, as slow upstream
/// calls would; then they settle with one output token each and the day's
/// totals are read.
async fn race(
    stores: &[Arc<dyn CostStore>],
    budget_usd: f64,
    spent_usd: f64,
    requests: usize,
) -> RaceResult {
    let clock = ManualClock::at_micros(NOON_MICROS);
    let day = UtcDay::from_micros(NOON_MICROS);
    let acme = Arc::new(tenant("acme", budget_usd));
    seed_spend(stores[0].as_ref(), "acme", day, spent_usd).await;

    let request = ChatRequest::new(vec![ChatMessage::user("Reply only p")]);
    let start = Arc::new(Barrier::new(requests));
    let decided = Arc::new(Barrier::new(requests));
    let mut tasks = Vec::new();
    for index in 0..requests {
        let control = CostControl::new(
            Arc::clone(&stores[index % stores.len()]),
            cent_prices(),
            LimitsConfig::default(),
        )
        .with_clock(Arc::new(clock.clone()));
        let acme = Arc::clone(&acme);
        let start = Arc::clone(&start);
        let decided = Arc::clone(&decided);
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let input = control.count_input(CENT_MODEL, &request).unwrap();
            start.wait().await;
            let outcome = control.reserve(&acme, &[CENT_MODEL], input, 64).await;
            decided.wait().await;
            match outcome {
                Ok(mut reservation) => {
                    reservation.mark_upstream_called();
                    let usage = Usage {
                        input_tokens: 10,
                        output_tokens: 1,
                        ..Usage::default()
                    };
                    reservation.settle(CENT_MODEL, &usage).await.unwrap();
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }));
    }
    let mut admitted = 0;
    let mut rejected = Vec::new();
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap()
        {
            Ok(()) => admitted += 1,
            Err(error) => rejected.push(error),
        }
    }
    let state = stores[0]
        .budget_state("acme".to_owned(), day, NOON_MICROS)
        .await
        .unwrap();
    RaceResult {
        admitted,
        rejected,
        spent: state.spent,
        reserved: state.reserved,
    }
}

fn assert_field_case(result: &RaceResult) {
    assert_eq!(
        result.admitted, 1,
        "exactly one of 8 requests fits $0.015 of budget"
    );
    assert_eq!(result.rejected.len(), 7);
    for error in &result.rejected {
        let AdmissionError::BudgetExceeded(exceeded) = error else {
            panic!("expected a budget rejection, got {error:?}");
        };
        // Noon to midnight.
        assert_eq!(exceeded.retry_after, Duration::from_secs(12 * 3600));
        assert_eq!(exceeded.requested, Nanodollars::from_usd(0.01).unwrap());
        assert_eq!(error.retry_after_secs(), Some(43_200));
        assert_eq!(error.api_error_kind().as_str(), "budget_exceeded");
    }
    // $0.985 + one output token at $156.25 per million.
    assert_eq!(result.spent, Nanodollars::new(985_156_250));
    assert!(result.spent <= Nanodollars::from_usd(1.0).unwrap());
    assert_eq!(result.reserved, Nanodollars::ZERO);
}

fn assert_no_overspend(result: &RaceResult, expected_admitted: usize, budget_usd: f64) {
    assert_eq!(result.admitted, expected_admitted);
    assert!(
        result.spent <= Nanodollars::from_usd(budget_usd).unwrap(),
        "spent {} over budget {budget_usd}",
        result.spent
    );
    assert_eq!(result.reserved, Nanodollars::ZERO);
}

async fn sqlite_stores(count: usize) -> (tempfile::TempDir, Vec<Arc<dyn CostStore>>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut stores: Vec<Arc<dyn CostStore>> = Vec::new();
    for _ in 0..count {
        stores.push(Arc::new(SqliteStore::open(&path).await.unwrap()));
    }
    (dir, stores)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_admits_one_of_eight() {
    let store: Arc<dyn CostStore> = Arc::new(MemoryStore::new());
    assert_field_case(&race(&[store], 1.0, 0.985, 8).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_never_overspends_with_many_requests() {
    let store: Arc<dyn CostStore> = Arc::new(MemoryStore::new());
    // The $0.05 left fits five worst cases of $0.01.
    assert_no_overspend(&race(&[store], 1.0, 0.95, 40).await, 5, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_admits_one_of_eight() {
    let (_dir, stores) = sqlite_stores(1).await;
    assert_field_case(&race(&stores, 1.0, 0.985, 8).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_connections_sharing_a_file_admit_one() {
    // Two connections to one file race like two processes would.
    let (_dir, stores) = sqlite_stores(2).await;
    assert_field_case(&race(&stores, 1.0, 0.985, 8).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_never_overspends_with_many_requests() {
    let (_dir, stores) = sqlite_stores(3).await;
    assert_no_overspend(&race(&stores, 1.0, 0.95, 30).await, 5, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_replicas_admit_one_of_eight() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stores = [
        redis_store(&server, "race-a:"),
        redis_store(&server, "race-a:"),
    ];
    assert_field_case(&race(&stores, 1.0, 0.985, 8).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_replicas_never_overspend_with_many_requests() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stores = [
        redis_store(&server, "race-b:"),
        redis_store(&server, "race-b:"),
    ];
    assert_no_overspend(&race(&stores, 1.0, 0.95, 40).await, 5, 1.0);
}
