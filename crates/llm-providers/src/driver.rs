//! Turns a response body into a [`ChatStream`] through a provider's parser, and
//! enforces the stream contract: one `Finish` or one `Err`, then nothing.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use shipped_core::UpstreamErrorKind;

use crate::{ChatStream, ProviderError, StreamEvent};

/// A provider's stream parser: bytes in, events out.
pub(crate) trait StreamParser: Send + 'static {
    /// Consumes one network read and queues the events it completes.
    ///
    /// # Errors
    ///
    /// Fails on bytes that break the protocol, and on an error the provider
    /// reports inside the stream.
    fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<(), ProviderError>;

    /// Handles the end of the body and queues any last events.
    ///
    /// # Errors
    ///
    /// Fails with [`UpstreamErrorKind::StreamTruncated`] when the provider's
    /// terminator never came.
    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), ProviderError>;
}

struct DriverState<B, P> {
    body: B,
    parser: P,
    queue: VecDeque<StreamEvent>,
    failure: Option<ProviderError>,
    done: bool,
}

/// Runs `parser` over `body`. The stream ends right after the first
/// [`StreamEvent::Finish`] or error; the body is dropped then, which closes the
/// connection if the provider sent more. Events parsed before a failure are
/// yielded before the error.
pub(crate) fn drive<B, P>(body: B, parser: P) -> ChatStream
where
    B: Stream<Item = Result<Bytes, ProviderError>> + Send + Unpin + 'static,
    P: StreamParser,
{
    let state = DriverState {
        body,
        parser,
        queue: VecDeque::new(),
        failure: None,
        done: false,
    };
    Box::pin(stream::unfold(state, |mut state| async move {
        loop {
            if state.done {
                return None;
            }
            if let Some(event) = state.queue.pop_front() {
                if matches!(event, StreamEvent::Finish(_)) {
                    state.done = true;
                }
                return Some((Ok(event), state));
            }
            if let Some(error) = state.failure.take() {
                state.done = true;
                return Some((Err(error), state));
            }
            let step = match state.body.next().await {
                Some(Ok(chunk)) => state.parser.feed(&chunk, &mut state.queue),
                Some(Err(error)) => Err(error),
                None => state.parser.end(&mut state.queue).and_then(|()| {
                    if state
                        .queue
                        .iter()
                        .any(|e| matches!(e, StreamEvent::Finish(_)))
                    {
                        Ok(())
                    } else {
                        Err(ProviderError::new(UpstreamErrorKind::StreamTruncated))
                    }
                }),
            };
            if let Err(error) = step {
                state.failure = Some(error);
            }
        }
    }))
}
