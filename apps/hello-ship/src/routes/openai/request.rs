//! Reading an OpenAI chat completions body into the neutral chat request.
//!
//! Fields that hello-ship cannot honour but that change nothing a client
//! depends on (`top_p`, `seed`, `logprobs`, `parallel_tool_calls`, ...) are
//! accepted and ignored, because the official SDKs send many of them. Fields
//! whose meaning would be lost (`n > 1`, a forced `tool_choice`, image parts)
//! are rejected with a 400 that names them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use shipped_core::{ApiErrorKind, ChatMessage, ChatRequest, RequestContext, Role, ToolCall};

use super::OpenAiOptions;
use crate::app::App;
use crate::routes::input::{ChatInput, check_messages, label, parse_json_object};
use crate::server::response::ApiError;

/// The body of `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
struct CompletionBody {
    model: String,
    messages: Vec<WireMessage>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    stream: Option<bool>,
    stream_options: Option<StreamOptionsBody>,
    user: Option<String>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    n: Option<u32>,
    /// Every other field, by name only, for the log.
    #[serde(flatten)]
    ignored: BTreeMap<String, IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct StreamOptionsBody {
    include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    /// A string, an array of content parts, or null.
    content: Option<Value>,
    tool_calls: Option<Vec<WireToolCall>>,
    tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// Parses and validates the body. The model must be a configured alias:
/// anything else is a 404, as OpenAI answers for a model that does not exist.
pub(crate) fn read_input(
    app: &App,
    bytes: &[u8],
    mut context: RequestContext,
    options: &OpenAiOptions,
) -> Result<ChatInput, ApiError> {
    let body: CompletionBody = parse_json_object(
        bytes,
        r#"{"model": "default", "messages": [{"role": "user", "content": "Hello"}]}"#,
    )?;
    if !body.ignored.is_empty() {
        let names: Vec<&str> = body.ignored.keys().map(String::as_str).collect();
        tracing::debug!(fields = ?names, "request_fields_ignored");
    }

    context.model = label(Some(body.model), "model")?.unwrap_or_default();
    if !app.chains.contains_key(&context.model) {
        return Err(ApiError::new(
            ApiErrorKind::NotFound,
            format!(
                "the model {:?} does not exist; configured models: {}",
                context.model,
                app.alias_names().join(", ")
            ),
        ));
    }
    context.user_id = label(body.user, "user")?;
    context.stream = body.stream.unwrap_or(false);
    let include_usage = body
        .stream_options
        .and_then(|options| options.include_usage)
        .unwrap_or(false);
    options.set_include_usage(include_usage);

    if let Some(n) = body.n.filter(|n| *n != 1) {
        return Err(ApiError::invalid(format!(
            "n = {n} is not supported: hello-ship returns exactly one choice, so send n = 1 or leave it out"
        )));
    }
    check_tool_choice(body.tool_choice.as_ref())?;
    let tools = body.tools.unwrap_or_default();
    check_tools(&tools)?;

    let max_tokens = match (body.max_tokens, body.max_completion_tokens) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if max_tokens == Some(0) {
        return Err(ApiError::invalid(
            "max_completion_tokens (or max_tokens) must be at least 1",
        ));
    }
    if let Some(temperature) = body.temperature {
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::invalid(format!(
                "temperature {temperature} is out of range; use a value from 0 to 2"
            )));
        }
    }

    let messages = body
        .messages
        .into_iter()
        .enumerate()
        .map(|(index, message)| convert_message(index, message))
        .collect::<Result<Vec<_>, _>>()?;
    check_messages(&messages, app.config.file.server.max_message_chars)?;

    let mut chat = ChatRequest::new(messages);
    chat.max_tokens = max_tokens;
    chat.temperature = body.temperature;
    chat.tools = tools;
    Ok(ChatInput { context, chat })
}

fn convert_message(index: usize, message: WireMessage) -> Result<ChatMessage, ApiError> {
    let role = match message.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        "function" => {
            return Err(ApiError::invalid(format!(
                "messages[{index}]: the function role is deprecated and not supported; send tool messages with tool_call_id"
            )));
        }
        other => {
            return Err(ApiError::invalid(format!(
                "messages[{index}].role {other:?} is invalid; use system, developer, user, assistant or tool"
            )));
        }
    };
    let content = content_text(index, message.content)?;
    let mut converted = ChatMessage::new(role, content);
    if let Some(calls) = message.tool_calls {
        if role != Role::Assistant {
            return Err(ApiError::invalid(format!(
                "messages[{index}]: only assistant messages may carry tool_calls"
            )));
        }
        converted.tool_calls = calls
            .into_iter()
            .map(|call| ToolCall {
                id: call.id,
                name: call.function.name,
                arguments: call.function.arguments,
            })
            .collect();
    }
    if role == Role::Tool {
        let Some(id) = message.tool_call_id.filter(|id| !id.is_empty()) else {
            return Err(ApiError::invalid(format!(
                "messages[{index}]: a tool message needs the tool_call_id of the call it answers"
            )));
        };
        converted.tool_call_id = Some(id);
    }
    Ok(converted)
}

