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
