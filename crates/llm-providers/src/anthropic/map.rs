//! Mapping between the neutral chat types and Anthropic's wire types.

use shipped_core::{ChatRequest, Completion, FinishReason, Role, ToolCall, Usage};

use super::wire::{
    MessageResponse, MessagesRequest, RequestBlock, RequestMessage, RequestTool, ResponseBlock,
    WireUsage,
};
use crate::ProviderError;
use crate::tools::{arguments_object, function_specs, invalid_request};

/// Builds the request body. System messages become the top-level `system`
/// text; tool results travel in user messages, as Anthropic expects.
pub(crate) fn request_body<'a>(
    model: &'a str,
    chat: &ChatRequest,
    default_max_tokens: u32,
    stream: bool,
) -> Result<MessagesRequest<'a>, ProviderError> {
    let mut system: Vec<&str> = Vec::new();
    let mut messages = Vec::new();
    for message in &chat.messages {
        let (role, content) = match message.role {
            Role::System => {
                system.push(&message.content);
                continue;
            }
            Role::User => ("user", vec![text_block(&message.content)]),
            Role::Assistant => {
                let mut content = Vec::new();
                if !message.content.is_empty() {
                    content.push(text_block(&message.content));
                }
                for call in &message.tool_calls {
                    content.push(RequestBlock::ToolUse {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        input: arguments_object(&call.arguments)?,
                    });
                }
                ("assistant", content)
            }
            Role::Tool => {
                let tool_use_id = message
                    .tool_call_id
                    .clone()
                    .ok_or_else(|| invalid_request("a tool message has no tool_call_id"))?;
                let result = RequestBlock::ToolResult {
                    tool_use_id,
                    content: message.content.clone(),
                };
                ("user", vec![result])
            }
        };
        messages.push(RequestMessage { role, content });
    }
    let tools = function_specs(&chat.tools)?
        .into_iter()
        .map(|spec| RequestTool {
            name: spec.name,
            description: spec.description,
            input_schema: spec.parameters,
        })
        .collect();
    Ok(MessagesRequest {
        model,
        max_tokens: chat.max_tokens.unwrap_or(default_max_tokens),
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages,
        temperature: chat.temperature,
        tools,
        stream,
    })
}

fn text_block(text: &str) -> RequestBlock {
    RequestBlock::Text {
        text: text.to_owned(),
    }
}

/// Converts a complete response.
pub(crate) fn completion(response: MessageResponse, requested_model: &str) -> Completion {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in response.content {
        match block {
            ResponseBlock::Text { text: piece } => text.push_str(&piece),
            ResponseBlock::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                name,
                arguments: input.to_string(),
            }),
            ResponseBlock::Other => {}
        }
    }
    Completion {
        text,
        tool_calls,
        usage: usage(&response.usage.unwrap_or_default()),
        finish_reason: response
            .stop_reason
            .as_deref()
            .map_or(FinishReason::Stop, stop_reason),
        model: response.model.unwrap_or_else(|| requested_model.to_owned()),
    }
}

/// Normalises usage. Anthropic's `input_tokens` leaves out the tokens read
/// from and written to the prompt cache, so they are added back: [`Usage`]
/// counts every input token in `input_tokens`.
pub(crate) fn usage(wire: &WireUsage) -> Usage {
    let cache_read = wire.cache_read_input_tokens.unwrap_or(0);
    let cache_write = wire.cache_creation_input_tokens.unwrap_or(0);
    Usage {
        input_tokens: wire.input_tokens.unwrap_or(0) + cache_read + cache_write,
        output_tokens: wire.output_tokens.unwrap_or(0),
        cached_input_tokens: cache_read,
        cache_write_tokens: cache_write,
        reasoning_tokens: 0,
        estimated: false,
    }
}

/// Replaces the fields of `current` that `update` carries. Stream usage is
/// cumulative: a later value supersedes an earlier one and is never added.
pub(crate) fn merge_usage(current: &mut WireUsage, update: &WireUsage) {
    let WireUsage {
        input_tokens,
        output_tokens,
        cache_creation_input_tokens,
        cache_read_input_tokens,
    } = *update;
    current.input_tokens = input_tokens.or(current.input_tokens);
    current.output_tokens = output_tokens.or(current.output_tokens);
    current.cache_creation_input_tokens =
        cache_creation_input_tokens.or(current.cache_creation_input_tokens);
    current.cache_read_input_tokens = cache_read_input_tokens.or(current.cache_read_input_tokens);
}

/// Maps `stop_reason`. A reason this crate does not know ends the answer
/// normally.
pub(crate) fn stop_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}
