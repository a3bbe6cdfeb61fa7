//! OpenAI Chat Completions against the fake provider.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on a broken fixture or server, which fails the test"
)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use llm_providers::openai::OpenAiProvider;
use llm_providers::{Provider, StreamEvent};
use secrecy::SecretString;
use shipped_core::{ChatMessage, ChatRequest, FinishReason, UpstreamErrorKind};
use support::{End, FakeProvider, Reply, collect, fixture, replays, request, sse_event_ends};

fn openai(server: &FakeProvider) -> OpenAiProvider {
    OpenAiProvider::builder()
        .base_url(server.base_url())
        .api_key(SecretString::from("sk-test"))
        .build()
        .unwrap()
}

fn compatible(server: &FakeProvider) -> OpenAiProvider {
    OpenAiProvider::compatible_builder()
        .base_url(server.base_url())
        .build()
        .unwrap()
}

/// Concatenates the `chunks` of a field case's upstream.
fn case_body(id: &str) -> Vec<u8> {
    let case = support::case(id);
    case["upstream"]["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|chunk| chunk.as_str().unwrap().as_bytes().to_vec())
        .collect()
}

#[tokio::test]
async fn text_stream_replays_in_every_split() {
    let body = fixture("openai-chat-stream-text-usage.sse");
    for (name, reply) in replays(&body) {
        let server = FakeProvider::single(reply.header("content-type", "text/event-stream")).await;
        let stream = openai(&server)
            .stream(&request("gpt-4o-mini"))
            .await
            .unwrap();
        let collected = collect(stream).await;

        assert!(collected.error.is_none(), "{name}: {:?}", collected.error);
        assert_eq!(
            collected.text(),
            "The result of \\( 1231 \\times 2331 \\) is \\( 2,869,461 \\).",
            "{name}"
        );
        assert_eq!(collected.finish(), Some(FinishReason::Stop), "{name}");
        let usages = collected.usages();
        assert_eq!(usages.len(), 1, "{name}: one usage report");
        assert_eq!(usages[0].input_tokens, 87, "{name}");
        assert_eq!(usages[0].output_tokens, 26, "{name}");
    }
}

#[tokio::test]
async fn obfuscation_field_is_ignored() {
    let body = fixture("openai-chat-stream-text-usage-obfuscation.sse");
    let server = FakeProvider::single(Reply::sse(support::whole(&body))).await;
    let collected = collect(openai(&server).stream(&request("m")).await.unwrap()).await;

    assert!(collected.error.is_none(), "{:?}", collected.error);
    assert!(!collected.text().is_empty());
    assert!(!collected.text().contains("obfuscation"));
    assert_eq!(collected.finish(), Some(FinishReason::Stop));
    assert_eq!(collected.usages().len(), 1);
}

#[tokio::test]
async fn tool_call_stream_assembles_calls() {
    for name in [
        "openai-chat-stream-tool-calls-usage.sse",
        "openai-chat-stream-tool-calls-usage-obfuscation.sse",
    ] {
        let body = fixture(name);
        for (split, reply) in replays(&body) {
            let server = FakeProvider::single(reply).await;
            let collected = collect(openai(&server).stream(&request("m")).await.unwrap()).await;

            assert!(
                collected.error.is_none(),
                "{name} {split}: {:?}",
                collected.error
            );
            assert_eq!(collected.text(), "", "{name} {split}");
            assert_eq!(
                collected.finish(),
                Some(FinishReason::ToolCalls),
                "{name} {split}"
            );
            let calls = collected.tool_calls();
            assert_eq!(calls.len(), 1, "{name} {split}");
            assert!(calls[0].id.starts_with("call_"), "{name} {split}");
            assert!(!calls[0].name.is_empty(), "{name} {split}");
            let arguments: serde_json::Value = serde_json::from_str(&calls[0].arguments)
                .unwrap_or_else(|_| panic!("{name} {split}: arguments are JSON"));
            assert!(arguments.is_object(), "{name} {split}");
        }
    }
}

#[tokio::test]
async fn tool_call_deltas_with_null_fields() {
    // B12: a name-only first delta, then deltas with explicit nulls.
    let body = case_body("B12");
    for (split, reply) in replays(&body) {
        let server = FakeProvider::single(reply).await;
        let collected = collect(compatible(&server).stream(&request("m")).await.unwrap()).await;

        assert!(collected.error.is_none(), "{split}: {:?}", collected.error);
        assert_eq!(
            collected.text(),
            "",
            "{split}: no text for null or empty content"
        );
        let calls = collected.tool_calls();
        assert_eq!(calls.len(), 1, "{split}");
        assert_eq!(calls[0].id, "call_PLACEHOLDER", "{split}");
        assert_eq!(calls[0].name, "calculator", "{split}");
        assert_eq!(calls[0].arguments, r#"{"a":1,"b":2}"#, "{split}");
        assert_eq!(collected.finish(), Some(FinishReason::ToolCalls), "{split}");
        for event in &collected.events {
            if let StreamEvent::ToolCall(delta) = event {
                assert_ne!(delta.name.as_deref(), Some(""), "{split}: empty name sent");
            }
        }
    }
}

#[tokio::test]
async fn usage_in_empty_choices_chunk() {
    // B09: usage arrives after the finish reason, in a chunk with no choices.
    let body = case_body("B09");
    for (split, reply) in replays(&body) {
        let server = FakeProvider::single(reply).await;
        let collected = collect(compatible(&server).stream(&request("m")).await.unwrap()).await;

        assert!(collected.error.is_none(), "{split}: {:?}", collected.error);
        assert_eq!(collected.text(), "Hi there", "{split}");
        let usages = collected.usages();
        assert_eq!(usages.len(), 1, "{split}: exactly one usage report");
        assert_eq!(usages[0].input_tokens, 26, "{split}");
        assert_eq!(usages[0].output_tokens, 2, "{split}");
        assert_eq!(usages[0].total_tokens(), 28, "{split}");
        assert_eq!(collected.finish(), Some(FinishReason::Stop), "{split}");
    }
}

#[tokio::test]
async fn cut_stream_is_truncated_at_every_event() {
    // B08 generalised: a body cut after any event before `[DONE]` is a failure,
    // whether the connection closes cleanly or resets.
    let bodies = [
        case_body("B08"),
        fixture("openai-chat-stream-text-usage.sse"),
        fixture("openai-chat-stream-tool-calls-usage.sse"),
    ];
    for body in bodies {
        let ends = sse_event_ends(&body);
        let last = *ends.last().unwrap();
        let done_at = body.windows(6).position(|window| window == b"[DONE]");
        for cut in std::iter::once(0).chain(ends.iter().copied()) {
            for end in [End::Close, End::Abort] {
                if done_at.is_some_and(|done| cut > done) {
                    continue;
                }
                let reply = Reply::sse(support::whole(&body[..cut])).end(end);
                let reply = if cut == 0 {
                    reply.chunks(Vec::new())
                } else {
                    reply
                };
                let server = FakeProvider::single(reply).await;
                let stream = match compatible(&server).stream(&request("m")).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        // A reset before any body byte may also lose the headers.
                        assert_eq!(cut, 0, "{error}");
                        assert!(error.is_retryable(), "{error}");
                        continue;
                    }
                };
                let collected = collect(stream).await;

                let error = collected
                    .error
                    .as_ref()
                    .unwrap_or_else(|| panic!("cut at {cut} of {last} ({end:?}) ended cleanly"));
                assert_eq!(
                    error.kind(),
                    UpstreamErrorKind::StreamTruncated,
                    "cut at {cut}"
                );
                assert_eq!(collected.finish(), None, "cut at {cut}: no Finish");
            }
        }
    }
}

