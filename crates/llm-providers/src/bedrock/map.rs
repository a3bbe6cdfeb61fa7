//! Mapping between the neutral chat types and Bedrock's Converse wire types.

use shipped_core::{ChatRequest, Completion, FinishReason, Role, ToolCall, Usage};

use super::wire::{
    ContentBlock, ConverseRequest, ConverseResponse, InferenceConfig, InputSchema, Message,
    SystemBlock, Tool, ToolConfig, ToolResult, ToolResultContent, ToolSpec, ToolUse, WireUsage,
};
use crate::ProviderError;
use crate::tools::{arguments_object, function_specs, invalid_request};

/// Builds the request body; streaming and complete calls share it.
pub(crate) fn request_body(chat: &ChatRequest) -> Result<ConverseRequest, ProviderError> {
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for message in &chat.messages {
        let (role, content) = match message.role {
            Role::System => {
                system.push(SystemBlock {
                    text: message.content.clone(),
                });
                continue;
            }
            Role::User => ("user", vec![ContentBlock::Text(message.content.clone())]),
            Role::Assistant => {
                let mut content = Vec::new();
                if !message.content.is_empty() {
                    content.push(ContentBlock::Text(message.content.clone()));
                }
                for call in &message.tool_calls {
                    content.push(ContentBlock::ToolUse(ToolUse {
                        tool_use_id: call.id.clone(),
                        name: call.name.clone(),
                        input: arguments_object(&call.arguments)?,
                    }));
                }
                ("assistant", content)
            }
            Role::Tool => {
                let tool_use_id = message
                    .tool_call_id
                    .clone()
                    .ok_or_else(|| invalid_request("a tool message has no tool_call_id"))?;
                let result = ContentBlock::ToolResult(ToolResult {
                    tool_use_id,
                    content: vec![ToolResultContent {
                        text: message.content.clone(),
                    }],
                });
                ("user", vec![result])
            }
        };
        messages.push(Message { role, content });
    }
    let tools: Vec<Tool> = function_specs(&chat.tools)?
        .into_iter()
        .map(|spec| Tool {
            tool_spec: ToolSpec {
                name: spec.name,
                description: spec.description,
                input_schema: InputSchema {
                    json: spec.parameters,
                },
            },
        })
        .collect();
    Ok(ConverseRequest {
        messages,
        system,
        inference_config: InferenceConfig {
            max_tokens: chat.max_tokens,
            temperature: chat.temperature,
        },
        tool_config: (!tools.is_empty()).then_some(ToolConfig { tools }),
    })
}

/// Converts a complete response.
pub(crate) fn completion(response: ConverseResponse, model: &str) -> Completion {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    let blocks = response
        .output
        .and_then(|output| output.message)
        .map(|message| message.content)
        .unwrap_or_default();
    for block in blocks {
        if let Some(piece) = block.text {
            text.push_str(&piece);
        }
        if let Some(tool_use) = block.tool_use {
            tool_calls.push(ToolCall {
                id: tool_use.tool_use_id,
                name: tool_use.name,
                arguments: tool_use
                    .input
                    .map_or_else(|| "{}".to_owned(), |input| input.to_string()),
            });
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
        model: model.to_owned(),
    }
}

/// Normalises usage.
///
/// NOTE: this assumes that Bedrock's `inputTokens`, like Anthropic's
/// `input_tokens`, leaves out cache reads and writes, so they are added back.
pub(crate) fn usage(wire: &WireUsage) -> Usage {
    let cache_read = wire.cache_read_input_tokens.unwrap_or(0);
    let cache_write = wire.cache_write_input_tokens.unwrap_or(0);
    Usage {
        input_tokens: wire.input_tokens.unwrap_or(0) + cache_read + cache_write,
        output_tokens: wire.output_tokens.unwrap_or(0),
        cached_input_tokens: cache_read,
        cache_write_tokens: cache_write,
        reasoning_tokens: 0,
        estimated: false,
    }
}

/// Maps `stopReason`. A reason this crate does not know ends the answer
/// normally.
pub(crate) fn stop_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}
