//! `POST /chat`: a complete JSON answer.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;
use shipped_core::{ApiErrorKind, IncidentId, RequestContext, RequestId};
use tracing::Instrument;
use tracing::field::Empty;

use super::chain::{self, routes_for};
use super::input::{ChatInput, read_chat_input};
use super::outcome::{CompletionLog, UsageBody};
use crate::app::App;
use crate::server::response::{ApiError, Body, json};

#[derive(Debug, Serialize)]
struct ChatResponse<'a> {
    answer: &'a str,
    request_id: &'a str,
    model_route: Option<&'a str>,
    usage: UsageBody,
    cost_usd: f64,
    degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    incident_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'a str>,
}

/// Opens the span that every log line of one chat request carries.
pub(crate) fn request_span(request_id: &RequestId, path: &'static str) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = %request_id,
        path,
        tenant_id = Empty,
        user_id = Empty,
        feature = Empty,
        model = Empty,
        prompt_version = Empty,
        trace_id = Empty,
    )
}

/// Records the parsed request context on the current span and logs the start.
pub(crate) fn record_start(input: &ChatInput) {
    let context: &RequestContext = &input.context;
    let span = tracing::Span::current();
    span.record("tenant_id", context.tenant_id.as_deref());
    span.record("user_id", context.user_id.as_deref());
    span.record("feature", context.feature.as_deref());
    span.record("model", context.model.as_str());
    span.record("prompt_version", context.prompt_version.as_deref());
    if let Some(traceparent) = &context.traceparent {
        span.record("trace_id", traceparent.get(3..35));
    }
    // NOTE: a rough estimate of four characters per token; the provider's
    // reported usage replaces it in the completion event.
    let input_tokens_est = (input.chat.total_chars() as u64).div_ceil(4);
    tracing::info!(
        input_tokens_est,
        max_tokens = input.chat.max_tokens,
        messages = input.chat.messages.len(),
        stream = context.stream,
        "request_started"
    );
}

/// Rejects a request while the server drains, or returns the in-flight guard.
pub(crate) fn admit(app: &Arc<App>) -> Result<crate::drain::InFlight, ApiError> {
    if app.drain.is_draining() {
        return Err(ApiError::new(
            ApiErrorKind::ServiceUnavailable,
            "the server is shutting down; retry the request",
        )
        .retry_after(1));
    }
    Ok(app.drain.enter())
}

pub(crate) fn reject(
    log: &mut CompletionLog,
    error: ApiError,
    request_id: &RequestId,
) -> Response<Body> {
    log.error_kind = Some(error.kind().as_str());
    log.finish("rejected", error.kind().status());
    error.into_response(request_id)
}

pub(crate) async fn chat(
    app: Arc<App>,
    request: Request<Incoming>,
    request_id: RequestId,
) -> Response<Body> {
    let span = request_span(&request_id, "/chat");
    async move {
        let mut log = CompletionLog::start(false);
        let _in_flight = match admit(&app) {
            Ok(guard) => guard,
            Err(error) => return reject(&mut log, error, &request_id),
        };
        let input = match read_chat_input(&app, request, request_id.clone(), false).await {
            Ok(input) => input,
            Err(error) => return reject(&mut log, error, &request_id),
        };
        record_start(&input);

        let routes = routes_for(&app, &input.context.model);
        match chain::complete(&routes, &input.context, &input.chat).await {
            Ok((route, completion)) => {
                log.model_route = Some(route.name.clone());
                log.route_index = Some(route.index);
                log.usage = completion.usage;
                log.finish_reason = Some(completion.finish_reason);
                log.finish("ok", 200);
                let body = ChatResponse {
                    answer: &completion.text,
                    request_id: request_id.as_str(),
                    model_route: Some(&route.name),
                    usage: completion.usage.into(),
                    cost_usd: log.cost_usd,
                    degraded: false,
                    incident_id: None,
                    finish_reason: Some(completion.finish_reason.as_str()),
                };
                json(StatusCode::OK, &body)
            }
            Err(error) => {
                log.error_kind = error.as_ref().map(|e| e.kind().as_str());
                degraded(&app, &mut log, &request_id)
            }
        }
    }
    .instrument(span)
    .await
}

fn degraded(app: &App, log: &mut CompletionLog, request_id: &RequestId) -> Response<Body> {
    let settings = &app.config.file.degraded;
    if !settings.enabled {
        log.finish("error", 503);
        return ApiError::new(
            ApiErrorKind::ServiceUnavailable,
            "no model route could answer; try again in a few minutes",
        )
        .retry_after(30)
        .into_response(request_id);
    }
    let incident_id = IncidentId::generate();
    tracing::warn!(incident_id = %incident_id, fallback_tier = "static", "degraded_answer");
    log.incident_id = Some(incident_id.clone());
    log.finish("degraded", 200);
    let body = ChatResponse {
        answer: &settings.message,
        request_id: request_id.as_str(),
        model_route: None,
        usage: log.usage.into(),
        cost_usd: log.cost_usd,
        degraded: true,
        incident_id: Some(incident_id.as_str()),
        finish_reason: None,
    };
    json(StatusCode::OK, &body)
}