#[tokio::test]
async fn truncated_b08_keeps_partial_text() {
    let case = support::case("B08");
    let chunks: Vec<Bytes> = case["upstream"]["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|chunk| Bytes::from(chunk.as_str().unwrap().to_owned()))
        .collect();
    let server = FakeProvider::single(Reply::sse(chunks).delay(Duration::from_millis(50))).await;
    let collected = collect(compatible(&server).stream(&request("m")).await.unwrap()).await;

    assert_eq!(collected.text(), "The quick brown");
    assert_eq!(
        collected.error.map(|error| error.kind()),
        Some(UpstreamErrorKind::StreamTruncated)
    );
}

#[tokio::test]
async fn error_inside_stream_is_typed() {
    let body = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: {\"error\":{\"message\":\"The server is overloaded\",\"type\":\"server_error\",\"code\":null}}\n\n",
    );
    let server = FakeProvider::single(Reply::sse(support::whole(body.as_bytes()))).await;
    let collected = collect(openai(&server).stream(&request("m")).await.unwrap()).await;

    assert_eq!(collected.text(), "Hi");
    let error = collected.error.unwrap();
    assert_eq!(error.kind(), UpstreamErrorKind::ServerError);
    assert_eq!(error.provider_code(), Some("server_error"));
}

#[tokio::test]
async fn malformed_chunk_is_an_error() {
    let body = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {not json\n\n";
    let server = FakeProvider::single(Reply::sse(support::whole(body))).await;
    let collected = collect(openai(&server).stream(&request("m")).await.unwrap()).await;

    assert_eq!(collected.text(), "Hi");
    let error = collected.error.unwrap();
    assert_eq!(error.kind(), UpstreamErrorKind::MalformedResponse);
}

#[tokio::test]
async fn complete_reads_text_and_usage() {
    let body = fixture("openai-chat-nonstream-text.json");
    let server = FakeProvider::single(Reply::json(200, &body)).await;
    let completion = openai(&server)
        .complete(&request("gpt-4o-mini"))
        .await
        .unwrap();

    assert_eq!(completion.text, "YES");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(completion.usage.input_tokens, 146);
    assert_eq!(completion.usage.output_tokens, 3);
    assert_eq!(completion.model, "gpt-4o-mini-2024-07-18");
    assert!(completion.tool_calls.is_empty());
}

#[tokio::test]
async fn complete_reads_tool_calls() {
    let body = fixture("openai-chat-nonstream-tool-calls.json");
    let server = FakeProvider::single(Reply::json(200, &body)).await;
    let completion = openai(&server).complete(&request("m")).await.unwrap();

    assert_eq!(completion.text, "", "null content is empty text");
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_eq!(completion.tool_calls.len(), 1);
    assert_eq!(completion.tool_calls[0].id, "call_TTY8UFNo7rNCaOBUNtlRSvMG");
    assert_eq!(completion.tool_calls[0].name, "lookup_population");
    assert_eq!(
        completion.tool_calls[0].arguments,
        r#"{"country":"Crumpet"}"#
    );
}

#[tokio::test]
async fn usage_details_are_normalised() {
    let body = br#"{"model":"o3","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"length"}],
        "usage":{"prompt_tokens":2000,"completion_tokens":500,"prompt_tokens_details":{"cached_tokens":1500},
        "completion_tokens_details":{"reasoning_tokens":300}}}"#;
    let server = FakeProvider::single(Reply::json(200, body)).await;
    let completion = openai(&server).complete(&request("o3")).await.unwrap();

    assert_eq!(completion.finish_reason, FinishReason::Length);
    assert_eq!(completion.usage.input_tokens, 2000);
    assert_eq!(completion.usage.cached_input_tokens, 1500);
    assert_eq!(completion.usage.output_tokens, 500);
    assert_eq!(completion.usage.reasoning_tokens, 300);
    assert_eq!(completion.usage.cache_write_tokens, 0);
}

#[tokio::test]
async fn content_filter_finish_is_mapped() {
    let body = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let server = FakeProvider::single(Reply::sse(support::whole(body.as_bytes()))).await;
    let collected = collect(openai(&server).stream(&request("m")).await.unwrap()).await;

    assert_eq!(collected.text(), "");
    assert_eq!(collected.finish(), Some(FinishReason::ContentFilter));
}

#[tokio::test]
async fn openai_request_has_expected_shape() {
    let body = fixture("openai-chat-stream-text-usage.sse");
    let server = FakeProvider::single(Reply::sse(support::whole(&body))).await;
    let mut chat = ChatRequest::new(vec![
        ChatMessage::system("be brief"),
        ChatMessage::user("hi"),
    ]);
    chat.max_tokens = Some(64);
    let mut provider_request = llm_providers::ProviderRequest::new("gpt-4o-mini", chat);
    provider_request.traceparent =
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned());
    provider_request.request_id = Some("req_123".to_owned());
    collect(openai(&server).stream(&provider_request).await.unwrap()).await;

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(
        sent.header("traceparent"),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    assert_eq!(sent.header("x-request-id"), Some("req_123"));
    let json = sent.json();
    assert_eq!(json["model"], "gpt-4o-mini");
    assert_eq!(json["stream"], true);
    assert_eq!(json["stream_options"]["include_usage"], true);
    assert_eq!(json["max_completion_tokens"], 64);
    assert!(json.get("max_tokens").is_none());
    assert_eq!(json["messages"][0]["role"], "system");
    assert_eq!(json["messages"][1]["content"], "hi");
}

#[tokio::test]
async fn compatible_request_sends_max_tokens() {
    let body = fixture("openai-chat-nonstream-text.json");
    let server = FakeProvider::single(Reply::json(200, &body)).await;
    let mut provider_request = request("llama3");
    provider_request.chat.max_tokens = Some(32);
    compatible(&server)
        .complete(&provider_request)
        .await
        .unwrap();

    let sent = &server.requests()[0];
    assert_eq!(sent.header("authorization"), None, "no key configured");
    assert_eq!(sent.header("traceparent"), None);
    let json = sent.json();
    assert_eq!(json["max_tokens"], 32);
    assert!(json.get("max_completion_tokens").is_none());
    assert_eq!(json["stream"], false);
    assert!(json.get("stream_options").is_none());
}

#[tokio::test]
async fn rate_limit_status_carries_delay() {
    let body = fixture("openai-error-429-rate-limit.json");
    let reply = Reply::json(429, &body)
        .header("x-ratelimit-remaining-requests", "0")
        .header("x-ratelimit-reset-requests", "120ms")
        .header("x-ratelimit-remaining-tokens", "1000")
        .header("x-ratelimit-reset-tokens", "6m0s");
    let server = FakeProvider::single(reply).await;
    let error = openai(&server).stream(&request("m")).await.err().unwrap();

    assert_eq!(error.kind(), UpstreamErrorKind::RateLimited);
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.provider_code(), Some("rate_limit_exceeded"));
    assert_eq!(error.retry_after(), Some(Duration::from_millis(120)));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn context_length_status_is_recognised() {
    let body = fixture("openai-error-400-context-length-exceeded.json");
    let server = FakeProvider::single(Reply::json(400, &body)).await;
    let error = openai(&server).complete(&request("m")).await.unwrap_err();

    assert_eq!(error.kind(), UpstreamErrorKind::ContextLengthExceeded);
    assert_eq!(error.provider_code(), Some("context_length_exceeded"));
    assert!(!error.is_retryable());
    assert!(!error.to_string().contains("maximum context length"));
}

#[tokio::test]
async fn builder_rejects_bad_settings() {
    let missing_key = OpenAiProvider::builder().build().unwrap_err();
    assert!(missing_key.to_string().contains("api_key"));

    let missing_url = OpenAiProvider::compatible_builder().build().unwrap_err();
    assert!(missing_url.to_string().contains("base_url"));

    let bad_scheme = OpenAiProvider::compatible_builder()
        .base_url("ftp://127.0.0.1/v1")
        .build()
        .unwrap_err();
    assert!(bad_scheme.to_string().contains("ftp"));

    let query = OpenAiProvider::compatible_builder()
        .base_url("http://127.0.0.1/v1?key=abc")
        .build()
        .unwrap_err();
    assert!(!query.to_string().contains("abc"));

    let bad_key = OpenAiProvider::builder()
        .api_key(SecretString::from("line\nbreak"))
        .build()
        .unwrap_err();
    assert!(!bad_key.to_string().contains("break"));
}

#[tokio::test]
async fn error_body_with_status_200_is_typed() {
    let body =
        br#"{"error":{"message":"model is overloaded","type":"overloaded_error","code":null}}"#;
    let server = FakeProvider::single(Reply::json(200, body)).await;
    let error = compatible(&server)
        .complete(&request("m"))
        .await
        .unwrap_err();

    assert_eq!(error.kind(), UpstreamErrorKind::Overloaded);
    assert_eq!(error.provider_code(), Some("overloaded_error"));
}

#[tokio::test]
async fn bare_error_object_in_stream_is_typed() {
    // Older vLLM releases send the error object itself as a chunk.
    let body = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: {\"object\":\"error\",\"message\":\"This model's maximum context length is 4096 tokens.\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}\n\n",
    );
    let server = FakeProvider::single(Reply::sse(support::whole(body.as_bytes()))).await;
    let collected = collect(compatible(&server).stream(&request("m")).await.unwrap()).await;

    assert_eq!(collected.text(), "Hi");
    let error = collected.error.unwrap();
    assert_eq!(error.provider_code(), Some("BadRequestError"));
    assert_eq!(error.kind(), UpstreamErrorKind::ContextLengthExceeded);
}

#[tokio::test]
async fn http2_prior_knowledge_streams_over_h2c() {
    let body = fixture("openai-chat-stream-text-usage.sse");
    let server = FakeProvider::start_http2(vec![Reply::sse(support::whole(&body))]).await;
    let provider = OpenAiProvider::compatible_builder()
        .base_url(server.base_url())
        .http2_prior_knowledge()
        .build()
        .unwrap();

    let request = request("gpt-4o-mini");
    let (first, second) = tokio::join!(provider.stream(&request), provider.stream(&request));
    for stream in [first.unwrap(), second.unwrap()] {
        let collected = collect(stream).await;
        assert!(collected.error.is_none(), "{:?}", collected.error);
        assert_eq!(collected.usages()[0].output_tokens, 26);
    }

    let versions: Vec<_> = server.requests().iter().map(|r| r.version).collect();
    assert_eq!(versions, [hyper::Version::HTTP_2, hyper::Version::HTTP_2]);
}

#[tokio::test]
async fn http1_client_cannot_reach_an_h2c_only_server() {
    // The control for the test above: without the setting, the same server
    // is unreachable, so that test shows the setting at work.
    let body = fixture("openai-chat-stream-text-usage.sse");
    let server = FakeProvider::start_http2(vec![Reply::sse(support::whole(&body))]).await;

    let result = compatible(&server).stream(&request("gpt-4o-mini")).await;

    assert!(result.is_err());
    assert!(server.requests().is_empty());
}
