//! A fake OpenAI-compatible provider on 127.0.0.1: it answers each request
//! with the next scripted reply, records what it received, and notes when a
//! response body was dropped, which is how it sees hello-ship cancel a call.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// One scripted reply.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    /// Body pieces, each sent after its delay.
    pub(crate) chunks: Vec<(Duration, Bytes)>,
    /// Padding sent every 100 ms while a delay runs, so a closed connection is
    /// noticed by the failed write: SSE comments for streams, spaces for JSON.
    pub(crate) keep_alive: Option<&'static [u8]>,
}

impl Reply {
    /// Builds a reply with a JSON body and `status`.
    pub(crate) fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![(Duration::ZERO, Bytes::from(body.to_owned()))],
            keep_alive: Some(b" "),
        }
    }

    /// Builds an SSE stream of OpenAI chunks, one content delta per piece of
    /// `tokens`, `delay` apart, then a stop chunk, a usage chunk and `[DONE]`.
    pub(crate) fn openai_stream(tokens: &[&str], first_delay: Duration, delay: Duration) -> Self {
        let mut chunks = Vec::new();
        for (index, token) in tokens.iter().enumerate() {
            let wait = if index == 0 { first_delay } else { delay };
            let data = serde_json::json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1718000000,
                "model": "fake-model",
                "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": null}]
            });
            chunks.push((wait, Bytes::from(format!("data: {data}\n\n"))));
        }
        let stop = serde_json::json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1718000000,
            "model": "fake-model",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]
        });
        let usage = serde_json::json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1718000000,
            "model": "fake-model", "choices": [],
            "usage": {"prompt_tokens": 11, "completion_tokens": tokens.len(), "total_tokens": 11 + tokens.len()}
        });
        chunks.push((
            delay,
            Bytes::from(format!("data: {stop}\n\ndata: {usage}\n\ndata: [DONE]\n\n")),
        ));
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            chunks,
            keep_alive: Some(b": keep-alive\n\n"),
        }
    }

    /// Builds a reply exactly as a field case in `testdata/cases` describes it: its
    /// status, headers and reads (base64-decoded when the case says so), each
    /// read after its delay, with delays above `max_delay` shortened to it.
    pub(crate) fn from_case(upstream: &serde_json::Value, max_delay: Duration) -> Self {
        use base64::Engine as _;

        let base64 = upstream["chunks_encoding"] == "base64";
        let delays: Vec<u64> = upstream["delays_ms"]
            .as_array()
            .map(|d| d.iter().filter_map(serde_json::Value::as_u64).collect())
            .unwrap_or_default();
        let chunks = upstream["chunks"]
            .as_array()
            .expect("case chunks")
            .iter()
            .enumerate()
            .map(|(index, chunk)| {
                let text = chunk.as_str().expect("chunk is a string");
                let bytes = if base64 {
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .expect("valid base64 chunk")
                } else {
                    text.as_bytes().to_vec()
                };
                let delay = Duration::from_millis(delays.get(index).copied().unwrap_or(0));
                (delay.min(max_delay), Bytes::from(bytes))
            })
            .collect();
        let headers = upstream["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(name, value)| (name.clone(), value.as_str().unwrap_or("").to_owned()))
                    .filter(|(name, _)| name != "transfer-encoding")
                    .collect()
            })
            .unwrap_or_default();
        Self {
            status: u16::try_from(upstream["status"].as_u64().unwrap_or(200)).expect("status"),
            headers,
            chunks,
            keep_alive: None,
        }
    }

    /// Builds a non-streaming OpenAI completion with `text`, sent after `delay`.
    pub(crate) fn openai_completion(text: &str, delay: Duration) -> Self {
        let body = serde_json::json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1718000000,
            "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
        });
        let mut reply = Self::json(200, &body.to_string());
        reply.chunks[0].0 = delay;
        reply
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) version: http::Version,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: serde_json::Value,
}

/// What happened to one response body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyEnd {
    pub(crate) at: Instant,
    /// Whether every chunk was sent; `false` means the client went away.
    pub(crate) complete: bool,
}

