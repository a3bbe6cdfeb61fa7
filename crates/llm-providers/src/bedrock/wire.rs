//! Bedrock Converse wire types, as sent and received.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `POST /model/{modelId}/converse` and `/converse-stream`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConverseRequest {
    pub(crate) messages: Vec<Message>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) system: Vec<SystemBlock>,
    pub(crate) inference_config: InferenceConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_config: Option<ToolConfig>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Message {
    pub(crate) role: &'static str,
    pub(crate) content: Vec<ContentBlock>,
}

/// One content block: exactly one of its variants' keys is set on the wire.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ContentBlock {
    Text(String),
    ToolUse(ToolUse),
    ToolResult(ToolResult),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolUse {
    pub(crate) tool_use_id: String,
    pub(crate) name: String,
    pub(crate) input: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolResult {
    pub(crate) tool_use_id: String,
    pub(crate) content: Vec<ToolResultContent>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ToolResultContent {
    pub(crate) text: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct SystemBlock {
    pub(crate) text: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InferenceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ToolConfig {
    pub(crate) tools: Vec<Tool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Tool {
    pub(crate) tool_spec: ToolSpec,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolSpec {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    pub(crate) input_schema: InputSchema,
}

#[derive(Debug, Serialize)]
pub(crate) struct InputSchema {
    pub(crate) json: Value,
}

/// A complete Converse response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConverseResponse {
    pub(crate) output: Option<Output>,
    pub(crate) stop_reason: Option<String>,
    pub(crate) usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Output {
    pub(crate) message: Option<OutputMessage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OutputMessage {
    #[serde(default)]
    pub(crate) content: Vec<OutputBlock>,
}

/// A response content block. Blocks other than text and tool use (reasoning,
/// citations) deserialize with both fields empty.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutputBlock {
    pub(crate) text: Option<String>,
    pub(crate) tool_use: Option<OutputToolUse>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutputToolUse {
    pub(crate) tool_use_id: String,
    pub(crate) name: String,
    pub(crate) input: Option<Value>,
}

/// Token usage, in a complete response and in the stream's `metadata` event.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireUsage {
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
    pub(crate) cache_read_input_tokens: Option<u64>,
    pub(crate) cache_write_input_tokens: Option<u64>,
}

/// `contentBlockStart`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContentBlockStart {
    pub(crate) content_block_index: u32,
    pub(crate) start: Option<BlockStart>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockStart {
    pub(crate) tool_use: Option<StartToolUse>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartToolUse {
    pub(crate) tool_use_id: String,
    pub(crate) name: String,
}

/// `contentBlockDelta`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContentBlockDelta {
    pub(crate) content_block_index: u32,
    pub(crate) delta: Option<BlockDelta>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockDelta {
    pub(crate) text: Option<String>,
    pub(crate) tool_use: Option<ToolUseDelta>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolUseDelta {
    pub(crate) input: Option<String>,
}

/// `contentBlockStop`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContentBlockStop {
    pub(crate) content_block_index: u32,
}

/// `messageStop`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageStop {
    pub(crate) stop_reason: Option<String>,
}

/// `metadata`, the last event of a stream.
#[derive(Debug, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) usage: Option<WireUsage>,
}

/// The payload of an exception frame.
#[derive(Debug, Deserialize)]
pub(crate) struct ExceptionPayload {
    pub(crate) message: Option<String>,
}
