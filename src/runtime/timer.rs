//! Timers: deadlines on a hierarchical wheel (`wheel`), fired by the event loop, which also
//! sleeps in `io_uring_enter` no longer than until the next one is due.
//!
//! Insert and cancel are O(1), and the next expiration comes from six bit masks, without
//! periodic ticks: an idle worker wakes only when a timer is due (or, for deadlines more than
//! 64 ms ahead, when the wheel places them in a finer level: a few wake-ups per far deadline,
//! shared by every timer of its slot). A deadline fires in the first loop iteration whose clock
//! reading is at or after it, rounded up to the wheel's tick (about 1.05 ms): never early, at
//! most a tick late. Every idle keep-alive connection has a timer, so an entry is small: the
//! deadline in nanoseconds since a process-wide epoch, the index of the task to wake (no
//! waker clone) and its links, 24 bytes; a waker that is not a task's of this runtime is kept
//! apart. No timer costs a system call: the clock is the vDSO's, and the one wait the ring does
//! is the timeout of the loop's `io_uring_enter` (no `IORING_OP_TIMEOUT` per timer).
//!
//! With the loop clock (`RuntimeOptions::loop_clock`) the clock is read once when the loop
//! comes back from the kernel, and every timer armed or checked in that iteration uses that
//! reading ([`now`]): a deadline is then at most one iteration's work earlier than a fresh
//! reading would make it, and a timer never fires before its deadline on that clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use super::executor::{task_of, try_with_cx, wake_task_index, with_cx};
use super::wheel::{Wheel, NONE};

/// The instant deadlines are counted from (the first timer's).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// `at` as nanoseconds since [`epoch`]; an instant before it is 0 (already due).
fn ticks(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

fn instant(ticks: u64) -> Instant {
    let epoch = epoch();
    epoch
        .checked_add(Duration::from_nanos(ticks))
        .unwrap_or(epoch)
}

/// A timer's entry names its task by index; with this bit set, the rest indexes
/// `Timers::foreign` (a waker that is not a task's of this runtime).
const FOREIGN: u32 = 1 << 31;

#[derive(Default)]
pub(crate) struct Timers {
    /// Deadlines → whom to wake.
    wheel: Wheel,
    /// Wakers that are not a task's of this runtime.
    foreign: Slab<Waker>,
}

impl Timers {
    /// Whom an entry for `waker` wakes.
    fn whom(&mut self, waker: &Waker) -> u32 {
        match task_of(waker)
            .and_then(|idx| u32::try_from(idx).ok())
            .filter(|idx| idx & FOREIGN == 0)
        {
            Some(idx) => idx,
            None => {
                let key = self.foreign.insert(waker.clone());
                FOREIGN | u32::try_from(key).unwrap_or(!FOREIGN)
            }
        }
    }

    /// Whether an entry that wakes `who` wakes `waker`'s task.
    fn wakes(&self, who: u32, waker: &Waker) -> bool {
        if who & FOREIGN == 0 {
            task_of(waker) == Some(who as usize)
        } else {
            self.foreign
                .get((who & !FOREIGN) as usize)
                .is_some_and(|w| w.will_wake(waker))
        }
    }

    fn forget(&mut self, who: u32) -> Option<Waker> {
        if who & FOREIGN == 0 {
            return None;
        }
        self.foreign.try_remove((who & !FOREIGN) as usize)
    }

    /// Makes sure entry `key` (of a timer due at `at`) is queued and wakes `waker`'s task;
    /// returns its key, a new one when `key` is [`NONE`] (never armed).
    fn arm(&mut self, at: u64, key: u32, waker: &Waker) -> u32 {
        if let Some((entry_at, who, queued)) = self.wheel.get(key) {
            if entry_at == at {
                if !queued || !self.wakes(who, waker) {
                    // Fired meanwhile (its waker was handed out then), or another waker.
                    if queued {
                        self.forget(who);
                    }
                    let new = self.whom(waker);
                    self.wheel.rearm(key, new);
                }
                return key;
            }
            self.remove(key);
        }
        let who = self.whom(waker);
        self.wheel.insert(at, who)
    }

    fn remove(&mut self, key: u32) {
        if let Some(who) = self.wheel.remove(key) {
            self.forget(who);
        }
    }

    /// Wakes every timer due at `now`; returns how many fired.
    pub(crate) fn fire(&mut self, now: Instant) -> usize {
        let Timers { wheel, foreign } = self;
        wheel.fire(ticks(now), |who| {
            if who & FOREIGN == 0 {
                wake_task_index(who as usize);
            } else if let Some(w) = foreign.try_remove((who & !FOREIGN) as usize) {
                w.wake();
            }
        })
    }

    /// When the loop must look at the timers again: a time at or before the earliest
    /// deadline's tick.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.wheel.next_due().map(instant)
    }
}

