//! Reading and validating the body of `/chat` and `/chat/stream`.

use http::{Request, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use shipped_core::{ApiErrorKind, ChatMessage, ChatRequest, RequestContext, RequestId, Role};

use crate::app::App;
use crate::server::response::ApiError;

/// Longest accepted `user_id`, `feature`, `prompt_version` or `model`, in bytes.
const MAX_LABEL_LEN: usize = 128;

/// The JSON body of a chat request. Unknown fields are rejected so that a typo
/// such as `max_token` is reported instead of silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatBody {
    message: Option<String>,
    messages: Option<Vec<MessageBody>>,
    user_id: Option<String>,
    feature: Option<String>,
    prompt_version: Option<String>,
    max_tokens: Option<u32>,
    model: Option<String>,
    temperature: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    role: Role,
    content: String,
}

/// The wire format of a chat request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputFormat {
    /// hello-ship's own `{message | messages, ...}` body.
    Native,
}

/// A validated chat request and its context.
#[derive(Debug)]
pub(crate) struct ChatInput {
    pub(crate) context: RequestContext,
    pub(crate) chat: ChatRequest,
}

/// Reads, parses and validates a chat request body.
pub(crate) async fn read_chat_input(
    app: &App,
    request: Request<Incoming>,
    request_id: RequestId,
    format: InputFormat,
    stream: bool,
) -> Result<ChatInput, ApiError> {
    let InputFormat::Native = format;
    let server = &app.config.file.server;
    check_content_type(&request)?;

    let too_large = || {
        ApiError::new(
            ApiErrorKind::PayloadTooLarge,
            format!(
                "request body is larger than {} bytes (server.max_body_bytes)",
                server.max_body_bytes
            ),
        )
    };
    let declared_len = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > server.max_body_bytes) {
        return Err(too_large());
    }
    let limit = usize::try_from(server.max_body_bytes).unwrap_or(usize::MAX);
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid_traceparent(v))
        .map(str::to_owned);
    let bytes = match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(_) => return Err(ApiError::invalid("request body could not be read")),
    };

    let body = parse_body(&bytes)?;
    let mut context = RequestContext::new(request_id);
    context.stream = stream;
    context.traceparent = traceparent;
    context.user_id = label(body.user_id, "user_id")?;
    context.feature = label(body.feature, "feature")?;
    context.prompt_version = label(body.prompt_version, "prompt_version")?;
    if let Some(model) = label(body.model, "model")? {
        context.model = model;
    }
    if !app.chains.contains_key(&context.model) {
        return Err(ApiError::invalid(format!(
            "unknown model {:?}; configured models: {}",
            context.model,
            app.alias_names().join(", ")
        )));
    }

    let messages = messages(body.message, body.messages, server.max_message_chars)?;
    // The effective cap (request, tenant and server limits) is applied at
    // admission; here only the request's own value is checked.
    if body.max_tokens == Some(0) {
        return Err(ApiError::invalid("max_tokens must be at least 1"));
    }
    if let Some(temperature) = body.temperature {
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::invalid(format!(
                "temperature {temperature} is out of range; use a value from 0 to 2"
            )));
        }
    }
    let mut chat = ChatRequest::new(messages);
    chat.max_tokens = body.max_tokens;
    chat.temperature = body.temperature;
    Ok(ChatInput { context, chat })
}

fn check_content_type(request: &Request<Incoming>) -> Result<(), ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    let shown = if content_type.is_empty() {
        "none"
    } else {
        content_type
    };
    Err(ApiError::new(
        ApiErrorKind::UnsupportedMediaType,
        format!("Content-Type must be application/json, got {shown:?}"),
    ))
}

fn parse_body(bytes: &[u8]) -> Result<ChatBody, ApiError> {
    let starts_as_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !starts_as_object {
        return Err(match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(_) => ApiError::invalid(
                "request body must be a JSON object such as {\"message\": \"Hello\"}",
            ),
            Err(error) => ApiError::invalid(format!("malformed JSON: {error}")),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let body: ChatBody = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(body) => body,
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let message = if inner.is_syntax() || inner.is_eof() {
                format!("malformed JSON: {inner}")
            } else if path == "." {
                format!("invalid request body: {inner}")
            } else {
                format!("invalid field {path}: {inner}")
            };
            return Err(ApiError::invalid(message));
        }
    };
    if let Err(error) = deserializer.end() {
        return Err(ApiError::invalid(format!("malformed JSON: {error}")));
    }
    Ok(body)
}

fn messages(
    message: Option<String>,
    messages: Option<Vec<MessageBody>>,
    max_chars: usize,
) -> Result<Vec<ChatMessage>, ApiError> {
    let messages = match (message, messages) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "send either message or messages, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "missing field message: send {\"message\": \"...\"} or a messages list",
            ));
        }
        (Some(text), None) => vec![ChatMessage::user(text)],
        (None, Some(list)) => list
            .into_iter()
            .map(|m| ChatMessage::new(m.role, m.content))
            .collect(),
    };
    if messages.is_empty() {
        return Err(ApiError::invalid("messages must hold at least one message"));
    }
    if !messages.iter().any(|m| m.role == Role::User) {
        return Err(ApiError::invalid(
            "messages must hold at least one user message",
        ));
    }
    for (index, message) in messages.iter().enumerate() {
        if message.role == Role::User && message.content.trim().is_empty() {
            return Err(ApiError::invalid(format!(
                "message {index} is empty; send the text to answer"
            )));
        }
        let chars = message.content.chars().count();
        if chars > max_chars {
            return Err(ApiError::new(
                ApiErrorKind::PayloadTooLarge,
                format!(
                    "message {index} has {chars} characters; the limit is {max_chars} (server.max_message_chars)"
                ),
            ));
        }
    }
    Ok(messages)
}

fn label(value: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    match value {
        Some(text) if text.len() > MAX_LABEL_LEN => Err(ApiError::invalid(format!(
            "{field} is longer than {MAX_LABEL_LEN} bytes"
        ))),
        Some(text) if text.chars().any(char::is_control) => Err(ApiError::invalid(format!(
            "{field} must not contain control characters"
        ))),
        other => Ok(other),
    }
}

/// Checks the W3C Trace Context form `00-<32 hex>-<16 hex>-<2 hex>` with
/// non-zero trace and parent ids.
pub(crate) fn is_valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && parts[1].bytes().any(|b| b != b'0')
        && hex(parts[2], 16)
        && parts[2].bytes().any(|b| b != b'0')
        && hex(parts[3], 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_type_names_the_field() {
        let error = parse_body(br#"{"message": 5}"#).unwrap_err();
        assert_eq!(error.kind(), ApiErrorKind::InvalidRequest);
        assert!(format!("{error:?}").contains("message"));
    }

    #[test]
    fn unknown_field_is_rejected() {
        let error = parse_body(br#"{"message": "hi", "max_token": 5}"#).unwrap_err();
        assert!(format!("{error:?}").contains("max_token"));
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        assert!(parse_body(br#"{"message": "hi"} x"#).is_err());
    }

    #[test]
    fn traceparent_forms() {
        assert!(is_valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent("00-XYZ-00f067aa0ba902b7-01"));
    }
}
