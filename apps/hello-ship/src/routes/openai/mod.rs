//! The OpenAI-compatible API: `POST /v1/chat/completions` and
//! `GET /v1/models`, so an official OpenAI SDK can use hello-ship as its base
//! URL. Requests go through the same admission, chain, guardrails and
//! completion record as `/chat`.

mod error;
mod models;
mod request;
mod response;
mod stream;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use shipped_core::RequestId;
use tracing::Instrument;

pub(crate) use self::error::error_response;
pub(crate) use self::models::list_models;
pub(crate) use self::request::read_input;
use self::response::{CompletionMeta, completion};
use self::stream::ChunkEncoder;
use super::chat::{rate_limit_headers, request_span, server_timing};
use super::compat::unix_now;
use super::input::InputFormat;
use super::sse::sse_response;
use crate::app::App;
use crate::pipeline::{CompletionLog, admit, complete, start_stream};
use crate::server::response::{Body, json};

const CHAT_PATH: &str = "/v1/chat/completions";

/// Options of an OpenAI body that the neutral chat request has no field for.
/// The handler puts them in the request's extensions, the body parser fills
/// them in during admission, and the handler reads them afterwards.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpenAiOptions {
    include_usage: Arc<OnceLock<bool>>,
}

impl OpenAiOptions {
    fn set_include_usage(&self, include_usage: bool) {
        // The body is parsed once per request, so the slot is still empty.
        let _ = self.include_usage.set(include_usage);
    }

    /// Returns whether the stream ends with a usage chunk
    /// (`stream_options.include_usage`).
    fn include_usage(&self) -> bool {
        self.include_usage.get().copied().unwrap_or(false)
    }
}

/// `POST /v1/chat/completions`: a `chat.completion`, or with `"stream": true`
/// a stream of `chat.completion.chunk` events.
pub(crate) async fn chat_completions(
    app: Arc<App>,
    mut request: Request<Incoming>,
    request_id: RequestId,
) -> Response<Body> {
    let span = request_span(&request_id, CHAT_PATH);
    async move {
        let created = unix_now();
        let options = OpenAiOptions::default();
        request.extensions_mut().insert(options.clone());
        // The body says whether to stream, so the log learns it after admission.
        let mut log = CompletionLog::start(app.metrics.clone(), CHAT_PATH, false);
        let admitted = match admit(
            &app,
            request,
            request_id.clone(),
            InputFormat::OpenAi,
            false,
            &mut log,
        )
        .await
        {
            Ok(admitted) => admitted,
            Err(error) => return error_response(error, &request_id).await,
        };
        let meta = CompletionMeta {
            id: format!("chatcmpl-{request_id}"),
            created,
            model: admitted.context.model.clone(),
            request_id: request_id.to_string(),
        };
        let rate_status = admitted.rate_status;

        log.set_stream(admitted.context.stream);
        if admitted.context.stream {
            let receiver = start_stream(app.clone(), admitted, log);
            let heartbeat = Duration::from_secs(app.config.file.server.heartbeat_secs);
            let mut encoder = ChunkEncoder::new(meta, options.include_usage());
            let mut response =
                sse_response(receiver, heartbeat, move |event| encoder.encode(event));
            rate_limit_headers(response.headers_mut(), rate_status);
            return response;
        }

        let answer = match complete(&app, admitted, &mut log).await {
            Ok(answer) => answer,
            Err(error) => return error_response(error, &request_id).await,
        };
        let mut response = json(StatusCode::OK, &completion(&meta, &answer));
        rate_limit_headers(response.headers_mut(), rate_status);
        server_timing(response.headers_mut(), &log);
        response
    }
    .instrument(span)
    .await
}
