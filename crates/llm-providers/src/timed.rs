//! Stage deadlines on a [`ChatStream`]: first token, idle gap and total.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use shipped_core::UpstreamErrorKind;
use tokio::time::{Instant, Sleep};

use crate::{ChatStream, ProviderError, StreamEvent, Timeouts};

/// A stream that fails with [`UpstreamErrorKind::Timeout`] when a stage
/// deadline passes, then ends.
struct TimedStream {
    inner: ChatStream,
    sleep: Pin<Box<Sleep>>,
    total_deadline: Instant,
    idle: std::time::Duration,
    seen_token: bool,
    done: bool,
}

/// Applies `timeouts` to `inner`, counting from `started`, the moment the
/// call began. Before the first text or tool-call event the first-token
/// deadline applies; after it, each event must follow the previous one within
/// the idle timeout. The total deadline applies throughout.
pub(crate) fn with_timeouts(
    inner: ChatStream,
    timeouts: &Timeouts,
    started: Instant,
) -> ChatStream {
    let total_deadline = started + timeouts.total();
    let first_deadline = (started + timeouts.first_token()).min(total_deadline);
    Box::pin(TimedStream {
        inner,
        sleep: Box::pin(tokio::time::sleep_until(first_deadline)),
        total_deadline,
        idle: timeouts.idle(),
        seen_token: false,
        done: false,
    })
}

impl Stream for TimedStream {
    type Item = Result<StreamEvent, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = self.inner.as_mut().poll_next(cx) {
            match &item {
                Some(Ok(event)) => {
                    if matches!(event, StreamEvent::Text(_) | StreamEvent::ToolCall(_)) {
                        self.seen_token = true;
                    }
                    if self.seen_token {
                        let next = (Instant::now() + self.idle).min(self.total_deadline);
                        self.sleep.as_mut().reset(next);
                    }
                }
                Some(Err(_)) | None => self.done = true,
            }
            return Poll::Ready(item);
        }
        ready!(self.sleep.as_mut().poll(cx));
        self.done = true;
        Poll::Ready(Some(Err(ProviderError::new(UpstreamErrorKind::Timeout))))
    }
}

impl std::fmt::Debug for TimedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedStream")
            .field("seen_token", &self.seen_token)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
