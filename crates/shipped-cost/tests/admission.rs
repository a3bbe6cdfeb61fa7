//! The admission flow on the memory store: rate limits on a controlled clock,
//! reservation guards, budget reset and store construction from config.

#![allow(
    clippy::unwrap_used,
    reason = "a failed setup or store call fails the test where it happens"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use shipped_core::{ApiErrorKind, ChatMessage, ChatRequest, Usage};
use shipped_cost::{
    AdmissionError, Backend, CostControl, LimitsConfig, ManualClock, MemoryStore, Nanodollars,
    OnUnavailable, PriceTable, RateLimit, RateScope, StateConfig, Tenant, TenantConfig, TenantKeys,
    TokenCount, UtcDay, open_store,
};

use common::{CENT_MODEL, cent_prices, tenant};

/// 2026-12-04 at 12:00 UTC.
const NOON_MICROS: u64 = 1_796_385_600_000_000;

const NO_INPUT: TokenCount = TokenCount {
    tokens: 0,
    estimated: false,
};

fn memory_control(clock: &ManualClock) -> CostControl {
    CostControl::new(
        Arc::new(MemoryStore::new()),
        cent_prices(),
        LimitsConfig::default(),
    )
    .with_clock(Arc::new(clock.clone()))
}

async fn budget_state(control: &CostControl, clock: &ManualClock) -> shipped_cost::BudgetState {
    let now = shipped_cost::Clock::now_micros(clock);
    control
        .store()
        .budget_state("acme".to_owned(), UtcDay::from_micros(now), now)
        .await
        .unwrap()
}

/// Waits, bounded, for a dropped guard's background task to reach the store.
async fn wait_for_reserved(control: &CostControl, clock: &ManualClock, expected: Nanodollars) {
    for _ in 0..100 {
        if budget_state(control, clock).await.reserved == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("reserved amount did not become {expected} within 1 s");
}

#[tokio::test]
async fn gcra_values_on_controlled_clock() {
    let clock = ManualClock::at_micros(NOON_MICROS);
    let control = memory_control(&clock);
    // 120 per minute (one per 500 ms) with a burst of 4.
    let acme = Tenant {
        rate: RateLimit::per_minute(120).and_then(|limit| limit.with_burst(4)),
        ..tenant("acme", 1.0)
    };

    for expected_remaining in [3, 2, 1, 0] {
        let status = control.check_rate(&acme, None).await.unwrap().unwrap();
        assert_eq!(status.remaining, expected_remaining);
        assert_eq!(status.limit, 120);
    }
    let error = control.check_rate(&acme, None).await.unwrap_err();
    let AdmissionError::RateLimited(limited) = &error else {
        panic!("expected a rate limit, got {error:?}");
    };
    assert_eq!(limited.scope, RateScope::Tenant);
    assert_eq!(limited.retry_after, Duration::from_millis(500));
    assert_eq!(limited.reset, Duration::from_secs(2));
    assert_eq!(limited.remaining, 0);
    assert_eq!(error.retry_after_secs(), Some(1));
    assert_eq!(error.api_error_kind(), ApiErrorKind::RateLimited);

    clock.advance(Duration::from_millis(499));
    assert!(control.check_rate(&acme, None).await.is_err());
    clock.advance(Duration::from_millis(1));
    let status = control.check_rate(&acme, None).await.unwrap().unwrap();
    assert_eq!(status.remaining, 0);
    assert_eq!(status.reset, Duration::from_secs(2));

    // Two seconds of quiet restore the whole burst.
    clock.advance(Duration::from_secs(2));
    let status = control.check_rate(&acme, None).await.unwrap().unwrap();
    assert_eq!(status.remaining, 3);
}

#[tokio::test]
async fn tenant_without_limits_is_not_rate_checked() {
    let clock = ManualClock::at_micros(NOON_MICROS);
    let control = memory_control(&clock);
    let acme = tenant("acme", 1.0);
    for _ in 0..1_000 {
        assert_eq!(control.check_rate(&acme, Some("ann")).await.unwrap(), None);
    }
}

#[tokio::test]
async fn dropped_guard_before_call_releases() {
    let clock = ManualClock::at_micros(NOON_MICROS);
    let control = memory_control(&clock);
    let acme = tenant("acme", 1.0);

    let reservation = control
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    assert_eq!(reservation.amount(), Nanodollars::from_usd(0.01).unwrap());
    assert_eq!(
        budget_state(&control, &clock).await.reserved,
        reservation.amount()
    );
    drop(reservation);
    wait_for_reserved(&control, &clock, Nanodollars::ZERO).await;
    assert_eq!(
        budget_state(&control, &clock).await.spent,
        Nanodollars::ZERO
    );
}

#[tokio::test]
async fn dropped_guard_after_call_bills_partial_usage() {
    let clock = ManualClock::at_micros(NOON_MICROS);
    let control = memory_control(&clock);
    let acme = tenant("acme", 1.0);

    let mut reservation = control
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 640)
        .await
        .unwrap();
    reservation.mark_upstream_called();
    reservation.record_partial_usage(Usage {
        input_tokens: 9,
        output_tokens: 64,
        ..Usage::default()
    });
    drop(reservation);
    wait_for_reserved(&control, &clock, Nanodollars::ZERO).await;
    assert_eq!(
        budget_state(&control, &clock).await.spent,
        Nanodollars::from_usd(0.01).unwrap()
    );
}

