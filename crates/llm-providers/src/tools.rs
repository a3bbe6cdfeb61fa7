//! Tool definitions and streamed tool calls, shared by the providers.

use std::collections::BTreeMap;

use serde_json::Value;
use shipped_core::{ToolCall, UpstreamErrorKind};

use crate::{ProviderError, ToolCallDelta};

/// Assembles streamed [`ToolCallDelta`]s into whole [`ToolCall`]s.
///
/// Deltas are grouped by `index`. The first `id` and `name` seen for an index
/// are kept, because a later `None` means "no change"; argument fragments are
/// appended in order.
///
/// ```
/// use llm_providers::{ToolCallAssembler, ToolCallDelta};
///
/// let mut calls = ToolCallAssembler::new();
/// calls.push(&ToolCallDelta { index: 0, id: Some("call_1".into()), name: Some("add".into()), arguments: None });
/// calls.push(&ToolCallDelta { index: 0, arguments: Some("{\"a\":".into()), ..Default::default() });
/// calls.push(&ToolCallDelta { index: 0, arguments: Some("1}".into()), ..Default::default() });
///
/// let calls = calls.finish();
/// assert_eq!(calls[0].name, "add");
/// assert_eq!(calls[0].arguments, "{\"a\":1}");
/// ```
#[derive(Debug, Default, Clone)]
pub struct ToolCallAssembler {
    calls: BTreeMap<u32, ToolCall>,
}

impl ToolCallAssembler {
    /// Creates an assembler with no calls.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one delta.
    pub fn push(&mut self, delta: &ToolCallDelta) {
        let call = self.calls.entry(delta.index).or_insert_with(|| ToolCall {
            id: String::new(),
            name: String::new(),
            arguments: String::new(),
        });
        if let Some(id) = delta.id.as_deref().filter(|id| !id.is_empty()) {
            if call.id.is_empty() {
                call.id = id.to_owned();
            }
        }
        if let Some(name) = delta.name.as_deref().filter(|name| !name.is_empty()) {
            if call.name.is_empty() {
                call.name = name.to_owned();
            }
        }
        if let Some(arguments) = &delta.arguments {
            call.arguments.push_str(arguments);
        }
    }

    /// Returns `true` if no delta was pushed.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Returns the calls in index order.
    pub fn finish(self) -> Vec<ToolCall> {
        self.calls.into_values().collect()
    }
}

/// A function tool read from OpenAI's `{"type":"function","function":{...}}`
/// shape, the shape of [`ChatRequest::tools`](shipped_core::ChatRequest::tools).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FunctionSpec {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// The JSON Schema of the arguments; an empty object schema when absent.
    pub(crate) parameters: Value,
}

/// Reads the tool definitions of a request.
///
/// # Errors
///
/// Fails with [`UpstreamErrorKind::InvalidRequest`] for a tool without a
/// function name.
pub(crate) fn function_specs(tools: &[Value]) -> Result<Vec<FunctionSpec>, ProviderError> {
    tools
        .iter()
        .map(|tool| {
            let function = tool.get("function").unwrap_or(tool);
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid_request("a tool definition has no function name"))?;
            Ok(FunctionSpec {
                name: name.to_owned(),
                description: function
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                parameters: function
                    .get("parameters")
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({"type": "object"})),
            })
        })
        .collect()
}

/// Parses the arguments text of a tool call made earlier in the conversation,
/// for providers that take them as a JSON object. Empty text is `{}`.
pub(crate) fn arguments_object(arguments: &str) -> Result<Value, ProviderError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(arguments)
        .map_err(|_| invalid_request("the arguments of a tool call are not valid JSON"))
}

/// Creates the error for a request that cannot be translated for the provider.
pub(crate) fn invalid_request(reason: &'static str) -> ProviderError {
    ProviderError::new(UpstreamErrorKind::InvalidRequest)
        .with_source(crate::transport::ProtocolError::new(reason))
}
