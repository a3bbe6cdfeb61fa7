//! SIGTERM drains: readiness turns 503, new requests get 503, in-flight
//! streams finish, then the process exits 0.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use support::{Server, Sse, client, parse_sse};

const SLOW_ROUTE: &str = r#"
[server]
drain_grace_secs = 20
[[routes]]
name = "slow"
provider = "mock"
model = "m"
mock = { answer = "One. Two. Three. Four. Five. Six. Seven. Eight. Nine. Ten.", token_delay_ms = 150 }
"#;

#[tokio::test]
async fn in_flight_stream_finishes_after_sigterm() {
    let mut server = Server::with_config(SLOW_ROUTE);
    let http = client();

    let response = http
        .post(server.url("/chat/stream"))
        .json(&json!({"message": "count"}))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(
        first.starts_with(b"data: "),
        "a token arrived before the signal"
    );

    server.signal("TERM");
    server
        .wait_for_log("drain_started", None, Duration::from_secs(5))
        .expect("drain_started logged");

    let refused = http
        .post(server.url("/chat"))
        .json(&json!({"message": "new"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let ready = http.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("draining"));

    let mut rest = first.to_vec();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let frames = parse_sse(std::str::from_utf8(&rest).unwrap());
    assert!(
        matches!(frames.last(), Some(Sse::Event(name, _)) if name == "done"),
        "stream completed with done: {frames:?}"
    );

    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("process exited");
    assert!(status.success(), "exit status {status:?}");
    let finished = server
        .wait_for_log("drain_finished", None, Duration::from_secs(1))
        .expect("drain_finished logged");
    assert_eq!(finished["in_flight_abandoned"], 0);
}

#[tokio::test]
async fn idle_server_exits_on_sigint() {
    let mut server = Server::demo();
    server.signal("INT");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("process exited");
    assert!(status.success());
}

#[tokio::test]
async fn stream_past_grace_ends_with_error_frame() {
    let mut server = Server::with_config(
        r#"
        [server]
        drain_grace_secs = 1
        [[routes]]
        name = "slow"
        provider = "mock"
        model = "m"
        mock = { answer = "One. Two. Three. Four. Five. Six. Seven. Eight.", token_delay_ms = 700 }
        "#,
    );
    let response = client()
        .post(server.url("/chat/stream"))
        .json(&json!({"message": "count slowly"}))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));

    server.signal("TERM");
    let mut rest = first.to_vec();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.expect("the stream ends cleanly, not cut"));
    }
    let frames = parse_sse(std::str::from_utf8(&rest).unwrap());
    let Some(Sse::Event(name, error)) = frames.last() else {
        panic!("{frames:?}");
    };
    assert_eq!(name, "error");
    assert_eq!(error["code"], "server_shutdown");
    assert!(error["incident_id"].as_str().unwrap().starts_with("INC-"));

    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("process exited");
    assert!(status.success());
}
