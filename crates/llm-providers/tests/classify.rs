//! The error classification table: statuses, provider codes, wordings and
//! retry delays.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on a broken fixture or server, which fails the test"
)]

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use llm_providers::classify::{
    classify_error_code, classify_response, is_context_length_message, rate_limit_reset,
    retry_after,
};
use shipped_core::UpstreamErrorKind;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

#[test]
fn statuses_without_body_map_to_kinds() {
    let table = [
        (400, UpstreamErrorKind::InvalidRequest),
        (401, UpstreamErrorKind::Authentication),
        (403, UpstreamErrorKind::Authentication),
        (404, UpstreamErrorKind::InvalidRequest),
        (408, UpstreamErrorKind::InvalidRequest),
        (413, UpstreamErrorKind::ContextLengthExceeded),
        (422, UpstreamErrorKind::InvalidRequest),
        (429, UpstreamErrorKind::RateLimited),
        (500, UpstreamErrorKind::ServerError),
        (502, UpstreamErrorKind::ServerError),
        (503, UpstreamErrorKind::Overloaded),
        (504, UpstreamErrorKind::ServerError),
        (529, UpstreamErrorKind::Overloaded),
    ];
    for (status, kind) in table {
        let error = classify_response(status, &HeaderMap::new(), b"");
        assert_eq!(error.kind(), kind, "HTTP {status}");
        assert_eq!(error.status(), Some(status));
        assert_eq!(error.provider_code(), None);
    }
}

#[test]
fn retryable_statuses_follow_the_retry_rules() {
    for status in [429, 500, 502, 503, 504, 529] {
        let error = classify_response(status, &HeaderMap::new(), b"not json");
        assert!(error.is_retryable(), "HTTP {status}");
    }
    for status in [400, 401, 403, 404] {
        let error = classify_response(status, &HeaderMap::new(), b"not json");
        assert!(!error.is_retryable(), "HTTP {status}");
    }
}

/// Status, response headers, body, expected kind and expected provider code.
type CodeCase = (
    u16,
    &'static [(&'static str, &'static str)],
    &'static str,
    UpstreamErrorKind,
    Option<&'static str>,
);

#[test]
fn provider_codes_refine_the_status() {
    let table: &[CodeCase] = &[
        (
            400,
            &[],
            r#"{"error":{"message":"m","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
            UpstreamErrorKind::ContextLengthExceeded,
            Some("context_length_exceeded"),
        ),
        (
            429,
            &[],
            r#"{"error":{"message":"m","type":"requests","code":"rate_limit_exceeded"}}"#,
            UpstreamErrorKind::RateLimited,
            Some("rate_limit_exceeded"),
        ),
        (
            529,
            &[],
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            UpstreamErrorKind::Overloaded,
            Some("overloaded_error"),
        ),
        (
            500,
            &[],
            r#"{"type":"error","error":{"type":"api_error","message":"Internal"}}"#,
            UpstreamErrorKind::ServerError,
            Some("api_error"),
        ),
        (
            401,
            &[],
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
            UpstreamErrorKind::Authentication,
            Some("authentication_error"),
        ),
        (
            403,
            &[],
            r#"{"type":"error","error":{"type":"permission_error","message":"no"}}"#,
            UpstreamErrorKind::Authentication,
            Some("permission_error"),
        ),
        (
            404,
            &[],
            r#"{"type":"error","error":{"type":"not_found_error","message":"model"}}"#,
            UpstreamErrorKind::InvalidRequest,
            Some("not_found_error"),
        ),
        (
            400,
            &[],
            r#"{"error":{"message":"flagged","type":"invalid_request_error","code":"content_policy_violation"}}"#,
            UpstreamErrorKind::ContentFiltered,
            Some("content_policy_violation"),
        ),
        (
            400,
            &[(
                "x-amzn-errortype",
                "ValidationException:http://internal.amazon.com/coral/",
            )],
            r#"{"message":"Malformed input request"}"#,
            UpstreamErrorKind::InvalidRequest,
            Some("ValidationException"),
        ),
        (
            429,
            &[("x-amzn-errortype", "ThrottlingException")],
            r#"{"message":"Too many requests"}"#,
            UpstreamErrorKind::RateLimited,
            Some("ThrottlingException"),
        ),
        (
            503,
            &[("x-amzn-errortype", "ServiceUnavailableException")],
            r#"{"message":"unavailable"}"#,
            UpstreamErrorKind::Overloaded,
            Some("ServiceUnavailableException"),
        ),
        (
            400,
            &[],
            r#"{"object":"error","message":"bad","type":"BadRequestError","code":400}"#,
            UpstreamErrorKind::InvalidRequest,
            Some("BadRequestError"),
        ),
    ];
    for (status, header_pairs, body, kind, code) in table {
        let error = classify_response(*status, &headers(header_pairs), body.as_bytes());
        assert_eq!(error.kind(), *kind, "{body}");
        assert_eq!(error.provider_code(), *code, "{body}");
    }
}

