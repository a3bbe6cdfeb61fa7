//! Retries on one route: which failures are retried, how long the chain
//! waits, and how the retry budget caps retries during an outage.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use llm_resilience::{Chain, ChainConfig, ChainError, FallbackTier, RetryBudget};
use shipped_core::UpstreamErrorKind;
use support::{Scripted, Step, chain, request, route};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn retry_after_is_lower_bound_of_wait() {
    let primary = Scripted::new(
        [Step::Status(429, Some(1)), Step::Status(429, Some(4))],
        Step::Answer,
        Default::default(),
    );
    let chain = chain(
        vec![route("primary", primary.clone())],
        ChainConfig::default(),
    );

    let outcome = chain.complete(request()).await.unwrap();

    assert_eq!(outcome.tier, FallbackTier::Primary);
    assert_eq!(outcome.attempts, 3);
    let times = primary.call_times();
    assert_eq!(times.len(), 3);
    let first_wait = times[1] - times[0];
    let second_wait = times[2] - times[1];
    assert!(
        first_wait >= Duration::from_secs(1),
        "waited {first_wait:?}"
    );
    assert!(
        second_wait >= Duration::from_secs(4),
        "waited {second_wait:?}"
    );
    // The jittered backoff (at most 0.5 s, then 1 s) stays below both values.
    assert!(
        first_wait <= Duration::from_secs(1),
        "waited {first_wait:?}"
    );
    assert!(
        second_wait <= Duration::from_secs(4),
        "waited {second_wait:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_above_cap_falls_back_at_once() {
    let primary = Scripted::always(Step::Status(429, Some(30)));
    let secondary = Scripted::answering("From the secondary.");
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        ChainConfig::default(),
    );

    let started = Instant::now();
    let outcome = chain.complete(request()).await.unwrap();

    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(primary.calls(), 1);
    assert_eq!(secondary.calls(), 1);
    assert_eq!(outcome.tier, FallbackTier::Fallback(1));
    assert_eq!(outcome.route.as_deref(), Some("secondary"));
    assert_eq!(outcome.completion.text, "From the secondary.");
}

#[tokio::test(start_paused = true)]
async fn server_error_then_success() {
    let primary = Scripted::new([Step::Status(503, None)], Step::Answer, Default::default());
    let chain = chain(
        vec![route("primary", primary.clone())],
        ChainConfig::default(),
    );

    let outcome = chain.complete(request()).await.unwrap();

    assert_eq!(primary.calls(), 2);
    assert_eq!(outcome.attempts, 2);
    assert_eq!(outcome.tier, FallbackTier::Primary);
    assert!(outcome.degraded.is_none());
}

#[tokio::test(start_paused = true)]
async fn retryable_statuses_use_all_attempts() {
    for status in [429, 500, 502, 503, 504, 529] {
        let primary = Scripted::always(Step::Status(status, None));
        let chain = chain(
            vec![route("primary", primary.clone())],
            ChainConfig::default(),
        );

        let outcome = chain.complete(request()).await.unwrap();

        assert_eq!(primary.calls(), 3, "status {status}");
        assert_eq!(outcome.tier, FallbackTier::Static, "status {status}");
    }
}

