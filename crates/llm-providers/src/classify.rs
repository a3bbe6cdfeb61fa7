//! One error classification for every provider.
//!
//! [`classify_response`] turns a failed HTTP response (status, headers and body)
//! into a [`ProviderError`]; [`classify_error_code`] does the same for an error
//! that arrives inside a stream after HTTP 200, such as Anthropic's `event: error`
//! or a Bedrock exception frame. Both read the provider's error code and message
//! to tell a context-length failure or a throttle from a plain bad request, and
//! keep only the short error code: the body itself never reaches the error text.
//!
//! ```
//! use http::HeaderMap;
//! use llm_providers::classify::classify_response;
//! use shipped_core::UpstreamErrorKind;
//!
//! let body = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 213717 tokens > 200000 maximum"}}"#;
//! let error = classify_response(400, &HeaderMap::new(), body);
//! assert_eq!(error.kind(), UpstreamErrorKind::ContextLengthExceeded);
//! assert_eq!(error.provider_code(), Some("invalid_request_error"));
//! assert!(!error.to_string().contains("prompt is too long"));
//! ```

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use shipped_core::UpstreamErrorKind;

use crate::ProviderError;

/// Maximum length of a provider error code kept on an error. Longer codes are
/// dropped, so a provider that puts free text in its code field cannot leak it
/// into logs.
const MAX_CODE_LEN: usize = 64;

/// Wordings that providers use when a prompt does not fit the context window,
/// lower-cased. They are matched only on requests rejected as invalid.
const CONTEXT_LENGTH_WORDINGS: &[&str] = &[
    // OpenAI code and message, also vLLM's: "This model's maximum context length is ...".
    "context_length_exceeded",
    "maximum context length",
    // Anthropic: "prompt is too long: 213717 tokens > 200000 maximum".
    "prompt is too long",
    // Bedrock: "Input is too long for requested model.", "too many input tokens".
    "input is too long",
    "too many input tokens",
    "context window",
    // vLLM: "... is longer than the maximum model length of 4096".
    "maximum model length",
    // Ollama and llama.cpp servers: "exceeds the context length", "context size".
    "context length",
    "context size",
];

/// Classifies a failed HTTP response.
///
/// The kind starts from the status ([`UpstreamErrorKind::from_status`]) and is
/// refined by the provider's error code (`error.code` or `error.type` in the JSON
/// body, or Bedrock's `x-amzn-ErrorType` header) and by the message wording for
/// context-length failures. For rate-limit and overload responses the delay from
/// [`retry_after`] or the rate-limit reset headers is attached.
pub fn classify_response(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let details = ErrorDetails::parse(headers, body);
    let mut kind =
        UpstreamErrorKind::from_status(status).unwrap_or(UpstreamErrorKind::MalformedResponse);
    if let Some(by_code) = details.code.as_deref().and_then(kind_for_code) {
        kind = by_code;
    }
    if is_context_length_failure(kind, &details) {
        kind = UpstreamErrorKind::ContextLengthExceeded;
    }

    let mut error = ProviderError::from_status(status).with_kind(kind);
    if let Some(code) = details.loggable_code() {
        error = error.with_provider_code(code);
    }
    let now = SystemTime::now();
    let delay = match kind {
        UpstreamErrorKind::RateLimited => {
            retry_after(headers, now).or_else(|| rate_limit_reset(headers, now))
        }
        UpstreamErrorKind::Overloaded | UpstreamErrorKind::ServerError => retry_after(headers, now),
        UpstreamErrorKind::Timeout
        | UpstreamErrorKind::Connect
        | UpstreamErrorKind::ContextLengthExceeded
        | UpstreamErrorKind::InvalidRequest
        | UpstreamErrorKind::Authentication
        | UpstreamErrorKind::ContentFiltered
        | UpstreamErrorKind::StreamTruncated
        | UpstreamErrorKind::MalformedResponse => None,
    };
    match delay {
        Some(delay) => error.with_retry_after(delay),
        None => error,
    }
}

/// Classifies an error reported inside a stream that began with HTTP 200.
///
/// `code` is the provider's error type, e.g. `overloaded_error` or
/// `throttlingException`; `message` is used only to recognise a context-length
/// failure. An unknown code is a [`UpstreamErrorKind::ServerError`], because the
/// provider accepted the request and then failed on its side.
///
/// ```
/// use llm_providers::classify::classify_error_code;
/// use shipped_core::UpstreamErrorKind;
///
/// assert_eq!(classify_error_code("overloaded_error", "Overloaded"), UpstreamErrorKind::Overloaded);
/// assert_eq!(classify_error_code("throttlingException", ""), UpstreamErrorKind::RateLimited);
/// assert_eq!(
///     classify_error_code("validationException", "Input is too long for requested model."),
///     UpstreamErrorKind::ContextLengthExceeded,
/// );
/// ```
pub fn classify_error_code(code: &str, message: &str) -> UpstreamErrorKind {
    let kind = kind_for_code(code).unwrap_or(UpstreamErrorKind::ServerError);
    let details = ErrorDetails {
        code: Some(code.to_owned()),
        message: Some(message.to_owned()),
    };
    if is_context_length_failure(kind, &details) {
        UpstreamErrorKind::ContextLengthExceeded
    } else {
        kind
    }
}

