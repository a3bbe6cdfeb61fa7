//! The complete (non-streamed) call.

use llm_resilience::{ChainError, ChainRequest};
use shipped_core::{ApiErrorKind, FinishReason, IncidentId, ToolCall, UpstreamErrorKind, Usage};
use shipped_guard::{BLOCKED_OUTPUT_MESSAGE, OutputVerdict};

use super::{Admitted, CompletionLog};
use crate::app::App;
use crate::server::response::ApiError;

/// A finished answer, whatever wire format carries it.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) text: String,
    pub(crate) tool_calls: Vec<ToolCall>,
    pub(crate) usage: Usage,
    pub(crate) cost_usd: f64,
    /// The route that answered; `None` for the degraded answer.
    pub(crate) route: Option<String>,
    pub(crate) finish_reason: FinishReason,
    /// Set when the answer is the degraded one.
    pub(crate) incident_id: Option<IncidentId>,
}

/// Calls the chain, checks the answer against the output guardrails, settles
/// the cost and writes the completion record.
///
/// # Errors
///
/// Returns a client error when no route can answer the request as it is, and
/// 503 when every route failed and degraded answers are off.
pub(crate) async fn complete(
    app: &App,
    admitted: Admitted,
    log: &mut CompletionLog,
) -> Result<Answer, ApiError> {
    let Admitted {
        context,
        chat,
        chain,
        guardrails,
        reservation,
        ..
    } = admitted;
    let Some(mut reservation) = reservation else {
        return Err(ApiError::new(
            ApiErrorKind::Internal,
            "request admitted without a budget reservation",
        ));
    };
    let request = ChainRequest {
        chat,
        traceparent: context.traceparent.clone(),
        request_id: Some(context.request_id.to_string()),
    };

    reservation.mark_upstream_called();
    log.upstream_started();
    let result = chain.complete(request).await;
    log.upstream_finished();

    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            let api_error = chain_error(&error);
            log.error_kind = Some(error.kind().as_str());
            if let ChainError::Unavailable { incident_id, .. } = &error {
                log.incident_id = Some(incident_id.clone());
            }
            log.finish("error", api_error.kind().status());
            return Err(api_error);
        }
    };
    log.attempts = outcome.attempts;
    log.fallback_tier = Some(outcome.tier.as_str());
    log.model_route = outcome.route.clone();

    let mut answer = Answer {
        text: outcome.completion.text,
        tool_calls: outcome.completion.tool_calls,
        usage: outcome.completion.usage,
        cost_usd: 0.0,
        route: outcome.route,
        finish_reason: outcome.completion.finish_reason,
        incident_id: outcome.degraded.map(|degraded| degraded.incident_id),
    };

    let checked = match guardrails.output().check(&answer.text) {
        OutputVerdict::Blocked { reason, .. } => {
            tracing::warn!(
                detector = reason.name(),
                stage = "output",
                action = "block",
                "guardrail_hit"
            );
            None
        }
        OutputVerdict::Pass { text, findings } => {
            for (detector, count) in findings.iter().filter(|(_, count)| *count > 0) {
                tracing::warn!(
                    detector = detector.name(),
                    count,
                    stage = "output",
                    action = "redact",
                    "guardrail_hit"
                );
            }
            Some(match text {
                std::borrow::Cow::Owned(redacted) => Some(redacted),
                std::borrow::Cow::Borrowed(_) => None,
            })
        }
    };
    match checked {
        None => {
            answer.text = BLOCKED_OUTPUT_MESSAGE.to_owned();
            answer.tool_calls.clear();
            answer.finish_reason = FinishReason::ContentFilter;
        }
        Some(Some(redacted)) => answer.text = redacted,
        Some(None) => {}
    }

    match (&answer.route, &answer.incident_id) {
        (Some(route), _) => {
            let model = app.route_model(route).unwrap_or(route.as_str()).to_owned();
            match reservation.settle(&model, &answer.usage).await {
                Ok(cost) => {
                    answer.cost_usd = cost.usd;
                    answer.usage.estimated |= cost.estimated;
                }
                Err(error) => app.log_repeated_error("cost_settle_failed", &error),
            }
        }
        (None, _) => {
            if let Err(error) = reservation.release().await {
                app.log_repeated_error("cost_release_failed", &error);
            }
        }
    }

    log.usage = answer.usage;
    log.cost_usd = answer.cost_usd;
    log.finish_reason = Some(answer.finish_reason);
    match &answer.incident_id {
        Some(incident_id) => {
            log.incident_id = Some(incident_id.clone());
            log.finish("degraded", 200);
        }
        None => log.finish("ok", 200),
    }
    Ok(answer)
}

/// Maps a chain that returned no answer to the client error.
pub(crate) fn chain_error(error: &ChainError) -> ApiError {
    match error {
        ChainError::Rejected { route, source } => {
            tracing::warn!(route = %route, error_kind = source.kind().as_str(), "request_rejected_upstream");
            match source.kind() {
                UpstreamErrorKind::ContextLengthExceeded => ApiError::new(
                    ApiErrorKind::PayloadTooLarge,
                    "the conversation is longer than the context window of every configured model; shorten it",
                ),
                UpstreamErrorKind::ContentFiltered => ApiError::new(
                    ApiErrorKind::GuardrailBlocked,
                    "the model provider declined this request under its content policy",
                ),
                _ => ApiError::invalid(
                    "the model provider rejected the request as invalid; check the messages and parameters",
                ),
            }
        }
        ChainError::Unavailable { incident_id, .. } => ApiError::new(
            ApiErrorKind::ServiceUnavailable,
            format!(
                "no model route could answer (incident {incident_id}); try again in a few minutes"
            ),
        )
        .retry_after(30),
        _ => ApiError::new(
            ApiErrorKind::ServiceUnavailable,
            "no model route could answer; try again in a few minutes",
        )
        .retry_after(30),
    }
}
