use std::fmt;
use std::future::Future;
use std::pin::Pin;

use futures_core::Stream;
use shipped_core::{ChatRequest, Completion, FinishReason, Usage};

use crate::ProviderError;

/// A boxed future that can move between threads, as the provider trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A streamed answer: events in order, ending with exactly one
/// [`StreamEvent::Finish`] on success or with an `Err` on failure.
///
/// A stream that ends without either was cut short; consumers treat that as
/// [`UpstreamErrorKind::StreamTruncated`](shipped_core::UpstreamErrorKind::StreamTruncated).
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

/// One step of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A piece of answer text; never empty.
    Text(String),
    /// A fragment of a tool call, to be assembled by `index`.
    ToolCall(ToolCallDelta),
    /// Usage so far. Each event replaces the previous one: providers report
    /// cumulative counts, so adding them up would count tokens twice.
    Usage(Usage),
    /// The model finished; no event follows.
    Finish(FinishReason),
}

/// A fragment of a streamed tool call. `None` means "no change" to that field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolCallDelta {
    /// Position of the call among the answer's tool calls.
    pub index: u32,
    /// The call id, sent once.
    pub id: Option<String>,
    /// The function name, sent once.
    pub name: Option<String>,
    /// A fragment of the arguments text, appended to what came before.
    pub arguments: Option<String>,
}

/// A request as a provider sees it: the provider's own model id plus the chat.
///
/// ```
/// use llm_providers::ProviderRequest;
/// use shipped_core::{ChatMessage, ChatRequest};
///
/// let request = ProviderRequest::new("gpt-4o-mini", ChatRequest::new(vec![ChatMessage::user("hi")]));
/// assert_eq!(request.model, "gpt-4o-mini");
/// ```
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    /// The provider's model id, e.g. `gpt-4o-mini`.
    pub model: String,
    /// The conversation, with `max_tokens` already set to the effective cap.
    pub chat: ChatRequest,
    /// W3C `traceparent` header value to send along.
    pub traceparent: Option<String>,
    /// Request id sent to the provider for correlation, when it accepts one.
    pub request_id: Option<String>,
}

impl ProviderRequest {
    /// Creates a request for `model` with no trace context.
    pub fn new(model: impl Into<String>, chat: ChatRequest) -> Self {
        Self {
            model: model.into(),
            chat,
            traceparent: None,
            request_id: None,
        }
    }
}

/// An LLM provider: OpenAI, Anthropic, Bedrock, or the [`mock`](crate::mock).
///
/// The trait is object safe so that a route table can hold `Arc<dyn Provider>`.
/// Implementations keep their HTTP client and credentials inside; the returned
/// stream owns what it needs and borrows nothing from the provider. Dropping a
/// future or a stream cancels the upstream call.
pub trait Provider: Send + Sync + fmt::Debug {
    /// Short name of the provider kind, used in logs: `openai`, `anthropic`, `mock`.
    fn kind(&self) -> &'static str;

    /// Makes a complete call and returns the whole answer.
    fn complete<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;

    /// Starts a streaming call. The future resolves once the provider accepted the
    /// request (HTTP headers received); events then arrive on the stream.
    fn stream<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>>;
}
