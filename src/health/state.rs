//! The health state machine of one server: consecutive results against `rise` and `fall`,
//! which interval to wait next, and the transitions worth logging. Pure: results and `now`
//! in, verdicts out.

use std::time::{Duration, Instant};

use crate::config::Check;
use crate::state::CheckReport;

/// A check result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed; the text says how (e.g. "L7OK 200", "L4OK").
    Ok(String),
    /// Failed; the text says why (e.g. "L7STS 500", "L4CON connection refused").
    Failed(String),
}

impl Outcome {
    pub fn text(&self) -> &str {
        match self {
            Outcome::Ok(s) | Outcome::Failed(s) => s,
        }
    }
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

/// A change of verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    WentUp,
    WentDown,
}

#[derive(Debug, Clone)]
pub struct Health {
    pub up: bool,
    /// Consecutive successes (while down) or failures (while up) toward a change.
    pub streak: u32,
    pub since: Instant,
    /// Checks that failed, in total.
    pub failed_total: u64,
    /// Times the server went down.
    pub downs: u64,
    /// Time spent down before the current state.
    pub downtime: Duration,
}

impl Health {
    /// A server starts up: it takes `fall` failed checks to take it out.
    pub fn new(now: Instant) -> Health {
        Health {
            up: true,
            streak: 0,
            since: now,
            failed_total: 0,
            downs: 0,
            downtime: Duration::ZERO,
        }
    }

    /// The state a check task starts from: the server's last report and verdict `up`, so that
    /// a task restarted by a reload, or a process that took over (binary upgrade, state file),
    /// goes on counting toward `rise`/`fall` where the previous one stopped.
    pub fn resume(report: &CheckReport, up: bool) -> Health {
        Health {
            up,
            streak: report.streak,
            since: report.since,
            failed_total: report.failed_total,
            downs: report.downs,
            downtime: report.downtime,
        }
    }

    /// Records one result; returns the transition if it changes the verdict.
    pub fn record(&mut self, ok: bool, rise: u32, fall: u32, now: Instant) -> Option<Transition> {
        if !ok {
            self.failed_total += 1;
        }
        match (self.up, ok) {
            (true, true) | (false, false) => {
                self.streak = 0;
                None
            }
            (true, false) => {
                self.streak += 1;
                if self.streak >= fall.max(1) {
                    self.set(false, now);
                    self.downs += 1;
                    Some(Transition::WentDown)
                } else {
                    None
                }
            }
            (false, true) => {
                self.streak += 1;
                if self.streak >= rise.max(1) {
                    self.downtime += now.saturating_duration_since(self.since);
                    self.set(true, now);
                    Some(Transition::WentUp)
                } else {
                    None
                }
            }
        }
    }

    /// Forces a verdict (passive checks, admin); returns the transition if any.
    pub fn force(&mut self, up: bool, now: Instant) -> Option<Transition> {
        if up == self.up {
            return None;
        }
        if up {
            self.downtime += now.saturating_duration_since(self.since);
        } else {
            self.downs += 1;
        }
        self.set(up, now);
        Some(if up {
            Transition::WentUp
        } else {
            Transition::WentDown
        })
    }

    fn set(&mut self, up: bool, now: Instant) {
        self.up = up;
        self.streak = 0;
        self.since = now;
    }

    /// Whether a change of verdict is under way (some results toward it, not enough yet).
    pub fn changing(&self) -> bool {
        self.streak > 0
    }

    /// The wait before the next check, as HAProxy: `fastinter` while a change is under way,
    /// `downinter` while down, `inter` otherwise.
    pub fn interval(&self, check: &Check) -> Duration {
        if self.changing() {
            check.fastinter
        } else if !self.up {
            check.downinter
        } else {
            check.inter
        }
    }

    /// Total downtime including the current down period.
    pub fn downtime_at(&self, now: Instant) -> Duration {
        if self.up {
            self.downtime
        } else {
            self.downtime + now.saturating_duration_since(self.since)
        }
    }
}