/// A future that completes at a deadline. Sixteen bytes: every idle connection holds one.
pub struct Sleep {
    /// The deadline, in ticks (see [`ticks`]).
    at: u64,
    /// Its wheel entry once armed (this `Sleep`'s until it is dropped or completes), else
    /// [`NONE`].
    key: u32,
}

pub fn sleep_until(at: Instant) -> Sleep {
    Sleep {
        at: ticks(at),
        key: NONE,
    }
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
        instant(self.at)
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (at, key) = (self.at, self.key);
        if ticks(now()) >= at {
            if key != NONE {
                with_cx(|c| c.timers.borrow_mut().remove(key));
                self.key = NONE;
            }
            return Poll::Ready(());
        }
        self.key = with_cx(|c| c.timers.borrow_mut().arm(at, key, cx.waker()));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.key != NONE {
            let key = self.key;
            try_with_cx(|c| {
                if let Ok(mut t) = c.timers.try_borrow_mut() {
                    t.remove(key);
                }
            });
        }
    }
}

/// The deadline passed before the operation finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `fut` until `at`; dropping it on expiry cancels whatever it had in flight.
///
/// A named future, not an async function: an async function keeps its by-value argument
/// beside the pinned copy it polls, so every `timeout` around an operation stored that
/// operation's future twice (three times through [`timeout`]) and copied it on the way —
/// per request, the largest part of the session's user time spent in `memmove`.
pub fn timeout_at<F: Future>(at: Instant, fut: F) -> Timeout<F> {
    Timeout {
        fut,
        sleep: sleep_until(at),
    }
}

/// [`timeout_at`] `d` from [`now`] (read when called).
pub fn timeout<F: Future>(d: Duration, fut: F) -> Timeout<F> {
    timeout_at(now() + d, fut)
}

/// See [`timeout_at`].
pub struct Timeout<F> {
    fut: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `fut` is pinned structurally: it is never moved out of `self` (no method
        // hands it out by value, and `Timeout` has no `Drop` of its own), and `sleep` is
        // `Unpin` and only borrowed.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.fut` stays where the pinned `Timeout` is.
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        if let Poll::Ready(v) = fut.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Runtime, RuntimeOptions};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A waker of its own (as a combinator may make): notes its wake-up, then wakes the task.
    struct Noting {
        woken: AtomicBool,
        task: Waker,
    }

    impl std::task::Wake for Noting {
        fn wake(self: Arc<Self>) {
            self.woken.store(true, Ordering::SeqCst);
            self.task.wake_by_ref();
        }
    }

    /// A timer keeps a task's index, not its waker; one polled with any other waker still
    /// wakes that waker when due.
    #[test]
    fn a_timer_wakes_a_waker_that_is_not_a_tasks() {
        let rt = Runtime::new(RuntimeOptions {
            ring_entries: 8,
            buffers: 8,
            buffer_size: 4096,
            ..RuntimeOptions::default()
        })
        .unwrap();
        let woken = Arc::new(AtomicBool::new(false));
        let seen = woken.clone();
        rt.block_on(async move {
            let mut timer = sleep(Duration::from_millis(20));
            let mut noting: Option<Arc<Noting>> = None;
            // Bounded: were the waker not woken, the task's own timeout would end the wait.
            let wait = std::future::poll_fn(|cx| {
                let n = noting.get_or_insert_with(|| {
                    Arc::new(Noting {
                        woken: AtomicBool::new(false),
                        task: cx.waker().clone(),
                    })
                });
                let waker = Waker::from(n.clone());
                Pin::new(&mut timer).poll(&mut Context::from_waker(&waker))
            });
            let _ = timeout(Duration::from_secs(5), wait).await;
            let n = noting.map(|n| n.woken.load(Ordering::SeqCst));
            seen.store(n == Some(true), Ordering::SeqCst);
            // Nothing stays queued once fired.
            with_cx(|c| {
                let t = c.timers.borrow();
                assert!(t.foreign.is_empty());
            });
        });
        assert!(woken.load(Ordering::SeqCst));
    }
}
