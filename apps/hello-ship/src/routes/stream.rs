//! `POST /chat/stream`: the answer as server-sent events.
//!
//! A spawned producer drives the provider and sends encoded frames through a
//! small bounded channel to the response body. The channel gives backpressure
//! (a slow client pauses the upstream read) and tells the producer when the
//! client has gone, so it drops the upstream call at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use llm_providers::{ProviderError, StreamEvent};
use llm_stream::{Beat, Frame, Heartbeat};
use serde::Serialize;
use shipped_core::{FinishReason, IncidentId, RequestId, UpstreamErrorKind};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::chain::{self, ChainRoute, log_route_failure, routes_for};
use super::chat::{admit, record_start, reject, request_span};
use super::input::{ChatInput, read_chat_input};
use super::outcome::{CompletionLog, UsageBody};
use crate::app::App;
use crate::drain::InFlight;
use crate::server::response::Body;

/// Frames buffered between the producer and a slow client.
const FRAME_BUFFER: usize = 16;

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
        let mut log = CompletionLog::start(true);
        let in_flight = match admit(&app) {
            Ok(guard) => guard,
            Err(error) => return reject(&mut log, error, &request_id),
        };
        let input = match read_chat_input(&app, request, request_id.clone(), true).await {
            Ok(input) => input,
            Err(error) => return reject(&mut log, error, &request_id),
        };
        record_start(&input);

        let (sender, receiver) = mpsc::channel::<Bytes>(FRAME_BUFFER);
        let producer = Producer {
            app: app.clone(),
            input,
            sender,
            log,
            _in_flight: in_flight,
        };
        tokio::spawn(producer.run().in_current_span());

        let heartbeat = Duration::from_secs(app.config.file.server.heartbeat_secs);
        sse_response(receiver, heartbeat)
    }
    .instrument(span)
    .await
}

fn sse_response(receiver: mpsc::Receiver<Bytes>, heartbeat: Duration) -> Response<Body> {
    let frames = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|frame| (frame, receiver))
    });
    let heartbeat_frame = Frame::comment("heartbeat").to_bytes();
    let body = Heartbeat::new(frames, heartbeat).map(move |beat| {
        let bytes = match beat {
            Beat::Item(frame) => frame,
            Beat::Heartbeat => heartbeat_frame.clone(),
        };
        Ok::<_, Infallible>(hyper::body::Frame::data(bytes))
    });

    let mut response = Response::new(StreamBody::new(body).boxed_unsync());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Reason the producer stopped before a terminal frame.
enum Stop {
    ClientGone,
}

struct Producer {
    app: Arc<App>,
    input: ChatInput,
    sender: mpsc::Sender<Bytes>,
    log: CompletionLog,
    _in_flight: InFlight,
}

impl Producer {
    async fn run(mut self) {
        let routes = routes_for(&self.app, &self.input.context.model);
        let mut next_route = 0;
        let mut last_error: Option<ProviderError> = None;

        while next_route < routes.len() {
            let opened = tokio::select! {
                opened = chain::open_stream(&routes, next_route, &self.input.context, &self.input.chat) => opened,
                () = self.sender.closed() => return,
            };
            let (route, upstream) = match opened {
                Ok(opened) => opened,
                Err(error) => {
                    last_error = error;
                    break;
                }
            };
            next_route = route.index + 1;
            self.log.model_route = Some(route.name.clone());
            self.log.route_index = Some(route.index);

            match self.relay(&route, upstream).await {
                Ok(Relay::Finished) | Err(Stop::ClientGone) => return,
                Ok(Relay::FailedBeforeFirstToken(error)) => {
                    log_route_failure(&route, &error);
                    let fall_back = error.kind().may_fall_back();
                    last_error = Some(error);
                    if !fall_back {
                        break;
                    }
                }
            }
        }

        self.log.error_kind = last_error.as_ref().map(|e| e.kind().as_str());
        self.log.model_route = None;
        self.log.route_index = None;
        let _ = self.degraded().await;
    }

