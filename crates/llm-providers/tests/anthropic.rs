//! Anthropic Messages against the fake provider.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on a broken fixture or server, which fails the test"
)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use llm_providers::anthropic::AnthropicProvider;
use llm_providers::{Provider, StreamEvent};
use secrecy::SecretString;
use shipped_core::{ChatMessage, ChatRequest, FinishReason, ToolCall, UpstreamErrorKind, Usage};
use support::{End, FakeProvider, Reply, collect, fixture, replays, request, sse_event_ends};

fn anthropic(server: &FakeProvider) -> AnthropicProvider {
    AnthropicProvider::builder()
        .base_url(server.base_url())
        .api_key(SecretString::from("sk-ant-test"))
        .build()
        .unwrap()
}

fn case_chunks(case: &serde_json::Value) -> Vec<Bytes> {
    case["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|chunk| Bytes::from(chunk.as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn text_stream_replays_in_every_split() {
    let body = fixture("anthropic-messages-stream-text.sse");
    for (split, reply) in replays(&body) {
        let server = FakeProvider::single(reply).await;
        let collected = collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;

        assert!(collected.error.is_none(), "{split}: {:?}", collected.error);
        assert_eq!(collected.text(), "- Captain\n- Scoop", "{split}");
        assert_eq!(collected.finish(), Some(FinishReason::Stop), "{split}");
        let last = *collected.usages().last().unwrap();
        assert_eq!(last.input_tokens, 17, "{split}");
        assert_eq!(last.output_tokens, 10, "{split}");
    }
}

#[tokio::test]
async fn short_stream_with_new_fields() {
    let body = fixture("anthropic-messages-stream-short.sse");
    let server = FakeProvider::single(Reply::sse(support::whole(&body))).await;
    let collected = collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;

    assert!(collected.error.is_none(), "{:?}", collected.error);
    assert!(!collected.text().is_empty());
    assert!(collected.finish().is_some());
}

#[tokio::test]
async fn tool_use_stream_assembles_call() {
    let body = fixture("anthropic-messages-stream-tool-use.sse");
    for (split, reply) in replays(&body) {
        let server = FakeProvider::single(reply).await;
        let collected = collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;

        assert!(collected.error.is_none(), "{split}: {:?}", collected.error);
        assert_eq!(collected.finish(), Some(FinishReason::ToolCalls), "{split}");
        let calls = collected.tool_calls();
        assert_eq!(
            calls,
            vec![ToolCall {
                id: "toolu_01CzN6riCPqw4pVSuTd9Dwn7".to_owned(),
                name: "pelican_name_generator".to_owned(),
                arguments: "{}".to_owned(),
            }],
            "{split}"
        );
    }
}

#[tokio::test]
async fn tool_arguments_stream_in_pieces() {
    let body = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking.\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"weather\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":20}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let server = FakeProvider::single(Reply::sse(support::bytewise(body.as_bytes()))).await;
    let collected = collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;

    assert!(collected.error.is_none(), "{:?}", collected.error);
    assert_eq!(collected.text(), "Checking.");
    let calls = collected.tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "toolu_1");
    assert_eq!(calls[0].name, "weather");
    assert_eq!(calls[0].arguments, r#"{"city":"Paris"}"#);
    let first_delta = collected.events.iter().find_map(|event| match event {
        StreamEvent::ToolCall(delta) => Some(delta.index),
        _ => None,
    });
    assert_eq!(first_delta, Some(0), "tool calls are numbered from zero");
    assert_eq!(collected.finish(), Some(FinishReason::ToolCalls));
}

#[tokio::test]
async fn overloaded_error_after_200_is_retryable() {
    // B13: `event: error` as the first and only event of a 200 response.
    let case = support::case("B13");
    let server = FakeProvider::single(Reply::sse(case_chunks(&case["upstream"]))).await;
    let collected = collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;

    assert!(collected.events.is_empty());
    let error = collected.error.unwrap();
    assert_eq!(error.kind(), UpstreamErrorKind::Overloaded);
    assert!(error.is_retryable());
    assert_eq!(error.provider_code(), Some("overloaded_error"));

    // The retry in the case's script then succeeds.
    let retry = &case["upstream"]["subsequent_attempts"][0];
    let server = FakeProvider::single(Reply::sse(case_chunks(retry))).await;
    let collected = collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;
    assert_eq!(collected.text(), "Paris");
    assert_eq!(collected.finish(), Some(FinishReason::Stop));
}

