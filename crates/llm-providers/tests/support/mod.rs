//! A fake provider for the integration tests: a small hyper server on
//! 127.0.0.1 that replays scripted responses byte for byte and records every
//! request it receives.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part of this module"
)]

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use llm_providers::{ChatStream, ProviderError, StreamEvent};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Absolute path of a file under the repository's `testdata/`.
pub fn testdata(path: &str) -> String {
    format!("{}/../../testdata/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Bytes of a fixture under `testdata/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("fixtures/{name}"))).expect("fixture exists")
}

/// Parses a field case under `testdata/cases/`.
pub fn case(id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(testdata(&format!("cases/{id}.json"))).expect("case exists");
    serde_json::from_str(&text).expect("case is JSON")
}

/// What the connection does after the last chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The body ends normally.
    Close,
    /// The connection is reset without finishing the body.
    Abort,
    /// Nothing more is sent and the connection stays open.
    Stall,
}

/// One scripted response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub chunks: Vec<Bytes>,
    /// Delay before each chunk.
    pub delay: Duration,
    /// Delay before the response headers.
    pub header_delay: Duration,
    pub end: End,
}

impl Reply {
    /// Creates a response with this status, no headers and an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            chunks: Vec::new(),
            delay: Duration::ZERO,
            header_delay: Duration::ZERO,
            end: End::Close,
        }
    }

    /// Creates a 200 event stream that sends `chunks` as separate writes.
    pub fn sse(chunks: Vec<Bytes>) -> Self {
        Self::status(200)
            .header("content-type", "text/event-stream")
            .chunks(chunks)
    }

    /// Creates a 200 AWS event stream that sends `chunks` as separate writes.
    pub fn eventstream(chunks: Vec<Bytes>) -> Self {
        Self::status(200)
            .header("content-type", "application/vnd.amazon.eventstream")
            .chunks(chunks)
    }

    /// Creates a response with a JSON body.
    pub fn json(status: u16, body: &[u8]) -> Self {
        Self::status(status)
            .header("content-type", "application/json")
            .chunks(vec![Bytes::copy_from_slice(body)])
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn chunks(mut self, chunks: Vec<Bytes>) -> Self {
        self.chunks = chunks;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn header_delay(mut self, delay: Duration) -> Self {
        self.header_delay = delay;
        self
    }

    pub fn end(mut self, end: End) -> Self {
        self.end = end;
        self
    }
}

/// A request as the fake provider received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub version: hyper::Version,
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

struct State {
    replies: Vec<Reply>,
    served: usize,
    requests: Vec<Recorded>,
}

/// The running fake provider. Requests take the scripted replies in order; the
/// last reply repeats. The server stops when this value is dropped.
pub struct FakeProvider {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FakeProvider {
    pub async fn start(replies: Vec<Reply>) -> Self {
        Self::start_serving(replies, false).await
    }

    /// Starts a server that speaks only HTTP/2 over plain TCP (h2c), as a
    /// proxy with an `http2` listener does.
    pub async fn start_http2(replies: Vec<Reply>) -> Self {
        Self::start_serving(replies, true).await
    }

    async fn start_serving(replies: Vec<Reply>, http2_only: bool) -> Self {
        assert!(!replies.is_empty(), "script at least one reply");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            replies,
            served: 0,
            requests: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                stream.set_nodelay(true).ok();
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request| serve(request, Arc::clone(&state)));
                    let io = TokioIo::new(stream);
                    let _ = if http2_only {
                        http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await
                    } else {
                        http1::Builder::new().serve_connection(io, service).await
                    };
                });
            }
        });
        Self { addr, state, task }
    }

    pub async fn single(reply: Reply) -> Self {
        Self::start(vec![reply]).await
    }

    /// `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("state lock").requests.clone()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ReplyBody = StreamBody<Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, io::Error>> + Send>>>;

