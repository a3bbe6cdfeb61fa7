//! Streaming over a chain: silent failover before the commit point, a
//! terminal failure after it, stage timeouts, continuation and cancellation.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use llm_providers::mock::{MockFault, MockScript};
use llm_resilience::{ChainConfig, ChainEvent, CommitMode, FallbackTier, StageTimeouts};
use shipped_core::{FinishReason, Role, UpstreamErrorKind};
use support::{Scripted, Step, attempted_routes, chain, collect, request, route, text_of};
use tokio::time::Instant;

fn config() -> ChainConfig {
    let mut config = ChainConfig::default();
    config.retry.max_attempts = 1;
    config
}

fn failing_after(tokens: usize, answer: &str) -> std::sync::Arc<Scripted> {
    let script = MockScript::default()
        .answer(answer)
        .fault(MockFault::FailAfter {
            tokens,
            kind: UpstreamErrorKind::Overloaded,
        });
    Scripted::new([], Step::Answer, script)
}

#[tokio::test(start_paused = true)]
async fn failure_before_first_token_fails_over() {
    let primary = failing_after(0, "unused");
    let secondary = Scripted::answering("Paris is the capital.");
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config(),
    );

    let events = collect(chain.stream(request(), CommitMode::FirstOutput)).await;

    assert_eq!(attempted_routes(&events), ["primary", "secondary"]);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ChainEvent::Failed(_) | ChainEvent::Rollback))
    );
    assert_eq!(text_of(&events), "Paris is the capital.");
    let Some(ChainEvent::Finish(end)) = events.last() else {
        panic!("expected a finish, got {events:?}");
    };
    assert_eq!(end.route, "secondary");
    assert_eq!(end.tier, FallbackTier::Fallback(1));
    assert_eq!(end.finish_reason, FinishReason::Stop);
    assert_eq!(end.attempts, 2);
}

#[tokio::test(start_paused = true)]
async fn retryable_failure_before_first_token_is_retried() {
    let primary = Scripted::new(
        [Step::Status(503, None)],
        Step::Answer,
        MockScript::default().answer("Second try."),
    );
    let chain = chain(
        vec![route("primary", primary.clone())],
        ChainConfig::default(),
    );

    let events = collect(chain.stream(request(), CommitMode::FirstOutput)).await;

    assert_eq!(attempted_routes(&events), ["primary", "primary"]);
    assert_eq!(text_of(&events), "Second try.");
    assert!(matches!(events.last(), Some(ChainEvent::Finish(_))));
}

#[tokio::test(start_paused = true)]
async fn failure_after_first_token_is_terminal() {
    let primary = failing_after(2, "One two three four.");
    let secondary = Scripted::answering("unused");
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config(),
    );

    let mut stream = chain.stream(request(), CommitMode::FirstOutput);
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event);
    }

    assert_eq!(text_of(&events), "One two");
    let Some(ChainEvent::Failed(failure)) = events.last() else {
        panic!("expected a terminal failure, got {events:?}");
    };
    assert_eq!(failure.kind, UpstreamErrorKind::Overloaded);
    assert_eq!(failure.kind.stream_error_code(), "upstream_overloaded");
    assert_eq!(failure.tokens_emitted, 2);
    assert_eq!(failure.route.as_deref(), Some("primary"));
    assert!(failure.incident_id.as_str().starts_with("INC-"));
    assert!(stream.next().await.is_none());
    assert_eq!(secondary.calls(), 0);
    assert!(stream.is_committed());
}

#[tokio::test(start_paused = true)]
async fn manual_commit_rolls_back_unforwarded_text() {
    let primary = failing_after(2, "One two three four.");
    let secondary = Scripted::answering("Paris is the capital.");
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config(),
    );

    // The caller buffers every piece and never commits, as a sentence
    // buffer does before its first sentence is complete.
    let events = collect(chain.stream(request(), CommitMode::Manual)).await;

    let rollback = events
        .iter()
        .position(|e| matches!(e, ChainEvent::Rollback))
        .expect("a rollback event");
    let second_attempt = events
        .iter()
        .rposition(|e| matches!(e, ChainEvent::Attempt(_)))
        .unwrap();
    assert!(rollback < second_attempt);
    assert_eq!(text_of(&events), "Paris is the capital.");
    assert!(matches!(events.last(), Some(ChainEvent::Finish(_))));
}

