//! The streamed call: a producer task drives the chain and sends
//! [`PipelineEvent`]s, in any wire format's terms, through a bounded channel.
//!
//! Output passes through the stream guard before it leaves: text is held until
//! a sentence ends, scanned, then released. The chain commits (stops failing
//! over silently) just before the first released byte, so a failure while text
//! is still held fails over without the client seeing it.

use std::sync::Arc;

use futures_util::StreamExt;
use llm_providers::ToolCallDelta;
use llm_resilience::{ChainEvent, ChainRequest, CommitHandle, CommitMode};
use shipped_core::{FinishReason, IncidentId, UpstreamErrorKind, Usage};
use shipped_cost::Reservation;
use shipped_guard::{StreamGuard, StreamVerdict};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{Admitted, CompletionLog};
use crate::app::App;

/// Events buffered between the producer and a slow client. The small bound
/// makes a slow client pause the upstream read instead of growing memory.
const EVENT_BUFFER: usize = 16;

/// One step of a streamed answer, before wire encoding.
#[derive(Debug)]
pub(crate) enum PipelineEvent {
    /// Checked answer text.
    Text(String),
    /// A fragment of a tool call.
    ToolCall(ToolCallDelta),
    /// The answer is complete; nothing follows.
    Done(Summary),
    /// The stream failed after it started; nothing follows. Text already sent
    /// stays with the client.
    Failed(Failure),
}

/// The end of a successful stream.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub(crate) route: Option<String>,
    pub(crate) usage: Usage,
    pub(crate) cost_usd: f64,
    pub(crate) finish_reason: FinishReason,
    /// Set when the answer is the degraded one.
    pub(crate) incident_id: Option<IncidentId>,
}

/// The end of a failed stream.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The error frame's `code`: `upstream_timeout`, `upstream_overloaded`,
    /// `upstream_stream_truncated`, `upstream_error`, `content_filter` or
    /// `server_shutdown`.
    pub(crate) code: &'static str,
    pub(crate) incident_id: IncidentId,
    /// Text events sent before the failure.
    pub(crate) tokens_emitted: u64,
}

/// Starts the producer and returns the receiving end. Dropping the receiver
/// (the client went away) drops the upstream call at once.
pub(crate) fn start_stream(
    app: Arc<App>,
    admitted: Admitted,
    log: CompletionLog,
) -> mpsc::Receiver<PipelineEvent> {
    let (sender, receiver) = mpsc::channel(EVENT_BUFFER);
    let producer = Producer::new(app, admitted, log, sender);
    tokio::spawn(producer.run().in_current_span());
    receiver
}

/// The client is gone; stop at once.
struct ClientGone;

struct Producer {
    app: Arc<App>,
    admitted: Admitted,
    /// Taken when the cost is settled or released; dropping it unsettled
    /// settles the recorded partial usage.
    reservation: Option<Reservation>,
    log: CompletionLog,
    sender: mpsc::Sender<PipelineEvent>,
    guard: StreamGuard,
    _streaming: shipped_obs::StreamInFlight,
    /// Characters of text received from the current attempt, to estimate usage
    /// when the provider reports none.
    received_chars: usize,
    route: Option<String>,
    usage_reported: bool,
}

impl Producer {
    fn new(
        app: Arc<App>,
        admitted: Admitted,
        log: CompletionLog,
        sender: mpsc::Sender<PipelineEvent>,
    ) -> Self {
        let guard = admitted.guardrails.output().stream();
        let streaming = app.metrics.stream_started();
        let mut admitted = admitted;
        let reservation = admitted.reservation.take();
        Self {
            app,
            admitted,
            reservation,
            log,
            sender,
            guard,
            _streaming: streaming,
            received_chars: 0,
            route: None,
            usage_reported: false,
        }
    }

