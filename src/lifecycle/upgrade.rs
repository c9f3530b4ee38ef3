//! Binary upgrade (and a reload that changes the worker count): start the new binary, hand it
//! the listening sockets, the admin socket and the server state (`saved`) over a `SOCK_SEQPACKET` pair (SCM_RIGHTS), wait
//! for it to report ready. The sockets are never closed in between, so no connection waiting
//! in an accept queue is lost. At most two generations exist at once.

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::saved::SavedState;
use super::{Phase, Process, Tell};
use crate::system::handoff;

/// How long a new process may take to receive the sockets and report ready.
pub(super) const HANDOFF_TIMEOUT: Duration = Duration::from_secs(30);

/// What a binary upgrade needs to know about this process.
pub(super) struct Upgrade {
    pub exe: Option<PathBuf>,
    /// The process this one replaced, while it may still be draining.
    pub predecessor: Option<nix::unistd::Pid>,
    /// The admin socket's listener, handed over with the others.
    pub admin_fd: Option<i32>,
    /// The admin socket's thread: handed over once the successor serves.
    pub admin: Option<crate::admin::protocol::AdminServer>,
}

impl Process {
    /// Starts the new binary and hands it the listening sockets; returns its pid. On success
    /// the caller drains ([`Process::finish_after_handoff`]); on failure this process keeps
    /// serving.
    pub(super) fn upgrade(&mut self, up: &Upgrade) -> Result<u32, String> {
        // At most two generations at once: this one and the one it replaces, still draining.
        if let Some(p) = up.predecessor {
            if nix::unistd::getppid() == p && still_running(p) {
                let msg = format!(
                    "previous process {p} is still draining; upgrade again once it has exited"
                );
                crate::log::event(&msg);
                return Err(msg);
            }
        }
        let Some(exe) = up.exe.as_deref() else {
            return Err("cannot find the ringlb binary to start".into());
        };
        let Some(config) = self.config_path.clone() else {
            return Err("no config file to start the new process with".into());
        };
        self.enter(
            Phase::HandingOff,
            format_args!("upgrade: starting {}", exe.display()),
            Tell::Status("", "handing off to a new process"),
        );
        let started = Instant::now();
        let (ours, theirs) = handoff::pair().map_err(|e| self.upgrade_failed(e.to_string()))?;
        handoff::inherit(&theirs).map_err(|e| self.upgrade_failed(e.to_string()))?;
        let spawned = std::process::Command::new(exe)
            .arg("run")
            .arg("-c")
            .arg(&config)
            .arg("--takeover-fd")
            .arg(theirs.as_raw_fd().to_string())
            .env(handoff::STATE_ENV, "1")
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                return Err(self.upgrade_failed(format!("cannot start {}: {e}", exe.display())))
            }
        };
        drop(theirs);
        // The server state goes with the sockets, taken now: the new process starts with
        // every admin state, weight and health verdict this one has.
        let state = SavedState::capture(&self.shared.snapshot.load_full()).to_text();
        let sent = handoff::send_listeners(&ours, &self.listener_fds(), up.admin_fd)
            .map_err(|e| format!("cannot hand over the sockets: {e}"))
            .and_then(|()| {
                let text = state.unwrap_or_default();
                handoff::send_state(&ours, text.as_bytes(), HANDOFF_TIMEOUT)
                    .map_err(|e| format!("cannot hand over the server state: {e}"))
            });
        let why = if let Err(e) = sent {
            e
        } else {
            match handoff::recv_status(&ours, HANDOFF_TIMEOUT) {
                Ok(handoff::Status::Ready) => {
                    crate::log::event(format_args!(
                        "upgrade: process {} ready after {:?}; draining",
                        child.id(),
                        started.elapsed()
                    ));
                    return Ok(child.id());
                }
                Ok(handoff::Status::Closed) => "the new process exited before it was ready".into(),
                Ok(handoff::Status::Failed(why)) => why,
                Err(e) => format!("no answer from the new process: {e}"),
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        Err(self.upgrade_failed(why))
    }

    /// Back to running after a failed handoff; returns `why`.
    fn upgrade_failed(&mut self, why: String) -> String {
        let keys = format!("MAINPID={}", std::process::id());
        let status = format!("upgrade failed: {why}");
        self.enter(
            Phase::Running,
            format_args!("upgrade failed: {why}; this process keeps serving"),
            Tell::Status(&keys, &status),
        );
        why
    }
}

/// Whether `pid` is alive and not a zombie. A process whose main thread has returned shows as
/// a zombie while its last threads finish, and its children are not reparented until they do;
/// it serves nothing any more.
fn still_running(pid: nix::unistd::Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            s.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}