#[derive(Default)]
struct State {
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    ends: Mutex<Vec<BodyEnd>>,
}

/// The running fake; it stops when the test's runtime ends.
#[derive(Clone)]
pub(crate) struct FakeUpstream {
    pub(crate) base_url: String,
    state: Arc<State>,
}

impl FakeUpstream {
    /// Starts the fake on an ephemeral port with `replies` in order; once they
    /// run out it answers 500.
    pub(crate) async fn start(replies: Vec<Reply>) -> Self {
        Self::serve(replies, false).await
    }

    /// Starts the same fake speaking only HTTP/2 over plain TCP (h2c), as a
    /// proxy with an `http2` listener does.
    pub(crate) async fn start_http2(replies: Vec<Reply>) -> Self {
        Self::serve(replies, true).await
    }

    async fn serve(replies: Vec<Reply>, http2_only: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake upstream");
        let addr = listener.local_addr().expect("fake upstream address");
        let state = Arc::new(State {
            replies: Mutex::new(replies.into()),
            ..State::default()
        });
        let accept_state = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = accept_state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| respond(state.clone(), request));
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
        Self {
            base_url: format!("http://{addr}/v1"),
            state,
        }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    pub(crate) fn body_ends(&self) -> Vec<BodyEnd> {
        self.state.ends.lock().expect("lock").clone()
    }

    /// Waits up to `timeout` for `count` bodies to have ended.
    pub(crate) async fn wait_for_body_ends(&self, count: usize, timeout: Duration) -> Vec<BodyEnd> {
        let deadline = Instant::now() + timeout;
        loop {
            let ends = self.body_ends();
            if ends.len() >= count || Instant::now() > deadline {
                return ends;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn respond(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<BoxBody>, Infallible> {
    let version = request.version();
    let headers = request.headers().clone();
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    state.received.lock().expect("lock").push(Received {
        version,
        headers,
        body,
    });

    let reply = state
        .replies
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or_else(|| {
            Reply::json(
                500,
                r#"{"error":{"message":"no reply scripted","type":"server_error"}}"#,
            )
        });

    let guard = EndGuard {
        state: state.clone(),
        complete: false,
    };
    let pieces = futures_util::stream::unfold(
        (
            reply.chunks.into_iter(),
            reply.keep_alive,
            guard,
            None::<Instant>,
        ),
        |(mut chunks, keep_alive, mut guard, mut due)| async move {
            loop {
                let Some((delay, _)) = chunks.as_slice().first() else {
                    guard.mark_complete();
                    return None;
                };
                let at = *due.get_or_insert_with(|| Instant::now() + *delay);
                let now = Instant::now();
                if now >= at {
                    let (_, bytes) = chunks.next()?;
                    due = None;
                    let frame = Ok::<_, Infallible>(Frame::data(bytes));
                    return Some((frame, (chunks, keep_alive, guard, due)));
                }
                let step = (at - now).min(Duration::from_millis(100));
                tokio::time::sleep(step).await;
                if let (Some(padding), true) = (keep_alive, Instant::now() < at) {
                    let frame = Ok(Frame::data(Bytes::from_static(padding)));
                    return Some((frame, (chunks, keep_alive, guard, due)));
                }
            }
        },
    );
    let mut response = Response::new(StreamBody::new(pieces).boxed());
    *response.status_mut() = http::StatusCode::from_u16(reply.status).expect("valid status");
    for (name, value) in reply.headers {
        response.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            http::HeaderValue::from_str(&value).expect("header value"),
        );
    }
    Ok(response)
}

/// Records when a response body is dropped and whether it was sent whole.
struct EndGuard {
    state: Arc<State>,
    complete: bool,
}

impl EndGuard {
    fn mark_complete(&mut self) {
        self.complete = true;
    }
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if let Ok(mut ends) = self.state.ends.lock() {
            ends.push(BodyEnd {
                at: Instant::now(),
                complete: self.complete,
            });
        }
    }
}
