//! A server-sent events response over a pipeline's events, in any wire format.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use llm_stream::{Beat, Frame, Heartbeat};
use tokio::sync::mpsc;

use crate::pipeline::PipelineEvent;
use crate::server::response::Body;

/// Builds the SSE response: each pipeline event goes through `encode`, which
/// returns the bytes of zero or more frames, and a `: heartbeat` comment goes
/// out after every `heartbeat` of silence, including before the first token.
/// The body ends when the producer closes the channel.
pub(crate) fn sse_response(
    receiver: mpsc::Receiver<PipelineEvent>,
    heartbeat: Duration,
    mut encode: impl FnMut(PipelineEvent) -> Bytes + Send + 'static,
) -> Response<Body> {
    let events = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (event, receiver))
    });
    let heartbeat_frame = Frame::comment("heartbeat").to_bytes();
    let body = Heartbeat::new(events, heartbeat)
        .map(move |beat| match beat {
            Beat::Item(event) => encode(event),
            Beat::Heartbeat => heartbeat_frame.clone(),
        })
        .filter(|bytes| std::future::ready(!bytes.is_empty()))
        .map(|bytes| Ok::<_, Infallible>(hyper::body::Frame::data(bytes)));

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

/// Serializes a frame's JSON data; the types passed here always serialize.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}