/// Builds the error for a stream error event: its kind from
/// [`classify_error_code`] and the code kept when it is short and plain.
pub(crate) fn stream_error(code: &str, message: &str) -> ProviderError {
    let error = ProviderError::new(classify_error_code(code, message));
    match loggable(code) {
        Some(code) => error.with_provider_code(code),
        None => error,
    }
}

/// Checks whether a provider error message reports that the prompt exceeds the
/// model's context window, in any wording of OpenAI, Anthropic, Bedrock, vLLM
/// or Ollama.
///
/// ```
/// use llm_providers::classify::is_context_length_message;
///
/// assert!(is_context_length_message("This model's maximum context length is 128000 tokens."));
/// assert!(!is_context_length_message("Invalid value for 'temperature'"));
/// ```
pub fn is_context_length_message(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    CONTEXT_LENGTH_WORDINGS
        .iter()
        .any(|wording| message.contains(wording))
}

/// Reads the delay a provider asked for from `retry-after-ms` or `Retry-After`
/// (seconds or an HTTP date, counted from `now`).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::HeaderMap;
/// use llm_providers::classify::retry_after;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", "33".parse().unwrap());
/// assert_eq!(retry_after(&headers, SystemTime::now()), Some(Duration::from_secs(33)));
/// ```
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(millis) = header_str(headers, "retry-after-ms")
        .and_then(|value| value.trim().parse::<f64>().ok())
        .and_then(non_negative_seconds(1000.0))
    {
        return Some(millis);
    }
    let value = header_str(headers, "retry-after")?.trim();
    if let Some(delay) = value
        .parse::<f64>()
        .ok()
        .and_then(non_negative_seconds(1.0))
    {
        return Some(delay);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Reads the time until a rate limit resets from OpenAI's `x-ratelimit-reset-*`
/// durations (`6m0s`, `120ms`) or Anthropic's `anthropic-ratelimit-*-reset`
/// RFC 3339 times.
///
/// A limit whose matching `remaining` header is `0` is the one that was hit, so
/// the latest reset among those limits is returned. Without such a header, the
/// latest reset of all is returned.
pub fn rate_limit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let mut exhausted: Option<Duration> = None;
    let mut any: Option<Duration> = None;
    for (name, value) in headers {
        let name = name.as_str();
        let Ok(value) = value.to_str() else {
            continue;
        };
        let (delay, remaining_name) = if let Some(limit) = name.strip_prefix("x-ratelimit-reset-") {
            (
                parse_go_duration(value.trim()),
                format!("x-ratelimit-remaining-{limit}"),
            )
        } else if let Some(limit) = name
            .strip_prefix("anthropic-ratelimit-")
            .and_then(|rest| rest.strip_suffix("-reset"))
        {
            let delay = humantime::parse_rfc3339_weak(value.trim())
                .ok()
                .map(|reset| reset.duration_since(now).unwrap_or(Duration::ZERO));
            (delay, format!("anthropic-ratelimit-{limit}-remaining"))
        } else {
            continue;
        };
        let Some(delay) = delay else {
            continue;
        };
        any = any.max(Some(delay));
        if header_str(headers, &remaining_name).map(str::trim) == Some("0") {
            exhausted = exhausted.max(Some(delay));
        }
    }
    exhausted.or(any)
}

