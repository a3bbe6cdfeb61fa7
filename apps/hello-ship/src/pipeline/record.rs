//! The completion record: one log line and one metrics update per chat
//! request, on every path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use shipped_core::{FinishReason, IncidentId, Usage};
use shipped_obs::{Metrics, RequestRecord};

/// Usage as clients see it.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct UsageBody {
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) estimated: bool,
}

impl From<Usage> for UsageBody {
    fn from(usage: Usage) -> Self {
        Self {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            estimated: usage.estimated,
        }
    }
}

/// Collects what the completion event reports, and reports it exactly once:
/// when [`finish`](Self::finish) is called, or on drop as a client disconnect.
#[derive(Debug)]
pub(crate) struct CompletionLog {
    metrics: Arc<Metrics>,
    endpoint: &'static str,
    started: Instant,
    first_token: Option<Instant>,
    upstream_started: Option<Instant>,
    upstream_time: Duration,
    pub(crate) model_route: Option<String>,
    /// `primary`, `fallback` or `static`; `None` when no route was called.
    pub(crate) fallback_tier: Option<&'static str>,
    pub(crate) attempts: u32,
    pub(crate) usage: Usage,
    pub(crate) cost_usd: f64,
    pub(crate) tokens_emitted: u64,
    pub(crate) incident_id: Option<IncidentId>,
    pub(crate) finish_reason: Option<FinishReason>,
    pub(crate) error_kind: Option<&'static str>,
    stream: bool,
    logged: bool,
}

impl CompletionLog {
    pub(crate) fn start(metrics: Arc<Metrics>, endpoint: &'static str, stream: bool) -> Self {
        Self {
            metrics,
            endpoint,
            started: Instant::now(),
            first_token: None,
            upstream_started: None,
            upstream_time: Duration::ZERO,
            model_route: None,
            fallback_tier: None,
            attempts: 0,
            usage: Usage::default(),
            cost_usd: 0.0,
            tokens_emitted: 0,
            incident_id: None,
            finish_reason: None,
            error_kind: None,
            stream,
            logged: false,
        }
    }

    /// Records whether the answer is streamed, for endpoints whose body says
    /// so (the OpenAI- and Anthropic-compatible ones).
    pub(crate) fn set_stream(&mut self, stream: bool) {
        self.stream = stream;
    }

    /// Marks the start of the provider calls.
    pub(crate) fn upstream_started(&mut self) {
        self.upstream_started = Some(Instant::now());
    }

    /// Marks the end of the provider calls; the time between counts as upstream
    /// time, and the rest of the latency as the gateway's own overhead.
    pub(crate) fn upstream_finished(&mut self) {
        if let Some(started) = self.upstream_started.take() {
            self.upstream_time += started.elapsed();
        }
    }

    pub(crate) fn token_sent(&mut self) {
        if self.first_token.is_none() {
            self.first_token = Some(Instant::now());
        }
        self.tokens_emitted += 1;
    }

    pub(crate) fn ttft(&self) -> Option<Duration> {
        self.first_token.map(|t| t.duration_since(self.started))
    }

    /// Time not spent waiting on providers so far.
    pub(crate) fn overhead(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.upstream_time)
    }

    pub(crate) fn upstream_time(&self) -> Duration {
        self.upstream_time
    }

    /// Logs the completion event and updates the metrics, with `status` (`ok`,
    /// `degraded`, `error`, `rejected`, `client_disconnected`) and the HTTP
    /// status the client got.
    pub(crate) fn finish(&mut self, status: &'static str, http_status: u16) {
        if std::mem::replace(&mut self.logged, true) {
            return;
        }
        self.upstream_finished();
        let latency = self.started.elapsed();
        // A degraded answer's first token measures no model, so it stays out
        // of the time-to-first-token histogram.
        let ttft = self.ttft().filter(|_| self.model_route.is_some());
        // NOTE: for streams the upstream time covers the whole relay, so the
        // gateway's per-token work counts as upstream time here.
        let overhead = (self.upstream_time > Duration::ZERO).then(|| self.overhead());
        tracing::info!(
            status,
            http_status,
            model_route = self.model_route.as_deref(),
            fallback_tier = self.fallback_tier,
            attempts = self.attempts,
            input_tokens = self.usage.input_tokens,
            output_tokens = self.usage.output_tokens,
            cached_input_tokens = self.usage.cached_input_tokens,
            usage_estimated = self.usage.estimated,
            cost_usd = self.cost_usd,
            latency_ms = millis(latency),
            ttft_ms = ttft.map(millis),
            overhead_us = overhead.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            stream = self.stream,
            tokens_emitted = self.stream.then_some(self.tokens_emitted),
            finish_reason = self.finish_reason.map(FinishReason::as_str),
            incident_id = self.incident_id.as_ref().map(IncidentId::as_str),
            error_kind = self.error_kind,
            "request_completed"
        );
        self.metrics.record_request(&RequestRecord {
            endpoint: self.endpoint,
            status,
            route: self.model_route.as_deref(),
            fallback_tier: self.fallback_tier,
            latency,
            time_to_first_token: ttft,
            gateway_overhead: overhead,
            input_tokens: self.usage.input_tokens,
            output_tokens: self.usage.output_tokens,
            cost_usd: self.cost_usd,
        });
    }
}

impl Drop for CompletionLog {
    fn drop(&mut self) {
        if !self.logged {
            tracing::info!(
                tokens_emitted = self.tokens_emitted,
                output_tokens = self.usage.output_tokens,
                "client_disconnected"
            );
            // 499 is the status nginx and most gateways log for a request the
            // client abandoned.
            self.finish("client_disconnected", 499);
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
