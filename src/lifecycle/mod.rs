//! The control thread: start-up, signals, admin commands, reload, binary upgrade and drain, in
//! named [`Phase`]s: starting → running ⇄ reloading → (handing off →) draining → stopped.
//! Each transition is one event line (`log::event`) and one sd_notify message (`READY=1`,
//! `RELOADING=1`, `STOPPING=1`, `MAINPID=`, with a `STATUS=` text).
//!
//! Files, one job each: `run` (the `ringlb run` entry and the control loop: signals and admin
//! commands), `process` ([`Process`]: start, listening sockets, workers, checker), `reload`,
//! `acme` (a certificate from the ACME thread installed by compiling the running config again),
//! `upgrade` (the handoff of the listening sockets and the server state to a new binary),
//! `drain`, `notify` (sd_notify), `saved` (server state across upgrades and restarts: the
//! state file).
//!
//! Owns the listening sockets (workers only borrow them) and is the only thread that binds.
//! May import every room below it: `config`, `snapshot`, `state`, `admin`, `worker`, `health`,
//! `acme`, `runtime`, `system`, `log`.

#![allow(
    clippy::disallowed_methods,
    reason = "the control thread: starts the workers, times drains and upgrades"
)]

mod acme;
mod drain;
pub mod notify;
mod process;
mod reload;
mod run;
pub mod saved;
mod upgrade;

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::{self, Config};
use crate::system::privileges;

pub use process::Process;
pub use reload::Reloaded;
pub use run::{run, run_config, RunArgs};

/// Backlog of each listening socket (the kernel caps it at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 65535;

/// Why ringlb could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Config(Vec<config::Diagnostic>),
    #[error("{0}")]
    IoUring(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start workers: {0}")]
    Workers(std::io::Error),
    /// The kernel refused ring memory: usually the locked-memory limit (the message says).
    #[error("{0}")]
    RingMemory(String),
    #[error("{0}")]
    Privileges(#[from] privileges::PrivError),
    #[error("{0}")]
    Compile(String),
    #[error("takeover failed: {0}")]
    Takeover(std::io::Error),
    #[error("admin socket {path}: {source}")]
    Admin {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Process-level settings taken from the config.
#[derive(Debug, Clone, Default)]
pub struct ProcessSettings {
    pub user: Option<String>,
    pub group: Option<String>,
    pub admin_socket: Option<PathBuf>,
    pub keep_bind_capability: bool,
}

impl ProcessSettings {
    pub fn from_config(cfg: &Config) -> ProcessSettings {
        let g = &cfg.global;
        ProcessSettings {
            user: g.user.clone(),
            group: g.group.clone(),
            admin_socket: g.admin_socket.clone(),
            keep_bind_capability: g.keep_bind_capability,
        }
    }
}

/// Where the process is in its life, as Pingora's `ExecutionPhase` names the steps of a
/// graceful upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the config, binding or taking over the sockets, starting the workers.
    Starting,
    /// Serving; `READY=1` has been sent.
    Running,
    /// Loading a new config; the old one serves meanwhile.
    Reloading,
    /// Starting a new binary and handing it the listening sockets.
    HandingOff,
    /// No new connections; sessions in flight finish (up to `grace`).
    Draining,
    /// Every worker has exited.
    Stopped,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Reloading => "reloading",
            Phase::HandingOff => "handing off",
            Phase::Draining => "draining",
            Phase::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What systemd is told about a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tell<'a> {
    /// sd_notify keys (`READY=1`, `RELOADING=1`, …; may be empty) and the `STATUS=` text.
    Status(&'a str, &'a str),
    /// Nothing: this process handed over, and systemd watches its successor now.
    Nothing,
}

/// Reports the move to phase `to`: the event line `PHASE: WHAT` (or `PHASE` when `what` is
/// empty) and the sd_notify message.
fn transition(to: Phase, what: impl Display, tell: Tell<'_>) {
    let what = what.to_string();
    if what.is_empty() {
        crate::log::event(to);
    } else {
        crate::log::event(format_args!("{to}: {what}"));
    }
    if let Tell::Status(keys, status) = tell {
        notify::notify(&notify_message(keys, status));
    }
}

/// `keys` followed by the `STATUS=` line.
fn notify_message(keys: &str, status: &str) -> String {
    if keys.is_empty() {
        format!("STATUS={status}")
    } else {
        format!("{keys}\nSTATUS={status}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_messages_end_with_the_status() {
        assert_eq!(
            notify_message("READY=1", "running"),
            "READY=1\nSTATUS=running"
        );
        assert_eq!(notify_message("", "starting"), "STATUS=starting");
        assert_eq!(Phase::HandingOff.to_string(), "handing off");
    }
}