#[tokio::test]
async fn dropped_guard_without_usage_bills_input_estimate() {
    let clock = ManualClock::at_micros(NOON_MICROS);
    let store = Arc::new(MemoryStore::new());
    let control = CostControl::new(store, PriceTable::defaults(), LimitsConfig::default())
        .with_clock(Arc::new(clock.clone()));
    let acme = tenant("acme", 1.0);
    let input = TokenCount {
        tokens: 1_000,
        estimated: false,
    };

    let mut reservation = control
        .reserve(&acme, &["gpt-4o-mini"], input, 100)
        .await
        .unwrap();
    reservation.mark_upstream_called();
    drop(reservation);
    wait_for_reserved(&control, &clock, Nanodollars::ZERO).await;
    // 1,000 input tokens at $0.15 per million.
    assert_eq!(
        budget_state(&control, &clock).await.spent,
        Nanodollars::new(150_000)
    );
}

#[tokio::test]
async fn budget_resets_at_utc_midnight() {
    let clock = ManualClock::at_micros(NOON_MICROS);
    let control = memory_control(&clock);
    let acme = tenant("acme", 0.01);

    let reservation = control
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    let usage = Usage {
        input_tokens: 1,
        output_tokens: 64,
        ..Usage::default()
    };
    reservation.settle(CENT_MODEL, &usage).await.unwrap();

    clock.advance(Duration::from_secs(12 * 3600 - 1));
    let error = control
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 1)
        .await
        .unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    clock.advance(Duration::from_secs(1));
    let fresh = control
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    fresh.release().await.unwrap();
}

#[tokio::test]
async fn fallback_chain_reserves_dearest_model() {
    let clock = ManualClock::at_micros(NOON_MICROS);
    let control = CostControl::new(
        Arc::new(MemoryStore::new()),
        PriceTable::defaults(),
        LimitsConfig::default(),
    )
    .with_clock(Arc::new(clock.clone()));
    let input = TokenCount {
        tokens: 1_000,
        estimated: false,
    };
    // gpt-4o-mini: 1,000 × 0.15 + 100 × 0.60 = 210 µ$.
    // claude-sonnet-4-5: 1,000 × 3.75 (cache write) + 100 × 15 = 5,250 µ$.
    assert_eq!(
        control.max_cost(&["gpt-4o-mini"], input, 100),
        Nanodollars::new(210_000)
    );
    assert_eq!(
        control.max_cost(&["gpt-4o-mini", "claude-sonnet-4-5", "unknown"], input, 100),
        Nanodollars::new(5_250_000)
    );
    assert_eq!(
        control.max_cost(&["unknown"], input, 100),
        Nanodollars::ZERO
    );
}

