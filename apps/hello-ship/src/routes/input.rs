//! Reading and validating the body of `/chat` and `/chat/stream`.

use http::{Request, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use shipped_core::{ApiErrorKind, ChatMessage, ChatRequest, RequestContext, RequestId, Role};

use crate::app::App;
use crate::server::response::ApiError;

/// Maximum time a client may take to send its request body, because a slower
/// one would hold an in-flight slot and delay a drain.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
    /// OpenAI's chat completions body, for `/v1/chat/completions`.
    OpenAi,
    /// Anthropic's messages body, for `/v1/messages`.
    Anthropic,
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
    // Providers get the caller's trace id with a new parent id, or a new trace.
    let incoming_trace = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    let trace = shipped_core::TraceContext::continue_or_start(incoming_trace);
    let openai_options = request
        .extensions()
        .get::<super::openai::OpenAiOptions>()
        .cloned();
    let collect = Limited::new(request.into_body(), limit).collect();
    let Ok(collected) = tokio::time::timeout(BODY_READ_TIMEOUT, collect).await else {
        return Err(ApiError::new(
            ApiErrorKind::RequestTimeout,
            format!(
                "the request body did not arrive within {} seconds; send the whole body at once",
                BODY_READ_TIMEOUT.as_secs()
            ),
        ));
    };
    let bytes = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(_) => return Err(ApiError::invalid("request body could not be read")),
    };

    let mut context = RequestContext::new(request_id);
    context.stream = stream;
    context.traceparent = Some(trace.traceparent().to_owned());
    match format {
        InputFormat::Native => {}
        InputFormat::OpenAi => {
            let options = openai_options.unwrap_or_default();
            return super::openai::read_input(app, &bytes, context, &options);
        }
        InputFormat::Anthropic => return super::anthropic::read_input(app, &bytes, context),
    }
    let body = parse_body(&bytes)?;
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
    parse_json_object(bytes, "{\"message\": \"Hello\"}")
}

/// Parses a JSON object body into `T`; an error names the field at fault, and
/// a body that is not an object gets `example` as a hint.
pub(crate) fn parse_json_object<T: DeserializeOwned>(
    bytes: &[u8],
    example: &str,
) -> Result<T, ApiError> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err(ApiError::invalid(
            "the body starts with a UTF-8 byte order mark (EF BB BF); send the JSON without it",
        ));
    }
    let starts_as_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !starts_as_object {
        return Err(match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(_) => ApiError::invalid(format!(
                "request body must be a JSON object such as {example}"
            )),
            Err(error) => ApiError::invalid(format!("malformed JSON: {error}")),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let body: T = match serde_path_to_error::deserialize(&mut deserializer) {
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
    check_messages(&messages, max_chars)?;
    Ok(messages)
}

/// Checks a conversation: at least one user message, no empty user message,
/// and no message over `max_chars` characters.
pub(crate) fn check_messages(messages: &[ChatMessage], max_chars: usize) -> Result<(), ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid("messages must hold at least one message"));
    }
    if !messages.iter().any(|m| m.role == Role::User) {
        return Err(ApiError::invalid(
            "messages must hold at least one user message",
        ));
    }
    for (index, message) in messages.iter().enumerate() {
        if message.role == Role::User && is_blank(&message.content) {
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
    Ok(())
}

/// Checks a client label such as `user_id`: at most 128 bytes, no control
/// characters.
pub(crate) fn label(value: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
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

/// Returns whether `text` is blank: only whitespace, and the zero-width
/// characters that Unicode does not count as whitespace.
fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    })
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
    fn byte_order_mark_is_named() {
        let error = parse_body(b"\xEF\xBB\xBF{\"message\": \"hi\"}").unwrap_err();
        assert!(format!("{error:?}").contains("byte order mark"));
    }

    #[test]
    fn zero_width_message_is_empty() {
        let messages = [ChatMessage::user("\u{200B}\u{200D} \u{FEFF}")];
        let error = check_messages(&messages, 100).unwrap_err();
        assert!(format!("{error:?}").contains("message 0 is empty"));
        assert!(check_messages(&[ChatMessage::user("\u{200B}a")], 100).is_ok());
    }
}
