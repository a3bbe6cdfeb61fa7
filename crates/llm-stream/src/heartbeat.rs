use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

/// An item of a [`Heartbeat`] stream: the inner stream's item, or a beat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat<T> {
    /// An item from the wrapped stream.
    Item(T),
    /// The wrapped stream was silent for the whole interval.
    Heartbeat,
}

pin_project! {
    /// Wraps a stream and yields [`Beat::Heartbeat`] whenever the stream has been
    /// silent for `interval`, including before its first item. It ends when the
    /// wrapped stream ends.
    ///
    /// The timer runs on tokio's clock, so tests can drive it with a paused clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures_util::StreamExt;
    /// use llm_stream::{Beat, Heartbeat};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let slow = futures_util::stream::once(async {
    ///     tokio::time::sleep(Duration::from_secs(20)).await;
    ///     "token"
    /// });
    /// let beats: Vec<_> = Heartbeat::new(slow, Duration::from_secs(15)).collect().await;
    /// assert_eq!(beats, vec![Beat::Heartbeat, Beat::Item("token")]);
    /// # });
    /// ```
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Heartbeat<S> {
        #[pin]
        inner: S,
        #[pin]
        timer: Sleep,
        interval: Duration,
        finished: bool,
    }
}

impl<S> Heartbeat<S> {
    /// Wraps `inner`, beating after every `interval` of silence.
    pub fn new(inner: S, interval: Duration) -> Self {
        Self {
            inner,
            timer: tokio::time::sleep(interval),
            interval,
            finished: false,
        }
    }

    /// Returns the wrapped stream.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Stream> Stream for Heartbeat<S> {
    type Item = Beat<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.finished {
            return Poll::Ready(None);
        }

        match this.inner.poll_next(cx) {
            Poll::Ready(Some(item)) => {
                this.timer.as_mut().reset(Instant::now() + *this.interval);
                return Poll::Ready(Some(Beat::Item(item)));
            }
            Poll::Ready(None) => {
                *this.finished = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }

        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timer.as_mut().reset(Instant::now() + *this.interval);
                Poll::Ready(Some(Beat::Heartbeat))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn beats_while_waiting_for_first_item() {
        let (tx, rx) = tokio::sync::mpsc::channel::<u32>(1);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut beats = Box::pin(Heartbeat::new(stream, Duration::from_secs(15)));

        tokio::time::advance(Duration::from_secs(16)).await;
        assert_eq!(beats.next().await, Some(Beat::Heartbeat));

        tx.send(7).await.unwrap();
        assert_eq!(beats.next().await, Some(Beat::Item(7)));

        drop(tx);
        assert_eq!(beats.next().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn items_reset_the_timer() {
        let items = futures_util::stream::iter([1, 2, 3]).then(|i| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            i
        });
        let beats: Vec<_> = Heartbeat::new(items, Duration::from_secs(15))
            .collect()
            .await;
        assert_eq!(beats, vec![Beat::Item(1), Beat::Item(2), Beat::Item(3)]);
    }
}
