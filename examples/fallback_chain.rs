//! A two-route fallback chain in front of mock providers.
//!
//! The primary answers every call with HTTP 503, so the chain retries it with
//! backoff, then falls back to the secondary. The program prints how the
//! answer was reached, first for a complete call, then for a streamed one.
//!
//! Run it with `cargo run -p hello-ship-examples --example fallback_chain`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use llm_providers::mock::{MockFault, MockProvider, MockScript};
use llm_resilience::{Backoff, Chain, ChainConfig, ChainEvent, CommitMode, Route};
use shipped_core::{ChatMessage, ChatRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // A primary that is overloaded, and a secondary that works.
    let overloaded = MockFault::Status {
        status: 503,
        retry_after_secs: None,
    };
    let primary = Arc::new(MockProvider::new(MockScript::default().fault(overloaded)));
    let secondary = Arc::new(MockProvider::new(
        MockScript::default().answer("Paris is the capital of France."),
    ));

    // Short backoff so the demo finishes quickly; production keeps the
    // defaults (500 ms doubling up to 8 s).
    let mut config = ChainConfig::default();
    config.retry.backoff = Backoff::try_new(Duration::from_millis(50), Duration::from_millis(200))?;

    let chain = Chain::builder("default")
        .route(Route::new("primary", "gpt-4o-mini", primary.clone()))
        .route(Route::new(
            "secondary",
            "claude-3-5-haiku",
            secondary.clone(),
        ))
        .config(config)
        .build()?;

    let request = ChatRequest::new(vec![ChatMessage::user("What is the capital of France?")]);

    // A complete call: the outcome records which route answered and how.
    let outcome = chain.complete(request.clone()).await?;
    println!("complete call");
    println!("  answer:        {}", outcome.completion.text);
    println!(
        "  route:         {}",
        outcome.route.as_deref().unwrap_or("none")
    );
    println!("  fallback_tier: {}", outcome.tier);
    println!("  attempts:      {}", outcome.attempts);
    println!("  degraded:      {}", outcome.degraded.is_some());

    // A streamed call: the caller sees each attempt, then the text.
    println!("streamed call");
    let mut stream = chain.stream(request, CommitMode::FirstOutput);
    let mut answer = String::new();
    while let Some(event) = stream.next().await {
        match event {
            ChainEvent::Attempt(attempt) => {
                println!("  attempt {} on route {}", attempt.attempt, attempt.route);
            }
            ChainEvent::Text(text) => answer.push_str(&text),
            ChainEvent::Finish(end) => {
                println!("  answer: {answer}");
                println!("  finished on {} ({})", end.route, end.tier);
            }
            ChainEvent::Degraded(degraded) => {
                println!(
                    "  degraded answer {}: {}",
                    degraded.incident_id, degraded.message
                );
            }
            ChainEvent::Failed(failure) => {
                println!(
                    "  failed: {} ({})",
                    failure.kind.stream_error_code(),
                    failure.incident_id
                );
            }
            ChainEvent::ToolCall(_) | ChainEvent::Usage(_) | ChainEvent::Rollback => {}
        }
    }

    println!(
        "provider calls: primary {}, secondary {}",
        primary.calls(),
        secondary.calls()
    );
    for (route, state) in chain.route_states() {
        println!("circuit of {route}: {}", state.as_str());
    }
    Ok(())
}
