//! Streaming over a chain: transparent failover before the stream commits, a
//! typed terminal failure after it.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::StreamExt;
use llm_providers::{ChatStream, ProviderError, StreamEvent, ToolCallDelta};
use shipped_core::{FinishReason, IncidentId, UpstreamErrorKind, Usage};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::chain::{ChainRequest, FallbackTier, Inner};
use crate::overlap::OverlapFilter;
use crate::session::{Call, Exhausted, Session, Verdict};
use crate::{ChainError, Degraded, StageTimeouts};

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
        let driver = Driver {
            session: Session::new(Arc::clone(&inner)),
            inner,
            request,
            commit,
            committed: Arc::clone(&committed),
            phase: Phase::Next,
            queue: VecDeque::new(),
            sent_text: String::new(),
            tokens_emitted: 0,
            uncommitted_output: false,
            continuing_after: None,
        };
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

enum Phase {
    /// Ask the session for the next call.
    Next,
    /// Open the stream of an admitted call.
    Connect(Call),
    Streaming(Active),
    Done,
}

/// An open upstream stream.
struct Active {
    call: Call,
    stream: ChatStream,
    started: Instant,
    /// When the latest text, tool call or usage after the first token came.
    last_event: Option<Instant>,
    overlap: Option<OverlapFilter>,
    timeouts: StageTimeouts,
}

struct Driver {
    inner: Arc<Inner>,
    session: Session,
    request: ChainRequest,
    commit: CommitMode,
    committed: Arc<AtomicBool>,
    phase: Phase,
    queue: VecDeque<ChainEvent>,
    /// Text yielded and not rolled back, the partial answer a continuation
    /// route is asked to continue.
    sent_text: String,
    tokens_emitted: u64,
    /// Whether the current attempt yielded output before the stream committed.
    uncommitted_output: bool,
    /// After a failure past the commit point: its kind, while the next route
    /// continues the answer.
    continuing_after: Option<UpstreamErrorKind>,
}

