use serde::{Deserialize, Serialize};

/// Why a model stopped producing output, in OpenAI's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its answer (Anthropic `end_turn`, `stop_sequence`).
    #[default]
    Stop,
    /// The output-token cap was reached (Anthropic `max_tokens`).
    Length,
    /// The model called tools (Anthropic `tool_use`).
    ToolCalls,
    /// A provider or hello-ship filter withheld content.
    ContentFilter,
}

impl FinishReason {
    /// The wire name, as in OpenAI's `finish_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}
