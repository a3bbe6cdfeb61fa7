//! Reading an Anthropic messages body into the neutral chat request.
//!
//! Content blocks map onto the neutral messages. `tool_use` blocks become the
//! assistant message's tool calls, and tools become OpenAI's function shape.
//! Each `tool_result` block becomes a tool message placed before the user's
//! text, because OpenAI expects tool results right after the call.
//! Sampling fields hello-ship cannot honour (`top_p`, `top_k`,
//! `stop_sequences`, ...) are accepted and ignored; images, documents,
//! server tools and a forced `tool_choice` are rejected with a 400.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use shipped_core::{ApiErrorKind, ChatMessage, ChatRequest, RequestContext, Role, ToolCall};

use crate::app::App;
use crate::routes::input::{ChatInput, check_messages, label, parse_json_object};
use crate::server::response::ApiError;

/// The body of `POST /v1/messages`.
#[derive(Debug, Deserialize)]
struct MessagesBody {
    model: String,
    max_tokens: u32,
    messages: Vec<WireMessage>,
    system: Option<Value>,
    temperature: Option<f32>,
    stream: Option<bool>,
    metadata: Option<Metadata>,
    tools: Option<Vec<WireTool>>,
    tool_choice: Option<Value>,
    /// Every other field, by name only, for the log.
    #[serde(flatten)]
    ignored: BTreeMap<String, IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    /// A string or an array of content blocks.
    content: Value,
}

#[derive(Debug, Deserialize)]
struct WireTool {
    /// Absent or `custom` for a client tool; server tools name their version.
    #[serde(rename = "type")]
    kind: Option<String>,
    name: String,
    description: Option<String>,
    input_schema: Option<Value>,
}

/// Parses and validates the body. The model must be a configured alias:
/// anything else is a 404 `not_found_error`, as Anthropic's API returns.
pub(crate) fn read_input(
    app: &App,
    bytes: &[u8],
    mut context: RequestContext,
) -> Result<ChatInput, ApiError> {
    let body: MessagesBody = parse_json_object(
        bytes,
        r#"{"model": "default", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello"}]}"#,
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
                "model: {:?} does not exist; configured models: {}",
                context.model,
                app.alias_names().join(", ")
            ),
        ));
    }
    context.user_id = label(body.metadata.and_then(|m| m.user_id), "metadata.user_id")?;
    context.stream = body.stream.unwrap_or(false);

    if body.max_tokens == 0 {
        return Err(ApiError::invalid("max_tokens: must be at least 1"));
    }
    if let Some(temperature) = body.temperature {
        if !(0.0..=1.0).contains(&temperature) {
            return Err(ApiError::invalid(format!(
                "temperature: {temperature} is out of range; use a value from 0 to 1"
            )));
        }
    }
    check_tool_choice(body.tool_choice.as_ref())?;
    let tools = body
        .tools
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, tool)| function_tool(index, tool))
        .collect::<Result<Vec<_>, _>>()?;

    let mut messages = Vec::new();
    if let Some(system) = body.system {
        let text = text_of(system, "system")?;
        if !text.is_empty() {
            messages.push(ChatMessage::system(text));
        }
    }
    for (index, message) in body.messages.into_iter().enumerate() {
        convert_message(index, message, &mut messages)?;
    }
    check_messages(&messages, app.config.file.server.max_message_chars)?;

    let mut chat = ChatRequest::new(messages);
    chat.max_tokens = Some(body.max_tokens);
    chat.temperature = body.temperature;
    chat.tools = tools;
    Ok(ChatInput { context, chat })
}

/// Appends the neutral messages of one Anthropic message to `out`.
fn convert_message(
    index: usize,
    message: WireMessage,
    out: &mut Vec<ChatMessage>,
) -> Result<(), ApiError> {
    let role = match message.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(ApiError::invalid(format!(
                "messages.{index}.role: {other:?} is invalid; use user or assistant (system text goes in the top-level system field)"
            )));
        }
    };
    let blocks = match message.content {
        Value::String(text) => {
            out.push(ChatMessage::new(role, text));
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(ApiError::invalid(format!(
                "messages.{index}.content: must be a string or an array of content blocks"
            )));
        }
    };

    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for (position, block) in blocks.into_iter().enumerate() {
        let at = || format!("messages.{index}.content.{position}");
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        match (role, kind) {
            (_, "text") => {
                let text = block.get("text").and_then(Value::as_str);
                let text =
                    text.ok_or_else(|| ApiError::invalid(format!("{}.text: missing", at())))?;
                texts.push(text.to_owned());
            }
            (Role::Assistant, "tool_use") => tool_calls.push(tool_use(&block, &at())?),
            (Role::User, "tool_result") => out.push(tool_result(block, &at())?),
            // Thinking blocks that a client sends back have no neutral
            // equivalent, so they are dropped.
            (Role::Assistant, "thinking" | "redacted_thinking") => {}
            _ => {
                return Err(ApiError::invalid(format!(
                    "{}: content blocks of type {kind:?} are not supported in {} messages",
                    at(),
                    role.as_str()
                )));
            }
        }
    }
    if !texts.is_empty() || !tool_calls.is_empty() {
        let mut converted = ChatMessage::new(role, texts.join("\n"));
        converted.tool_calls = tool_calls;
        out.push(converted);
    }
    Ok(())
}

fn tool_use(block: &Value, at: &str) -> Result<ToolCall, ApiError> {
    let field = |name: &str| {
        block
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::invalid(format!("{at}.{name}: missing")))
    };
    let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
    Ok(ToolCall {
        id: field("id")?,
        name: field("name")?,
        arguments: input.to_string(),
    })
}