#[tokio::test]
async fn exhausted_budget_blocks_unpriced_models_too() {
    let clock = ManualClock::at_micros(NOON_MICROS);
    let control = memory_control(&clock);
    let acme = tenant("acme", 0.01);
    let reservation = control
        .reserve(&acme, &[CENT_MODEL], NO_INPUT, 64)
        .await
        .unwrap();
    reservation
        .settle(
            CENT_MODEL,
            &Usage {
                output_tokens: 65,
                ..Usage::default()
            },
        )
        .await
        .unwrap();
    let error = control
        .reserve(&acme, &["unpriced"], NO_INPUT, 64)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AdmissionError::BudgetExceeded(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn full_flow_from_config() {
    let config: toml::Table = toml::from_str(
        r#"
        [limits]
        max_output_tokens = 1024
        max_input_tokens = 50
        rpm_per_tenant = 600

        [[tenants]]
        id = "acme"
        key_sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        daily_budget_usd = 50.0
        max_output_tokens = 512
        rpm_per_user = 2

        [state]
        backend = "memory"
        on_unavailable = "open"
        "#,
    )
    .unwrap();
    let limits: LimitsConfig = config["limits"].clone().try_into().unwrap();
    let tenants: Vec<TenantConfig> = config["tenants"].clone().try_into().unwrap();
    let state: StateConfig = config["state"].clone().try_into().unwrap();
    limits.validate().unwrap();
    assert_eq!(state.backend, Backend::Memory);
    assert_eq!(state.on_unavailable, OnUnavailable::Open);

    let keys = TenantKeys::from_config(&tenants, &limits).unwrap();
    let store = open_store(&state, |_| None).await.unwrap();
    store.health().await.unwrap();
    let control = CostControl::new(store, PriceTable::defaults(), limits);

    let acme = keys.authenticate("foo").unwrap();
    let mut request = ChatRequest::new(vec![ChatMessage::user("hello world")]);
    request.max_tokens = Some(4096);
    let input = control.count_input("gpt-4o-mini", &request).unwrap();
    assert_eq!(input.tokens, 9);
    assert_eq!(control.max_output_tokens(&acme, request.max_tokens), 512);

    let status = control
        .check_rate(&acme, Some("ann"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.limit, 2, "the per-user limit is the tighter one");
    let reservation = control
        .reserve(&acme, &["gpt-4o-mini"], input, 512)
        .await
        .unwrap();
    let cost = reservation
        .settle(
            "gpt-4o-mini-2024-07-18",
            &Usage {
                input_tokens: 26,
                output_tokens: 2,
                ..Usage::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cost.nanodollars, Nanodollars::new(5_100));

    let long = ChatRequest::new(vec![ChatMessage::user("word ".repeat(100))]);
    let error = control.count_input("gpt-4o-mini", &long).unwrap_err();
    assert_eq!(error.limit, 50);
    assert!(error.tokens > 50);
}

#[tokio::test]
async fn open_store_names_missing_redis_variable() {
    let state = StateConfig {
        backend: Backend::Redis,
        url_env: Some("TEST_REDIS_URL".to_owned()),
        ..StateConfig::default()
    };
    let error = open_store(&state, |_| None).await.unwrap_err();
    let shipped_cost::OpenError::Config(config) = error else {
        panic!("expected a config error, got {error:?}");
    };
    assert_eq!(config.setting(), "state.url_env");
    assert!(config.message().contains("TEST_REDIS_URL"));
}

#[tokio::test]
async fn open_store_creates_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateConfig {
        path: dir.path().join("state.db"),
        ..StateConfig::default()
    };
    let store = open_store(&state, |_| None).await.unwrap();
    store.health().await.unwrap();
    assert!(dir.path().join("state.db").exists());
}

#[test]
fn state_config_validation_names_settings() {
    let redis_without_url = StateConfig {
        backend: Backend::Redis,
        ..StateConfig::default()
    };
    assert_eq!(
        redis_without_url.validate().unwrap_err().setting(),
        "state.url_env"
    );
    let sqlite_without_path = StateConfig {
        path: "".into(),
        ..StateConfig::default()
    };
    assert_eq!(
        sqlite_without_path.validate().unwrap_err().setting(),
        "state.path"
    );
    let zero_ttl = StateConfig {
        reservation_ttl_secs: 0,
        ..StateConfig::default()
    };
    assert_eq!(
        zero_ttl.validate().unwrap_err().setting(),
        "state.reservation_ttl_secs"
    );
    let unknown: Result<StateConfig, _> = toml::from_str("backend = \"postgres\"");
    assert!(unknown.is_err());
    let typo: Result<StateConfig, _> = toml::from_str("on_unavailble = \"open\"");
    assert!(typo.is_err());
}

#[test]
fn limits_env_overrides_and_validation() {
    let mut limits = LimitsConfig::default();
    limits
        .apply_env(|name| match name {
            "MAX_OUTPUT_TOKENS" => Some("256".to_owned()),
            "RPM_PER_USER" => Some(" 5 ".to_owned()),
            _ => None,
        })
        .unwrap();
    assert_eq!(limits.max_output_tokens, 256);
    assert_eq!(limits.rpm_per_user, Some(5));
    assert_eq!(limits.rpm_per_tenant, Some(600));

    let error = limits
        .apply_env(|name| (name == "RPM_PER_TENANT").then(|| "0".to_owned()))
        .unwrap_err();
    assert_eq!(error.setting(), "RPM_PER_TENANT");

    let zero = LimitsConfig {
        max_input_tokens: 0,
        ..LimitsConfig::default()
    };
    assert_eq!(
        zero.validate().unwrap_err().setting(),
        "limits.max_input_tokens"
    );
    let typo: Result<LimitsConfig, _> = toml::from_str("max_output_token = 5");
    assert!(typo.is_err());
}