/// Joins a message's text: a string, or the text of `text` (and assistant
/// `refusal`) parts, one part per line.
fn content_text(index: usize, content: Option<Value>) -> Result<String, ApiError> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(Value::String(text)) => return Ok(text),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "messages[{index}].content must be a string or an array of content parts"
            )));
        }
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (position, part) in parts.iter().enumerate() {
        let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
        let text = match kind {
            "text" => part.get("text").and_then(Value::as_str),
            "refusal" => part.get("refusal").and_then(Value::as_str),
            _ => {
                return Err(ApiError::invalid(format!(
                    "messages[{index}].content[{position}] has type {kind:?}; only text parts are supported"
                )));
            }
        };
        let Some(text) = text else {
            return Err(ApiError::invalid(format!(
                "messages[{index}].content[{position}] has no {kind} string"
            )));
        };
        texts.push(text);
    }
    Ok(texts.join("\n"))
}

/// Accepts each tool only in the `{"type":"function","function":{"name":...}}`
/// shape that the providers translate.
fn check_tools(tools: &[Value]) -> Result<(), ApiError> {
    for (index, tool) in tools.iter().enumerate() {
        let kind = tool.get("type").and_then(Value::as_str);
        if kind != Some("function") {
            return Err(ApiError::invalid(format!(
                "tools[{index}].type must be \"function\"; other tool types are not supported"
            )));
        }
        let named = tool
            .get("function")
            .and_then(|function| function.get("name"))
            .and_then(Value::as_str)
            .is_some_and(|name| !name.is_empty());
        if !named {
            return Err(ApiError::invalid(format!(
                "tools[{index}].function.name is missing"
            )));
        }
    }
    Ok(())
}

/// Accepts `tool_choice` only where it means the default: `auto`. The neutral
/// request has no field for it, so another choice could not be honoured.
fn check_tool_choice(choice: Option<&Value>) -> Result<(), ApiError> {
    match choice {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(choice)) if choice == "auto" => Ok(()),
        Some(other) => Err(ApiError::invalid(format!(
            "tool_choice {other} is not supported; hello-ship lets the model choose (\"auto\")"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(json: Value) -> Result<ChatMessage, ApiError> {
        convert_message(0, serde_json::from_value(json).unwrap())
    }

    #[test]
    fn content_parts_join_as_lines() {
        let converted = message(serde_json::json!({
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
        }))
        .unwrap();
        assert_eq!(converted.content, "one\ntwo");
        assert_eq!(converted.role, Role::User);
    }

    #[test]
    fn developer_role_is_system() {
        let converted = message(serde_json::json!({"role": "developer", "content": "be brief"}));
        assert_eq!(converted.unwrap().role, Role::System);
    }

    #[test]
    fn image_part_is_rejected() {
        let error = message(serde_json::json!({
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:"}}]
        }))
        .unwrap_err();
        assert!(format!("{error:?}").contains("image_url"), "{error:?}");
    }

    #[test]
    fn assistant_tool_calls_and_tool_result() {
        let assistant = message(serde_json::json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "add", "arguments": "{\"a\":1}"}}]
        }))
        .unwrap();
        assert_eq!(assistant.content, "");
        assert_eq!(assistant.tool_calls[0].id, "call_1");
        assert_eq!(assistant.tool_calls[0].name, "add");
        assert_eq!(assistant.tool_calls[0].arguments, "{\"a\":1}");

        let result = message(serde_json::json!({
            "role": "tool", "tool_call_id": "call_1", "content": "2"
        }))
        .unwrap();
        assert_eq!(result.role, Role::Tool);
        assert_eq!(result.tool_call_id.as_deref(), Some("call_1"));
    }

    #[test]
    fn tool_message_without_id_is_rejected() {
        assert!(message(serde_json::json!({"role": "tool", "content": "2"})).is_err());
    }

    #[test]
    fn tool_choice_auto_only() {
        assert!(check_tool_choice(None).is_ok());
        assert!(check_tool_choice(Some(&Value::from("auto"))).is_ok());
        assert!(check_tool_choice(Some(&Value::from("required"))).is_err());
    }

    #[test]
    fn non_function_tool_is_rejected() {
        let tools = [serde_json::json!({"type": "web_search"})];
        assert!(check_tools(&tools).is_err());
        let tools = [serde_json::json!({"type": "function", "function": {"name": "f"}})];
        assert!(check_tools(&tools).is_ok());
    }
}