async fn serve(
    request: Request<Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<Response<ReplyBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let reply = {
        let mut state = state.lock().expect("state lock");
        state.requests.push(Recorded {
            version: parts.version,
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map(|path| path.to_string())
                .unwrap_or_default(),
            headers: parts.headers,
            body,
        });
        let index = state.served.min(state.replies.len() - 1);
        state.served += 1;
        state.replies[index].clone()
    };
    tokio::time::sleep(reply.header_delay).await;

    let delay = reply.delay;
    let chunks = stream::iter(reply.chunks).then(move |chunk| async move {
        if delay.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(delay).await;
        }
        Ok::<_, io::Error>(Frame::data(chunk))
    });
    let tail: Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, io::Error>> + Send>> = match reply.end
    {
        End::Close => Box::pin(stream::empty()),
        End::Abort => Box::pin(stream::once(async {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "scripted abort",
            ))
        })),
        End::Stall => Box::pin(stream::pending()),
    };
    let body: Pin<Box<dyn Stream<Item = _> + Send>> = Box::pin(chunks.chain(tail));

    let mut response = Response::new(StreamBody::new(body));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("valid status");
    for (name, value) in reply.headers {
        response.headers_mut().append(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    Ok(response)
}

/// Returns the body as one write.
pub fn whole(bytes: &[u8]) -> Vec<Bytes> {
    vec![Bytes::copy_from_slice(bytes)]
}

/// Splits the body into one-byte writes.
pub fn bytewise(bytes: &[u8]) -> Vec<Bytes> {
    bytes
        .iter()
        .map(|byte| Bytes::copy_from_slice(&[*byte]))
        .collect()
}

/// Cuts the body at pseudo-random points, the same for the same seed.
pub fn random_splits(bytes: &[u8], seed: u64) -> Vec<Bytes> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        // xorshift64: deterministic and dependency-free.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 1 + (state % 97) as usize;
        let end = (start + len).min(bytes.len());
        chunks.push(Bytes::copy_from_slice(&bytes[start..end]));
        start = end;
    }
    chunks
}

/// Lists the ways every transcript is replayed: whole, in 1-byte writes, and at
/// random split points (three seeds) with 1 ms delays.
pub fn replays(bytes: &[u8]) -> Vec<(String, Reply)> {
    let mut replays = vec![
        ("whole".to_owned(), Reply::status(200).chunks(whole(bytes))),
        (
            "bytewise".to_owned(),
            Reply::status(200).chunks(bytewise(bytes)),
        ),
    ];
    for seed in 1..=3 {
        replays.push((
            format!("random split, seed {seed}"),
            Reply::status(200)
                .chunks(random_splits(bytes, seed))
                .delay(Duration::from_millis(1)),
        ));
    }
    replays
}

/// Byte offsets just after each SSE event (each blank line), the places a
/// stream can be cut between two events.
pub fn sse_event_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'\n' && bytes[i + 1] == b'\n' {
            ends.push(i + 2);
            i += 2;
        } else {
            i += 1;
        }
    }
    ends
}

/// Everything a stream yielded, and the error that ended it, if any.
#[derive(Debug, Default)]
pub struct Collected {
    pub events: Vec<StreamEvent>,
    pub error: Option<ProviderError>,
}

impl Collected {
    pub fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|event| match event {
                StreamEvent::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn finish(&self) -> Option<shipped_core::FinishReason> {
        match self.events.last() {
            Some(StreamEvent::Finish(reason)) => Some(*reason),
            _ => None,
        }
    }

    pub fn usages(&self) -> Vec<shipped_core::Usage> {
        self.events
            .iter()
            .filter_map(|event| match event {
                StreamEvent::Usage(usage) => Some(*usage),
                _ => None,
            })
            .collect()
    }

    pub fn tool_calls(&self) -> Vec<shipped_core::ToolCall> {
        let mut assembler = llm_providers::ToolCallAssembler::new();
        for event in &self.events {
            if let StreamEvent::ToolCall(delta) = event {
                assembler.push(delta);
            }
        }
        assembler.finish()
    }
}

/// Drains a stream, checking the contract on the way: nothing follows a
/// `Finish` or an error, and no text event is empty. The loop is bounded.
pub async fn collect(mut stream: ChatStream) -> Collected {
    let mut collected = Collected::default();
    for _ in 0..100_000 {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("stream made progress within 10 s");
        match next {
            None => return collected,
            Some(Ok(event)) => {
                assert!(collected.error.is_none(), "event {event:?} after an error");
                assert!(collected.finish().is_none(), "event {event:?} after Finish");
                if let StreamEvent::Text(text) = &event {
                    assert!(!text.is_empty(), "empty text event");
                    assert_ne!(text, "null", "text event with literal null");
                }
                collected.events.push(event);
            }
            Some(Err(error)) => {
                assert!(collected.error.is_none(), "second error {error}");
                collected.error = Some(error);
            }
        }
    }
    panic!("stream did not end within 100000 items");
}

/// Creates a short user request for `model`.
pub fn request(model: &str) -> llm_providers::ProviderRequest {
    llm_providers::ProviderRequest::new(
        model,
        shipped_core::ChatRequest::new(vec![shipped_core::ChatMessage::user("hi")]),
    )
}
