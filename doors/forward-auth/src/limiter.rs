//! Bounded concurrency with a bounded queue: at most `max_in_flight`
//! decisions run; up to `max_queue` more wait at most `queue_timeout`; any
//! request beyond that is answered 503 at once instead of piling up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::settings::ServeLimits;

/// Decision slots shared by every listener.
#[derive(Debug)]
pub struct Limiter {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
    queue_timeout: Duration,
}

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// The queue is full.
    QueueFull,
    /// A slot did not free up within the queue timeout.
    QueueTimeout,
}

impl Limiter {
    /// Slots and queue as the limits say.
    pub fn new(limits: &ServeLimits) -> Self {
        Limiter {
            slots: Arc::new(Semaphore::new(limits.max_in_flight)),
            waiting: AtomicUsize::new(0),
            max_queue: limits.max_queue,
            queue_timeout: limits.queue_timeout,
        }
    }

    /// A slot, at once when one is free, else after a bounded wait in a
    /// bounded queue.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, Overload> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Overload::QueueFull);
        }
        let waited =
            tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Overload::QueueTimeout),
        }
    }

    /// Requests waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beyond_slots_and_queue_the_answer_is_immediate() {
        let limits = ServeLimits {
            max_in_flight: 1,
            max_queue: 1,
            queue_timeout: Duration::from_millis(50),
            ..ServeLimits::default()
        };
        let limiter = Arc::new(Limiter::new(&limits));
        let held = limiter.acquire().await.expect("a free slot");
        // One waits in the queue (and times out), the next finds it full.
        let queued = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire().await.map(|_| ()) })
        };
        while limiter.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        assert_eq!(
            limiter.acquire().await.map(|_| ()),
            Err(Overload::QueueFull)
        );
        assert!(started.elapsed() < Duration::from_millis(40));
        assert_eq!(queued.await.expect("task"), Err(Overload::QueueTimeout));
        drop(held);
        assert!(limiter.acquire().await.is_ok());
    }
}
