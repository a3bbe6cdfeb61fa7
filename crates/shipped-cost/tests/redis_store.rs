//! Two replicas sharing one real redis-server, and what happens when it stops.
//!
//! These tests start `redis-server` on 127.0.0.1 and fail when it is not
//! installed, unless `HELLO_SHIP_SKIP_REDIS=1` is set.

#![allow(
    clippy::unwrap_used,
    reason = "a failed setup or store call fails the test where it happens"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use shipped_core::Usage;
use shipped_cost::{
    AdmissionError, CostControl, CostStore, LimitsConfig, ManualClock, Nanodollars, OnUnavailable,
    PolicyStore, RateLimit, RateScope, Tenant, TokenCount, UtcDay, usage_report,
};

use common::{CENT_MODEL, RedisServer, cent_prices, redis_store, tenant};

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

fn rate_limited_tenant() -> Tenant {
    Tenant {
        rate: RateLimit::per_minute(60).and_then(|limit| limit.with_burst(3)),
        rate_per_user: RateLimit::per_minute(6).and_then(|limit| limit.with_burst(2)),
        ..tenant("acme", 1.0)
    }
}

#[tokio::test]
async fn replicas_share_one_rate_limit() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let clock = ManualClock::at_micros(NOON_MICROS);
    let first = control(redis_store(&server, "rate:"), &clock);
    let second = control(redis_store(&server, "rate:"), &clock);
    let acme = rate_limited_tenant();

    // Burst of 3 for the tenant, spread over both replicas and three users.
    let status = first.check_rate(&acme, Some("ann")).await.unwrap().unwrap();
    assert_eq!(
        status.remaining, 1,
        "the user limit (burst 2) is the tighter one"
    );
    assert_eq!(status.limit, 6);
    second.check_rate(&acme, Some("bob")).await.unwrap();
    let status = first.check_rate(&acme, Some("cid")).await.unwrap().unwrap();
    assert_eq!(status.remaining, 0);
    assert_eq!(status.limit, 60);

    let error = second.check_rate(&acme, Some("dee")).await.unwrap_err();
    let AdmissionError::RateLimited(limited) = error else {
        panic!("expected a rate limit, got {error:?}");
    };
    assert_eq!(limited.scope, RateScope::Tenant);
    assert_eq!(limited.limit, 60);
    assert_eq!(limited.remaining, 0);
    assert_eq!(limited.retry_after, Duration::from_secs(1));
    assert_eq!(limited.reset, Duration::from_secs(3));

    // One interval later exactly one more request passes.
    clock.advance(Duration::from_secs(1));
    second.check_rate(&acme, Some("dee")).await.unwrap();
    assert!(first.check_rate(&acme, Some("eve")).await.is_err());
}

#[tokio::test]
async fn user_limit_rejects_without_counting_tenant() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let clock = ManualClock::at_micros(NOON_MICROS);
    let first = control(redis_store(&server, "user:"), &clock);
    let second = control(redis_store(&server, "user:"), &clock);
    let acme = Tenant {
        rate: RateLimit::per_minute(60),
        ..rate_limited_tenant()
    };

    first.check_rate(&acme, Some("ann")).await.unwrap();
    second.check_rate(&acme, Some("ann")).await.unwrap();
    let error = first.check_rate(&acme, Some("ann")).await.unwrap_err();
    let AdmissionError::RateLimited(limited) = error else {
        panic!("expected a rate limit, got {error:?}");
    };
    assert_eq!(limited.scope, RateScope::User);
    assert_eq!(limited.limit, 6);
    assert_eq!(limited.retry_after, Duration::from_secs(10));

    // The rejected request did not use the tenant's burst: 60 - 2 remain.
    let status = second
        .check_rate(&acme, Some("bob"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.limit, 6);
    let tenant_only = Tenant {
        rate_per_user: None,
        ..acme
    };
    let status = second
        .check_rate(&tenant_only, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.remaining, 56);
}

