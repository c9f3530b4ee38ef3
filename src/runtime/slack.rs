//! Whether a worker has time to spare: the share of wall time its thread spent running, over
//! windows of [`WINDOW`].
//!
//! The batched wait (`Driver::enter`) lets the kernel gather completions before it wakes the
//! worker: fewer sleeps and wake-ups, paid for with up to `tune_batch_wait_us` of latency on
//! the completions it holds. That trade pays while the worker is idle part of the time: the
//! wake-ups it saves cost the cores that deliver the completions, often the busier ones
//! (`16k`, the worker about 75 % busy: 0.09 sleeps per request batched against 0.25–0.30
//! without, and a narrower tail). A worker that is itself the bottleneck has nothing to
//! save — it rarely sleeps — and each hold leaves it idle while work waits (`keepalive`, the
//! worker 92–95 % busy: p99 1.02–1.09 ms batched, 0.83–0.93 ms with this rule). So the batch
//! is asked for only until a window is above [`BUSY_HIGH`], and again once one falls below
//! [`BUSY_LOW`].

use std::time::{Duration, Instant};

/// How long one measurement spans: one thread-CPU clock read (a system call) per window.
pub(crate) const WINDOW: Duration = Duration::from_millis(10);

/// Per mille of wall time running above which the worker counts as saturated.
const BUSY_HIGH: u64 = 900;

/// Per mille below which a saturated worker has slack again (the gap keeps a worker near
/// the line from switching every window).
const BUSY_LOW: u64 = 800;

/// The running share of the current window and the verdict of the last one.
#[derive(Debug, Default)]
pub(crate) struct Slack {
    /// When the current window began, and the thread's CPU time then.
    start: Option<(Instant, Duration)>,
    saturated: bool,
    /// Windows closed so far.
    #[cfg(test)]
    pub(crate) closed: u32,
}

impl Slack {
    /// Called once per loop iteration with the loop's clock: closes the window once it has
    /// lasted [`WINDOW`].
    pub(crate) fn observe(&mut self, now: Instant) {
        if let Some((start, _)) = self.start {
            if now.saturating_duration_since(start) < WINDOW {
                return;
            }
        }
        if let Some(cpu) = thread_cpu() {
            self.close(now, cpu);
        }
    }

    /// Ends the window at `now`, the thread having used `cpu` in all, and starts the next.
    fn close(&mut self, now: Instant, cpu: Duration) {
        if let Some((start, cpu0)) = self.start {
            let busy = per_mille(
                cpu.saturating_sub(cpu0),
                now.saturating_duration_since(start),
            );
            if busy > BUSY_HIGH {
                self.saturated = true;
            } else if busy < BUSY_LOW {
                self.saturated = false;
            }
            #[cfg(test)]
            {
                self.closed += 1;
            }
        }
        self.start = Some((now, cpu));
    }

    /// Whether the last closed window found the worker saturated.
    pub(crate) fn saturated(&self) -> bool {
        self.saturated
    }
}

/// `part` of `whole` in thousandths (0 for an empty whole).
fn per_mille(part: Duration, whole: Duration) -> u64 {
    let whole = whole.as_nanos();
    if whole == 0 {
        return 0;
    }
    u64::try_from(part.as_nanos().saturating_mul(1000) / whole).unwrap_or(u64::MAX)
}

/// CPU time the calling thread has used, user and kernel.
fn thread_cpu() -> Option<Duration> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    Some(Duration::from(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_mille_of_a_window() {
        assert_eq!(per_mille(ms(9), ms(10)), 900);
        assert_eq!(per_mille(ms(10), ms(10)), 1000);
        assert_eq!(per_mille(ms(1), Duration::ZERO), 0);
    }

    /// Windows above the high mark saturate, below the low mark free; between the two the
    /// last verdict stands.
    #[test]
    fn verdicts_follow_the_busy_share_with_a_gap() {
        let t0 = Instant::now();
        let mut s = Slack::default();
        let at = |s: &mut Slack, wall: u64, cpu: u64| s.close(t0 + ms(wall), ms(cpu));
        at(&mut s, 0, 0);
        assert!(!s.saturated());
        at(&mut s, 10, 9); // 900 per mille: not above the mark
        assert!(!s.saturated());
        at(&mut s, 20, 19); // 1000
        assert!(s.saturated());
        at(&mut s, 30, 27); // 800: inside the gap, still saturated
        assert!(s.saturated());
        at(&mut s, 40, 34); // 700
        assert!(!s.saturated());
        at(&mut s, 50, 42); // 800: inside the gap, still free
        assert!(!s.saturated());
    }

    /// The thread's CPU clock runs while it computes and stands still while it sleeps.
    #[test]
    fn the_thread_clock_counts_running_time_only() {
        let a = thread_cpu().unwrap();
        let until = Instant::now() + ms(5);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        let b = thread_cpu().unwrap();
        assert!(
            b > a,
            "spinning 5 ms did not advance the thread's CPU clock"
        );
        std::thread::sleep(ms(50));
        let c = thread_cpu().unwrap();
        assert!(
            c - b < ms(25),
            "sleeping 50 ms used {:?} of CPU time",
            c - b
        );
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Within a window nothing is measured: the verdict only changes when one closes.
    #[test]
    fn a_window_closes_only_after_its_length() {
        let mut s = Slack::default();
        let t0 = Instant::now();
        s.observe(t0);
        let start = s.start;
        s.observe(t0 + WINDOW / 2);
        assert_eq!(s.start, start);
        s.observe(t0 + WINDOW);
        assert_ne!(s.start, start);
    }
}
