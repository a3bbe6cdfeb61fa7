//! A provider whose calls follow a script, records when they were made, and
//! counts streams and calls that were dropped before they ended.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different part"
)]
#![allow(clippy::unwrap_used, reason = "a poisoned lock fails the test")]

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt;
use llm_providers::mock::{MockProvider, MockScript};
use llm_providers::{BoxFuture, ChatStream, Provider, ProviderError, ProviderRequest, StreamEvent};
use llm_resilience::{Chain, ChainConfig, ChainEvent, ResilientStream, Route};
use shipped_core::{ChatMessage, ChatRequest, Completion, UpstreamErrorKind};
use tokio::time::Instant;

/// What one call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Fail with this HTTP status and, if set, a `Retry-After` in seconds.
    Status(u16, Option<u64>),
    /// Fail with this kind before any output.
    Kind(UpstreamErrorKind),
    /// Answer as the mock script says.
    Answer,
}

#[derive(Debug)]
pub struct Scripted {
    steps: Mutex<VecDeque<Step>>,
    then: Step,
    mock: MockProvider,
    call_times: Mutex<Vec<Instant>>,
    requests: Mutex<Vec<ProviderRequest>>,
    dropped_streams: Arc<AtomicUsize>,
    cancelled_calls: Arc<AtomicUsize>,
}

impl Scripted {
    /// Follows `steps` in order, then repeats `then`.
    pub fn new(steps: impl IntoIterator<Item = Step>, then: Step, script: MockScript) -> Arc<Self> {
        Arc::new(Self {
            steps: Mutex::new(steps.into_iter().collect()),
            then,
            mock: MockProvider::new(script),
            call_times: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            dropped_streams: Arc::new(AtomicUsize::new(0)),
            cancelled_calls: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Does `step` on every call.
    pub fn always(step: Step) -> Arc<Self> {
        Self::new([], step, MockScript::default().answer("Fine."))
    }

    /// Answers `text` on every call.
    pub fn answering(text: &str) -> Arc<Self> {
        Self::new([], Step::Answer, MockScript::default().answer(text))
    }

    pub fn calls(&self) -> usize {
        self.call_times.lock().unwrap().len()
    }

    pub fn call_times(&self) -> Vec<Instant> {
        self.call_times.lock().unwrap().clone()
    }

    pub fn requests(&self) -> Vec<ProviderRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Streams dropped before they ended.
    pub fn dropped_streams(&self) -> usize {
        self.dropped_streams.load(Ordering::SeqCst)
    }

    /// Complete calls dropped before they returned.
    pub fn cancelled_calls(&self) -> usize {
        self.cancelled_calls.load(Ordering::SeqCst)
    }

    fn next_step(&self, request: &ProviderRequest) -> Step {
        self.call_times.lock().unwrap().push(Instant::now());
        self.requests.lock().unwrap().push(request.clone());
        self.steps.lock().unwrap().pop_front().unwrap_or(self.then)
    }
}

fn step_error(step: Step) -> Option<ProviderError> {
    match step {
        Step::Status(status, retry_after) => {
            let error = ProviderError::from_status(status);
            Some(match retry_after {
                Some(secs) => error.with_retry_after(Duration::from_secs(secs)),
                None => error,
            })
        }
        Step::Kind(kind) => Some(ProviderError::new(kind)),
        Step::Answer => None,
    }
}

impl Provider for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }

    fn complete<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        let step = self.next_step(request);
        Box::pin(async move {
            if let Some(error) = step_error(step) {
                return Err(error);
            }
            let guard = CancelGuard {
                counter: Arc::clone(&self.cancelled_calls),
                armed: true,
            };
            let result = self.mock.complete(request).await;
            guard.disarm();
            result
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        let step = self.next_step(request);
        Box::pin(async move {
            if let Some(error) = step_error(step) {
                return Err(error);
            }
            let inner = self.mock.stream(request).await?;
            let stream: ChatStream = Box::pin(Tracked {
                inner,
                ended: false,
                dropped: Arc::clone(&self.dropped_streams),
            });
            Ok(stream)
        })
    }
}

struct CancelGuard {
    counter: Arc<AtomicUsize>,
    armed: bool,
}

impl CancelGuard {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if self.armed {
            self.counter.fetch_add(1, Ordering::SeqCst);
        }
    }
}

struct Tracked {
    inner: ChatStream,
    ended: bool,
    dropped: Arc<AtomicUsize>,
}

impl Stream for Tracked {
    type Item = Result<StreamEvent, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let poll = self.inner.poll_next_unpin(cx);
        if matches!(
            poll,
            Poll::Ready(None) | Poll::Ready(Some(Ok(StreamEvent::Finish(_))))
        ) {
            self.ended = true;
        }
        poll
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.ended {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub fn route(name: &str, provider: Arc<Scripted>) -> Route {
    Route::new(name, format!("{name}-model"), provider)
}

pub fn chain(routes: Vec<Route>, config: ChainConfig) -> Chain {
    routes
        .into_iter()
        .fold(Chain::builder("test"), |builder, route| {
            builder.route(route)
        })
        .config(config)
        .build()
        .unwrap()
}

pub fn request() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user("What is the capital of France?")])
}

pub async fn collect(mut stream: ResilientStream) -> Vec<ChainEvent> {
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event);
    }
    events
}

/// Returns the text a client would keep: text events, minus rolled-back ones.
pub fn text_of(events: &[ChainEvent]) -> String {
    let mut text = String::new();
    for event in events {
        match event {
            ChainEvent::Text(piece) => text.push_str(piece),
            ChainEvent::Rollback => text.clear(),
            _ => {}
        }
    }
    text
}

pub fn attempted_routes(events: &[ChainEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            ChainEvent::Attempt(attempt) => Some(attempt.route.clone()),
            _ => None,
        })
        .collect()
}
