//! Streaming over a chain: transparent failover before the stream commits, a
//! typed terminal failure after it.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::StreamExt;
use llm_providers::ToolCallDelta;
use shipped_core::{FinishReason, IncidentId, UpstreamErrorKind, Usage};

use self::driver::Driver;
use crate::Degraded;
use crate::chain::{ChainRequest, FallbackTier, Inner};

mod driver;

/// When a [`ResilientStream`] stops failing over silently.
///
/// Before the stream commits, a failed attempt is retried or falls back and
/// the caller sees only [`ChainEvent::Attempt`] (and [`ChainEvent::Rollback`]
/// if output of the failed attempt was already yielded). After it commits, a
/// failure ends the stream with [`ChainEvent::Failed`], or with continuation
/// mode on, the next route continues the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// The stream commits when it yields its first text or tool call. Use it
    /// when every event is forwarded to the client as it arrives.
    #[default]
    FirstOutput,
    /// The stream commits when the caller calls
    /// [`ResilientStream::mark_committed`]. Use it when the caller buffers
    /// output, e.g. in a sentence buffer for output guardrails: call
    /// `mark_committed` just before the first byte of answer reaches the
    /// client.
    Manual,
}

/// One item of a [`ResilientStream`]. The stream ends after
/// [`Finish`](Self::Finish), [`Degraded`](Self::Degraded) or
/// [`Failed`](Self::Failed); nothing follows them.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainEvent {
    /// An attempt starts, for logging; a later attempt means a retry or a
    /// fallback.
    Attempt(Attempt),
    /// A piece of answer text; never empty.
    Text(String),
    /// A fragment of a tool call.
    ToolCall(ToolCallDelta),
    /// Usage of the current attempt so far; each event replaces the previous
    /// one of the same attempt, and a new attempt starts from zero.
    // NOTE: an attempt that fails before its provider reports usage yields no
    // Usage event, so tokens it produced (possibly already forwarded) must be
    // estimated by the caller from the text it received.
    Usage(Usage),
    /// The attempt that yielded output since the last [`Attempt`](Self::Attempt)
    /// failed before the stream committed: discard that text, those tool
    /// calls and that usage. Only sent in [`CommitMode::Manual`].
    Rollback,
    /// The answer is complete.
    Finish(StreamEnd),
    /// Every route failed before the stream committed: send the degraded
    /// answer.
    Degraded(Degraded),
    /// The stream failed. Output already forwarded stays with the client; send
    /// the error frame with `kind.stream_error_code()`. With
    /// `tokens_emitted == 0` and nothing forwarded yet, the caller may still
    /// answer with an HTTP status instead: a kind that cannot fall back or
    /// [`UpstreamErrorKind::ContextLengthExceeded`] is a client error, every
    /// other kind means the service is unavailable (degraded answers off).
    Failed(StreamFailure),
}

/// The start of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Name of the route called.
    pub route: String,
    /// The route's model id.
    pub model: String,
    /// Provider calls of this request so far, this one included.
    pub attempt: u32,
    /// The route's tier.
    pub tier: FallbackTier,
    /// Whether the route is asked to continue a partial answer.
    pub continuation: bool,
}

/// The end of a successful stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    /// The reason the model stopped.
    pub finish_reason: FinishReason,
    /// Name of the route that finished the answer.
    pub route: String,
    /// The route's tier.
    pub tier: FallbackTier,
    /// Provider calls made.
    pub attempts: u32,
}

/// A stream that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFailure {
    /// The kind of failure.
    pub kind: UpstreamErrorKind,
    /// Id for the error frame and the logs.
    pub incident_id: IncidentId,
    /// Text events yielded and not rolled back.
    pub tokens_emitted: u64,
    /// Name of the last route called, if any.
    pub route: Option<String>,
}