#[tokio::test]
async fn stream_error_types_are_classified() {
    let table = [
        ("overloaded_error", UpstreamErrorKind::Overloaded),
        ("api_error", UpstreamErrorKind::ServerError),
        ("rate_limit_error", UpstreamErrorKind::RateLimited),
    ];
    for (error_type, kind) in table {
        let body = format!(
            "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"usage\":{{\"input_tokens\":3,\"output_tokens\":1}}}}}}\n\n\
             event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"Hi\"}}}}\n\n\
             event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"{error_type}\",\"message\":\"details\"}}}}\n\n"
        );
        let server = FakeProvider::single(Reply::sse(support::whole(body.as_bytes()))).await;
        let collected = collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;

        assert_eq!(collected.text(), "Hi", "{error_type}");
        let error = collected.error.unwrap();
        assert_eq!(error.kind(), kind, "{error_type}");
        assert!(error.is_retryable(), "{error_type}");
        assert_eq!(error.provider_code(), Some(error_type));
    }
}

#[tokio::test]
async fn overloaded_fixture_keeps_partial_text() {
    let body = fixture("anthropic-messages-stream-overloaded-error.sse");
    let server = FakeProvider::single(Reply::sse(support::bytewise(&body))).await;
    let collected = collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;

    assert_eq!(collected.text(), "- Captain");
    assert_eq!(collected.finish(), None);
    assert_eq!(
        collected.error.map(|error| error.kind()),
        Some(UpstreamErrorKind::Overloaded)
    );
}

#[tokio::test]
async fn cumulative_usage_is_replaced() {
    // B15: message_delta repeats the input and cache counts of message_start.
    let case = support::case("B15");
    let server = FakeProvider::single(Reply::sse(case_chunks(&case["upstream"]))).await;
    let collected = collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;

    assert!(collected.error.is_none(), "{:?}", collected.error);
    let last = *collected.usages().last().unwrap();
    assert_eq!(last.input_tokens, 27, "not 54");
    assert_eq!(last.output_tokens, 47, "not 48");
    assert_eq!(last.cached_input_tokens, 0);
    assert_eq!(last.cache_write_tokens, 0);
}

#[tokio::test]
async fn missing_usage_fields_keep_start_values() {
    let body = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":100,\"cache_read_input_tokens\":900,\"cache_creation_input_tokens\":50,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":12}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let server = FakeProvider::single(Reply::sse(support::whole(body.as_bytes()))).await;
    let collected = collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;

    assert_eq!(collected.finish(), Some(FinishReason::Length));
    let expected = Usage {
        input_tokens: 1050,
        output_tokens: 12,
        cached_input_tokens: 900,
        cache_write_tokens: 50,
        reasoning_tokens: 0,
        estimated: false,
    };
    assert_eq!(collected.usages().last(), Some(&expected));
}

#[tokio::test]
async fn cut_stream_is_truncated_at_every_event() {
    let bodies = [
        fixture("anthropic-messages-stream-text.sse"),
        fixture("anthropic-messages-stream-tool-use.sse"),
    ];
    for body in bodies {
        let ends = sse_event_ends(&body);
        // The last event is message_stop; every earlier cut loses it.
        for &cut in &ends[..ends.len() - 1] {
            for end in [End::Close, End::Abort] {
                let server =
                    FakeProvider::single(Reply::sse(support::whole(&body[..cut])).end(end)).await;
                let collected =
                    collect(anthropic(&server).stream(&request("m")).await.unwrap()).await;

                let error = collected
                    .error
                    .as_ref()
                    .unwrap_or_else(|| panic!("cut at {cut} ({end:?}) ended cleanly"));
                assert_eq!(
                    error.kind(),
                    UpstreamErrorKind::StreamTruncated,
                    "cut at {cut}"
                );
                assert_eq!(collected.finish(), None, "cut at {cut}");
            }
        }
    }
}

#[tokio::test]
async fn complete_reads_message() {
    let body = fixture("anthropic-messages-nonstream.json");
    let server = FakeProvider::single(Reply::json(200, &body)).await;
    let completion = anthropic(&server).complete(&request("m")).await.unwrap();

    assert_eq!(completion.text, "The capital of France is Paris.");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(completion.usage.input_tokens, 20);
    assert_eq!(completion.usage.output_tokens, 10);
    assert_eq!(completion.model, "claude-3-opus-20240229");
}