#[test]
fn context_length_wordings_are_recognised() {
    let wordings = [
        // OpenAI and vLLM.
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 131000 tokens.",
        // vLLM, newer releases.
        "The decoder prompt (length 5000) is longer than the maximum model length of 4096.",
        // Anthropic.
        "prompt is too long: 213717 tokens > 200000 maximum",
        // Bedrock.
        "Input is too long for requested model.",
        "The model returned the following errors: too many input tokens",
        "Your request exceeds the model's context window.",
        // Ollama and llama.cpp.
        "input length exceeds the context length",
        "the request exceeds the available context size, try increasing it",
        "prompt exceeds the context window",
    ];
    for wording in wordings {
        assert!(is_context_length_message(wording), "{wording}");
        let bodies = [
            serde_json::json!({"error": {"message": wording, "type": "invalid_request_error"}}),
            serde_json::json!({"message": wording}),
            serde_json::json!({"error": wording}),
        ];
        for body in bodies {
            let error = classify_response(400, &HeaderMap::new(), body.to_string().as_bytes());
            assert_eq!(
                error.kind(),
                UpstreamErrorKind::ContextLengthExceeded,
                "{body}"
            );
            assert!(
                !error.to_string().contains(wording),
                "{body}: message in Display"
            );
        }
        let plain = classify_response(400, &HeaderMap::new(), wording.as_bytes());
        assert_eq!(
            plain.kind(),
            UpstreamErrorKind::ContextLengthExceeded,
            "plain text: {wording}"
        );
    }
}

#[test]
fn context_wording_does_not_override_throttles() {
    let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Please reduce the prompt length or the maximum tokens requested; context window limits apply"}}"#;
    let error = classify_response(429, &HeaderMap::new(), body.as_bytes());
    assert_eq!(error.kind(), UpstreamErrorKind::RateLimited);

    let other = classify_response(
        400,
        &HeaderMap::new(),
        br#"{"error":{"message":"Invalid value for temperature"}}"#,
    );
    assert_eq!(other.kind(), UpstreamErrorKind::InvalidRequest);
}

#[test]
fn stream_error_codes_map_to_kinds() {
    let table = [
        ("overloaded_error", UpstreamErrorKind::Overloaded),
        ("api_error", UpstreamErrorKind::ServerError),
        ("rate_limit_error", UpstreamErrorKind::RateLimited),
        ("throttlingException", UpstreamErrorKind::RateLimited),
        ("serviceUnavailableException", UpstreamErrorKind::Overloaded),
        ("internalServerException", UpstreamErrorKind::ServerError),
        ("modelStreamErrorException", UpstreamErrorKind::ServerError),
        ("modelTimeoutException", UpstreamErrorKind::Timeout),
        ("validationException", UpstreamErrorKind::InvalidRequest),
        ("BadRequestError", UpstreamErrorKind::InvalidRequest),
        ("something_new", UpstreamErrorKind::ServerError),
    ];
    for (code, kind) in table {
        assert_eq!(classify_error_code(code, "details"), kind, "{code}");
    }
}