/// A streamed answer over a chain; see [`Chain::stream`](crate::Chain::stream).
///
/// Dropping it drops the upstream stream at once and starts no retry.
///
/// ```
/// use std::sync::Arc;
/// use futures_util::StreamExt;
/// use llm_providers::mock::{MockProvider, MockScript};
/// use llm_resilience::{Chain, ChainEvent, CommitMode, Route};
/// use shipped_core::{ChatMessage, ChatRequest};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let provider = Arc::new(MockProvider::new(MockScript::default().answer("Hi there.")));
/// let chain = Chain::builder("default").route(Route::new("primary", "m", provider)).build()?;
///
/// let mut stream = chain.stream(ChatRequest::new(vec![ChatMessage::user("hi")]), CommitMode::Manual);
/// let mut answer = String::new();
/// while let Some(event) = stream.next().await {
///     match event {
///         ChainEvent::Text(text) => {
///             stream.mark_committed();
///             answer.push_str(&text);
///         }
///         ChainEvent::Rollback => answer.clear(),
///         ChainEvent::Finish(end) => assert_eq!(end.route, "primary"),
///         ChainEvent::Degraded(_) | ChainEvent::Failed(_) => unreachable!(),
///         _ => {}
///     }
/// }
/// assert_eq!(answer, "Hi there.");
/// # Ok::<_, llm_resilience::ConfigError>(())
/// # }).unwrap();
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct ResilientStream {
    events: Pin<Box<dyn Stream<Item = ChainEvent> + Send>>,
    committed: Arc<AtomicBool>,
}

impl ResilientStream {
    pub(crate) fn start(inner: Arc<Inner>, request: ChainRequest, commit: CommitMode) -> Self {
        let committed = Arc::new(AtomicBool::new(false));
        let driver = Driver::new(inner, request, commit, Arc::clone(&committed));
        // Fused, so polling again after the end returns `None` instead of
        // panicking.
        let events = futures_util::stream::unfold(driver, |mut driver| async move {
            let event = driver.next_event().await?;
            Some((event, driver))
        })
        .fuse();
        Self {
            events: Box::pin(events),
            committed,
        }
    }

    /// Commits the stream: from now on a failure is reported with
    /// [`ChainEvent::Failed`] instead of failing over silently. Call it before
    /// forwarding the first output to the client.
    pub fn mark_committed(&self) {
        self.committed.store(true, Ordering::Release);
    }

    /// Returns whether the stream has committed.
    pub fn is_committed(&self) -> bool {
        self.committed.load(Ordering::Acquire)
    }

    /// Returns a handle that commits this stream, for a caller that moves the
    /// stream into an adapter (such as a sentence buffer) and commits from
    /// outside it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use llm_providers::mock::{MockProvider, MockScript};
    /// use llm_resilience::{Chain, CommitMode, Route};
    /// use shipped_core::{ChatMessage, ChatRequest};
    ///
    /// let provider = Arc::new(MockProvider::new(MockScript::default()));
    /// let chain = Chain::builder("default").route(Route::new("primary", "m", provider)).build()?;
    /// let stream = chain.stream(ChatRequest::new(vec![ChatMessage::user("hi")]), CommitMode::Manual);
    ///
    /// let handle = stream.commit_handle();
    /// handle.commit();
    /// assert!(stream.is_committed());
    /// # Ok::<_, llm_resilience::ConfigError>(())
    /// ```
    pub fn commit_handle(&self) -> CommitHandle {
        CommitHandle {
            committed: Arc::clone(&self.committed),
        }
    }
}

/// A handle that commits a [`ResilientStream`] from outside it; see
/// [`ResilientStream::commit_handle`]. Cloning shares the same stream.
#[derive(Debug, Clone)]
pub struct CommitHandle {
    committed: Arc<AtomicBool>,
}

impl CommitHandle {
    /// Commits the stream, like [`ResilientStream::mark_committed`].
    pub fn commit(&self) {
        self.committed.store(true, Ordering::Release);
    }

    /// Returns whether the stream has committed.
    pub fn is_committed(&self) -> bool {
        self.committed.load(Ordering::Acquire)
    }
}

impl Stream for ResilientStream {
    type Item = ChainEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ChainEvent>> {
        self.get_mut().events.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for ResilientStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResilientStream")
            .field("committed", &self.is_committed())
            .finish_non_exhaustive()
    }
}