#[tokio::test(start_paused = true)]
async fn manual_commit_makes_failure_terminal() {
    let primary = failing_after(2, "One two three four.");
    let secondary = Scripted::answering("unused");
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config(),
    );

    let mut stream = chain.stream(request(), CommitMode::Manual);
    let handle = stream.commit_handle();
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        if matches!(event, ChainEvent::Text(_)) {
            handle.commit();
        }
        events.push(event);
    }

    assert!(matches!(events.last(), Some(ChainEvent::Failed(_))));
    assert!(!events.iter().any(|e| matches!(e, ChainEvent::Rollback)));
    assert_eq!(secondary.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn idle_gap_times_out() {
    let script = MockScript::default()
        .answer("One two three.")
        .token_delay(Duration::from_millis(100))
        .fault(MockFault::StallAfter { tokens: 2 });
    let primary = Scripted::new([], Step::Answer, script);
    let mut config = config();
    config.timeouts.idle = Duration::from_secs(5);
    let chain = chain(vec![route("primary", primary.clone())], config);

    let started = Instant::now();
    let events = collect(chain.stream(request(), CommitMode::FirstOutput)).await;

    let Some(ChainEvent::Failed(failure)) = events.last() else {
        panic!("expected a terminal failure, got {events:?}");
    };
    assert_eq!(failure.kind, UpstreamErrorKind::Timeout);
    assert_eq!(failure.kind.stream_error_code(), "upstream_timeout");
    assert_eq!(failure.tokens_emitted, 2);
    // Second token at 0.1 s, then 5 s of silence.
    assert_eq!(started.elapsed(), Duration::from_millis(5_100));
    assert_eq!(primary.dropped_streams(), 1);
}

#[tokio::test(start_paused = true)]
async fn first_token_timeout_fails_over() {
    let slow = MockScript::default()
        .answer("Too late.")
        .time_to_first_token(Duration::from_secs(60));
    let primary = Scripted::new([], Step::Answer, slow);
    let secondary = Scripted::answering("In time.");
    let mut config = config();
    config.timeouts.first_token = Duration::from_secs(10);
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config,
    );

    let started = Instant::now();
    let events = collect(chain.stream(request(), CommitMode::FirstOutput)).await;

    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(text_of(&events), "In time.");
    assert_eq!(primary.dropped_streams(), 1);
    assert_eq!(attempted_routes(&events), ["primary", "secondary"]);
}

#[tokio::test(start_paused = true)]
async fn route_timeouts_override_chain() {
    let slow = MockScript::default()
        .answer("Slow but fine.")
        .time_to_first_token(Duration::from_secs(20));
    let primary = Scripted::new([], Step::Answer, slow);
    let mut config = config();
    config.timeouts.first_token = Duration::from_secs(10);
    let patient = StageTimeouts {
        first_token: Duration::from_secs(40),
        ..StageTimeouts::default()
    };
    let chain = chain(
        vec![route("primary", primary.clone()).with_timeouts(patient)],
        config,
    );

    let events = collect(chain.stream(request(), CommitMode::FirstOutput)).await;

    assert_eq!(text_of(&events), "Slow but fine.");
}

#[tokio::test(start_paused = true)]
async fn complete_call_times_out_and_falls_back() {
    let slow = MockScript::default()
        .answer("Too late.")
        .time_to_first_token(Duration::from_secs(60));
    let primary = Scripted::new([], Step::Answer, slow);
    let secondary = Scripted::answering("In time.");
    let mut config = config();
    config.timeouts.first_token = Duration::from_secs(10);
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config,
    );

    let outcome = chain.complete(request()).await.unwrap();

    assert_eq!(outcome.completion.text, "In time.");
    assert_eq!(primary.cancelled_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn continuation_does_not_repeat_sent_text() {
    let primary = failing_after(2, "One two three four.");
    // The continuation route starts by repeating the partial answer.
    let secondary = Scripted::answering("One two three four.");
    let mut config = config();
    config.continue_on_fallback = true;
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config,
    );

    let events = collect(chain.stream(request(), CommitMode::FirstOutput)).await;

    assert_eq!(text_of(&events), "One two three four.");
    assert!(!events.iter().any(|e| matches!(e, ChainEvent::Rollback)));
    let continuation = events.iter().find_map(|e| match e {
        ChainEvent::Attempt(attempt) if attempt.continuation => Some(attempt.route.clone()),
        _ => None,
    });
    assert_eq!(continuation.as_deref(), Some("secondary"));
    let Some(ChainEvent::Finish(end)) = events.last() else {
        panic!("expected a finish, got {events:?}");
    };
    assert_eq!(end.route, "secondary");

    let sent = secondary.requests();
    let last = sent[0].chat.messages.last().unwrap();
    assert_eq!(last.role, Role::Assistant);
    assert_eq!(last.content, "One two");
}