#[tokio::test(start_paused = true)]
async fn connection_failures_and_timeouts_are_retried() {
    for kind in [UpstreamErrorKind::Connect, UpstreamErrorKind::Timeout] {
        let primary = Scripted::new([Step::Kind(kind)], Step::Answer, Default::default());
        let chain = chain(
            vec![route("primary", primary.clone())],
            ChainConfig::default(),
        );

        let outcome = chain.complete(request()).await.unwrap();

        assert_eq!(primary.calls(), 2, "{kind:?}");
        assert_eq!(outcome.tier, FallbackTier::Primary, "{kind:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn invalid_requests_are_not_retried_or_forwarded() {
    for status in [400, 404] {
        let primary = Scripted::always(Step::Status(status, None));
        let secondary = Scripted::answering("unused");
        let chain = chain(
            vec![
                route("primary", primary.clone()),
                route("secondary", secondary.clone()),
            ],
            ChainConfig::default(),
        );

        let error = chain.complete(request()).await.unwrap_err();

        assert_eq!(primary.calls(), 1, "status {status}");
        assert_eq!(secondary.calls(), 0, "status {status}");
        assert!(
            matches!(error, ChainError::Rejected { .. }),
            "status {status}"
        );
        assert_eq!(error.kind(), UpstreamErrorKind::InvalidRequest);
    }
}

#[tokio::test(start_paused = true)]
async fn auth_errors_fall_back_without_retry() {
    for status in [401, 403] {
        let primary = Scripted::always(Step::Status(status, None));
        let secondary = Scripted::answering("From the secondary.");
        let chain = chain(
            vec![
                route("primary", primary.clone()),
                route("secondary", secondary.clone()),
            ],
            ChainConfig::default(),
        );

        let started = Instant::now();
        let outcome = chain.complete(request()).await.unwrap();

        assert_eq!(primary.calls(), 1, "status {status}");
        assert_eq!(secondary.calls(), 1, "status {status}");
        assert_eq!(started.elapsed(), Duration::ZERO, "status {status}");
        assert_eq!(outcome.tier, FallbackTier::Fallback(1), "status {status}");
    }
}

#[tokio::test(start_paused = true)]
async fn route_max_attempts_overrides_policy() {
    let primary = Scripted::always(Step::Status(503, None));
    let chain = chain(
        vec![route("primary", primary.clone()).with_max_attempts(5)],
        ChainConfig::default(),
    );

    chain.complete(request()).await.unwrap();

    assert_eq!(primary.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn deadline_stops_retries() {
    let primary = Scripted::always(Step::Status(429, Some(10)));
    let mut config = ChainConfig::default();
    config.retry.max_attempts = 10;
    config.retry.deadline = Duration::from_secs(25);
    let chain = chain(vec![route("primary", primary.clone())], config);

    let started = Instant::now();
    let outcome = chain.complete(request()).await.unwrap();

    // Calls at 0 s, 10 s and 20 s; a wait until 30 s would pass the deadline.
    assert_eq!(primary.calls(), 3);
    assert!(started.elapsed() <= Duration::from_secs(25));
    assert_eq!(outcome.tier, FallbackTier::Static);
}

/// Runs `requests` concurrent requests against a primary that always fails
/// and returns the number of upstream calls.
async fn calls_during_outage(requests: usize, budget: RetryBudget) -> usize {
    let primary = Scripted::always(Step::Status(503, None));
    let mut config = ChainConfig::default();
    // Keep the primary's circuit closed so that only the budget limits calls.
    config.breaker.failure_threshold = 0;
    let chain = Chain::builder("outage")
        .route(route("primary", primary.clone()))
        .config(config)
        .retry_budget(Arc::new(budget))
        .build()
        .expect("valid chain");

    let outcomes = join_all((0..requests).map(|_| chain.complete(request()))).await;

    for outcome in outcomes {
        let outcome = outcome.expect("a degraded answer, not an error");
        assert_eq!(outcome.tier, FallbackTier::Static);
    }
    primary.calls()
}

#[tokio::test(start_paused = true)]
async fn retry_budget_caps_retries_during_outage() {
    let requests = 200;
    let budget = RetryBudget::try_new(0.2, 1, Duration::from_secs(10)).unwrap();

    let calls = calls_during_outage(requests, budget).await;

    // 20% of 200 requests plus the floor of 1 retry per second over 10 s.
    let budget_retries = 40 + 10;
    assert!(calls <= requests + budget_retries, "{calls} upstream calls");
    assert!(calls > requests, "the budget allowed no retry at all");
}

#[tokio::test(start_paused = true)]
async fn without_budget_limit_outage_triples_calls() {
    let budget = RetryBudget::try_new(10.0, 0, Duration::from_secs(10)).unwrap();

    let calls = calls_during_outage(200, budget).await;

    assert_eq!(calls, 600);
}