    async fn run(mut self) {
        let request = ChainRequest {
            chat: self.admitted.chat.clone(),
            traceparent: self.admitted.context.traceparent.clone(),
            request_id: Some(self.admitted.context.request_id.to_string()),
        };
        if let Some(reservation) = &mut self.reservation {
            reservation.mark_upstream_called();
        }
        self.log.upstream_started();
        let mut events = self.admitted.chain.stream(request, CommitMode::Manual);
        let commit = events.commit_handle();

        loop {
            let drain = self.app.drain.clone();
            let event = tokio::select! {
                event = events.next() => event,
                () = self.sender.closed() => {
                    self.client_gone();
                    return;
                }
                () = drain.expired() => {
                    // The shutdown grace period ran out: end with a frame that
                    // names the cause rather than cutting the connection.
                    tracing::warn!(tokens_emitted = self.log.tokens_emitted, "stream_stopped_by_shutdown");
                    self.log.error_kind = Some("server_shutdown");
                    let _ = self.fail("server_shutdown", IncidentId::generate()).await;
                    return;
                }
            };
            let step = match event {
                Some(event) => self.handle(event, &commit).await,
                None => {
                    // The chain always ends with a terminal event; a bare end
                    // is a truncated stream.
                    self.fail(
                        UpstreamErrorKind::StreamTruncated.stream_error_code(),
                        IncidentId::generate(),
                    )
                    .await
                }
            };
            match step {
                Ok(Step::Continue) => {}
                Ok(Step::Finished) => return,
                Err(ClientGone) => {
                    self.client_gone();
                    return;
                }
            }
        }
    }

    async fn handle(
        &mut self,
        event: ChainEvent,
        commit: &CommitHandle,
    ) -> Result<Step, ClientGone> {
        match event {
            ChainEvent::Attempt(attempt) => {
                self.route = Some(attempt.route);
                self.log.model_route = self.route.clone();
                self.log.fallback_tier = Some(attempt.tier.as_str());
                self.log.attempts = attempt.attempt;
                self.received_chars = 0;
                self.usage_reported = false;
                Ok(Step::Continue)
            }
            ChainEvent::Text(text) => {
                self.received_chars += text.chars().count();
                let verdict = self.guard.push(&text);
                self.apply(verdict, commit).await
            }
            ChainEvent::ToolCall(delta) => {
                commit.commit();
                self.send(PipelineEvent::ToolCall(delta)).await?;
                Ok(Step::Continue)
            }
            ChainEvent::Usage(usage) => {
                self.log.usage = usage;
                self.usage_reported = true;
                Ok(Step::Continue)
            }
            ChainEvent::Rollback => {
                // Nothing was released yet (the stream commits before the first
                // release), so dropping the held text is all a rollback needs.
                self.guard = self.admitted.guardrails.output().stream();
                self.log.usage = Usage::default();
                self.received_chars = 0;
                self.usage_reported = false;
                Ok(Step::Continue)
            }
            ChainEvent::Finish(end) => {
                let verdict = self.guard.finish();
                if let Step::Finished = self.apply(verdict, commit).await? {
                    return Ok(Step::Finished);
                }
                self.log.upstream_finished();
                self.log.finish_reason = Some(end.finish_reason);
                self.log.attempts = end.attempts;
                self.log.fallback_tier = Some(end.tier.as_str());
                self.route = Some(end.route.clone());
                self.log.model_route = Some(end.route);
                self.settle().await;
                let summary = Summary {
                    route: self.route.clone(),
                    usage: self.log.usage,
                    cost_usd: self.log.cost_usd,
                    finish_reason: end.finish_reason,
                    incident_id: None,
                };
                self.send(PipelineEvent::Done(summary)).await?;
                self.log.finish("ok", 200);
                Ok(Step::Finished)
            }
            ChainEvent::Degraded(degraded) => {
                self.log.upstream_finished();
                self.release().await;
                self.log.model_route = None;
                self.log.fallback_tier = Some("static");
                self.log.usage = Usage::default();
                self.log.incident_id = Some(degraded.incident_id.clone());
                tracing::warn!(incident_id = %degraded.incident_id, fallback_tier = "static", "degraded_answer");
                self.send(PipelineEvent::Text(degraded.message)).await?;
                self.log.token_sent();
                let summary = Summary {
                    route: None,
                    usage: Usage::default(),
                    cost_usd: 0.0,
                    finish_reason: FinishReason::Stop,
                    incident_id: Some(degraded.incident_id),
                };
                self.send(PipelineEvent::Done(summary)).await?;
                self.log.finish("degraded", 200);
                Ok(Step::Finished)
            }
            ChainEvent::Failed(failure) => {
                self.log.error_kind = Some(failure.kind.as_str());
                tracing::warn!(
                    incident_id = %failure.incident_id,
                    error_kind = failure.kind.as_str(),
                    route = failure.route.as_deref(),
                    tokens_emitted = self.log.tokens_emitted,
                    "stream_failed"
                );
                self.fail(failure.kind.stream_error_code(), failure.incident_id)
                    .await
            }
        }
    }