#[tokio::test(start_paused = true)]
async fn continuation_keeps_text_that_does_not_repeat() {
    let primary = failing_after(2, "One two three four.");
    let secondary = Scripted::answering(" three four.");
    let mut config = config();
    config.continue_on_fallback = true;
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config,
    );

    let events = collect(chain.stream(request(), CommitMode::FirstOutput)).await;

    assert_eq!(text_of(&events), "One two three four.");
}

#[tokio::test(start_paused = true)]
async fn continuation_without_routes_fails() {
    let primary = failing_after(2, "One two three four.");
    let mut config = config();
    config.continue_on_fallback = true;
    let chain = chain(vec![route("primary", primary.clone())], config);

    let events = collect(chain.stream(request(), CommitMode::FirstOutput)).await;

    let Some(ChainEvent::Failed(failure)) = events.last() else {
        panic!("expected a terminal failure, got {events:?}");
    };
    assert_eq!(failure.kind, UpstreamErrorKind::Overloaded);
    assert_eq!(failure.tokens_emitted, 2);
    assert!(!events.iter().any(|e| matches!(e, ChainEvent::Degraded(_))));
}

#[tokio::test(start_paused = true)]
async fn invalid_request_ends_stream_with_failure() {
    let primary = Scripted::always(Step::Status(400, None));
    let secondary = Scripted::answering("unused");
    let chain = chain(
        vec![
            route("primary", primary.clone()),
            route("secondary", secondary.clone()),
        ],
        config(),
    );

    let events = collect(chain.stream(request(), CommitMode::FirstOutput)).await;

    let Some(ChainEvent::Failed(failure)) = events.last() else {
        panic!("expected a terminal failure, got {events:?}");
    };
    assert_eq!(failure.kind, UpstreamErrorKind::InvalidRequest);
    assert_eq!(failure.tokens_emitted, 0);
    assert_eq!(secondary.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_stream_drops_upstream() {
    let slow = MockScript::default()
        .answer("Never sent.")
        .time_to_first_token(Duration::from_secs(60));
    let primary = Scripted::new([], Step::Answer, slow);
    let chain = chain(
        vec![route("primary", primary.clone())],
        ChainConfig::default(),
    );

    let mut stream = chain.stream(request(), CommitMode::FirstOutput);
    assert!(matches!(stream.next().await, Some(ChainEvent::Attempt(_))));
    let waited = tokio::time::timeout(Duration::from_secs(1), stream.next()).await;
    assert!(waited.is_err(), "no event is due yet");
    assert_eq!(primary.dropped_streams(), 0);

    drop(stream);

    assert_eq!(primary.dropped_streams(), 1);
    tokio::time::advance(Duration::from_secs(120)).await;
    assert_eq!(primary.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_complete_cancels_call() {
    let slow = MockScript::default()
        .answer("Never sent.")
        .time_to_first_token(Duration::from_secs(20));
    let primary = Scripted::new([], Step::Answer, slow);
    let chain = chain(
        vec![route("primary", primary.clone())],
        ChainConfig::default(),
    );

    let call = chain.complete(request());
    let waited = tokio::time::timeout(Duration::from_secs(1), call).await;

    assert!(waited.is_err());
    assert_eq!(primary.cancelled_calls(), 1);
    tokio::time::advance(Duration::from_secs(120)).await;
    assert_eq!(primary.calls(), 1);
}
