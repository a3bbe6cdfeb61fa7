//! When routes fail: fallback to the next route, a degraded answer with an
//! incident id, or an error frame once tokens were sent.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, Sse, client, parse_sse, tokens_text};

const FAILING_THEN_OK: &str = r#"
[retry]
base_delay_ms = 1
max_delay_ms = 5
[[routes]]
name = "primary"
provider = "mock"
model = "m1"
mock = { answer = "One. Two. Three. Four.", directives = true }
[[routes]]
name = "secondary"
provider = "mock"
model = "m2"
mock = { answer = "from secondary" }
"#;

const ALL_FAILING: &str = r#"
[retry]
base_delay_ms = 1
max_delay_ms = 5
[[routes]]
name = "only"
provider = "mock"
model = "m"
mock = { directives = true }
"#;

#[tokio::test]
async fn chat_falls_back_to_second_route() {
    let server = Server::with_config(FAILING_THEN_OK);
    let body: Value = client()
        .post(server.url("/chat"))
        .json(&json!({"message": "mock:status=503"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["answer"], "from secondary");
    assert_eq!(body["model_route"], "secondary");
    assert_eq!(body["degraded"], false);
    let fallback = server
        .wait_for_log("falling_back", None, Duration::from_secs(2))
        .expect("fallback logged");
    assert_eq!(fallback["route"], "secondary");
    assert_eq!(fallback["from_route"], "primary");
    assert_eq!(fallback["error_kind"], "overloaded");
    assert!(fallback["request_id"].as_str().unwrap().starts_with("req_"));
}

#[tokio::test]
async fn chat_degrades_when_every_route_fails() {
    let server = Server::with_config(ALL_FAILING);
    let response = client()
        .post(server.url("/chat"))
        .json(&json!({"message": "mock:status=503"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["degraded"], true);
    assert_eq!(
        body["answer"],
        "The assistant is unavailable right now. Please try again in a few minutes."
    );
    let incident = body["incident_id"].as_str().unwrap();
    assert!(
        incident.starts_with("INC-") && incident.len() == 13,
        "{incident}"
    );

    let done = server
        .wait_for_log("request_completed", None, Duration::from_secs(2))
        .unwrap();
    assert_eq!(done["status"], "degraded");
    assert_eq!(done["fallback_tier"], "static");
    assert_eq!(done["incident_id"], incident);
}

#[tokio::test]
async fn chat_is_503_when_degraded_is_off() {
    let config = format!("{ALL_FAILING}\n[degraded]\nenabled = false\n");
    let server = Server::with_config(&config);
    let response = client()
        .post(server.url("/chat"))
        .json(&json!({"message": "mock:status=503"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "service_unavailable");
}

#[tokio::test]
async fn openai_stream_error_before_any_text() {
    // The response head went out before every route failed, so the failure
    // comes as the stream's error chunk. Its message must not mention a
    // partial answer.
    let config = format!("{ALL_FAILING}\n[degraded]\nenabled = false\n");
    let server = Server::with_config(&config);
    let body = client()
        .post(server.url("/v1/chat/completions"))
        .json(&json!({
            "model": "default",
            "stream": true,
            "messages": [{"role": "user", "content": "mock:status=503"}]
        }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let error = parse_sse(&body)
        .into_iter()
        .find_map(|frame| match frame {
            Sse::Data(data) if data.get("error").is_some() => Some(data),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no error chunk in {body}"));
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("before any text was sent"), "{message}");
    assert!(!message.contains("partial"), "{message}");
}

#[tokio::test]
async fn stream_fails_over_before_first_token() {
    let server = Server::with_config(FAILING_THEN_OK);
    // The first token is produced but stays in the sentence buffer, so the
    // failure is still invisible to the client.
    let body = client()
        .post(server.url("/chat/stream"))
        .json(&json!({"message": "mock:fail_after=1"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let frames = parse_sse(&body);
    assert_eq!(tokens_text(&frames), "from secondary");
    let Some(Sse::Event(name, done)) = frames.last() else {
        panic!("{body}");
    };
    assert_eq!(name, "done");
    assert_eq!(done["model_route"], "secondary");
}

#[tokio::test]
async fn stream_error_frame_after_tokens() {
    let server = Server::with_config(FAILING_THEN_OK);
    let response = client()
        .post(server.url("/chat/stream"))
        .json(&json!({"message": "mock:fail_after=3 please"}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.text().await.unwrap();
    let frames = parse_sse(&body);

    // Text is released a sentence at a time: the first two sentences reached
    // the client before the third token's failure.
    assert_eq!(tokens_text(&frames), "One. Two. ", "{body}");
    let Some(Sse::Event(name, error)) = frames.last() else {
        panic!("{body}");
    };
    assert_eq!(name, "error");
    assert_eq!(error["type"], "error");
    assert_eq!(error["message"], "stream_failed");
    assert_eq!(error["code"], "upstream_overloaded");
    assert_eq!(error["tokens_emitted"], 2);
    assert_eq!(error["request_id"], request_id.as_str());
    assert!(error["incident_id"].as_str().unwrap().starts_with("INC-"));
    assert!(
        !body.contains("event: done"),
        "nothing follows the error frame"
    );

    let done = server
        .wait_for_log(
            "request_completed",
            Some(&request_id),
            Duration::from_secs(2),
        )
        .unwrap();
    assert_eq!(done["status"], "error");
    assert_eq!(done["tokens_emitted"], 2);
}

#[tokio::test]
async fn stream_degrades_when_every_route_fails() {
    let server = Server::with_config(ALL_FAILING);
    let body = client()
        .post(server.url("/chat/stream"))
        .json(&json!({"message": "mock:status=429"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let frames = parse_sse(&body);
    assert_eq!(
        tokens_text(&frames),
        "The assistant is unavailable right now. Please try again in a few minutes."
    );
    let Some(Sse::Event(name, done)) = frames.last() else {
        panic!("{body}");
    };
    assert_eq!(name, "done");
    assert_eq!(done["degraded"], true);
    assert!(done["incident_id"].as_str().unwrap().starts_with("INC-"));
}

#[tokio::test]
async fn demo_faults_do_not_open_circuit() {
    let server = Server::demo();
    for _ in 0..6 {
        let body: Value = client()
            .post(server.url("/chat"))
            .json(&json!({"message": "mock:status=503"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["degraded"], true);
    }
    let body: Value = client()
        .post(server.url("/chat"))
        .json(&json!({"message": "Are you back?"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["degraded"], false,
        "the demo route still answers: {body}"
    );
}
