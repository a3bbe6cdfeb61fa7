//! The recorded field failures in `testdata/cases`, replayed through the real
//! server: the fake provider sends each case's exact bytes, and the client of
//! `/chat/stream` must see what the case says is right.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::upstream::{FakeUpstream, Reply};
use support::{Server, Sse, client, parse_sse, tokens_text, with_test_tenant};

fn case(id: &str) -> Value {
    let path = format!(
        "{}/../../testdata/cases/{id}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).expect("case is JSON")
}

/// Builds the case's first reply and its later ones, with delays capped at 200 ms.
fn replies(case: &Value) -> Vec<Reply> {
    let upstream = &case["upstream"];
    let mut replies = vec![Reply::from_case(upstream, Duration::from_millis(200))];
    if let Some(later) = upstream["subsequent_attempts"].as_array() {
        replies.extend(
            later
                .iter()
                .map(|attempt| Reply::from_case(attempt, Duration::from_millis(200))),
        );
    }
    replies
}

/// Starts a server with one route of `provider` at the fake, and fast retries.
fn server_for(upstream: &FakeUpstream, provider: &str, model: &str, extra: &str) -> Server {
    let base_url = match provider {
        // The Anthropic and Bedrock clients add their own paths to the base URL.
        "anthropic" | "bedrock" => upstream.base_url.trim_end_matches("/v1").to_owned(),
        _ => upstream.base_url.clone(),
    };
    let key = match provider {
        "bedrock" => "region = \"us-east-1\"".to_owned(),
        _ => "api_key_env = \"FAKE_UPSTREAM_KEY\"".to_owned(),
    };
    let config = format!(
        r#"
        [retry]
        base_delay_ms = 10
        max_delay_ms = 50
        retry_after_cap_secs = 30
        {extra}
        [[routes]]
        name = "upstream"
        provider = "{provider}"
        model = "{model}"
        base_url = "{base_url}"
        {key}
        "#
    );
    Server::start(
        &[],
        Some(&with_test_tenant(&config)),
        &[
            ("FAKE_UPSTREAM_KEY", "fake-key"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            ),
        ],
    )
}

async fn stream(server: &Server, message: &str) -> (String, Vec<Sse>, String) {
    let response = client()
        .post(server.url("/chat/stream"))
        .json(&json!({"message": message}))
        .send()
        .await
        .expect("stream request sent");
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ASCII id")
        .to_owned();
    let body = response.text().await.expect("stream body");
    let frames = parse_sse(&body);
    (request_id, frames, body)
}

fn done(frames: &[Sse]) -> &Value {
    match frames.last() {
        Some(Sse::Event(name, data)) if name == "done" => data,
        other => panic!("the stream must end with one done event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn b01_utf8_split_across_reads() {
    let upstream = FakeUpstream::start(replies(&case("B01"))).await;
    let server = server_for(&upstream, "openai", "gpt-4o-mini", "");
    let (_, frames, body) = stream(&server, "Say hello world in Chinese").await;
    assert_eq!(tokens_text(&frames), "你好，世界🙂");
    assert!(!body.contains('\u{FFFD}'));
    assert_eq!(done(&frames)["finish_reason"], "stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn b03_crlf_line_ends() {
    let upstream = FakeUpstream::start(replies(&case("B03"))).await;
    let server = server_for(&upstream, "openai-compatible", "local-model", "");
    let (_, frames, body) = stream(&server, "Say hello in French").await;
    assert_eq!(tokens_text(&frames), "Bonjour !");
    assert!(!body.contains('\r'));
    done(&frames);
}

#[tokio::test(flavor = "multi_thread")]
async fn b06_blocks_without_data() {
    let upstream = FakeUpstream::start(replies(&case("B06"))).await;
    let server = server_for(&upstream, "openai-compatible", "gpt-4o-mini", "");
    let (request_id, frames, _) = stream(&server, "Say hello").await;
    assert_eq!(tokens_text(&frames), "Hello");
    done(&frames);
    let completed = server
        .wait_for_log(
            "request_completed",
            Some(&request_id),
            Duration::from_secs(2),
        )
        .expect("completion logged");
    assert_eq!(completed["status"], "ok");
    assert_eq!(completed["attempts"], 1, "no parse error, no retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn b08_truncated_stream_is_never_success() {
    // The cut stream's text never ended a sentence, so it was still held:
    // the server retries and the client sees only the second answer.
    let upstream = FakeUpstream::start(vec![
        Reply::from_case(&case("B08")["upstream"], Duration::from_millis(50)),
        Reply::openai_stream(&["A fox ran. "], Duration::ZERO, Duration::from_millis(5)),
    ])
    .await;
    let server = server_for(&upstream, "openai-compatible", "flaky-model", "");
    let (request_id, frames, _) = stream(&server, "Write a sentence about a fox").await;
    assert_eq!(tokens_text(&frames), "A fox ran. ");
    done(&frames);
    let completed = server
        .wait_for_log(
            "request_completed",
            Some(&request_id),
            Duration::from_secs(2),
        )
        .unwrap();
    assert_eq!(completed["attempts"], 2);
    let retry = server
        .wait_for_log("retrying", Some(&request_id), Duration::from_secs(1))
        .unwrap();
    assert_eq!(retry["error_kind"], "stream_truncated");
}

#[tokio::test(flavor = "multi_thread")]
async fn b08_truncated_after_sent_text_ends_with_error() {
    // The same cut, after a whole sentence reached the client: an error
    // frame with the truncation code, and no done event.
    let truncated = Reply::openai_stream(
        &["The quick fox. ", "It ran"],
        Duration::ZERO,
        Duration::from_millis(20),
    );
    let mut cut = truncated.clone();
    cut.chunks.pop();
    let upstream = FakeUpstream::start(vec![cut]).await;
    let server = server_for(&upstream, "openai-compatible", "flaky-model", "");
    let (_, frames, body) = stream(&server, "fox").await;
    assert_eq!(tokens_text(&frames), "The quick fox. ");
    let Some(Sse::Event(name, error)) = frames.last() else {
        panic!("{body}");
    };
    assert_eq!(name, "error");
    assert_eq!(error["code"], "upstream_stream_truncated");
    assert!(error["incident_id"].as_str().unwrap().starts_with("INC-"));
    assert!(!body.contains("event: done"));
}

#[tokio::test(flavor = "multi_thread")]
async fn b09_usage_in_empty_choices_chunk() {
    let upstream = FakeUpstream::start(replies(&case("B09"))).await;
    let server = server_for(&upstream, "openai-compatible", "gpt-4o-mini", "");
    let (_, frames, body) = stream(&server, "hi").await;
    assert_eq!(tokens_text(&frames), "Hi there");
    let done = done(&frames);
    assert_eq!(done["usage"]["input_tokens"], 26);
    assert_eq!(done["usage"]["output_tokens"], 2);
    // 26 x $0.15 / 1M + 2 x $0.60 / 1M
    let cost = done["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.000_005_1).abs() < 1e-12, "cost {cost}");
    assert_eq!(
        body.matches("output_tokens").count(),
        1,
        "usage reported once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn b13_anthropic_overloaded_after_200() {
    let upstream = FakeUpstream::start(replies(&case("B13"))).await;
    let server = server_for(&upstream, "anthropic", "claude-sonnet-4-5", "");
    let (request_id, frames, body) = stream(&server, "Capital of France, one word").await;
    assert_eq!(tokens_text(&frames), "Paris");
    assert!(
        !body.contains("overloaded"),
        "the client never sees the first attempt"
    );
    done(&frames);
    let retry = server
        .wait_for_log("retrying", Some(&request_id), Duration::from_secs(2))
        .unwrap();
    assert_eq!(retry["error_type"], "overloaded_error");
    assert!(retry["delay_ms"].as_u64().unwrap() <= 50);
    assert_eq!(upstream.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn b15_anthropic_usage_is_replaced() {
    let upstream = FakeUpstream::start(replies(&case("B15"))).await;
    let server = server_for(&upstream, "anthropic", "claude-sonnet-4-5", "");
    let (request_id, frames, _) = stream(&server, "hi").await;
    assert_eq!(tokens_text(&frames), "Hello! How can I help you today?");
    let done = done(&frames);
    assert_eq!(done["usage"]["input_tokens"], 27);
    assert_eq!(done["usage"]["output_tokens"], 47);
    let completed = server
        .wait_for_log(
            "request_completed",
            Some(&request_id),
            Duration::from_secs(2),
        )
        .unwrap();
    assert_eq!(completed["input_tokens"], 27);
    assert_eq!(completed["output_tokens"], 47);
}

#[tokio::test(flavor = "multi_thread")]
async fn b16_bedrock_throttling_in_event_stream() {
    let upstream = FakeUpstream::start(replies(&case("B16"))).await;
    let server = server_for(
        &upstream,
        "bedrock",
        "anthropic.claude-3-haiku-20240307-v1:0",
        "",
    );
    let (request_id, frames, _) = stream(&server, "greet me").await;
    assert_eq!(tokens_text(&frames), "Hello there.");
    let done = done(&frames);
    assert_eq!(done["usage"]["input_tokens"], 20);
    assert_eq!(done["usage"]["output_tokens"], 3);
    let retry = server
        .wait_for_log("retrying", Some(&request_id), Duration::from_secs(2))
        .unwrap();
    assert_eq!(retry["error_type"], "throttlingException");
    let sent = upstream.received();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[0].headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "requests are SigV4-signed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn b18_each_retry_after_is_honoured() {
    let upstream = FakeUpstream::start(replies(&case("B18"))).await;
    let server = server_for(&upstream, "openai", "gpt-4o-mini", "");
    let started = Instant::now();
    let (request_id, frames, _) = stream(&server, "ping").await;
    let elapsed = started.elapsed();
    assert_eq!(tokens_text(&frames), "ok");
    done(&frames);
    assert!(
        elapsed >= Duration::from_secs(5),
        "waited 1 s then 4 s, took {elapsed:?}"
    );
    let delays: Vec<u64> = server
        .logs()
        .iter()
        .filter(|line| line["message"] == "retrying" && line["request_id"] == request_id.as_str())
        .map(|line| line["delay_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(delays.len(), 2, "{delays:?}");
    assert!(delays[0] >= 1000, "{delays:?}");
    assert!(delays[1] >= 4000, "{delays:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn b24_split_pii_never_leaks() {
    for (mode, expect_block) in [("redact", false), ("block", true)] {
        let upstream = FakeUpstream::start(replies(&case("B24"))).await;
        let extra = format!("[guardrails]\noutput_pii = \"{mode}\"\n");
        let server = server_for(&upstream, "openai", "gpt-4o-mini", &extra);
        let (request_id, frames, body) = stream(&server, "how do I reach you").await;
        let text = tokens_text(&frames);
        for fragment in ["user.na", "example.com", "555-01"] {
            assert!(
                !body.contains(fragment),
                "{mode}: {fragment} leaked: {body}"
            );
        }
        if expect_block {
            assert_eq!(text, "Sure. ");
            let Some(Sse::Event(name, error)) = frames.last() else {
                panic!("{body}");
            };
            assert_eq!(name, "error");
            assert_eq!(error["code"], "content_filter");
        } else {
            assert!(
                text.starts_with("Sure. Contact me at [EMAIL] or [PHONE]"),
                "{text}"
            );
            assert!(text.contains("Anything else?"), "{text}");
            done(&frames);
        }
        let hits: Vec<Value> = server
            .logs()
            .into_iter()
            .filter(|line| {
                line["message"] == "guardrail_hit" && line["request_id"] == request_id.as_str()
            })
            .collect();
        assert!(!hits.is_empty(), "{mode}: guardrail hit logged");
        for line in server.log_lines() {
            assert!(
                !line.contains("example.com"),
                "matched text in a log line: {line}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn b24_split_pii_never_leaks_on_openai_endpoint() {
    let upstream = FakeUpstream::start(replies(&case("B24"))).await;
    let config =
        "[guardrails]\noutput_pii = \"redact\"\n[models.\"gpt-4o-mini\"]\nchain = [\"upstream\"]\n";
    let server = server_for(&upstream, "openai", "gpt-4o-mini", config);
    let response = client()
        .post(server.url("/v1/chat/completions"))
        .json(&json!({
            "model": "gpt-4o-mini",
            "stream": true,
            "messages": [{"role": "user", "content": "how do I reach you"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    for fragment in ["user.na", "example.com", "555-01"] {
        assert!(!body.contains(fragment), "{fragment} leaked: {body}");
    }
    let mut content = String::new();
    for line in body.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            continue;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(piece);
        }
    }
    assert!(
        content.starts_with("Sure. Contact me at [EMAIL] or [PHONE]"),
        "{content}"
    );
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn b01_over_an_h2c_upstream() {
    // The same replay over HTTP/2 without negotiation, which a route requests
    // with `http2_prior_knowledge`.
    let upstream = FakeUpstream::start_http2(replies(&case("B01"))).await;
    let config = format!(
        r#"
        [[routes]]
        name = "upstream"
        provider = "openai-compatible"
        model = "gpt-4o-mini"
        base_url = "{}"
        http2_prior_knowledge = true
        "#,
        upstream.base_url
    );
    let server = Server::start(&[], Some(&with_test_tenant(&config)), &[]);

    let (_, frames, _) = stream(&server, "Say hello world in Chinese").await;

    assert_eq!(tokens_text(&frames), "你好，世界🙂");
    done(&frames);
    assert_eq!(upstream.received()[0].version, http::Version::HTTP_2);
}
