//! Stage deadlines and transport failures against the fake provider.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on a broken fixture or server, which fails the test"
)]

mod support;

use std::time::{Duration, Instant};

use llm_providers::openai::OpenAiProvider;
use llm_providers::{Provider, Timeouts};
use shipped_core::UpstreamErrorKind;
use support::{End, FakeProvider, Reply, collect, request};

const ROLE_CHUNK: &str =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
const TEXT_CHUNK: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";

fn provider(base_url: &str, timeouts: Timeouts) -> OpenAiProvider {
    OpenAiProvider::compatible_builder()
        .base_url(base_url)
        .timeouts(timeouts)
        .build()
        .unwrap()
}

fn timeouts(first_token_ms: u64, idle_ms: u64, total_ms: u64) -> Timeouts {
    Timeouts::try_new(
        Duration::from_millis(first_token_ms.min(total_ms)),
        Duration::from_millis(first_token_ms),
        Duration::from_millis(idle_ms),
        Duration::from_millis(total_ms),
    )
    .unwrap()
}

#[tokio::test]
async fn slow_headers_hit_first_token_deadline() {
    let reply = Reply::sse(Vec::new()).header_delay(Duration::from_secs(5));
    let server = FakeProvider::single(reply).await;
    let started = Instant::now();
    let error = provider(&server.base_url(), timeouts(200, 5000, 10_000))
        .stream(&request("m"))
        .await
        .err()
        .unwrap();

    assert_eq!(error.kind(), UpstreamErrorKind::Timeout);
    assert!(error.is_timeout());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn role_chunk_alone_is_not_first_token() {
    // Headers and a role-only chunk arrive, then nothing: the first token is late.
    let reply = Reply::sse(support::whole(ROLE_CHUNK.as_bytes())).end(End::Stall);
    let server = FakeProvider::single(reply).await;
    let stream = provider(&server.base_url(), timeouts(300, 5000, 10_000))
        .stream(&request("m"))
        .await
        .unwrap();
    let started = Instant::now();
    let collected = collect(stream).await;

    assert_eq!(collected.text(), "");
    assert_eq!(
        collected.error.map(|error| error.kind()),
        Some(UpstreamErrorKind::Timeout)
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn silence_after_token_hits_idle_deadline() {
    let reply = Reply::sse(support::whole(
        format!("{ROLE_CHUNK}{TEXT_CHUNK}").as_bytes(),
    ))
    .end(End::Stall);
    let server = FakeProvider::single(reply).await;
    let stream = provider(&server.base_url(), timeouts(5000, 300, 10_000))
        .stream(&request("m"))
        .await
        .unwrap();
    let started = Instant::now();
    let collected = collect(stream).await;

    assert_eq!(collected.text(), "Hi", "text before the stall is kept");
    assert_eq!(
        collected.error.map(|error| error.kind()),
        Some(UpstreamErrorKind::Timeout)
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn steady_trickle_hits_total_deadline() {
    // A token every 100 ms never trips the idle deadline, but the total one ends it.
    let chunks = std::iter::repeat_n(TEXT_CHUNK, 100)
        .map(|chunk| bytes::Bytes::from(chunk.to_owned()))
        .collect();
    let reply = Reply::sse(chunks).delay(Duration::from_millis(100));
    let server = FakeProvider::single(reply).await;
    let started = Instant::now();
    let stream = provider(&server.base_url(), timeouts(500, 500, 800))
        .stream(&request("m"))
        .await
        .unwrap();
    let collected = collect(stream).await;

    assert!(!collected.text().is_empty());
    assert_eq!(
        collected.error.map(|error| error.kind()),
        Some(UpstreamErrorKind::Timeout)
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn complete_hits_total_deadline() {
    let reply = Reply::json(200, b"{}").header_delay(Duration::from_secs(5));
    let server = FakeProvider::single(reply).await;
    let error = provider(&server.base_url(), timeouts(300, 300, 400))
        .complete(&request("m"))
        .await
        .unwrap_err();

    assert_eq!(error.kind(), UpstreamErrorKind::Timeout);
}

#[tokio::test]
async fn refused_connection_is_connect_error() {
    // Bind and release a port so that nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let error = provider(
        &format!("http://{address}/private-path"),
        Timeouts::default(),
    )
    .stream(&request("m"))
    .await
    .err()
    .unwrap();

    assert_eq!(error.kind(), UpstreamErrorKind::Connect);
    assert!(error.is_retryable());
    assert!(
        !format!("{error:?}").contains("private-path"),
        "URL stripped: {error:?}"
    );
}

#[test]
fn timeouts_reject_inconsistent_values() {
    let second = Duration::from_secs(1);
    assert!(Timeouts::try_new(Duration::ZERO, second, second, second).is_err());
    assert!(Timeouts::try_new(second, Duration::ZERO, second, second).is_err());
    assert!(Timeouts::try_new(second, second, Duration::ZERO, second).is_err());
    assert!(Timeouts::try_new(second, 2 * second, second, second).is_err());
    let error = Timeouts::try_new(second, second, 3 * second, 2 * second).unwrap_err();
    assert!(error.to_string().contains("idle"), "{error}");
    assert!(Timeouts::try_new(second, second, second, second).is_ok());
}