#[tokio::test]
async fn request_moves_system_to_top_level() {
    let body = fixture("anthropic-messages-stream-text.sse");
    let server = FakeProvider::single(Reply::sse(support::whole(&body))).await;
    let mut tool_turn = ChatMessage::assistant("");
    tool_turn.tool_calls.push(ToolCall {
        id: "toolu_1".to_owned(),
        name: "weather".to_owned(),
        arguments: r#"{"city":"Paris"}"#.to_owned(),
    });
    let mut tool_result = ChatMessage::new(shipped_core::Role::Tool, "sunny");
    tool_result.tool_call_id = Some("toolu_1".to_owned());
    let mut chat = ChatRequest::new(vec![
        ChatMessage::system("be brief"),
        ChatMessage::user("weather?"),
        tool_turn,
        tool_result,
    ]);
    chat.tools.push(serde_json::json!({
        "type": "function",
        "function": {"name": "weather", "description": "Looks up weather", "parameters": {"type": "object"}}
    }));
    let mut provider_request = llm_providers::ProviderRequest::new("claude-sonnet-4-5", chat);
    provider_request.traceparent =
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned());
    collect(anthropic(&server).stream(&provider_request).await.unwrap()).await;

    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert!(sent.header("traceparent").is_some());
    let json = sent.json();
    assert_eq!(json["system"], "be brief");
    assert_eq!(json["max_tokens"], 4096, "the default cap");
    assert_eq!(json["stream"], true);
    assert_eq!(json["messages"].as_array().unwrap().len(), 3);
    assert_eq!(json["messages"][0]["role"], "user");
    assert_eq!(json["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(json["messages"][1]["content"][0]["input"]["city"], "Paris");
    assert_eq!(json["messages"][2]["role"], "user");
    assert_eq!(json["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(json["messages"][2]["content"][0]["tool_use_id"], "toolu_1");
    assert_eq!(json["tools"][0]["name"], "weather");
    assert_eq!(json["tools"][0]["input_schema"]["type"], "object");
}

#[tokio::test]
async fn error_statuses_are_classified() {
    let table = [
        (
            529,
            "anthropic-error-529-overloaded.json",
            UpstreamErrorKind::Overloaded,
            "overloaded_error",
        ),
        (
            429,
            "anthropic-error-429-rate-limit.json",
            UpstreamErrorKind::RateLimited,
            "rate_limit_error",
        ),
        (
            400,
            "anthropic-error-400-invalid-request.json",
            UpstreamErrorKind::ContextLengthExceeded,
            "invalid_request_error",
        ),
        (
            400,
            "anthropic-error-400-credit-balance.json",
            UpstreamErrorKind::InvalidRequest,
            "invalid_request_error",
        ),
    ];
    for (status, file, kind, code) in table {
        let reply = Reply::json(status, &fixture(file)).header("retry-after", "7");
        let server = FakeProvider::single(reply).await;
        let error = anthropic(&server)
            .stream(&request("m"))
            .await
            .err()
            .unwrap();

        assert_eq!(error.kind(), kind, "{file}");
        assert_eq!(error.status(), Some(status), "{file}");
        assert_eq!(error.provider_code(), Some(code), "{file}");
        let expected_delay = kind.is_retryable().then_some(Duration::from_secs(7));
        assert_eq!(error.retry_after(), expected_delay, "{file}");
    }
}

#[tokio::test]
async fn rate_limit_reset_header_sets_delay() {
    let reset = humantime_reset(Duration::from_secs(30));
    let reply = Reply::json(429, &fixture("anthropic-error-429-rate-limit.json"))
        .header("anthropic-ratelimit-input-tokens-remaining", "0")
        .header("anthropic-ratelimit-input-tokens-reset", &reset);
    let server = FakeProvider::single(reply).await;
    let error = anthropic(&server)
        .complete(&request("m"))
        .await
        .unwrap_err();

    let delay = error.retry_after().unwrap();
    assert!(delay <= Duration::from_secs(30), "{delay:?}");
    assert!(delay >= Duration::from_secs(27), "{delay:?}");
}

/// Formats the time `ahead` from now in RFC 3339, as Anthropic's reset headers carry it.
fn humantime_reset(ahead: Duration) -> String {
    let at = std::time::SystemTime::now() + ahead;
    humantime::format_rfc3339_seconds(at).to_string()
}

#[tokio::test]
async fn builder_requires_key() {
    let error = AnthropicProvider::builder().build().unwrap_err();
    assert!(error.to_string().contains("api_key"));

    let zero_cap = AnthropicProvider::builder()
        .api_key(SecretString::from("k"))
        .default_max_tokens(0)
        .build()
        .unwrap_err();
    assert!(zero_cap.to_string().contains("default_max_tokens"));
}