#[test]
fn retry_after_reads_seconds_and_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let seconds = headers(&[("retry-after", "33")]);
    assert_eq!(retry_after(&seconds, now), Some(Duration::from_secs(33)));

    let date = httpdate::fmt_http_date(now + Duration::from_secs(120));
    let date = headers(&[("retry-after", &date)]);
    assert_eq!(retry_after(&date, now), Some(Duration::from_secs(120)));

    let past = httpdate::fmt_http_date(now - Duration::from_secs(120));
    let past = headers(&[("retry-after", &past)]);
    assert_eq!(retry_after(&past, now), Some(Duration::ZERO));

    let millis = headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
    assert_eq!(retry_after(&millis, now), Some(Duration::from_millis(1500)));

    for bad in ["-1", "soon", ""] {
        let bad_headers = headers(&[("retry-after", bad)]);
        assert_eq!(retry_after(&bad_headers, now), None, "{bad:?}");
    }
    assert_eq!(retry_after(&HeaderMap::new(), now), None);
}

#[test]
fn openai_reset_durations_are_read() {
    let now = SystemTime::now();
    let table = [
        ("6m0s", 360_000),
        ("2ms", 2),
        ("1s", 1000),
        ("120ms", 120),
        ("1m30.5s", 90_500),
    ];
    for (value, millis) in table {
        let map = headers(&[("x-ratelimit-reset-requests", value)]);
        assert_eq!(
            rate_limit_reset(&map, now),
            Some(Duration::from_millis(millis)),
            "{value}"
        );
    }

    let exhausted = headers(&[
        ("x-ratelimit-remaining-requests", "10"),
        ("x-ratelimit-reset-requests", "6m0s"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-tokens", "1s"),
    ]);
    assert_eq!(
        rate_limit_reset(&exhausted, now),
        Some(Duration::from_secs(1)),
        "the exhausted limit's reset wins"
    );
}

#[test]
fn anthropic_reset_times_are_read() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_771_371_840);
    let map = headers(&[
        ("anthropic-ratelimit-requests-remaining", "19999"),
        ("anthropic-ratelimit-requests-reset", "2026-02-17T23:44:11Z"),
        ("anthropic-ratelimit-output-tokens-remaining", "0"),
        (
            "anthropic-ratelimit-output-tokens-reset",
            "2026-02-17T23:45:00Z",
        ),
    ]);
    // 2026-02-17T23:44:00Z is 1771371840.
    assert_eq!(rate_limit_reset(&map, now), Some(Duration::from_secs(60)));
}

#[test]
fn rate_limited_response_gets_reset_delay() {
    let map = headers(&[
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-tokens", "2s"),
    ]);
    let error = classify_response(429, &map, b"{}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));

    // Reset headers come with every success too; they never delay other failures.
    let bad_request = classify_response(400, &map, b"{}");
    assert_eq!(bad_request.retry_after(), None);

    let with_retry_after = headers(&[("retry-after", "5"), ("x-ratelimit-reset-tokens", "2s")]);
    let error = classify_response(429, &with_retry_after, b"{}");
    assert_eq!(
        error.retry_after(),
        Some(Duration::from_secs(5)),
        "Retry-After wins"
    );

    let overloaded = classify_response(503, &headers(&[("retry-after", "4")]), b"");
    assert_eq!(overloaded.retry_after(), Some(Duration::from_secs(4)));
}

#[test]
fn display_never_contains_body_text() {
    let body = r#"{"error":{"message":"secret prompt text sk-live-123","type":"invalid_request_error","code":"bad thing with spaces"}}"#;
    let error = classify_response(400, &HeaderMap::new(), body.as_bytes());
    let display = error.to_string();
    let debug = format!("{error:?}");
    assert!(!display.contains("secret prompt"), "{display}");
    assert!(!debug.contains("secret prompt"), "{debug}");
    assert!(!display.contains("sk-live-123"), "{display}");
    assert_eq!(error.provider_code(), None, "a code with spaces is dropped");
}
