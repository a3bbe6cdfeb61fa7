//! Mapping between the neutral chat types and OpenAI's wire types.

use shipped_core::{ChatRequest, Completion, FinishReason, Role, ToolCall, Usage};

use super::TokenLimitField;
use super::wire::{
    ChatCompletion, ChatCompletionRequest, RequestFunction, RequestMessage, RequestToolCall,
    StreamOptions, WireUsage,
};
use crate::ProviderError;
use crate::transport::malformed;

/// Builds the request body. A streaming request also requests the usage chunk.
pub(crate) fn request_body<'a>(
    model: &'a str,
    chat: &'a ChatRequest,
    token_limit: TokenLimitField,
    stream: bool,
) -> ChatCompletionRequest<'a> {
    let messages = chat
        .messages
        .iter()
        .map(|message| RequestMessage {
            role: message.role.as_str(),
            content: match message.role {
                Role::Assistant if message.content.is_empty() && !message.tool_calls.is_empty() => {
                    None
                }
                Role::System | Role::User | Role::Assistant | Role::Tool => {
                    Some(message.content.as_str())
                }
            },
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| RequestToolCall {
                    id: &call.id,
                    kind: "function",
                    function: RequestFunction {
                        name: &call.name,
                        arguments: &call.arguments,
                    },
                })
                .collect(),
            tool_call_id: message.tool_call_id.as_deref(),
        })
        .collect();
    let (max_tokens, max_completion_tokens) = match token_limit {
        TokenLimitField::MaxTokens => (chat.max_tokens, None),
        TokenLimitField::MaxCompletionTokens => (None, chat.max_tokens),
    };
    ChatCompletionRequest {
        model,
        messages,
        max_tokens,
        max_completion_tokens,
        temperature: chat.temperature,
        tools: &chat.tools,
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
    }
}

/// Converts a complete response. Only the first choice is read, because
/// hello-ship never requests more than one.
pub(crate) fn completion(
    response: ChatCompletion,
    requested_model: &str,
) -> Result<Completion, ProviderError> {
    if let Some(error) = &response.error {
        return Err(super::stream::chunk_error(error));
    }
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| malformed("the completion has no choices"))?;
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| ToolCall {
            id: call.id.unwrap_or_default(),
            name: call.function.name.unwrap_or_default(),
            arguments: call.function.arguments.unwrap_or_default(),
        })
        .collect();
    Ok(Completion {
        text: choice.message.content.unwrap_or_default(),
        tool_calls,
        usage: response.usage.map(usage).unwrap_or_default(),
        finish_reason: choice
            .finish_reason
            .as_deref()
            .map_or(FinishReason::Stop, finish_reason),
        model: response.model.unwrap_or_else(|| requested_model.to_owned()),
    })
}

/// Normalises usage. OpenAI's `prompt_tokens` already counts cached tokens and
/// `completion_tokens` counts reasoning tokens, as [`Usage`] expects.
pub(crate) fn usage(wire: WireUsage) -> Usage {
    Usage {
        input_tokens: wire.prompt_tokens.unwrap_or(0),
        output_tokens: wire.completion_tokens.unwrap_or(0),
        cached_input_tokens: wire
            .prompt_tokens_details
            .and_then(|details| details.cached_tokens)
            .unwrap_or(0),
        cache_write_tokens: 0,
        reasoning_tokens: wire
            .completion_tokens_details
            .and_then(|details| details.reasoning_tokens)
            .unwrap_or(0),
        estimated: false,
    }
}

/// Maps `finish_reason`. A reason this crate does not know ends the answer
/// normally.
pub(crate) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}
