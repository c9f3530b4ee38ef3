//! Event lines: what happened to the process or a server (start, phases, reloads, upgrades,
//! UP/DOWN verdicts, admin actions, accept errors), one line each on stderr, which journald
//! keeps under systemd. Access log lines are not events: they go through [`super::Logger`].
//!
//! Every event line has one shape, `ringlb[PID]: TEXT`; the pid tells two generations apart
//! during a binary upgrade. Uses std only, so the lowest rooms (`runtime`) may call it.

use std::fmt::Display;
use std::io::Write;

/// Writes one event line to stderr. A line that cannot be written is lost: nothing else can
/// be done about a closed stderr, and serving traffic matters more.
pub fn event(text: impl Display) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", line(std::process::id(), text));
}

/// The text of an event line.
pub fn line(pid: u32, text: impl Display) -> String {
    format!("ringlb[{pid}]: {text}")
}

/// Event lines of a kind that can come in floods (failed TLS handshakes from a scanner): at
/// most one line per `every`, which says how many more happened since the last one.
#[derive(Debug)]
pub struct Throttle {
    every: std::time::Duration,
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl Throttle {
    pub fn new(every: std::time::Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Prints `text` as an event line unless one was printed within `every` of `now`; then it
    /// is only counted, and the next line printed says so.
    pub fn event(&mut self, now: std::time::Instant, text: impl Display) {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < self.every)
        {
            self.suppressed += 1;
            return;
        }
        match std::mem::take(&mut self.suppressed) {
            0 => event(text),
            n => event(format_args!(
                "{text} ({n} more like it since the last line)"
            )),
        }
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_prefix() {
        assert_eq!(
            super::line(42, format_args!("server {}/{} is DOWN", "web", "a")),
            "ringlb[42]: server web/a is DOWN"
        );
    }
}