/// `interval` moved by up to ±`spread_pct` percent, with `r` uniform in [0, 1): checks of many
/// servers drift apart instead of firing together.
pub fn jitter(interval: Duration, spread_pct: u8, r: f64) -> Duration {
    if spread_pct == 0 {
        return interval;
    }
    let span = interval.as_secs_f64() * f64::from(spread_pct.min(50)) / 100.0;
    let offset = (r.clamp(0.0, 1.0) * 2.0 - 1.0) * span;
    Duration::from_secs_f64((interval.as_secs_f64() + offset).max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;

    fn check() -> Check {
        Check {
            kind: CheckKind::Tcp,
            inter: Duration::from_secs(2),
            fastinter: Duration::from_millis(500),
            downinter: Duration::from_secs(5),
            rise: 2,
            fall: 3,
            timeout: Duration::from_secs(1),
            send_proxy: None,
        }
    }

    #[test]
    fn goes_down_after_fall_failures_and_up_after_rise_successes() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        assert_eq!(h.record(false, 2, 3, t0), None);
        assert_eq!(h.record(false, 2, 3, t0), None);
        assert!(h.up);
        assert_eq!(h.record(false, 2, 3, t0), Some(Transition::WentDown));
        assert!(!h.up);
        assert_eq!(h.record(true, 2, 3, t0), None);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(h.record(true, 2, 3, t1), Some(Transition::WentUp));
        assert!(h.up);
        assert_eq!(h.downs, 1);
        assert_eq!(h.failed_total, 3);
        assert_eq!(h.downtime, Duration::from_secs(10));
    }

    #[test]
    fn a_success_resets_the_failure_streak() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        h.record(false, 2, 3, t0);
        h.record(false, 2, 3, t0);
        h.record(true, 2, 3, t0);
        h.record(false, 2, 3, t0);
        h.record(false, 2, 3, t0);
        assert!(h.up, "two failures after a success are not three in a row");
    }

    #[test]
    fn flapping_never_reaches_fall_or_rise() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        for i in 0..100 {
            assert_eq!(h.record(i % 2 == 0, 2, 2, t0), None);
        }
        assert!(h.up);
    }

    #[test]
    fn intervals_follow_the_state() {
        let c = check();
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        assert_eq!(h.interval(&c), c.inter);
        h.record(false, 2, 3, t0);
        assert_eq!(h.interval(&c), c.fastinter);
        h.record(false, 2, 3, t0);
        h.record(false, 2, 3, t0);
        assert_eq!(h.interval(&c), c.downinter);
        h.record(true, 2, 3, t0);
        assert_eq!(h.interval(&c), c.fastinter);
    }

    #[test]
    fn force_counts_downs_and_downtime() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        assert_eq!(h.force(false, t0), Some(Transition::WentDown));
        assert_eq!(h.force(false, t0), None);
        assert_eq!(
            h.downtime_at(t0 + Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        assert_eq!(
            h.force(true, t0 + Duration::from_secs(4)),
            Some(Transition::WentUp)
        );
        assert_eq!(h.downtime, Duration::from_secs(4));
        assert_eq!(h.downs, 1);
    }

    #[test]
    fn a_resumed_health_keeps_counting_toward_rise() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        h.force(false, t0);
        h.record(true, 3, 3, t0);
        let report = CheckReport {
            streak: h.streak,
            since: h.since,
            failed_total: h.failed_total,
            downs: h.downs,
            downtime: h.downtime,
            ..CheckReport::default()
        };
        let mut r = Health::resume(&report, false);
        assert_eq!((r.up, r.streak, r.downs), (false, 1, 1));
        assert_eq!(r.record(true, 3, 3, t0), None);
        assert_eq!(r.record(true, 3, 3, t0), Some(Transition::WentUp));
    }

    #[test]
    fn jitter_stays_within_the_spread() {
        let i = Duration::from_secs(10);
        assert_eq!(jitter(i, 0, 0.9), i);
        assert_eq!(jitter(i, 10, 0.0), Duration::from_secs(9));
        assert_eq!(jitter(i, 10, 0.5), i);
        let hi = jitter(i, 10, 0.999_999);
        assert!(hi > Duration::from_millis(10_990) && hi <= Duration::from_secs(11));
        assert_eq!(
            jitter(i, 90, 0.0),
            Duration::from_secs(5),
            "spread is capped at 50%"
        );
    }
}
