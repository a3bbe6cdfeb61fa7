//! The state machine behind a [`ResilientStream`](super::ResilientStream):
//! one attempt after another until the answer ends, fails or degrades.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use llm_providers::{ChatStream, ProviderError, StreamEvent};
use shipped_core::{IncidentId, UpstreamErrorKind};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{Attempt, ChainEvent, CommitMode, StreamEnd, StreamFailure};
use crate::chain::{ChainRequest, Inner};
use crate::overlap::OverlapFilter;
use crate::session::{Call, Exhausted, Session, Verdict};
use crate::{ChainError, StageTimeouts};

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

pub(super) struct Driver {
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
    pub(super) fn new(
        inner: Arc<Inner>,
        request: ChainRequest,
        commit: CommitMode,
        committed: Arc<AtomicBool>,
    ) -> Self {
        Self {
            session: Session::new(Arc::clone(&inner)),
            inner,
            request,
            commit,
            committed,
            phase: Phase::Next,
            queue: VecDeque::new(),
            sent_text: String::new(),
            tokens_emitted: 0,
            uncommitted_output: false,
            continuing_after: None,
        }
    }

    /// Runs the chain until the next event, or returns `None` after the
    /// terminal one.
    pub(super) async fn next_event(&mut self) -> Option<ChainEvent> {
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
        debug!(route = %call.route.name(), stage, "stage_timed_out");
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
                "stream_continuing"
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
            "chain_stream_failed"
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
