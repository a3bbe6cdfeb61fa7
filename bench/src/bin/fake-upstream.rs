//! A fast OpenAI-compatible upstream for load benchmarks.
//!
//! Listens on 127.0.0.1 (port 0 by default, so the kernel picks a free one) and
//! prints `listening on ADDR` once it accepts connections. It speaks HTTP/1.1,
//! and HTTP/2 to clients that start with the HTTP/2 preface (h2c). `POST
//! /v1/chat/completions` returns a fixed small completion with usage, or, when
//! the request has `"stream": true`, a fixed number of OpenAI chunks followed by
//! a usage chunk and `[DONE]`. A request for the model `bench-hold` gets one
//! token and then stays open, silent, for `--hold-secs`, to measure the memory
//! of open streams. A request for `bench-long` gets up to `--long-tokens`
//! tokens as fast as the client takes them, without an end. Its end is logged
//! on stderr with the tokens sent and the time of the last one, to show whether
//! a slow client pauses the upstream.
//!
//! ```text
//! fake-upstream [--listen 127.0.0.1:0] [--tokens 50] [--token-delay-us 0]
//!               [--hold-secs 60] [--long-tokens 1000000]
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Words of the streamed completion, cycled until `--tokens` are sent. Sentences
/// end every few words, so an output guard that holds text until a sentence
/// ends releases it early and often, as with typical model output.
const WORDS: [&str; 8] = [
    "Hello",
    " from",
    " the",
    " fake",
    " upstream.",
    " It",
    " streams",
    " tokens.",
];

/// Streams one HTTP/2 connection may carry at once.
const MAX_HTTP2_STREAMS: u32 = 100_000;

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":0,"model":"bench-1","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the fake upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}"#;

#[derive(Debug, Clone)]
struct Settings {
    listen: SocketAddr,
    tokens: usize,
    token_delay: Duration,
    hold: Duration,
    long_tokens: usize,
}

/// The fields of a chat request that choose the response; the rest is ignored.
#[derive(Debug, Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: String,
    #[serde(default)]
    stream: bool,
}

type Body = BoxBody<Bytes, Infallible>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Arc::new(parse_args()?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(settings))
}

fn parse_args() -> Result<Settings, String> {
    let mut settings = Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tokens: 50,
        token_delay: Duration::ZERO,
        hold: Duration::from_secs(60),
        long_tokens: 1_000_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let invalid = |error: &dyn std::fmt::Display| format!("invalid {flag} {value:?}: {error}");
        match flag.as_str() {
            "--listen" => settings.listen = value.parse().map_err(|e| invalid(&e))?,
            "--tokens" => settings.tokens = value.parse().map_err(|e| invalid(&e))?,
            "--token-delay-us" => {
                settings.token_delay =
                    Duration::from_micros(value.parse().map_err(|e| invalid(&e))?);
            }
            "--long-tokens" => settings.long_tokens = value.parse().map_err(|e| invalid(&e))?,
            "--hold-secs" => {
                settings.hold = Duration::from_secs(value.parse().map_err(|e| invalid(&e))?);
            }
            _ => {
                return Err(format!(
                    "unknown option {flag}; see the header of fake-upstream.rs"
                ));
            }
        }
    }
    if !settings.listen.ip().is_loopback() {
        return Err(format!(
            "--listen {} is not a loopback address; the benchmark stays on 127.0.0.1",
            settings.listen
        ));
    }
    Ok(settings)
}

async fn serve(settings: Arc<Settings>) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(settings.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let settings = settings.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(settings.clone(), request));
            // HTTP/1.1, or HTTP/2 for a client that opens with its preface
            // (h2c). Held streams over HTTP/2 all share one connection, so
            // the stream limit is far above what the benchmark keeps open.
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(MAX_HTTP2_STREAMS);
            // Errors here are clients that went away mid-response.
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    settings: Arc<Settings>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    if request.uri().path() != "/v1/chat/completions" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "only POST /v1/chat/completions",
        ));
    }
    let Ok(body) = request.into_body().collect().await else {
        return Ok(plain(StatusCode::BAD_REQUEST, "request body read failed"));
    };
    let chat: ChatRequest = match serde_json::from_slice(&body.to_bytes()) {
        Ok(chat) => chat,
        Err(error) => return Ok(plain(StatusCode::BAD_REQUEST, &error.to_string())),
    };
    if !chat.stream {
        return Ok(json_response(
            Full::new(Bytes::from_static(COMPLETION.as_bytes())).boxed(),
        ));
    }
    let (sender, receiver) = mpsc::channel::<Bytes>(8);
    match chat.model.as_str() {
        "bench-hold" => {
            tokio::spawn(hold(sender, settings.hold));
        }
        "bench-long" => {
            let tokens = settings.long_tokens;
            tokio::spawn(async move {
                // The time of the last chunk the client took shows when a slow
                // client paused this stream; the end shows when it was dropped.
                let started = std::time::Instant::now();
                let mut sent = 0;
                let mut last_sent = Duration::ZERO;
                while sent < tokens {
                    let chunk = content_chunk(WORDS[sent % WORDS.len()]);
                    if sender.send(chunk).await.is_err() {
                        break;
                    }
                    sent += 1;
                    last_sent = started.elapsed();
                }
                eprintln!(
                    "long_stream_ended sent={sent} of={tokens} last_sent_secs={:.1} secs={:.1}",
                    last_sent.as_secs_f64(),
                    started.elapsed().as_secs_f64()
                );
            });
        }
        _ => {
            tokio::spawn(stream_tokens(sender, settings.tokens, settings.token_delay));
        }
    }
    let frames = futures_stream(receiver);
    let mut response = Response::new(StreamBody::new(frames).boxed());
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    Ok(response)
}

/// Sends `tokens` content chunks, a finish chunk, a usage chunk and `[DONE]`,
/// and returns the number of content chunks the client took.
async fn stream_tokens(sender: mpsc::Sender<Bytes>, tokens: usize, delay: Duration) -> usize {
    for index in 0..tokens {
        if index > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let word = WORDS[index % WORDS.len()];
        if sender.send(content_chunk(word)).await.is_err() {
            return index;
        }
    }
    let tail = format!(
        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench-1\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n\
         data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench-1\",\"choices\":[],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":{tokens},\"total_tokens\":{}}}}}\n\n\
         data: [DONE]\n\n",
        tokens + 12
    );
    let _ = sender.send(Bytes::from(tail)).await;
    tokens
}

/// Sends one complete sentence, then keeps the stream open without a byte
/// until `hold` passes or the client leaves.
async fn hold(sender: mpsc::Sender<Bytes>, hold: Duration) {
    if sender.send(content_chunk("Held.")).await.is_err() {
        return;
    }
    tokio::select! {
        () = tokio::time::sleep(hold) => {}
        () = sender.closed() => {}
    }
}

fn content_chunk(text: &str) -> Bytes {
    Bytes::from(format!(
        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench-1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
        serde_json::Value::from(text)
    ))
}

fn futures_stream(
    receiver: mpsc::Receiver<Bytes>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        let bytes = receiver.recv().await?;
        Some((Ok(Frame::data(bytes)), receiver))
    })
}

fn json_response(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(message.to_owned())).boxed());
    *response.status_mut() = status;
    response
}
