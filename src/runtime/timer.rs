//! Timers: an ordered queue of deadlines, fired by the event loop, which also sleeps in
//! `io_uring_enter` no longer than until the earliest one.
//!
//! A `BTreeMap` keyed by (deadline, sequence) gives O(log n) insert/cancel and the next
//! deadline in O(log n) without periodic ticks, so an idle worker wakes only when a timer is due.
//! No timer costs a system call: the clock is the vDSO's, and the one wait the ring does is the
//! timeout of the loop's `io_uring_enter` (no `IORING_OP_TIMEOUT` per timer).
//!
//! With the loop clock (`RuntimeOptions::loop_clock`) the clock is read once when the loop
//! comes back from the kernel, and every timer armed or checked in that iteration uses that
//! reading ([`now`]): a deadline is then at most one iteration's work earlier than a fresh
//! reading would make it, and a timer never fires before its deadline on that clock.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::executor::{try_with_cx, with_cx};

#[derive(Default)]
pub(crate) struct Timers {
    queue: BTreeMap<(Instant, u64), Option<Waker>>,
    seq: u64,
}

impl Timers {
    fn insert(&mut self, at: Instant, waker: Waker) -> (Instant, u64) {
        self.seq += 1;
        let key = (at, self.seq);
        self.queue.insert(key, Some(waker));
        key
    }

    /// Wakes every timer due at `now`; returns how many fired.
    pub(crate) fn fire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some(mut e) = self.queue.first_entry() {
            if e.key().0 > now {
                break;
            }
            if let Some(w) = e.get_mut().take() {
                w.wake();
                n += 1;
            }
            e.remove();
        }
        n
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.queue.first_key_value().map(|(k, _)| k.0)
    }
}

/// A future that completes at a deadline.
pub struct Sleep {
    at: Instant,
    key: Option<(Instant, u64)>,
}

pub fn sleep_until(at: Instant) -> Sleep {
    Sleep { at, key: None }
}

pub fn sleep(d: Duration) -> Sleep {
    sleep_until(now() + d)
}

/// The time as timers see it: the loop clock's reading of this iteration, or a fresh reading
/// when the loop clock is off or there is no runtime on this thread.
pub fn now() -> Instant {
    super::executor::loop_now().unwrap_or_else(Instant::now)
}

impl Sleep {
    pub fn deadline(&self) -> Instant {
        self.at
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if now() >= self.at {
            if let Some(key) = self.key.take() {
                with_cx(|c| c.timers.borrow_mut().queue.remove(&key));
            }
            return Poll::Ready(());
        }
        let at = self.at;
        match self.key {
            Some(key) => with_cx(|c| {
                let mut t = c.timers.borrow_mut();
                match t.queue.get_mut(&key) {
                    Some(slot) => match slot {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => *slot = Some(cx.waker().clone()),
                    },
                    // Fired while we were not looking (spurious ordering): re-arm.
                    None => {
                        let k = t.insert(at, cx.waker().clone());
                        drop(t);
                        self.key = Some(k);
                    }
                }
            }),
            None => {
                let k = with_cx(|c| c.timers.borrow_mut().insert(at, cx.waker().clone()));
                self.key = Some(k);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            try_with_cx(|c| {
                if let Ok(mut t) = c.timers.try_borrow_mut() {
                    t.queue.remove(&key);
                }
            });
        }
    }
}

/// The deadline passed before the operation finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `fut` until `at`; dropping it on expiry cancels whatever it had in flight.
pub async fn timeout_at<F: Future>(at: Instant, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = sleep_until(at);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

pub async fn timeout<F: Future>(d: Duration, fut: F) -> Result<F::Output, Elapsed> {
    timeout_at(now() + d, fut).await
}
