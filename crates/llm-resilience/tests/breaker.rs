//! Circuit breaking and context-window fallback over a chain, on tokio's
//! paused clock.

mod support;

use std::time::Duration;

use llm_resilience::{BreakerState, ChainConfig, ChainError, FallbackTier};
use shipped_core::UpstreamErrorKind;
use support::{Scripted, Step, chain, request, route};
use tokio::time::Instant;

fn config(threshold: u32) -> ChainConfig {
    let mut config = ChainConfig::default();
    config.retry.max_attempts = 1;
    config.breaker.failure_threshold = threshold;
    config.breaker.cool_down = Duration::from_secs(30);
    config
}

fn primary_state(chain: &llm_resilience::Chain) -> BreakerState {
    chain.route_states()[0].1
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_skips_and_closes() {
    let primary = Scripted::new(
        [Step::Status(503, None), Step::Status(503, None)],
        Step::Answer,
        Default::default(),
    );
    let secondary = Scripted::answering("From the secondary.");
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config(2),
    );

    for _ in 0..2 {
        let outcome = chain.complete(request()).await.unwrap();
        assert_eq!(outcome.tier, FallbackTier::Fallback(1));
    }
    assert_eq!(primary_state(&chain), BreakerState::Open);

    // An open circuit skips the primary without calling or waiting.
    let started = Instant::now();
    let outcome = chain.complete(request()).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(primary.calls(), 2);
    assert_eq!(outcome.tier, FallbackTier::Fallback(1));
    assert_eq!(outcome.attempts, 1);

    tokio::time::advance(Duration::from_secs(29)).await;
    chain.complete(request()).await.unwrap();
    assert_eq!(primary.calls(), 2);

    // After the cool-down one probe goes to the primary and its success closes
    // the circuit.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(primary_state(&chain), BreakerState::HalfOpen);
    let outcome = chain.complete(request()).await.unwrap();
    assert_eq!(outcome.tier, FallbackTier::Primary);
    assert_eq!(primary.calls(), 3);
    assert_eq!(primary_state(&chain), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn failed_probe_reopens_circuit() {
    let primary = Scripted::new(
        [Step::Status(503, None), Step::Status(503, None)],
        Step::Answer,
        Default::default(),
    );
    let secondary = Scripted::answering("From the secondary.");
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config(1),
    );

    chain.complete(request()).await.unwrap();
    assert_eq!(primary_state(&chain), BreakerState::Open);

    tokio::time::advance(Duration::from_secs(30)).await;
    let outcome = chain.complete(request()).await.unwrap();
    assert_eq!(primary.calls(), 2);
    assert_eq!(outcome.tier, FallbackTier::Fallback(1));
    assert_eq!(primary_state(&chain), BreakerState::Open);

    chain.complete(request()).await.unwrap();
    assert_eq!(primary.calls(), 2);

    tokio::time::advance(Duration::from_secs(30)).await;
    let outcome = chain.complete(request()).await.unwrap();
    assert_eq!(outcome.tier, FallbackTier::Primary);
    assert_eq!(primary_state(&chain), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn retries_count_toward_breaker() {
    let primary = Scripted::always(Step::Status(503, None));
    let mut config = config(3);
    config.retry.max_attempts = 3;
    let chain = chain(vec![route("primary", primary.clone())], config);

    chain.complete(request()).await.unwrap();

    assert_eq!(primary.calls(), 3);
    assert_eq!(primary_state(&chain), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn context_overflow_skips_to_larger_window() {
    let primary = Scripted::always(Step::Kind(UpstreamErrorKind::ContextLengthExceeded));
    let same_window = Scripted::answering("unused");
    let large = Scripted::answering("From the large model.");
    let chain = chain(
        vec![
            route("primary", primary.clone()).with_context_window(8_000),
            route("same-window", same_window.clone()).with_context_window(8_000),
            route("large", large.clone()).with_context_window(200_000),
        ],
        config(1),
    );

    let outcome = chain.complete(request()).await.unwrap();

    assert_eq!(outcome.route.as_deref(), Some("large"));
    assert_eq!(outcome.tier, FallbackTier::Fallback(2));
    assert_eq!(primary.calls(), 1);
    assert_eq!(same_window.calls(), 0);
    // A threshold of 1 would have opened the circuit on a counted failure.
    assert_eq!(primary_state(&chain), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn context_overflow_everywhere_is_rejected() {
    let primary = Scripted::always(Step::Kind(UpstreamErrorKind::ContextLengthExceeded));
    let small = Scripted::answering("unused");
    let chain = chain(
        vec![
            route("primary", primary.clone()).with_context_window(8_000),
            route("small", small.clone()).with_context_window(4_000),
        ],
        config(5),
    );

    let error = chain.complete(request()).await.unwrap_err();

    assert!(matches!(&error, ChainError::Rejected { route, .. } if route == "primary"));
    assert_eq!(error.kind(), UpstreamErrorKind::ContextLengthExceeded);
    assert_eq!(small.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn context_overflow_without_windows_is_rejected() {
    let primary = Scripted::always(Step::Kind(UpstreamErrorKind::ContextLengthExceeded));
    let secondary = Scripted::always(Step::Kind(UpstreamErrorKind::ContextLengthExceeded));
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config(5),
    );

    let error = chain.complete(request()).await.unwrap_err();

    // With no window configured the chain cannot skip, so it asks each route.
    assert_eq!(primary.calls(), 1);
    assert_eq!(secondary.calls(), 1);
    assert!(matches!(&error, ChainError::Rejected { route, .. } if route == "secondary"));
    assert_eq!(error.kind(), UpstreamErrorKind::ContextLengthExceeded);
}