    /// Forwards what the stream guard released, or ends the stream when it
    /// blocked.
    async fn apply(
        &mut self,
        verdict: StreamVerdict,
        commit: &CommitHandle,
    ) -> Result<Step, ClientGone> {
        match verdict {
            StreamVerdict::Release(text) => {
                if !text.is_empty() {
                    commit.commit();
                    self.send(PipelineEvent::Text(text)).await?;
                    self.log.token_sent();
                }
                Ok(Step::Continue)
            }
            StreamVerdict::Blocked { released, reason } => {
                if !released.is_empty() {
                    commit.commit();
                    self.send(PipelineEvent::Text(released)).await?;
                    self.log.token_sent();
                }
                tracing::warn!(
                    detector = reason.name(),
                    stage = "output",
                    action = "block",
                    "guardrail_hit"
                );
                self.log.error_kind = Some("content_filtered");
                self.fail("content_filter", IncidentId::generate()).await
            }
        }
    }

    async fn fail(
        &mut self,
        code: &'static str,
        incident_id: IncidentId,
    ) -> Result<Step, ClientGone> {
        self.log.upstream_finished();
        self.estimate_usage();
        self.settle().await;
        self.log.incident_id = Some(incident_id.clone());
        let failure = Failure {
            code,
            incident_id,
            tokens_emitted: self.log.tokens_emitted,
        };
        self.send(PipelineEvent::Failed(failure)).await?;
        self.log.finish("error", 200);
        Ok(Step::Finished)
    }

    /// Logs what the stream guard redacted: detector names and counts only.
    fn log_redactions(&self) {
        if self.admitted.guardrails.output().mode() != shipped_guard::OutputMode::Redact {
            return;
        }
        for (detector, count) in self.guard.findings().iter().filter(|(_, count)| *count > 0) {
            tracing::warn!(
                detector = detector.name(),
                count,
                stage = "output",
                action = "redact",
                "guardrail_hit"
            );
        }
    }

    async fn settle(&mut self) {
        self.log_redactions();
        self.estimate_usage();
        let model = self.current_model();
        let Some(reservation) = self.reservation.take() else {
            return;
        };
        match reservation.settle(&model, &self.log.usage).await {
            Ok(cost) => {
                self.log.cost_usd = cost.usd;
                self.log.usage.estimated |= cost.estimated;
            }
            Err(error) => self.app.log_repeated_error("cost_settle_failed", &error),
        }
    }

    async fn release(&mut self) {
        let Some(reservation) = self.reservation.take() else {
            return;
        };
        if let Err(error) = reservation.release().await {
            self.app.log_repeated_error("cost_release_failed", &error);
        }
    }

    /// Records the usage produced before the client left, so that dropping the
    /// reservation bills it.
    fn client_gone(&mut self) {
        self.estimate_usage();
        if let Some(reservation) = &mut self.reservation {
            reservation.record_partial_usage(self.log.usage);
        }
    }

    /// Fills in usage from what was received when the provider reported none.
    fn estimate_usage(&mut self) {
        if self.usage_reported || self.received_chars == 0 {
            return;
        }
        // NOTE: four characters per token is a rough rule for English text.
        self.log.usage = Usage {
            input_tokens: self.admitted.input_tokens.tokens,
            output_tokens: (self.received_chars as u64).div_ceil(4),
            estimated: true,
            ..Usage::default()
        };
    }

    fn current_model(&self) -> String {
        self.route
            .as_deref()
            .and_then(|route| self.app.route_model(route))
            .unwrap_or_default()
            .to_owned()
    }

    async fn send(&mut self, event: PipelineEvent) -> Result<(), ClientGone> {
        self.sender.send(event).await.map_err(|_| ClientGone)
    }
}

enum Step {
    Continue,
    Finished,
}
