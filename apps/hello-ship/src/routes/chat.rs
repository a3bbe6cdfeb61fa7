//! `POST /chat`: a complete JSON answer.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;
use shipped_core::{ChatRequest, RequestContext, RequestId};
use shipped_cost::RateStatus;
use tracing::Instrument;
use tracing::field::Empty;

use super::input::InputFormat;
use crate::app::App;
use crate::pipeline::{CompletionLog, UsageBody, admit, complete};
use crate::server::response::{Body, json};

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
pub(crate) fn record_start(context: &RequestContext, chat: &ChatRequest) {
    let span = tracing::Span::current();
    span.record("user_id", context.user_id.as_deref());
    span.record("feature", context.feature.as_deref());
    span.record("model", context.model.as_str());
    span.record("prompt_version", context.prompt_version.as_deref());
    if let Some(traceparent) = &context.traceparent {
        span.record("trace_id", traceparent.get(3..35));
    }
    // NOTE: four characters per token, before the tokenizer counts them; the
    // provider's reported usage replaces it in the completion event.
    let input_tokens_est = (chat.total_chars() as u64).div_ceil(4);
    tracing::info!(
        input_tokens_est,
        requested_max_tokens = chat.max_tokens,
        messages = chat.messages.len(),
        stream = context.stream,
        "request_started"
    );
}

/// Adds `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds) when a rate
/// limit applies.
pub(crate) fn rate_limit_headers(headers: &mut HeaderMap, status: Option<RateStatus>) {
    if let Some(status) = status {
        headers.insert("x-ratelimit-limit", HeaderValue::from(status.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(status.remaining));
        headers.insert(
            "x-ratelimit-reset",
            HeaderValue::from(ceil_secs(status.reset)),
        );
    }
}

pub(crate) fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// Adds `Server-Timing` with the gateway's own time and the upstream time, in
/// milliseconds.
pub(crate) fn server_timing(headers: &mut HeaderMap, log: &CompletionLog) {
    let value = format!(
        "gateway;dur={:.3}, upstream;dur={:.3}",
        log.overhead().as_secs_f64() * 1000.0,
        log.upstream_time().as_secs_f64() * 1000.0
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert("server-timing", value);
    }
}

pub(crate) async fn chat(
    app: Arc<App>,
    request: Request<Incoming>,
    request_id: RequestId,
) -> Response<Body> {
    let span = request_span(&request_id, "/chat");
    async move {
        let mut log = CompletionLog::start(app.metrics.clone(), "/chat", false);
        let admitted = match admit(
            &app,
            request,
            request_id.clone(),
            InputFormat::Native,
            false,
            &mut log,
        )
        .await
        {
            Ok(admitted) => admitted,
            Err(error) => return error.into_response(&request_id),
        };
        let rate_status = admitted.rate_status;
        let answer = match complete(&app, admitted, &mut log).await {
            Ok(answer) => answer,
            Err(error) => return error.into_response(&request_id),
        };

        let degraded = answer.incident_id.is_some();
        let body = ChatResponse {
            answer: &answer.text,
            request_id: request_id.as_str(),
            model_route: answer.route.as_deref(),
            usage: answer.usage.into(),
            cost_usd: answer.cost_usd,
            degraded,
            incident_id: answer.incident_id.as_ref().map(|id| id.as_str()),
            finish_reason: (!degraded).then(|| answer.finish_reason.as_str()),
        };
        let mut response = json(StatusCode::OK, &body);
        rate_limit_headers(response.headers_mut(), rate_status);
        server_timing(response.headers_mut(), &log);
        response
    }
    .instrument(span)
    .await
}
