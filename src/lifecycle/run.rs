//! `ringlb run`: start (binding or taking over the sockets), report ready, then serve signals
//! and admin commands until stopped or handed over.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
use signal_hook::iterator::Signals;

use super::saved::SavedState;
use super::upgrade::{Upgrade, HANDOFF_TIMEOUT};
use super::{notify, transition, Phase, Process, ProcessSettings, Reloaded, StartError, Tell};
use crate::admin::{self, Command, Reply, Request};
use crate::config::{self, Config};
use crate::system::handoff;

/// What the control loop reacts to.
enum Event {
    Signal(i32),
    Admin(Request),
    /// The ACME thread stored a new certificate for this frontend.
    AcmeIssued(String),
}

fn admin_event(r: Request) -> Event {
    Event::Admin(r)
}

/// How `run` was asked to start.
#[derive(Debug, Default)]
pub struct RunArgs {
    /// Fd of the handoff socket inherited from the process being replaced.
    pub takeover_fd: Option<i32>,
}

/// `ringlb run`: start, report ready, then serve signals and admin commands until stopped.
pub fn run(path: &Path, args: RunArgs) -> Result<(), StartError> {
    let cfg = config::load(path).map_err(StartError::Config)?;
    run_config(cfg, Some(path.to_path_buf()), args)
}

/// Runs an already validated config (used by `run` and `demo`).
pub fn run_config(cfg: Config, path: Option<PathBuf>, args: RunArgs) -> Result<(), StartError> {
    transition(
        Phase::Starting,
        match &path {
            Some(p) => format!("config {}", p.display()),
            None => String::new(),
        },
        Tell::Status("", "starting"),
    );
    // The path of our own binary, read now: after a package upgrade replaces the file, this
    // path names the new binary, which is what an upgrade must start.
    let exe = std::env::current_exe().ok();
    // Set by a predecessor that sends the server state after the sockets; not passed on to
    // processes this one starts unless it sets it itself.
    let state_follows = std::env::var_os(handoff::STATE_ENV).is_some();
    std::env::remove_var(handoff::STATE_ENV);
    let mut handed = None;
    let mut handoff_sock = None;
    let mut inherited = HashMap::new();
    let mut admin_listener: Option<UnixListener> = None;
    if let Some(fd) = args.takeover_fd {
        let sock = handoff::from_inherited(fd).map_err(StartError::Takeover)?;
        let got = handoff::recv_listeners(&sock, HANDOFF_TIMEOUT).map_err(StartError::Takeover)?;
        inherited.extend(got.listeners);
        admin_listener = got.admin.map(UnixListener::from);
        crate::log::event(format_args!(
            "{}: took over {} listening sockets",
            Phase::Starting,
            inherited.len()
        ));
        if state_follows {
            handed = receive_state(&sock);
        }
        handoff_sock = Some(sock);
    }
    let predecessor = handoff_sock.as_ref().map(|_| nix::unistd::getppid());
    let settings = ProcessSettings::from_config(&cfg);
    // The admin socket is bound before privileges are dropped (its directory may be root's).
    if admin_listener.is_none() {
        if let Some(path) = &settings.admin_socket {
            let l = admin::protocol::bind(path).map_err(|source| StartError::Admin {
                path: path.clone(),
                source,
            })?;
            admin_listener = Some(l);
        }
    }
    let admin_fd = admin_listener.as_ref().map(|l| l.as_raw_fd());
    let mut process = match Process::start(cfg, path, inherited, handed) {
        Ok(s) => s,
        Err(e) => {
            if let Some(sock) = &handoff_sock {
                let _ = handoff::send_failed(sock, &e.to_string());
            }
            return Err(e);
        }
    };
    let (tx, rx) = mpsc::channel::<Event>();
    let mut admin_server = None;
    if let Some(l) = admin_listener {
        admin_server =
            Some(admin::protocol::serve(l, tx.clone(), admin_event).map_err(StartError::Workers)?);
    }
    let mut signals =
        Signals::new([SIGHUP, SIGTERM, SIGINT, SIGUSR2]).map_err(StartError::Workers)?;
    let sig_tx = tx.clone();
    std::thread::Builder::new()
        .name("ringlb-signals".into())
        .spawn(move || {
            for s in signals.forever() {
                if sig_tx.send(Event::Signal(s)).is_err() {
                    return;
                }
            }
        })
        .map_err(StartError::Workers)?;
    let acme_tx = tx.clone();
    let installer: crate::acme::Installer = Box::new(move |fe| {
        let _ = acme_tx.send(Event::AcmeIssued(fe));
    });
    process.acme = Some(
        crate::acme::start(process.shared().snapshot.clone(), installer)
            .map_err(StartError::Workers)?,
    );
    let keys = format!("MAINPID={}\nREADY=1", std::process::id());
    let summary = std::mem::take(&mut process.summary);
    process.enter(Phase::Running, summary, Tell::Status(&keys, "running"));
    if let Some(sock) = handoff_sock.take() {
        let _ = handoff::send_ready(&sock);
    }
    let up = Upgrade {
        exe,
        predecessor,
        admin_fd,
        admin: admin_server,
    };
    control_loop(process, rx, &up);
    // After a handoff: commands this process still accepted reach the successor before exit.
    if let Some(a) = &up.admin {
        a.finish();
    }
    Ok(())
}

