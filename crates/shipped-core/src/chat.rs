use serde::{Deserialize, Serialize};

use crate::{FinishReason, Usage};

/// Author of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call, sent back to the model.
    Tool,
}

impl Role {
    /// Returns the role's wire name, as OpenAI and Anthropic spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A tool invocation requested by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id that the tool result must quote.
    pub id: String,
    /// Name of the function to call.
    pub name: String,
    /// Arguments as the model wrote them: a JSON document in text form.
    pub arguments: String,
}

/// One message of a conversation.
///
/// ```
/// use shipped_core::{ChatMessage, Role};
///
/// let message = ChatMessage::user("What is the capital of France?");
/// assert_eq!(message.role, Role::User);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author of the message.
    pub role: Role,
    /// The message text; empty for an assistant message that only calls tools.
    pub content: String,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a [`Role::Tool`] message, the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// Creates a message with the given role and text.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// Creates a user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// Creates a system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// Creates an assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// A provider-neutral chat request.
///
/// `max_tokens` here is what the caller asked for; the server replaces it with the
/// effective cap before any provider sees the request.
///
/// ```
/// use shipped_core::{ChatMessage, ChatRequest};
///
/// let mut request = ChatRequest::new(vec![ChatMessage::user("hi")]);
/// request.max_tokens = Some(64);
/// assert_eq!(request.total_chars(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation so far, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Maximum number of output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, passed through unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Tool definitions in OpenAI's `{"type":"function","function":{...}}` shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
}

impl ChatRequest {
    /// Creates a request for the given messages with no token cap, temperature or tools.
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }

    /// Text of the most recent user message, if any.
    pub fn last_user_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
    }

    /// Number of characters over all message texts, the unit of the input size limit.
    pub fn total_chars(&self) -> usize {
        self.messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum()
    }
}

/// A complete (non-streamed) answer from a provider.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Completion {
    /// The answer text.
    pub text: String,
    /// Tool calls the model requested.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Tokens consumed, as the provider reported them or as estimated.
    pub usage: Usage,
    /// Reason the model stopped.
    pub finish_reason: FinishReason,
    /// Model id the provider reports for the answer.
    pub model: String,
}
