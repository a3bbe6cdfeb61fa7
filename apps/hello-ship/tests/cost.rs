//! Cost control through the real server: authentication, exact 401 and 429
//! answers, budgets under concurrency, durability across a restart, and
//! limits shared by two instances through one Redis server.

mod support;

use serde_json::{Value, json};
use support::redis::RedisServer;
use support::{Server, TEST_KEY_SHA256, client, client_with_key};

/// A mock route whose model id is priced (gpt-4o-mini: $0.15 and $0.60 per
/// million input and output tokens), with a fixed answer of 50 tokens.
const PRICED_ROUTE: &str = r#"
[[routes]]
name = "priced"
provider = "mock"
model = "gpt-4o-mini"
mock = { answer = "a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a", ttft_ms = 300 }
"#;

fn tenant(extra: &str) -> String {
    format!("\n[[tenants]]\nid = \"acme\"\nkey_sha256 = \"{TEST_KEY_SHA256}\"\n{extra}\n")
}

async fn chat(server: &Server, max_tokens: u32) -> reqwest::Response {
    client()
        .post(server.url("/chat"))
        .json(&json!({"message": "hi", "max_tokens": max_tokens}))
        .send()
        .await
        .expect("chat request sent")
}

#[tokio::test]
async fn unauthenticated_is_exact_401() {
    let server = Server::with_config(PRICED_ROUTE);
    for key in [None, Some("wrong-key")] {
        let mut request = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(server.url("/chat"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request
            .json(&json!({"message": "hi"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": {
                "type": "unauthenticated",
                "message": "missing or invalid API key; send it as Authorization: Bearer <key>",
                "request_id": id
            }})
        );
    }
}

#[tokio::test]
async fn rate_limit_is_exact_429() {
    let config = format!("{PRICED_ROUTE}{}", tenant("rpm = 2"));
    let server = Server::with_config(&config);
    for _ in 0..2 {
        let ok = chat(&server, 10).await;
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["x-ratelimit-limit"], "2");
    }
    let limited = chat(&server, 10).await;
    assert_eq!(limited.status(), 429);
    let headers = limited.headers().clone();
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(headers["x-ratelimit-limit"], "2");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert!(headers.contains_key("x-ratelimit-reset"));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 requests per minute")
    );
}

#[tokio::test]
async fn input_over_limit_is_413_with_count() {
    let config = format!("[limits]\nmax_input_tokens = 5\n{PRICED_ROUTE}");
    let server = Server::with_config(&config);
    let response = client()
        .post(server.url("/chat"))
        .json(&json!({"message": "one two three four five six seven eight nine ten"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the limit is 5 (limits.max_input_tokens)"),
        "{message}"
    );
}

#[tokio::test]
async fn output_cap_applies_to_request() {
    let config = format!("[limits]\nmax_output_tokens = 7\n{PRICED_ROUTE}");
    let server = Server::with_config(&config);
    let body: Value = chat(&server, 100).await.json().await.unwrap();
    assert_eq!(body["usage"]["output_tokens"], 7);
    assert_eq!(body["finish_reason"], "length");
}

#[tokio::test]
async fn concurrent_requests_never_overspend() {
    // One request's worst case (50 output tokens) fits; two do not.
    let config = format!("{PRICED_ROUTE}{}", tenant("daily_budget_usd = 0.00005"));
    let server = Server::with_config(&config);
    let requests = (0..8).map(|_| chat(&server, 50));
    let responses = futures_util::future::join_all(requests).await;

    let mut admitted = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => admitted += 1,
            429 => {
                let retry_after: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=86_400).contains(&retry_after));
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["type"], "budget_exceeded");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(admitted, 1, "exactly one request fits the budget");
}

#[tokio::test]
async fn spend_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.db");
    let config = format!(
        "[state]\nbackend = \"sqlite\"\npath = \"{}\"\n{PRICED_ROUTE}{}",
        ledger.display(),
        tenant("daily_budget_usd = 0.00005")
    );
    {
        let server = Server::with_config(&config);
        let first = chat(&server, 50).await;
        assert_eq!(first.status(), 200);
        let body: Value = first.json().await.unwrap();
        assert!(body["cost_usd"].as_f64().unwrap() > 0.00003, "{body}");
        assert_eq!(chat(&server, 50).await.status(), 429);
    }
    let restarted = Server::with_config(&config);
    let response = chat(&restarted, 50).await;
    assert_eq!(response.status(), 429, "spending survived the restart");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "budget_exceeded");
}

#[tokio::test]
async fn two_instances_share_redis_limits() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let config = format!(
        "[state]\nbackend = \"redis\"\nurl_env = \"REDIS_URL\"\non_unavailable = \"closed\"\n{PRICED_ROUTE}{}",
        tenant("rpm = 3")
    );
    let env = [("REDIS_URL", redis.url.as_str())];
    let config_text = support::with_test_tenant(&config);
    let first = Server::start(&[], Some(&config_text), &env);
    let second = Server::start(&[], Some(&config_text), &env);

    let statuses = [
        chat(&first, 10).await.status(),
        chat(&second, 10).await.status(),
        chat(&first, 10).await.status(),
        chat(&second, 10).await.status(),
    ];
    assert_eq!(
        statuses.map(|s| s.as_u16()),
        [200, 200, 200, 429],
        "one limit across both"
    );

    // Redis goes away: the closed policy rejects instead of admitting unchecked.
    redis.stop();
    let response = client_with_key(support::TEST_KEY)
        .post(first.url("/chat"))
        .json(&json!({"message": "hi", "user_id": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let health = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(first.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the process stays up");
}
