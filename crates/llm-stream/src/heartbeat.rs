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
    use futures_util::{FutureExt, StreamExt};

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

    /// Returns a stream that yields what `tx` sends and ends when it is dropped.
    fn channel_stream() -> (
        tokio::sync::mpsc::Sender<u32>,
        impl Stream<Item = u32> + Unpin,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel::<u32>(4);
        let stream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
        (tx, stream)
    }

    #[tokio::test(start_paused = true)]
    async fn no_beat_before_interval() {
        let (_tx, stream) = channel_stream();
        let mut beats = Box::pin(Heartbeat::new(stream, Duration::from_secs(15)));

        tokio::time::advance(Duration::from_millis(14_999)).await;
        assert_eq!(beats.next().now_or_never(), None);

        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(beats.next().now_or_never(), Some(Some(Beat::Heartbeat)));
    }

    #[tokio::test(start_paused = true)]
    async fn beats_repeat_every_interval() {
        let (_tx, stream) = channel_stream();
        let mut beats = Box::pin(Heartbeat::new(stream, Duration::from_secs(15)));
        let start = Instant::now();

        for n in 1..=3 {
            assert_eq!(beats.next().await, Some(Beat::Heartbeat));
            assert_eq!(start.elapsed(), Duration::from_secs(15 * n));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn beat_counts_from_last_item() {
        let (tx, stream) = channel_stream();
        let mut beats = Box::pin(Heartbeat::new(stream, Duration::from_secs(15)));
        let start = Instant::now();

        tokio::time::advance(Duration::from_secs(10)).await;
        tx.send(1).await.unwrap();
        assert_eq!(beats.next().await, Some(Beat::Item(1)));

        assert_eq!(beats.next().await, Some(Beat::Heartbeat));
        assert_eq!(start.elapsed(), Duration::from_secs(25));
    }

    #[tokio::test(start_paused = true)]
    async fn ends_with_inner_without_beat() {
        let (tx, stream) = channel_stream();
        let mut beats = Box::pin(Heartbeat::new(stream, Duration::from_secs(15)));

        tokio::time::advance(Duration::from_secs(10)).await;
        drop(tx);
        assert_eq!(beats.next().await, None);

        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(beats.next().now_or_never(), Some(None));
    }

    #[tokio::test(start_paused = true)]
    async fn ready_item_wins_over_due_beat() {
        let (tx, stream) = channel_stream();
        let mut beats = Box::pin(Heartbeat::new(stream, Duration::from_secs(15)));

        tokio::time::advance(Duration::from_secs(20)).await;
        tx.send(7).await.unwrap();
        assert_eq!(beats.next().await, Some(Beat::Item(7)));
        assert_eq!(beats.next().now_or_never(), None);
    }

    #[test]
    fn into_inner_returns_the_stream() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        let beats = Heartbeat::new(futures_util::stream::iter([1, 2]), Duration::from_secs(1));
        let rest: Vec<u32> = runtime.block_on(beats.into_inner().collect());
        assert_eq!(rest, [1, 2]);
    }
}
