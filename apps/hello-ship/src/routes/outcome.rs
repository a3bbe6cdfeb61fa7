//! The completion event: one log line per chat request, on every path.

use std::time::Instant;

use serde::Serialize;
use shipped_core::{FinishReason, IncidentId, Usage};

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

/// Where the answer came from: the first route, a later one, or the static
/// degraded copy; `None` when no route was called (a rejected request).
fn fallback_tier(status: &str, route_index: Option<usize>) -> Option<&'static str> {
    match (status, route_index) {
        ("degraded", _) => Some("static"),
        (_, Some(0)) => Some("primary"),
        (_, Some(_)) => Some("fallback"),
        (_, None) => None,
    }
}

/// Collects what the completion event reports, and logs it exactly once: when
/// [`finish`](Self::finish) is called, or on drop as a client disconnect.
#[derive(Debug)]
pub(crate) struct CompletionLog {
    started: Instant,
    first_token: Option<Instant>,
    pub(crate) model_route: Option<String>,
    pub(crate) route_index: Option<usize>,
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
    pub(crate) fn start(stream: bool) -> Self {
        Self {
            started: Instant::now(),
            first_token: None,
            model_route: None,
            route_index: None,
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

    pub(crate) fn token_sent(&mut self) {
        if self.first_token.is_none() {
            self.first_token = Some(Instant::now());
        }
        self.tokens_emitted += 1;
    }

    pub(crate) fn ttft_ms(&self) -> Option<u64> {
        self.first_token
            .map(|t| millis(t.duration_since(self.started)))
    }

    /// Logs the completion event with `status` (`ok`, `degraded`, `error`,
    /// `client_disconnected`) and the HTTP status the client got.
    pub(crate) fn finish(&mut self, status: &'static str, http_status: u16) {
        if std::mem::replace(&mut self.logged, true) {
            return;
        }
        let latency_ms = millis(self.started.elapsed());
        tracing::info!(
            status,
            http_status,
            model_route = self.model_route.as_deref(),
            fallback_tier = fallback_tier(status, self.route_index),
            input_tokens = self.usage.input_tokens,
            output_tokens = self.usage.output_tokens,
            cached_input_tokens = self.usage.cached_input_tokens,
            usage_estimated = self.usage.estimated,
            cost_usd = self.cost_usd,
            latency_ms,
            ttft_ms = self.ttft_ms(),
            stream = self.stream,
            tokens_emitted = self.stream.then_some(self.tokens_emitted),
            finish_reason = self.finish_reason.map(FinishReason::as_str),
            incident_id = self.incident_id.as_ref().map(IncidentId::as_str),
            error_kind = self.error_kind,
            "request_completed"
        );
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

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
