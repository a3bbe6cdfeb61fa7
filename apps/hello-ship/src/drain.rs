//! In-flight request tracking for a graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Counts in-flight requests and signals when the last one has finished.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
    /// Set when the grace period ran out with requests still in flight.
    expired: AtomicBool,
    expiry: Notify,
}

impl Drain {
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Marks the start of a request; the request ends when the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            drain: Arc::clone(self),
        }
    }

    /// Starts draining and waits until no request is in flight or `grace` has
    /// passed. Returns the number of requests still in flight at the end.
    pub(crate) async fn drain(&self, grace: Duration) -> usize {
        self.draining.store(true, Ordering::Release);
        let wait_for_idle = async {
            loop {
                let notified = self.idle.notified();
                if self.in_flight() == 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(grace, wait_for_idle).await.is_err() {
            self.expired.store(true, Ordering::Release);
            self.expiry.notify_waiters();
        }
        self.in_flight()
    }

    /// Resolves when the grace period has run out with requests still in
    /// flight, so that streams can end with an error frame instead of being cut.
    pub(crate) async fn expired(&self) {
        loop {
            let notified = self.expiry.notified();
            if self.expired.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// Guard of one in-flight request.
#[derive(Debug)]
pub(crate) struct InFlight {
    drain: Arc<Drain>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.drain.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drain.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_last_request() {
        let drain = Arc::new(Drain::default());
        let guard = drain.enter();
        let waiter = {
            let drain = drain.clone();
            tokio::spawn(async move { drain.drain(Duration::from_secs(30)).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(drain.is_draining());
        drop(guard);
        assert_eq!(waiter.await.unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_grace() {
        let drain = Arc::new(Drain::default());
        let _guard = drain.enter();
        let watcher = {
            let drain = drain.clone();
            tokio::spawn(async move { drain.expired().await })
        };
        assert_eq!(drain.drain(Duration::from_secs(5)).await, 1);
        tokio::time::timeout(Duration::from_secs(1), watcher)
            .await
            .expect("expiry announced")
            .unwrap();
    }
}
