//! OpenAI Chat Completions wire types, as sent and received.
//!
//! Response fields are `Option` wherever a compatible server may leave them out
//! or send `null`: both mean "absent". Unknown fields, such as `obfuscation`,
//! are ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `POST /chat/completions`.
#[derive(Debug, Serialize)]
pub(crate) struct ChatCompletionRequest<'a> {
    pub(crate) model: &'a str,
    pub(crate) messages: Vec<RequestMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(crate) tools: &'a [Value],
    pub(crate) stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stream_options: Option<StreamOptions>,
}

#[derive(Debug, Serialize)]
pub(crate) struct StreamOptions {
    pub(crate) include_usage: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct RequestMessage<'a> {
    pub(crate) role: &'static str,
    /// `null` for an assistant message that only calls tools.
    pub(crate) content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tool_calls: Vec<RequestToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_call_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RequestToolCall<'a> {
    pub(crate) id: &'a str,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) function: RequestFunction<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RequestFunction<'a> {
    pub(crate) name: &'a str,
    pub(crate) arguments: &'a str,
}

/// A complete `chat.completion` response.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatCompletion {
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) choices: Vec<Choice>,
    pub(crate) usage: Option<WireUsage>,
    /// An error that some compatible servers return with status 200.
    pub(crate) error: Option<StreamError>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Choice {
    pub(crate) message: ResponseMessage,
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResponseMessage {
    pub(crate) content: Option<String>,
    pub(crate) tool_calls: Option<Vec<ResponseToolCall>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResponseToolCall {
    pub(crate) id: Option<String>,
    pub(crate) function: ResponseFunction,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResponseFunction {
    pub(crate) name: Option<String>,
    pub(crate) arguments: Option<String>,
}

/// Token usage, in a complete response and in the last streamed chunk.
#[derive(Debug, Deserialize)]
pub(crate) struct WireUsage {
    pub(crate) prompt_tokens: Option<u64>,
    pub(crate) completion_tokens: Option<u64>,
    pub(crate) prompt_tokens_details: Option<PromptTokensDetails>,
    pub(crate) completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PromptTokensDetails {
    pub(crate) cached_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CompletionTokensDetails {
    pub(crate) reasoning_tokens: Option<u64>,
}

/// One `chat.completion.chunk` of a stream.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatCompletionChunk {
    /// Empty in the final usage chunk.
    #[serde(default)]
    pub(crate) choices: Vec<ChunkChoice>,
    pub(crate) usage: Option<WireUsage>,
    /// An error some servers (vLLM, LiteLLM) send inside the stream.
    pub(crate) error: Option<StreamError>,
    /// `error` when an older vLLM sends its error object as the chunk itself.
    pub(crate) object: Option<String>,
    pub(crate) message: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub(crate) index: u32,
    pub(crate) delta: Option<Delta>,
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Delta {
    pub(crate) content: Option<String>,
    pub(crate) tool_calls: Option<Vec<ToolCallChunk>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallChunk {
    pub(crate) index: Option<u32>,
    pub(crate) id: Option<String>,
    pub(crate) function: Option<FunctionChunk>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FunctionChunk {
    pub(crate) name: Option<String>,
    pub(crate) arguments: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StreamError {
    pub(crate) message: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    /// A string for OpenAI, a number for some compatible servers.
    pub(crate) code: Option<Value>,
}
