//! A client that goes away cancels the upstream call at once, before and
//! after the first token, and the tokens produced so far are logged.

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use support::upstream::{FakeUpstream, Reply};
use support::{Server, client, with_test_tenant};

fn server_for(upstream: &FakeUpstream) -> Server {
    let config = format!(
        r#"
        [retry]
        base_delay_ms = 1
        max_delay_ms = 5
        [[routes]]
        name = "upstream"
        provider = "openai-compatible"
        model = "fake-model"
        base_url = "{}"
        api_key_env = "FAKE_UPSTREAM_KEY"
        "#,
        upstream.base_url
    );
    Server::start(
        &[],
        Some(&with_test_tenant(&config)),
        &[("FAKE_UPSTREAM_KEY", "fake-key")],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn disconnect_mid_stream_cancels_upstream() {
    let words: Vec<&str> = std::iter::repeat_n("Word. ", 40).collect();
    let upstream = FakeUpstream::start(vec![Reply::openai_stream(
        &words,
        Duration::from_millis(50),
        Duration::from_millis(150),
    )])
    .await;
    let server = server_for(&upstream);

    let response = client()
        .post(server.url("/chat/stream"))
        .json(&json!({"message": "count"}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("\"token\"") {
        seen.extend_from_slice(&body.next().await.unwrap().unwrap());
    }
    drop(body);
    let dropped_at = Instant::now();

    let ends = upstream.wait_for_body_ends(1, Duration::from_secs(3)).await;
    assert_eq!(ends.len(), 1, "the upstream body ended");
    assert!(!ends[0].complete, "the upstream was cut, not finished");
    let after = ends[0].at.saturating_duration_since(dropped_at);
    assert!(
        after < Duration::from_secs(1),
        "upstream closed {after:?} after the client left"
    );

    let done = server
        .wait_for_log(
            "request_completed",
            Some(&request_id),
            Duration::from_secs(3),
        )
        .expect("completion logged");
    assert_eq!(done["status"], "client_disconnected");
    assert_eq!(done["http_status"], 499);
    assert!(done["tokens_emitted"].as_u64().unwrap() >= 1, "{done}");
    assert!(done["output_tokens"].as_u64().unwrap() >= 1, "{done}");
    assert_eq!(
        upstream.received().len(),
        1,
        "no retry for a client that left"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disconnect_before_first_token_cancels_upstream() {
    let upstream = FakeUpstream::start(vec![Reply::openai_stream(
        &["Late. "],
        Duration::from_secs(10),
        Duration::from_millis(10),
    )])
    .await;
    let server = server_for(&upstream);

    let response = client()
        .post(server.url("/chat/stream"))
        .json(&json!({"message": "slow"}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(response);
    let dropped_at = Instant::now();

    let ends = upstream.wait_for_body_ends(1, Duration::from_secs(3)).await;
    assert_eq!(ends.len(), 1, "the upstream body ended");
    assert!(!ends[0].complete);
    let after = ends[0].at.saturating_duration_since(dropped_at);
    assert!(
        after < Duration::from_secs(1),
        "upstream closed {after:?} after the client left"
    );

    let done = server
        .wait_for_log(
            "request_completed",
            Some(&request_id),
            Duration::from_secs(3),
        )
        .expect("completion logged");
    assert_eq!(done["status"], "client_disconnected");
    assert_eq!(done["tokens_emitted"], 0);
    assert_eq!(upstream.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn disconnect_during_chat_cancels_upstream() {
    let upstream = FakeUpstream::start(vec![Reply::openai_completion(
        "Too late.",
        Duration::from_secs(10),
    )])
    .await;
    let server = server_for(&upstream);

    let started = Instant::now();
    let result = client()
        .post(server.url("/chat"))
        .header("x-request-id", "chat-disconnect")
        .timeout(Duration::from_millis(400))
        .json(&json!({"message": "slow"}))
        .send()
        .await;
    assert!(result.is_err(), "the client gave up first");
    let dropped_at = Instant::now();
    assert!(dropped_at - started < Duration::from_secs(2));

    let ends = upstream.wait_for_body_ends(1, Duration::from_secs(3)).await;
    assert_eq!(ends.len(), 1, "the upstream body ended");
    assert!(!ends[0].complete);
    let after = ends[0].at.saturating_duration_since(dropped_at);
    assert!(
        after < Duration::from_secs(1),
        "upstream closed {after:?} after the client left"
    );

    let done = server
        .wait_for_log(
            "request_completed",
            Some("chat-disconnect"),
            Duration::from_secs(3),
        )
        .expect("completion logged");
    assert_eq!(done["status"], "client_disconnected");
    assert_eq!(upstream.received().len(), 1);
}