/// The server state sent by the previous process; `None` (logged) if it did not arrive whole,
/// and the state file is read instead.
fn receive_state(sock: &std::os::fd::OwnedFd) -> Option<SavedState> {
    let got = handoff::recv_state(sock, HANDOFF_TIMEOUT)
        .map_err(|e| e.to_string())
        .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
        .and_then(|t| SavedState::from_text(&t));
    match got {
        Ok(s) => Some(s),
        Err(e) => {
            crate::log::event(format_args!(
                "{}: the server state from the previous process is not usable ({e}); reading the state file instead",
                Phase::Starting
            ));
            None
        }
    }
}

/// After a successful handoff: admin commands go to the successor from now on, including those
/// waiting here unread (dropping them makes the admin thread pass them on).
fn handed_over(up: &Upgrade, rx: &Receiver<Event>) {
    if let Some(a) = &up.admin {
        a.hand_over();
    }
    while rx.try_recv().is_ok() {}
}

/// How often the control thread looks for state to save.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Serves signals and admin commands until the process stops or hands over; in between, keeps
/// the state file current and pings the watchdog.
fn control_loop(mut process: Process, rx: Receiver<Event>, up: &Upgrade) {
    let watchdog = notify::watchdog_interval();
    let mut next_ping = watchdog.map(|every| Instant::now() + every);
    let mut next_save = Instant::now();
    loop {
        let now = Instant::now();
        if next_ping.is_some_and(|t| now >= t) {
            notify::notify("WATCHDOG=1");
            next_ping = watchdog.map(|every| now + every);
        }
        if now >= next_save {
            let snap = process.shared().snapshot.load_full();
            process.saver.tick(&snap);
            next_save = now + SAVE_EVERY;
        }
        let wake = next_ping.map_or(next_save, |p| p.min(next_save));
        let ev = match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(ev) => ev,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        match ev {
            Event::Signal(SIGHUP) => {
                if let Ok(Reloaded::NeedsHandoff { .. }) = process.reload_reported() {
                    match process.upgrade(up) {
                        Ok(pid) => {
                            handed_over(up, &rx);
                            return process.finish_after_handoff(pid);
                        }
                        Err(e) => process.reload_failed(&e),
                    }
                }
            }
            Event::Signal(SIGUSR2) => {
                if let Ok(pid) = process.upgrade(up) {
                    handed_over(up, &rx);
                    return process.finish_after_handoff(pid);
                }
            }
            Event::Signal(sig @ (SIGTERM | SIGINT)) => return process.stop(sig == SIGINT),
            Event::Signal(_) => {}
            Event::AcmeIssued(fe) => process.install_certificate(&fe),
            Event::Admin(req) => match Command::parse(&req.line) {
                Ok(Command::Reload) => {
                    let reply = match process.reload_reported() {
                        Ok(Reloaded::Applied) => Reply::ok(vec!["reloaded".into()]),
                        Ok(Reloaded::NeedsHandoff { from, to }) => match process.upgrade(up) {
                            Ok(pid) => {
                                let _ = req.reply.send(Reply::ok(vec![format!(
                                    "workers {from} → {to}: new process {pid} is serving; this one drains"
                                )]));
                                handed_over(up, &rx);
                                return process.finish_after_handoff(pid);
                            }
                            Err(e) => {
                                process.reload_failed(&e);
                                Reply::err(format!("reload needs a new process, which failed: {e}"))
                            }
                        },
                        Err(errs) => Reply {
                            lines: errs,
                            ok: false,
                            error: Some("reload failed, previous config still serving".into()),
                        },
                    };
                    let _ = req.reply.send(reply);
                }
                Ok(Command::Upgrade) => match process.upgrade(up) {
                    Ok(pid) => {
                        let _ = req.reply.send(Reply::ok(vec![format!(
                            "new process {pid} is serving; this one drains"
                        )]));
                        handed_over(up, &rx);
                        return process.finish_after_handoff(pid);
                    }
                    Err(e) => {
                        let _ = req.reply.send(Reply::err(e));
                    }
                },
                Ok(Command::RenewCerts(fe)) => {
                    let snap = process.shared().snapshot.load_full();
                    let known = snap
                        .frontends
                        .iter()
                        .filter(|f| f.acme.is_some())
                        .map(|f| f.name.clone())
                        .collect::<Vec<_>>();
                    let reply = match (&fe, &process.acme) {
                        (_, None) => Reply::err("ACME is not running"),
                        (Some(f), _) if !known.contains(f) => {
                            Reply::err(format!("frontend {f:?} has no acme names"))
                        }
                        (_, _) if known.is_empty() => Reply::err("no frontend has acme names"),
                        (_, Some(a)) => {
                            crate::log::event(format_args!(
                                "admin: ACME renewal of {} requested",
                                fe.as_deref().unwrap_or("every ACME frontend")
                            ));
                            a.renew(fe.clone());
                            Reply::ok(vec![format!(
                                "renewal started for {}",
                                fe.unwrap_or_else(|| known.join(", "))
                            )])
                        }
                    };
                    let _ = req.reply.send(reply);
                }
                Ok(Command::State(cmd)) => {
                    let shared = process.shared();
                    let snap = shared.snapshot.load_full();
                    let reply = admin::answer(&cmd, &snap, &shared.process);
                    // An operator's change is on disk before it is confirmed.
                    process.saver.tick(&snap);
                    let _ = req.reply.send(reply);
                }
                Err(e) => {
                    let _ = req.reply.send(Reply::err(e));
                }
            },
        }
    }
}