/// Parses a Go duration as OpenAI sends it in `x-ratelimit-reset-*`: a sequence
/// of decimal numbers with a unit each (`h`, `m`, `s`, `ms`, `us`, `µs`, `ns`),
/// e.g. `6m0s`, `1.5s` or `120ms`.
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    let mut total = 0.0_f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Maps a provider error code to its kind, ignoring case so that Bedrock's
/// `throttlingException` (in a stream) and `ThrottlingException` (in a header)
/// agree.
fn kind_for_code(code: &str) -> Option<UpstreamErrorKind> {
    let kind = match code.to_ascii_lowercase().as_str() {
        "rate_limit_error"
        | "rate_limit_exceeded"
        | "throttlingexception"
        | "toomanyrequestsexception" => UpstreamErrorKind::RateLimited,
        "overloaded_error" | "serviceunavailableexception" | "service_unavailable" => {
            UpstreamErrorKind::Overloaded
        }
        "api_error"
        | "server_error"
        | "internal_server_error"
        | "internalserverexception"
        | "modelstreamerrorexception" => UpstreamErrorKind::ServerError,
        "modeltimeoutexception" => UpstreamErrorKind::Timeout,
        "authentication_error"
        | "permission_error"
        | "invalid_api_key"
        | "accessdeniedexception"
        | "unrecognizedclientexception"
        | "expiredtokenexception" => UpstreamErrorKind::Authentication,
        "context_length_exceeded" | "request_too_large" => UpstreamErrorKind::ContextLengthExceeded,
        "invalid_request_error"
        | "not_found_error"
        | "validationexception"
        | "resourcenotfoundexception"
        // vLLM's exception class names.
        | "badrequesterror"
        | "notfounderror" => UpstreamErrorKind::InvalidRequest,
        "content_filter" | "content_policy_violation" => UpstreamErrorKind::ContentFiltered,
        _ => return None,
    };
    Some(kind)
}

/// Checks whether a request rejected as invalid was rejected for its length.
fn is_context_length_failure(kind: UpstreamErrorKind, details: &ErrorDetails) -> bool {
    if kind != UpstreamErrorKind::InvalidRequest {
        return false;
    }
    let code_says = details
        .code
        .as_deref()
        .is_some_and(|code| code.eq_ignore_ascii_case("context_length_exceeded"));
    let message_says = details
        .message
        .as_deref()
        .is_some_and(is_context_length_message);
    code_says || message_says
}

/// The code and message read from an error response. The message is used for
/// matching only and never leaves this module.
#[derive(Debug, Default)]
struct ErrorDetails {
    code: Option<String>,
    message: Option<String>,
}

impl ErrorDetails {
    fn parse(headers: &HeaderMap, body: &[u8]) -> Self {
        let mut details = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) => Self::from_json(&value),
            Err(_) => Self {
                code: None,
                message: Some(String::from_utf8_lossy(body).into_owned()),
            },
        };
        // Bedrock names the error in a header: `ValidationException:http://internal...`.
        if let Some(error_type) = header_str(headers, "x-amzn-errortype") {
            let name = error_type.split(':').next().unwrap_or_default().trim();
            if !name.is_empty() {
                details.code = Some(name.to_owned());
            }
        }
        details
    }

    fn from_json(value: &serde_json::Value) -> Self {
        let text = |value: &serde_json::Value, key: &str| {
            value
                .get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        match value.get("error") {
            // OpenAI `{"error":{"code","type","message"}}` and Anthropic
            // `{"type":"error","error":{"type","message"}}`.
            Some(error @ serde_json::Value::Object(_)) => Self {
                code: text(error, "code").or_else(|| text(error, "type")),
                message: text(error, "message"),
            },
            // Ollama `{"error":"..."}`.
            Some(serde_json::Value::String(message)) => Self {
                code: None,
                message: Some(message.clone()),
            },
            // Bedrock `{"message":"..."}` and vLLM `{"object":"error","type","message"}`.
            _ => Self {
                code: text(value, "__type")
                    .or_else(|| text(value, "code"))
                    .or_else(|| text(value, "type")),
                message: text(value, "message").or_else(|| text(value, "Message")),
            },
        }
    }

    fn loggable_code(&self) -> Option<&str> {
        self.code.as_deref().and_then(loggable)
    }
}

/// Returns `code` when it looks like an error code: short, letters and `_`, `-`
/// or `.` only. Digits are rejected because keys and request ids carry them and
/// a provider may echo either in its error fields.
fn loggable(code: &str) -> Option<&str> {
    let plain = code
        .chars()
        .all(|c| c.is_ascii_alphabetic() || matches!(c, '_' | '-' | '.'));
    (plain && !code.is_empty() && code.len() <= MAX_CODE_LEN).then_some(code)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn non_negative_seconds(units_per_second: f64) -> impl Fn(f64) -> Option<Duration> {
    move |value| {
        if value.is_finite() && value >= 0.0 {
            Duration::try_from_secs_f64(value / units_per_second).ok()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("2ms"), Some(Duration::from_millis(2)));
        assert_eq!(parse_go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("120ms"), Some(Duration::from_millis(120)));
        assert_eq!(parse_go_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("5 days"), None);
    }

    #[test]
    fn long_or_odd_codes_are_not_kept() {
        assert_eq!(loggable("overloaded_error"), Some("overloaded_error"));
        assert_eq!(loggable("throttlingException"), Some("throttlingException"));
        assert_eq!(loggable("has space"), None);
        assert_eq!(loggable("sk-proj-abc123"), None);
        assert_eq!(loggable(&"x".repeat(65)), None);
        assert_eq!(loggable(""), None);
    }
}