    /// Forwards one upstream stream. Returns how it ended, unless the client left.
    async fn relay(
        &mut self,
        route: &ChainRoute,
        mut upstream: llm_providers::ChatStream,
    ) -> Result<Relay, Stop> {
        loop {
            let event = tokio::select! {
                event = upstream.next() => event,
                () = self.sender.closed() => return Err(Stop::ClientGone),
            };
            match event {
                Some(Ok(StreamEvent::Text(text))) => {
                    self.send(&Frame::data(to_json(&TokenFrame { token: &text })))
                        .await?;
                    self.log.token_sent();
                }
                Some(Ok(StreamEvent::Usage(usage))) => self.log.usage = usage,
                Some(Ok(StreamEvent::ToolCall(_))) => {}
                Some(Ok(StreamEvent::Finish(reason))) => {
                    self.log.finish_reason = Some(reason);
                    self.done(route, reason).await?;
                    return Ok(Relay::Finished);
                }
                Some(Err(error)) => return self.fail(error).await,
                None => {
                    return self
                        .fail(ProviderError::new(UpstreamErrorKind::StreamTruncated))
                        .await;
                }
            }
        }
    }

    async fn fail(&mut self, error: ProviderError) -> Result<Relay, Stop> {
        if self.log.tokens_emitted == 0 {
            return Ok(Relay::FailedBeforeFirstToken(error));
        }
        // Tokens already reached the client: end with one error frame and keep
        // the partial text there.
        let incident_id = IncidentId::generate();
        tracing::warn!(
            incident_id = %incident_id,
            error_kind = error.kind().as_str(),
            error_type = error.provider_code(),
            tokens_emitted = self.log.tokens_emitted,
            "stream_failed"
        );
        let frame = ErrorFrame {
            kind: "error",
            message: "stream_failed",
            code: error.kind().stream_error_code(),
            incident_id: incident_id.as_str(),
            request_id: self.input.context.request_id.as_str(),
            tokens_emitted: self.log.tokens_emitted,
        };
        self.log.incident_id = Some(incident_id.clone());
        self.log.error_kind = Some(error.kind().as_str());
        self.send(&Frame::data(to_json(&frame)).event("error"))
            .await?;
        self.log.finish("error", 200);
        Ok(Relay::Finished)
    }

    async fn done(&mut self, route: &ChainRoute, reason: FinishReason) -> Result<(), Stop> {
        let frame = DoneFrame {
            kind: "done",
            request_id: self.input.context.request_id.as_str(),
            model_route: Some(&route.name),
            usage: self.log.usage.into(),
            cost_usd: self.log.cost_usd,
            finish_reason: Some(reason.as_str()),
            degraded: false,
            incident_id: None,
        };
        self.send(&Frame::data(to_json(&frame)).event("done"))
            .await?;
        self.log.finish("ok", 200);
        Ok(())
    }

    /// Every route failed before its first token: send the degraded answer, or
    /// an error frame when degraded answers are off.
    async fn degraded(&mut self) -> Result<(), Stop> {
        let incident_id = IncidentId::generate();
        self.log.incident_id = Some(incident_id.clone());
        let request_id = self.input.context.request_id.clone();
        let settings = self.app.config.file.degraded.clone();
        if !settings.enabled {
            let frame = ErrorFrame {
                kind: "error",
                message: "stream_failed",
                code: "upstream_error",
                incident_id: incident_id.as_str(),
                request_id: request_id.as_str(),
                tokens_emitted: 0,
            };
            self.send(&Frame::data(to_json(&frame)).event("error"))
                .await?;
            self.log.finish("error", 200);
            return Ok(());
        }
        tracing::warn!(incident_id = %incident_id, fallback_tier = "static", "degraded_answer");
        self.send(&Frame::data(to_json(&TokenFrame {
            token: &settings.message,
        })))
        .await?;
        self.log.token_sent();
        let frame = DoneFrame {
            kind: "done",
            request_id: request_id.as_str(),
            model_route: None,
            usage: self.log.usage.into(),
            cost_usd: self.log.cost_usd,
            finish_reason: None,
            degraded: true,
            incident_id: Some(incident_id.as_str()),
        };
        self.send(&Frame::data(to_json(&frame)).event("done"))
            .await?;
        self.log.finish("degraded", 200);
        Ok(())
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), Stop> {
        self.sender
            .send(frame.to_bytes())
            .await
            .map_err(|_| Stop::ClientGone)
    }
}

enum Relay {
    Finished,
    FailedBeforeFirstToken(ProviderError),
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}