fn tool_result(block: Value, at: &str) -> Result<ChatMessage, ApiError> {
    let Some(id) = block.get("tool_use_id").and_then(Value::as_str) else {
        return Err(ApiError::invalid(format!("{at}.tool_use_id: missing")));
    };
    let id = id.to_owned();
    // NOTE: `is_error` is dropped, because the neutral tool message has no
    // field for it; the result text reaches the model unchanged.
    let content = match block.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(content) => text_of(content.clone(), &format!("{at}.content"))?,
    };
    let mut message = ChatMessage::new(Role::Tool, content);
    message.tool_call_id = Some(id);
    Ok(message)
}

/// Joins a string or an array of text blocks, one block per line.
fn text_of(value: Value, at: &str) -> Result<String, ApiError> {
    let blocks = match value {
        Value::String(text) => return Ok(text),
        Value::Array(blocks) => blocks,
        _ => {
            return Err(ApiError::invalid(format!(
                "{at}: must be a string or an array of text blocks"
            )));
        }
    };
    let mut texts = Vec::with_capacity(blocks.len());
    for (position, block) in blocks.iter().enumerate() {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        let text = block.get("text").and_then(Value::as_str);
        match (kind, text) {
            ("text", Some(text)) => texts.push(text),
            _ => {
                return Err(ApiError::invalid(format!(
                    "{at}.{position}: only text blocks are supported here, got {kind:?}"
                )));
            }
        }
    }
    Ok(texts.join("\n"))
}

/// Translates a client tool to OpenAI's function shape, the shape of
/// [`ChatRequest::tools`].
fn function_tool(index: usize, tool: WireTool) -> Result<Value, ApiError> {
    if let Some(kind) = tool.kind.as_deref().filter(|kind| *kind != "custom") {
        return Err(ApiError::invalid(format!(
            "tools.{index}.type: server tools such as {kind:?} are not supported; define client tools with name and input_schema"
        )));
    }
    if tool.name.is_empty() {
        return Err(ApiError::invalid(format!(
            "tools.{index}.name: must not be empty"
        )));
    }
    let mut function = json!({
        "name": tool.name,
        "parameters": tool.input_schema.unwrap_or_else(|| json!({"type": "object"})),
    });
    if let Some(description) = tool.description {
        function["description"] = Value::String(description);
    }
    Ok(json!({"type": "function", "function": function}))
}

/// Accepts `tool_choice` only where it means the default: `auto`. The neutral
/// request has no field for it, so another choice could not be honoured.
fn check_tool_choice(choice: Option<&Value>) -> Result<(), ApiError> {
    let Some(choice) = choice else {
        return Ok(());
    };
    match choice.get("type").and_then(Value::as_str) {
        Some("auto") => Ok(()),
        _ => Err(ApiError::invalid(format!(
            "tool_choice: {choice} is not supported; hello-ship lets the model choose ({{\"type\": \"auto\"}})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(json: Value) -> Result<Vec<ChatMessage>, ApiError> {
        let mut out = Vec::new();
        convert_message(0, serde_json::from_value(json).unwrap(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn tool_use_becomes_tool_call() {
        let out = convert(json!({"role": "assistant", "content": [
            {"type": "text", "text": "Let me add."},
            {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1}}
        ]}))
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].content, "Let me add.");
        assert_eq!(out[0].tool_calls[0].id, "toolu_1");
        assert_eq!(out[0].tool_calls[0].name, "add");
        assert_eq!(out[0].tool_calls[0].arguments, r#"{"a":1}"#);
    }

    #[test]
    fn tool_results_come_before_user_text() {
        let out = convert(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1",
                "content": [{"type": "text", "text": "2"}]},
            {"type": "text", "text": "Thanks."}
        ]}))
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].role, Role::Tool);
        assert_eq!(out[0].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(out[0].content, "2");
        assert_eq!(out[1].role, Role::User);
        assert_eq!(out[1].content, "Thanks.");
    }

    #[test]
    fn image_block_is_rejected() {
        let error = convert(json!({"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "data": ""}}
        ]}))
        .unwrap_err();
        assert!(format!("{error:?}").contains("image"), "{error:?}");
    }

    #[test]
    fn tool_translates_to_function_shape() {
        let tool = WireTool {
            kind: None,
            name: "add".to_owned(),
            description: Some("Adds".to_owned()),
            input_schema: Some(json!({"type": "object", "properties": {}})),
        };
        assert_eq!(
            function_tool(0, tool).unwrap(),
            json!({"type": "function", "function": {"name": "add", "description": "Adds",
                "parameters": {"type": "object", "properties": {}}}})
        );
    }

    #[test]
    fn server_tool_is_rejected() {
        let tool = WireTool {
            kind: Some("web_search_20250305".to_owned()),
            name: "web_search".to_owned(),
            description: None,
            input_schema: None,
        };
        assert!(function_tool(0, tool).is_err());
    }

    #[test]
    fn tool_choice_auto_only() {
        assert!(check_tool_choice(None).is_ok());
        assert!(check_tool_choice(Some(&json!({"type": "auto"}))).is_ok());
        assert!(check_tool_choice(Some(&json!({"type": "any"}))).is_err());
    }

    #[test]
    fn system_blocks_join() {
        let text = text_of(
            json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]),
            "system",
        );
        assert_eq!(text.unwrap(), "a\nb");
    }
}
