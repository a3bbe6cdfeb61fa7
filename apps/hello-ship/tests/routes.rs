//! Every route of the server, through real HTTP against the real binary.

mod support;

use serde_json::{Value, json};
use support::{Server, Sse, client, parse_sse, tokens_text};

#[tokio::test]
async fn health_is_ok() {
    let server = Server::demo();
    let response = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn demo_is_ready() {
    let server = Server::demo();
    let response = client().get(server.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn ready_names_missing_key() {
    let server = Server::start(&[], None, &[]);
    let response = client().get(server.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("OPENAI_API_KEY"), "{reasons}");
}

#[tokio::test]
async fn ready_never_shows_key_value() {
    let secret = "sk-test-UPSTREAM_SECRET_PLACEHOLDER_123";
    let server = Server::start(&[], None, &[("OPENAI_API_KEY", secret)]);
    let response = client().get(server.url("/ready")).send().await.unwrap();
    let text = response.text().await.unwrap();
    assert!(!text.contains(secret));
    assert!(server.log_lines().iter().all(|line| !line.contains(secret)));
}

#[tokio::test]
async fn chat_answers_with_route_and_usage() {
    let server = Server::demo();
    let response = client()
        .post(server.url("/chat"))
        .json(&json!({"message": "What is the capital of France?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();

    assert!(
        body["answer"]
            .as_str()
            .unwrap()
            .contains("What is the capital of France?")
    );
    assert_eq!(body["request_id"], header_id.as_str());
    assert!(
        header_id.starts_with("req_") && header_id.len() == 16,
        "{header_id}"
    );
    assert_eq!(body["model_route"], "demo");
    assert_eq!(body["degraded"], false);
    assert_eq!(body["finish_reason"], "stop");
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(body["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert!(body["cost_usd"].is_number());
    assert!(body.get("incident_id").is_none());
}

#[tokio::test]
async fn chat_accepts_messages_list() {
    let server = Server::demo();
    let body: Value = client()
        .post(server.url("/chat"))
        .json(&json!({"messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a colour"}
        ]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["answer"].as_str().unwrap().contains("Name a colour"));
}

#[tokio::test]
async fn stream_sends_tokens_then_one_done() {
    let server = Server::demo();
    let response = client()
        .post(server.url("/chat/stream"))
        .json(&json!({"message": "Hello stream"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let request_id = headers["x-request-id"].to_str().unwrap().to_owned();

    let body = response.text().await.unwrap();
    let frames = parse_sse(&body);
    let (last, tokens) = frames.split_last().unwrap();
    // The demo answer has four sentences, and each is released on its own.
    assert_eq!(tokens.len(), 4, "one frame per sentence: {body}");
    assert!(
        tokens
            .iter()
            .all(|f| matches!(f, Sse::Data(d) if d["token"].is_string()))
    );
    assert!(tokens_text(&frames).contains("Hello stream"));

    let Sse::Event(name, done) = last else {
        panic!("last frame must be the done event: {last:?}");
    };
    assert_eq!(name, "done");
    assert_eq!(done["type"], "done");
    assert_eq!(done["request_id"], request_id.as_str());
    assert_eq!(done["model_route"], "demo");
    assert_eq!(done["finish_reason"], "stop");
    let words = tokens_text(&frames).split_whitespace().count() as u64;
    assert_eq!(done["usage"]["output_tokens"].as_u64().unwrap(), words);
    assert!(done["cost_usd"].is_number());
}

#[tokio::test]
async fn stream_frames_are_exact_bytes() {
    let server = Server::with_config(
        r#"
        [[routes]]
        name = "fixed"
        provider = "mock"
        model = "m"
        mock = { answer = "Hi \"you\"\nthere" }
        "#,
    );
    let response = client()
        .post(server.url("/chat/stream"))
        .header("x-request-id", "client-id-1")
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    // A newline ends a sentence, so the first frame carries the first line.
    let expected_prefix = "data: {\"token\":\"Hi \\\"you\\\"\\n\"}\n\ndata: {\"token\":\"there\"}\n\nevent: done\ndata: {\"type\":\"done\",\"request_id\":\"client-id-1\",\"model_route\":\"fixed\",";
    assert!(body.starts_with(expected_prefix), "{body}");
    assert!(body.ends_with("}\n\n"), "{body}");
    assert_eq!(body.matches("event: done").count(), 1);
}

#[tokio::test]
async fn heartbeat_precedes_slow_first_token() {
    let server = Server::with_config(
        r#"
        [server]
        heartbeat_secs = 1
        [[routes]]
        name = "slow"
        provider = "mock"
        model = "m"
        mock = { answer = "late", ttft_ms = 2500 }
        "#,
    );
    let body = client()
        .post(server.url("/chat/stream"))
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let frames = parse_sse(&body);
    assert_eq!(frames[0], Sse::Comment("heartbeat".to_owned()), "{body}");
    assert!(
        frames
            .iter()
            .filter(|f| matches!(f, Sse::Comment(_)))
            .count()
            >= 2
    );
    assert_eq!(tokens_text(&frames), "late");
}

#[tokio::test]
async fn request_id_is_kept_or_replaced() {
    let server = Server::demo();
    let kept = client()
        .get(server.url("/health"))
        .header("x-request-id", "checkout-42.a_b:c")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "checkout-42.a_b:c");

    let replaced = client()
        .get(server.url("/health"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let id = replaced.headers()["x-request-id"].to_str().unwrap();
    assert!(id.starts_with("req_"), "{id}");
}

#[tokio::test]
async fn unknown_route_is_json_404() {
    let server = Server::demo();
    let response = client().get(server.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found");
    assert_eq!(body["error"]["request_id"], id.as_str());
    assert!(body["error"]["message"].as_str().unwrap().contains("/nope"));
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let server = Server::demo();
    for (method, path, allow) in [
        (reqwest::Method::GET, "/chat", "POST"),
        (reqwest::Method::DELETE, "/chat/stream", "POST"),
        (reqwest::Method::POST, "/health", "GET, HEAD"),
        (reqwest::Method::PUT, "/ready", "GET, HEAD"),
    ] {
        let response = client()
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "method_not_allowed");
    }
}
