//! The Anthropic-compatible API: `POST /v1/messages`, so an official
//! Anthropic SDK can use hello-ship as its base URL. Requests go through the
//! same admission, chain, guardrails and completion record as `/chat`. The
//! key comes in `x-api-key` (or `Authorization: Bearer`); any
//! `anthropic-version` header is accepted.

mod error;
mod request;
mod response;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use shipped_core::RequestId;
use tracing::Instrument;

pub(crate) use self::error::error_response;
pub(crate) use self::request::read_input;
use self::response::{MessageMeta, message};
use self::stream::EventEncoder;
use super::chat::{rate_limit_headers, request_span, server_timing};
use super::input::InputFormat;
use super::sse::sse_response;
use crate::app::App;
use crate::pipeline::{CompletionLog, admit, complete, start_stream};
use crate::server::response::{Body, json};

const PATH: &str = "/v1/messages";

/// `POST /v1/messages`: a `message`, or with `"stream": true` Anthropic's
/// stream of message events.
pub(crate) async fn messages(
    app: Arc<App>,
    request: Request<Incoming>,
    request_id: RequestId,
) -> Response<Body> {
    let span = request_span(&request_id, PATH);
    async move {
        // The body says whether to stream, so the log learns it after admission.
        let mut log = CompletionLog::start(app.metrics.clone(), PATH, false);
        let admitted = match admit(
            &app,
            request,
            request_id.clone(),
            InputFormat::Anthropic,
            false,
            &mut log,
        )
        .await
        {
            Ok(admitted) => admitted,
            Err(error) => return error_response(error, &request_id).await,
        };
        let meta = MessageMeta {
            id: format!("msg_{request_id}"),
            model: admitted.context.model.clone(),
            request_id: request_id.to_string(),
        };
        let rate_status = admitted.rate_status;

        log.set_stream(admitted.context.stream);
        if admitted.context.stream {
            let input_tokens = admitted.input_tokens.tokens;
            let receiver = start_stream(app.clone(), admitted, log);
            let heartbeat = Duration::from_secs(app.config.file.server.heartbeat_secs);
            let mut encoder = EventEncoder::new(meta, input_tokens);
            let mut response =
                sse_response(receiver, heartbeat, move |event| encoder.encode(event));
            rate_limit_headers(response.headers_mut(), rate_status);
            return response;
        }

        let answer = match complete(&app, admitted, &mut log).await {
            Ok(answer) => answer,
            Err(error) => return error_response(error, &request_id).await,
        };
        let mut response = json(StatusCode::OK, &message(&meta, &answer));
        rate_limit_headers(response.headers_mut(), rate_status);
        server_timing(response.headers_mut(), &log);
        response
    }
    .instrument(span)
    .await
}
