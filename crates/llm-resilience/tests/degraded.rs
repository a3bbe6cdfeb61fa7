//! The end of the chain: degraded answers and the fallback traffic cap.

mod support;

use std::num::NonZeroU32;
use std::time::Duration;

use llm_resilience::{ChainConfig, ChainError, ChainEvent, CommitMode, FallbackTier};
use shipped_core::UpstreamErrorKind;
use support::{Scripted, Step, chain, collect, request, route};

#[tokio::test(start_paused = true)]
async fn all_routes_down_gives_degraded_answer() {
    let primary = Scripted::always(Step::Status(503, None));
    let secondary = Scripted::always(Step::Status(500, None));
    let mut config = ChainConfig::default();
    config.degraded.message = "We are having trouble. Try again soon.".to_owned();
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config,
    );

    let first = chain.complete(request()).await.unwrap();
    let second = chain.complete(request()).await.unwrap();

    assert_eq!(first.tier, FallbackTier::Static);
    assert_eq!(first.route, None);
    assert_eq!(
        first.completion.text,
        "We are having trouble. Try again soon."
    );
    assert_eq!(second.completion.text, first.completion.text);
    assert_eq!(first.attempts, 6);
    let first_incident = first.degraded.unwrap().incident_id;
    let second_incident = second.degraded.unwrap().incident_id;
    assert!(first_incident.as_str().starts_with("INC-"));
    assert_ne!(first_incident, second_incident);
}

#[tokio::test(start_paused = true)]
async fn disabled_degraded_answer_is_error() {
    let primary = Scripted::always(Step::Status(503, None));
    let mut config = ChainConfig::default();
    config.degraded.enabled = false;
    let chain = chain(vec![route("primary", primary.clone())], config);

    let error = chain.complete(request()).await.unwrap_err();

    assert!(matches!(error, ChainError::Unavailable { .. }));
    assert_eq!(error.kind(), UpstreamErrorKind::Overloaded);
}

#[tokio::test(start_paused = true)]
async fn stream_gets_degraded_answer() {
    let primary = Scripted::always(Step::Status(503, None));
    let chain = chain(
        vec![route("primary", primary.clone())],
        ChainConfig::default(),
    );

    let events = collect(chain.stream(request(), CommitMode::FirstOutput)).await;

    let Some(ChainEvent::Degraded(degraded)) = events.last() else {
        panic!("expected a degraded answer, got {events:?}");
    };
    assert_eq!(degraded.message, ChainConfig::default().degraded.message);
    assert!(!events.iter().any(|e| matches!(e, ChainEvent::Text(_))));
}

#[tokio::test(start_paused = true)]
async fn fallback_rpm_cap_limits_secondary() {
    let primary = Scripted::always(Step::Status(401, None));
    let secondary = Scripted::answering("From the secondary.");
    let mut config = ChainConfig {
        fallback_rpm: NonZeroU32::new(2),
        ..ChainConfig::default()
    };
    // Keep calling the primary, so that only the cap stops the fallbacks.
    config.breaker.failure_threshold = 0;
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config,
    );

    for _ in 0..2 {
        let outcome = chain.complete(request()).await.unwrap();
        assert_eq!(outcome.tier, FallbackTier::Fallback(1));
    }
    let capped = chain.complete(request()).await.unwrap();
    assert_eq!(capped.tier, FallbackTier::Static);
    assert_eq!(secondary.calls(), 2);

    // At 2 requests per minute, one more fits every 30 s.
    tokio::time::advance(Duration::from_secs(30)).await;
    let outcome = chain.complete(request()).await.unwrap();
    assert_eq!(outcome.tier, FallbackTier::Fallback(1));
    assert_eq!(secondary.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn primary_is_never_capped() {
    let primary = Scripted::answering("From the primary.");
    let config = ChainConfig {
        fallback_rpm: NonZeroU32::new(1),
        ..ChainConfig::default()
    };
    let chain = chain(vec![route("primary", primary.clone())], config);

    for _ in 0..10 {
        let outcome = chain.complete(request()).await.unwrap();
        assert_eq!(outcome.tier, FallbackTier::Primary);
    }
}
