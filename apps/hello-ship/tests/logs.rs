//! Every log line is JSON; every line of a request carries its request id; the
//! prompt and the answer never appear.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Server, client};

#[tokio::test]
async fn request_lines_carry_id_and_no_text() {
    let server = Server::demo();
    let secret_prompt = "my-private-question-7f3a";

    let chat = client()
        .post(server.url("/chat"))
        .header("x-request-id", "log-test-chat")
        .json(&json!({"message": secret_prompt, "feature": "support", "prompt_version": "v3"}))
        .send()
        .await
        .unwrap();
    let answer: serde_json::Value = chat.json().await.unwrap();
    assert!(
        answer["answer"].as_str().unwrap().contains(secret_prompt),
        "the echo holds the prompt"
    );

    let stream = client()
        .post(server.url("/chat/stream"))
        .header("x-request-id", "log-test-stream")
        .json(&json!({"message": secret_prompt}))
        .send()
        .await
        .unwrap();
    stream.text().await.unwrap();

    let rejected = client()
        .post(server.url("/chat"))
        .header("x-request-id", "log-test-bad")
        .json(&json!({"message": secret_prompt, "max_tokens": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), 400);

    for id in ["log-test-chat", "log-test-stream", "log-test-bad"] {
        server
            .wait_for_log("request_completed", Some(id), Duration::from_secs(5))
            .unwrap_or_else(|| panic!("completion logged for {id}"));
    }

    let lines = server.log_lines();
    for line in &lines {
        assert!(
            !line.contains(secret_prompt),
            "prompt or answer leaked into: {line}"
        );
    }
    let logs = server.logs();
    for id in ["log-test-chat", "log-test-stream", "log-test-bad"] {
        let request_lines: Vec<_> = logs.iter().filter(|l| l["request_id"] == id).collect();
        let expected_lines = if id == "log-test-bad" { 1 } else { 2 };
        assert!(
            request_lines.len() >= expected_lines,
            "{id}: {request_lines:?}"
        );
        for line in &request_lines {
            for key in [
                "timestamp",
                "level",
                "message",
                "tenant_id",
                "feature",
                "model",
                "prompt_version",
            ] {
                assert!(line.get(key).is_some(), "{id}: {key} missing in {line}");
            }
        }
    }

    let chat_done = logs
        .iter()
        .find(|l| l["request_id"] == "log-test-chat" && l["message"] == "request_completed")
        .unwrap();
    assert_eq!(chat_done["status"], "ok");
    assert_eq!(chat_done["model_route"], "demo");
    assert_eq!(chat_done["fallback_tier"], "primary");
    assert_eq!(chat_done["feature"], "support");
    assert_eq!(chat_done["prompt_version"], "v3");
    assert!(chat_done["latency_ms"].is_u64());
    assert!(chat_done["output_tokens"].as_u64().unwrap() > 0);

    let stream_done = logs
        .iter()
        .find(|l| l["request_id"] == "log-test-stream" && l["message"] == "request_completed")
        .unwrap();
    assert!(stream_done["ttft_ms"].is_u64());
    assert!(stream_done["tokens_emitted"].as_u64().unwrap() > 0);

    let start = logs
        .iter()
        .find(|l| l["request_id"] == "log-test-chat" && l["message"] == "request_started")
        .unwrap();
    assert!(start["input_tokens_est"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn lines_outside_requests_are_json() {
    let server = Server::demo();
    client().get(server.url("/health")).send().await.unwrap();
    let logs = server.logs();
    let started = logs
        .iter()
        .find(|l| l["message"] == "server_started")
        .unwrap();
    assert_eq!(started["demo"], true);
}