#[tokio::test]
async fn replicas_share_one_budget_and_report() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let clock = ManualClock::at_micros(NOON_MICROS);
    let first = control(redis_store(&server, "budget:"), &clock);
    let second = control(redis_store(&server, "budget:"), &clock);
    let acme = tenant("acme", 0.02);

    let mut one = first
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    let two = second
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    assert!(matches!(
        first.reserve(&acme, &[CENT_MODEL], NO_INPUT, 64).await,
        Err(AdmissionError::BudgetExceeded(_))
    ));

    // Settling below the worst case frees the difference for the other replica.
    one.mark_upstream_called();
    let usage = Usage {
        input_tokens: 3,
        output_tokens: 32,
        ..Usage::default()
    };
    let cost = one.settle(CENT_MODEL, &usage).await.unwrap();
    assert_eq!(cost.nanodollars, Nanodollars::from_usd(0.005).unwrap());
    assert!(
        second
            .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
            .await
            .is_err()
    );
    let small = second
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 32)
        .await
        .unwrap();
    two.release().await.unwrap();
    small.release().await.unwrap();

    let day = UtcDay::from_micros(NOON_MICROS);
    let state = first
        .store()
        .budget_state("acme".to_owned(), day, NOON_MICROS)
        .await
        .unwrap();
    assert_eq!(state.spent, Nanodollars::from_usd(0.005).unwrap());
    assert_eq!(state.reserved, Nanodollars::ZERO);

    let report = usage_report(second.store().as_ref(), day, day.next())
        .await
        .unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].requests, 1);
    assert_eq!(report[0].input_tokens, 3);
    assert_eq!(report[0].output_tokens, 32);
    assert_eq!(report[0].cost, Nanodollars::from_usd(0.005).unwrap());
}

#[tokio::test]
async fn expired_reservation_stops_counting() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let clock = ManualClock::at_micros(NOON_MICROS);
    let control = control(redis_store(&server, "expiry:"), &clock)
        .with_reservation_ttl(Duration::from_secs(60));
    let acme = tenant("acme", 0.01);

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
    std::mem::forget(held);
    clock.advance(Duration::from_secs(61));
    let again = control
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    again.release().await.unwrap();
}

#[tokio::test]
async fn outage_follows_the_policy() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let clock = ManualClock::at_micros(NOON_MICROS);
    let redis = redis_store(&server, "outage:");
    let open = control(
        Arc::new(PolicyStore::new(redis.clone(), OnUnavailable::Open)),
        &clock,
    );
    let closed = control(
        Arc::new(PolicyStore::new(redis.clone(), OnUnavailable::Closed)),
        &clock,
    );
    let acme = rate_limited_tenant();

    open.store().health().await.unwrap();
    let before = open
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    assert!(before.is_held());
    server.stop();

    let health = open.store().health().await.unwrap_err();
    assert!(health.is_unavailable(), "{health:?}");

    // Open admits without checks, and a settle that cannot be recorded is an error, not a panic.
    assert_eq!(open.check_rate(&acme, Some("ann")).await.unwrap(), None);
    let unchecked = open
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    assert!(!unchecked.is_held());
    let usage = Usage {
        input_tokens: 1,
        output_tokens: 1,
        ..Usage::default()
    };
    assert!(
        unchecked
            .settle(CENT_MODEL, &usage)
            .await
            .unwrap_err()
            .is_unavailable()
    );

    // Closed rejects with a 503-class error.
    let error = closed.check_rate(&acme, Some("ann")).await.unwrap_err();
    assert_eq!(error.api_error_kind().status(), 503);
    let error = closed
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap_err();
    assert_eq!(error.api_error_kind().status(), 503);
    assert_eq!(error.retry_after(), None);

    // A guard dropped during the outage finishes in the background without panicking.
    drop(before);
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn store_recovers_after_restart() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let clock = ManualClock::at_micros(NOON_MICROS);
    let store = redis_store(&server, "recover:");
    store.health().await.unwrap();
    let port = server.port;
    server.stop();
    assert!(store.health().await.unwrap_err().is_unavailable());

    // A new server on the same port: the connection is reopened on demand.
    let restarted = RedisServer::start_on(port);
    let mut healthy = false;
    for _ in 0..50 {
        if store.health().await.is_ok() {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the store did not reconnect within 5 s");
    let reservation = control(store, &clock)
        .reserve(&tenant("acme", 1.0), &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    assert!(reservation.is_held());
    reservation.release().await.unwrap();
    drop(restarted);
}

#[tokio::test]
async fn unreachable_at_start_is_not_fatal() {
    // Nothing listens on this port: the store is created and reports unavailable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store =
        shipped_cost::RedisStore::connect(&format!("redis://127.0.0.1:{port}/"), "none:").unwrap();
    let error = store.health().await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
}
