use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use crate::decode::{DecodeError, Decoder, Event};

/// An error from [`EventStream`].
///
/// The message names only this layer; the cause is the error's
/// [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum EventStreamError<E> {
    /// The bytes are not a valid event stream, or it ended inside an event.
    #[error("failed to decode the server-sent event stream")]
    Decode(#[source] DecodeError),
    /// The underlying byte stream failed.
    #[error("failed to read the server-sent event stream")]
    Transport(#[source] E),
}

pin_project! {
    /// Adapts a stream of byte chunks, such as an HTTP response body, into a
    /// stream of decoded [`Event`]s.
    ///
    /// Decoding follows [`Decoder`]. The stream ends after the first error. When
    /// the byte stream ends inside an event that has data, the last item is
    /// [`EventStreamError::Decode`] with [`DecodeError::Unterminated`], so a cut
    /// connection never looks like a clean end.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures_util::StreamExt;
    /// use llm_stream::EventStream;
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// let body = futures_util::stream::iter([
    ///     Ok::<_, std::io::Error>(Bytes::from_static(b"data: {\"token\":\"Hel")),
    ///     Ok(Bytes::from_static(b"lo\"}\n\ndata: [DONE]\n\n")),
    /// ]);
    /// let data: Vec<String> = EventStream::new(body)
    ///     .map(|event| event.unwrap().data)
    ///     .collect()
    ///     .await;
    /// assert_eq!(data, ["{\"token\":\"Hello\"}", "[DONE]"]);
    /// # }).unwrap();
    /// ```
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct EventStream<S> {
        #[pin]
        inner: S,
        decoder: Decoder,
        finished: bool,
    }
}

impl<S> EventStream<S> {
    /// Creates a stream that decodes `inner` with a [`Decoder::new`] decoder.
    pub fn new(inner: S) -> Self {
        Self::with_decoder(inner, Decoder::new())
    }

    /// Creates a stream that decodes `inner` with `decoder`.
    ///
    /// Use it to set other limits, or to pass the decoder of a previous
    /// connection so that its last event id and retry time carry over.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures_util::StreamExt;
    /// use llm_stream::{Decoder, EventStream};
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
    ///     b"data: far more than sixteen bytes\n\n",
    /// ))]);
    /// let mut events = EventStream::with_decoder(body, Decoder::with_max_size(16));
    /// assert!(events.next().await.unwrap().is_err());
    /// assert!(events.next().await.is_none());
    /// # }).unwrap();
    /// ```
    pub fn with_decoder(inner: S, decoder: Decoder) -> Self {
        Self {
            inner,
            decoder,
            finished: false,
        }
    }

    /// Returns the decoder, for its [`last_event_id`](Decoder::last_event_id)
    /// and [`retry`](Decoder::retry).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Returns the decoder, dropping the byte stream.
    ///
    /// Once the stream has ended, the decoder is ready for the stream of a
    /// reconnection and keeps the last event id and retry time.
    pub fn into_decoder(self) -> Decoder {
        self.decoder
    }
}

impl<S, B, E> Stream for EventStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    type Item = Result<Event, EventStreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if *this.finished {
                return Poll::Ready(None);
            }

            if let Some(result) = this.decoder.next_event() {
                if result.is_err() {
                    *this.finished = true;
                    // Leave the decoder ready for a reconnection.
                    let _ = this.decoder.finish();
                }
                return Poll::Ready(Some(result.map_err(EventStreamError::Decode)));
            }

            match ready!(this.inner.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => this.decoder.push(chunk.as_ref()),
                Some(Err(error)) => {
                    *this.finished = true;
                    let _ = this.decoder.finish();
                    return Poll::Ready(Some(Err(EventStreamError::Transport(error))));
                }
                None => {
                    *this.finished = true;
                    let end = this.decoder.finish();
                    return Poll::Ready(end.err().map(|e| Err(EventStreamError::Decode(e))));
                }
            }
        }
    }
}

impl<S, B, E> FusedStream for EventStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    fn is_terminated(&self) -> bool {
        self.finished
    }
}