impl Driver {
    async fn next_event(&mut self) -> Option<ChainEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Done => return None,
                Phase::Next => self.next_attempt().await,
                Phase::Connect(call) => self.connect(call).await,
                Phase::Streaming(active) => self.pump(active).await,
            }
        }
    }

    fn is_committed(&self) -> bool {
        self.committed.load(Ordering::Acquire)
    }

    async fn next_attempt(&mut self) {
        match self.session.next_call().await {
            Ok(call) => {
                self.queue.push_back(ChainEvent::Attempt(Attempt {
                    route: call.route.name().to_owned(),
                    model: call.route.model().to_owned(),
                    attempt: call.attempt,
                    tier: call.tier,
                    continuation: self.continuing_after.is_some(),
                }));
                self.phase = Phase::Connect(call);
            }
            Err(exhausted) => self.end_exhausted(exhausted),
        }
    }

    fn end_exhausted(&mut self, exhausted: Exhausted) {
        if let Some(kind) = self.continuing_after {
            // Output was sent, so a degraded answer cannot replace it.
            self.end_failed(kind, None);
            return;
        }
        match self.inner.degrade(exhausted, self.session.attempts()) {
            Ok(degraded) => self.queue.push_back(ChainEvent::Degraded(degraded)),
            Err(error) => {
                let kind = error.kind();
                let (incident_id, route) = match error {
                    ChainError::Unavailable { incident_id, .. } => (incident_id, None),
                    ChainError::Rejected { route, .. } => (IncidentId::generate(), Some(route)),
                };
                self.queue.push_back(ChainEvent::Failed(StreamFailure {
                    kind,
                    incident_id,
                    tokens_emitted: self.tokens_emitted,
                    route,
                }));
            }
        }
        self.phase = Phase::Done;
    }

    async fn connect(&mut self, call: Call) {
        let timeouts = self.session.timeouts(&call.route);
        let partial = self.continuing_after.map(|_| self.sent_text.as_str());
        let request = self.request.for_route(&call.route, partial);
        let overlap = partial.map(|text| OverlapFilter::new(text.to_owned()));
        let started = Instant::now();
        let limit = self
            .first_token_limit(started, &timeouts)
            .min(started + timeouts.connect);
        let opened = tokio::time::timeout_at(limit, call.route.provider().stream(&request)).await;
        match opened {
            Ok(Ok(stream)) => {
                self.phase = Phase::Streaming(Active {
                    call,
                    stream,
                    started,
                    last_event: None,
                    overlap,
                    timeouts,
                });
            }
            Ok(Err(error)) => self.on_failure(call, error),
            Err(_) => self.on_timeout(call, "connect"),
        }
    }

    fn first_token_limit(&self, started: Instant, timeouts: &StageTimeouts) -> Instant {
        (started + timeouts.first_token).min(self.session.deadline())
    }

    async fn pump(&mut self, mut active: Active) {
        let limit = match active.last_event {
            None => self.first_token_limit(active.started, &active.timeouts),
            Some(last) => (last + active.timeouts.idle).min(self.session.total_deadline()),
        };
        let item = match tokio::time::timeout_at(limit, active.stream.next()).await {
            Ok(item) => item,
            Err(_) => {
                let stage = match active.last_event {
                    _ if Instant::now() >= self.session.total_deadline() => "total",
                    None => "first_token",
                    Some(_) => "idle",
                };
                self.on_timeout(active.call, stage);
                return;
            }
        };
        let event = match item {
            Some(Ok(event)) => event,
            Some(Err(error)) => return self.on_failure(active.call, error),
            None => {
                let error = ProviderError::new(UpstreamErrorKind::StreamTruncated);
                return self.on_failure(active.call, error);
            }
        };
        let now = Instant::now();
        match event {
            StreamEvent::Text(text) => {
                active.last_event = Some(now);
                let text = match active.overlap.as_mut() {
                    Some(filter) => filter.push(text),
                    None => Some(text),
                };
                if let Some(text) = text.filter(|text| !text.is_empty()) {
                    self.emit_text(text);
                }
            }
            StreamEvent::ToolCall(delta) => {
                active.last_event = Some(now);
                self.emit_output(ChainEvent::ToolCall(delta));
            }
            StreamEvent::Usage(usage) => {
                if active.last_event.is_some() {
                    active.last_event = Some(now);
                }
                self.queue.push_back(ChainEvent::Usage(usage));
            }
            StreamEvent::Finish(finish_reason) => {
                if let Some(filter) = active.overlap.as_mut() {
                    filter.finish();
                }
                let end = StreamEnd {
                    finish_reason,
                    route: active.call.route.name().to_owned(),
                    tier: active.call.tier,
                    attempts: self.session.attempts(),
                };
                self.session.succeed(active.call);
                self.queue.push_back(ChainEvent::Finish(end));
                return;
            }
        }
        self.phase = Phase::Streaming(active);
    }

    fn emit_text(&mut self, text: String) {
        self.sent_text.push_str(&text);
        self.tokens_emitted += 1;
        self.emit_output(ChainEvent::Text(text));
    }

    fn emit_output(&mut self, event: ChainEvent) {
        if !self.is_committed() {
            match self.commit {
                CommitMode::FirstOutput => self.committed.store(true, Ordering::Release),
                CommitMode::Manual => self.uncommitted_output = true,
            }
        }
        self.queue.push_back(event);
    }

    fn on_timeout(&mut self, call: Call, stage: &'static str) {
        debug!(route = %call.route.name(), stage, "stage timed out");
        self.on_failure(call, ProviderError::new(UpstreamErrorKind::Timeout));
    }

    fn on_failure(&mut self, call: Call, error: ProviderError) {
        let kind = error.kind();
        let route = call.route.name().to_owned();

        if !self.is_committed() {
            if std::mem::take(&mut self.uncommitted_output) {
                self.queue.push_back(ChainEvent::Rollback);
                self.sent_text.clear();
                self.tokens_emitted = 0;
            }
            match self.session.fail(call, error, true) {
                Verdict::Continue => self.phase = Phase::Next,
                Verdict::Reject(_) => self.end_failed(kind, Some(route)),
            }
            return;
        }

        let verdict = self.session.fail(call, error, false);
        if self.inner.config.continue_on_fallback && matches!(verdict, Verdict::Continue) {
            info!(
                route,
                error_kind = kind.as_str(),
                tokens_emitted = self.tokens_emitted,
                "stream failed after output was sent, continuing on the next route"
            );
            self.continuing_after = Some(kind);
            self.session.restart_deadline();
            self.phase = Phase::Next;
            return;
        }
        self.end_failed(self.continuing_after.unwrap_or(kind), Some(route));
    }

    fn end_failed(&mut self, kind: UpstreamErrorKind, route: Option<String>) {
        let incident_id = IncidentId::generate();
        warn!(
            route,
            error_kind = kind.as_str(),
            incident_id = %incident_id,
            tokens_emitted = self.tokens_emitted,
            "stream failed"
        );
        self.queue.push_back(ChainEvent::Failed(StreamFailure {
            kind,
            incident_id,
            tokens_emitted: self.tokens_emitted,
            route,
        }));
        self.phase = Phase::Done;
    }
}
