//! `POST /chat/stream`: the answer as server-sent events.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use llm_stream::Frame;
use serde::Serialize;
use shipped_core::RequestId;
use tracing::Instrument;

use super::chat::{rate_limit_headers, request_span};
use super::input::InputFormat;
use super::sse::{sse_response, to_json};
use crate::app::App;
use crate::pipeline::{CompletionLog, PipelineEvent, UsageBody, admit, start_stream};
use crate::server::response::Body;

#[derive(Serialize)]
struct TokenFrame<'a> {
    token: &'a str,
}

#[derive(Serialize)]
struct DoneFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    request_id: &'a str,
    model_route: Option<&'a str>,
    usage: UsageBody,
    cost_usd: f64,
    finish_reason: Option<&'static str>,
    degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    incident_id: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'static str,
    code: &'static str,
    incident_id: &'a str,
    request_id: &'a str,
    tokens_emitted: u64,
}

pub(crate) async fn chat_stream(
    app: Arc<App>,
    request: Request<Incoming>,
    request_id: RequestId,
) -> Response<Body> {
    let span = request_span(&request_id, "/chat/stream");
    async move {
        let mut log = CompletionLog::start(app.metrics.clone(), "/chat/stream", true);
        let admitted = match admit(
            &app,
            request,
            request_id.clone(),
            InputFormat::Native,
            true,
            &mut log,
        )
        .await
        {
            Ok(admitted) => admitted,
            Err(error) => return error.into_response(&request_id),
        };
        let rate_status = admitted.rate_status;
        let receiver = start_stream(app.clone(), admitted, log);

        let heartbeat = Duration::from_secs(app.config.file.server.heartbeat_secs);
        let mut response =
            sse_response(receiver, heartbeat, move |event| encode(event, &request_id));
        rate_limit_headers(response.headers_mut(), rate_status);
        response
    }
    .instrument(span)
    .await
}

/// Encodes one event in hello-ship's own stream format.
fn encode(event: PipelineEvent, request_id: &RequestId) -> Bytes {
    match event {
        PipelineEvent::Text(text) => Frame::data(to_json(&TokenFrame { token: &text })).to_bytes(),
        // Tool calls are part of the OpenAI- and Anthropic-compatible APIs only.
        PipelineEvent::ToolCall(_) => Bytes::new(),
        PipelineEvent::Done(summary) => {
            let frame = DoneFrame {
                kind: "done",
                request_id: request_id.as_str(),
                model_route: summary.route.as_deref(),
                usage: summary.usage.into(),
                cost_usd: summary.cost_usd,
                finish_reason: summary
                    .incident_id
                    .is_none()
                    .then(|| summary.finish_reason.as_str()),
                degraded: summary.incident_id.is_some(),
                incident_id: summary.incident_id.as_ref().map(|id| id.as_str()),
            };
            Frame::data(to_json(&frame)).event("done").to_bytes()
        }
        PipelineEvent::Failed(failure) => {
            let frame = ErrorFrame {
                kind: "error",
                message: "stream_failed",
                code: failure.code,
                incident_id: failure.incident_id.as_str(),
                request_id: request_id.as_str(),
                tokens_emitted: failure.tokens_emitted,
            };
            Frame::data(to_json(&frame)).event("error").to_bytes()
        }
    }
}
