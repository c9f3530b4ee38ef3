//! `ringlb ha notify`: keepalived's notify hook. Logs each VRRP transition as `ringlb-ha` in
//! syslog (`/dev/log`, so the journal on the appliance), as an event line on stderr
//! (`crate::log::event`, like every other event), and optionally appended to a file. Never
//! fails keepalived over a log that cannot be written.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::SystemTime;

/// The local syslog socket (journald listens there on the appliance).
const SYSLOG_SOCKET: &str = "/dev/log";
/// Syslog tag of the lines.
pub const TAG: &str = "ringlb-ha";
/// Facility `daemon` (3), as keepalived's own lines.
const FACILITY: u8 = 3;

/// One transition, from keepalived's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// `INSTANCE` or `GROUP` and its name, when keepalived gave them.
    pub what: Option<(String, String)>,
    /// MASTER, BACKUP, FAULT, STOP or DELETED.
    pub state: String,
    pub priority: Option<String>,
}

impl Transition {
    /// keepalived's `notify` arguments (`INSTANCE NAME STATE PRIORITY`), or a lone `STATE`
    /// (for `notify_master` style hooks and people trying it by hand).
    pub fn from_args(args: &[String]) -> Result<Transition, String> {
        match args {
            [state] => Ok(Transition {
                what: None,
                state: state.to_uppercase(),
                priority: None,
            }),
            [kind, name, state, rest @ ..] if rest.len() <= 1 => Ok(Transition {
                what: Some((kind.to_lowercase(), name.clone())),
                state: state.to_uppercase(),
                priority: rest.first().cloned(),
            }),
            _ => Err(format!(
                "expected STATE or INSTANCE|GROUP NAME STATE [PRIORITY], got {} argument(s)",
                args.len()
            )),
        }
    }

    /// The human line: `instance ringlb is now MASTER (priority 150)`.
    pub fn line(&self) -> String {
        let mut s = match &self.what {
            Some((kind, name)) => format!("{kind} {name} is now {}", self.state),
            None => format!("now {}", self.state),
        };
        if let Some(p) = &self.priority {
            s.push_str(&format!(" (priority {p})"));
        }
        s
    }

    /// Syslog severity: FAULT is a warning (this host cannot serve), the rest notices.
    pub fn severity(&self) -> u8 {
        if self.state == "FAULT" {
            4
        } else {
            5
        }
    }
}

/// The datagram sent to the local syslog socket (RFC 3164 without timestamp or host, which
/// the local daemon adds).
pub fn syslog_datagram(t: &Transition, pid: u32) -> String {
    format!(
        "<{}>{TAG}[{pid}]: {}",
        FACILITY * 8 + t.severity(),
        t.line()
    )
}

/// Logs `t` everywhere it can; a failure to append to `log` is reported (stderr) but, like a
/// missing syslog socket, does not fail the hook.
pub fn notify(t: &Transition, log: Option<&Path>) {
    let line = t.line();
    crate::log::event(format_args!("ha: {line}"));
    if let Ok(sock) = UnixDatagram::unbound() {
        let _ = sock.send_to(
            syslog_datagram(t, std::process::id()).as_bytes(),
            SYSLOG_SOCKET,
        );
    }
    if let Some(path) = log {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| {
                writeln!(
                    f,
                    "{} {TAG}: {line}",
                    crate::log::format::date(SystemTime::now())
                )
            });
        if let Err(e) = written {
            crate::log::event(format_args!("ha: cannot append to {}: {e}", path.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keepalived_arguments() {
        let t = Transition::from_args(&args(&["INSTANCE", "ringlb", "MASTER", "150"])).unwrap();
        assert_eq!(t.line(), "instance ringlb is now MASTER (priority 150)");
        assert_eq!(
            syslog_datagram(&t, 42),
            "<29>ringlb-ha[42]: instance ringlb is now MASTER (priority 150)"
        );
        let t = Transition::from_args(&args(&["INSTANCE", "ringlb", "FAULT"])).unwrap();
        assert_eq!(t.line(), "instance ringlb is now FAULT");
        assert_eq!(
            syslog_datagram(&t, 1),
            "<28>ringlb-ha[1]: instance ringlb is now FAULT"
        );
    }

    #[test]
    fn lone_state() {
        let t = Transition::from_args(&args(&["backup"])).unwrap();
        assert_eq!(t.line(), "now BACKUP");
    }

    #[test]
    fn wrong_arity() {
        assert!(Transition::from_args(&[]).is_err());
        assert!(Transition::from_args(&args(&["a", "b"])).is_err());
        assert!(Transition::from_args(&args(&["a", "b", "c", "d", "e"])).is_err());
    }
}
