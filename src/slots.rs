//! A platform's view of the run's job slots (`jobs`): permits from the one semaphore every
//! platform shares, and a clock of the time the platform spent queued — waiting for a slot
//! while none of its containers ran. That time is other platforms' work, not this one's: a
//! platform's TIME leaves it out (with `--jobs 1`, the last platform's TIME used to include every
//! other platform's tests).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// One platform's handle on the run's job slots; clones share the platform's clock.
#[derive(Clone)]
pub struct Slots {
    semaphore: Arc<Semaphore>,
    queue: Arc<Mutex<Queue>>,
}

/// Who of the platform holds a slot or waits for one, and since when nobody has held one while
/// somebody waited.
#[derive(Default)]
struct Queue {
    held: usize,
    waiting: usize,
    since: Option<Instant>,
    total: Duration,
}

impl Queue {
    fn start_waiting(&mut self, now: Instant) {
        self.waiting += 1;
        if self.held == 0 && self.since.is_none() {
            self.since = Some(now);
        }
    }

    fn stop_waiting(&mut self, now: Instant, acquired: bool) {
        self.waiting -= 1;
        if acquired {
            self.held += 1;
        }
        if self.held > 0 || self.waiting == 0 {
            self.close(now);
        }
    }

    fn release(&mut self, now: Instant) {
        self.held -= 1;
        if self.held == 0 && self.waiting > 0 && self.since.is_none() {
            self.since = Some(now);
        }
    }

    fn close(&mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            self.total += now.saturating_duration_since(since);
        }
    }
}

/// A held slot; dropping it frees the slot for the run and for the platform's clock.
pub struct Permit {
    _permit: OwnedSemaphorePermit,
    queue: Arc<Mutex<Queue>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        lock(&self.queue).release(Instant::now());
    }
}

fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    // The clock is plain counters: a panic elsewhere cannot leave it half-written.
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts a wait from its start to its end, even when the waiting future is dropped
/// (cancellation), so that the clock never believes somebody still waits.
struct Waiting<'a> {
    queue: &'a Mutex<Queue>,
    acquired: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(self.queue).stop_waiting(Instant::now(), self.acquired);
    }
}

impl Slots {
    /// A new platform's handle on the run's `semaphore`.
    pub fn for_platform(semaphore: &Arc<Semaphore>) -> Slots {
        Slots {
            semaphore: semaphore.clone(),
            queue: Arc::default(),
        }
    }

    /// Wait for a slot; the error means the semaphore was closed.
    pub async fn acquire(&self) -> Result<Permit, AcquireError> {
        lock(&self.queue).start_waiting(Instant::now());
        let mut waiting = Waiting {
            queue: &self.queue,
            acquired: false,
        };
        let permit = self.semaphore.clone().acquire_owned().await?;
        waiting.acquired = true;
        drop(waiting);
        Ok(Permit {
            _permit: permit,
            queue: self.queue.clone(),
        })
    }

    /// The time so far that the platform waited for a slot with none of its own held.
    pub fn queued(&self) -> Duration {
        let q = lock(&self.queue);
        // A wait still open counts up to now.
        let open = q.since.map(|s| s.elapsed()).unwrap_or_default();
        q.total + open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With one slot, a platform whose test waits while another platform holds the slot is
    /// queued for that long; while its own test holds the slot, its second test's wait is not
    /// queue time (the platform is working).
    #[tokio::test(start_paused = true)]
    async fn only_waits_with_nothing_of_the_platform_running_count() {
        let semaphore = Arc::new(Semaphore::new(1));
        let other = Slots::for_platform(&semaphore);
        let mine = Slots::for_platform(&semaphore);
        let held = other.acquire().await.expect("a slot");
        let waiter = {
            let mine = mine.clone();
            tokio::spawn(async move {
                let first = mine.acquire().await.expect("a slot");
                tokio::time::sleep(Duration::from_secs(3)).await;
                drop(first);
            })
        };
        let second = {
            let mine = mine.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let p = mine.acquire().await.expect("a slot");
                tokio::time::sleep(Duration::from_secs(2)).await;
                drop(p);
            })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(held);
        waiter.await.expect("first test");
        second.await.expect("second test");
        let queued = mine.queued();
        assert!(
            queued >= Duration::from_secs(5) && queued < Duration::from_millis(5100),
            "{queued:?}"
        );
        assert_eq!(other.queued(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_ends_the_queue() {
        let semaphore = Arc::new(Semaphore::new(1));
        let mine = Slots::for_platform(&semaphore);
        let held = semaphore.clone().acquire_owned().await.expect("a slot");
        let _ = tokio::time::timeout(Duration::from_secs(2), mine.acquire()).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let queued = mine.queued();
        assert!(
            queued >= Duration::from_secs(2) && queued < Duration::from_millis(2100),
            "{queued:?}"
        );
        drop(held);
    }
}
