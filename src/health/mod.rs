//! Active and passive health checks, and the one writer of a server's health verdict: a
//! checker thread with its own ring, one task per checked server, and [`passive_failure`] /
//! [`passive_success`], which the sessions call with what they saw in traffic. Verdicts are
//! published as the `up` atomic of the server's shared state, which every worker's balancer
//! reads; only this room changes it, and only this room prints an UP/DOWN line
//! (`log_transition`).
//!
//! May import `runtime`, `snapshot`, `state`, `config`, `log`, `transport` (a check over TLS
//! uses the server side's TLS connection), `tls` (its compiled settings) and `proxy_protocol`
//! (headers on checks). The verdict logic is the pure `state` module.
//!
//! Checks are spread: each server's first check waits a random part of its interval, and every
//! interval is moved by up to ±`spread_checks` percent, so checks never fire in lockstep.
//! State survives reloads: a server that stays keeps its `ServerState`, and its new task
//! starts from the verdict it had.

#![allow(
    clippy::disallowed_methods,
    reason = "the checker thread times checks and schedules them with its own clock"
)]

mod check;
mod passive;
pub mod state;

pub use passive::{passive_failure, passive_success};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::config::{Check, CheckKind};
use crate::runtime::{self, EventFd, RuntimeOptions, TaskHandle};
use crate::snapshot::{BackendRt, Snapshot};
use crate::state::{admin, ServerState};
use crate::tls::ServerTlsRt;
use state::{jitter, Health, Transition};

/// How a server marked down by passive checks only (no active check configured) is probed
/// back: a TCP connect this often, one success brings it back.
const PASSIVE_PROBE: Duration = Duration::from_secs(2);

/// The checker thread.
pub struct Checker {
    wake: Arc<EventFd>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checker {
    pub fn start(cell: Arc<ArcSwap<Snapshot>>) -> std::io::Result<Checker> {
        let wake = Arc::new(EventFd::new()?);
        let stop = Arc::new(AtomicBool::new(false));
        let (w, s) = (wake.clone(), stop.clone());
        let opts = RuntimeOptions {
            ring_entries: 256,
            buffers: 64,
            buffer_size: 4096,
            // Checks open a few connections a second: no fixed-file table for them.
            fixed_files: 0,
            ..RuntimeOptions::default()
        };
        let thread =
            runtime::start_thread("ringlb-health".into(), opts, || {}, move || run(cell, w, s))?;
        Ok(Checker {
            wake,
            stop,
            thread: Some(thread),
        })
    }

    /// Looks at the snapshot again (after a reload).
    pub fn notify(&self) {
        self.wake.notify();
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a running check task was started with; a reload that changes it restarts the task.
#[derive(PartialEq)]
struct Watched {
    addr: SocketAddr,
    check: Option<Check>,
    /// TLS for active checks (the snapshot's own config: a reload restarts the task).
    tls: Option<TlsOf>,
    passive: u32,
    spread: u8,
}

async fn run(cell: Arc<ArcSwap<Snapshot>>, wake: Arc<EventFd>, stop: Arc<AtomicBool>) {
    // Keyed by the address of the shared server state: the identity that survives reloads.
    let mut tasks: HashMap<usize, (Watched, TaskHandle)> = HashMap::new();
    while !stop.load(Ordering::Acquire) {
        let snap = cell.load_full();
        let mut seen = Vec::new();
        for be in &snap.backends {
            for srv in &be.servers {
                let key = Arc::as_ptr(&srv.state) as usize;
                let w = Watched {
                    addr: srv.addr,
                    check: srv.check.clone(),
                    tls: srv.tls.clone().filter(|t| t.check).map(TlsOf),
                    passive: be.passive_errors,
                    spread: snap.global.spread_checks,
                };
                if w.check.is_none() && w.passive == 0 {
                    continue;
                }
                seen.push(key);
                if tasks.get(&key).is_some_and(|(old, _)| *old == w) {
                    continue;
                }
                if let Some((_, h)) = tasks.remove(&key) {
                    h.abort();
                }
                let target = Target {
                    state: srv.state.clone(),
                    label: format!("{}/{}", be.name, srv.name),
                    backend: be.name.clone(),
                    addr: w.addr,
                };
                let how = How {
                    check: w.check.clone(),
                    tls: w.tls.as_ref().map(|t| t.0.clone()),
                    spread: w.spread,
                };
                let h = runtime::spawn(watch(cell.clone(), target, how));
                tasks.insert(key, (w, h));
            }
        }
        tasks.retain(|k, (_, h)| {
            let keep = seen.contains(k);
            if !keep {
                h.abort();
            }
            keep
        });
        drop(snap);
        let _ = runtime::timeout(Duration::from_secs(1), wake.wait()).await;
    }
    for (_, (_, h)) in tasks.drain() {
        h.abort();
    }
}

/// Servers of `be` that can take traffic now: (normal, backup).
fn servers_left(be: &BackendRt) -> (usize, usize) {
    let usable = |backup: bool| {
        be.servers
            .iter()
            .filter(|s| s.backup == backup && s.state.usable())
            .count()
    };
    (usable(false), usable(true))
}

/// One checked server: where its verdict goes and how log lines name it.
struct Target {
    state: Arc<ServerState>,
    /// `backend/server`.
    label: String,
    backend: String,
    addr: SocketAddr,
}

/// The event line of a change of verdict of server `label` (`backend/server`) of `be`: the
/// one place such a line is printed, whichever check saw it.
fn log_transition(be: Option<&BackendRt>, label: &str, t: Transition, why: &str) {
    let (normal, backup) = be.map(servers_left).unwrap_or((0, 0));
    let verdict = match t {
        Transition::WentUp => "UP",
        Transition::WentDown => "DOWN",
    };
    crate::log::event(format_args!(
        "server {label} is {verdict}, reason: {why}; {normal} active and {backup} backup servers left"
    ));
}

/// TLS settings compared by identity (the same compiled config).
struct TlsOf(Arc<ServerTlsRt>);

impl PartialEq for TlsOf {
    fn eq(&self, other: &TlsOf) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// How a server is checked.
struct How {
    check: Option<Check>,
    /// Active checks speak TLS with this.
    tls: Option<Arc<ServerTlsRt>>,
    spread: u8,
}

/// Checks one server forever (until aborted by a reload or shutdown).
async fn watch(cell: Arc<ArcSwap<Snapshot>>, target: Target, how: How) {
    let How { check, tls, spread } = how;
    let state = &target.state;
    // Start from the server's last report: after a reload, a binary upgrade or a start from
    // the state file, a DOWN server stays DOWN until `rise` checks pass, and counting toward
    // `rise`/`fall` goes on where it was.
    let mut health = match state.check.lock() {
        Ok(r) => Health::resume(&r, state.up.load(Ordering::Relaxed)),
        Err(_) => Health::new(Instant::now()),
    };
    if !state.up.load(Ordering::Relaxed) {
        let _ = health.force(false, Instant::now());
    }
    // Passive-only servers are probed with a plain connect while they are down.
    let probe = Check {
        kind: CheckKind::Tcp,
        inter: PASSIVE_PROBE,
        fastinter: PASSIVE_PROBE,
        downinter: PASSIVE_PROBE,
        rise: 1,
        fall: 1,
        timeout: Duration::from_secs(1),
        send_proxy: None,
    };
    let first = check.as_ref().map(|c| c.inter).unwrap_or(PASSIVE_PROBE);
    runtime::sleep(first.mul_f64(fastrand::f64())).await;
    loop {
        // A passive check may have taken the server down meanwhile.
        if !state.up.load(Ordering::Relaxed) && health.up {
            let _ = health.force(false, Instant::now());
        }
        let active = match &check {
            Some(c) => c,
            None if health.up => {
                runtime::sleep(Duration::from_millis(250)).await;
                continue;
            }
            None => &probe,
        };
        if state.admin.load(Ordering::Relaxed) == admin::MAINT
            || state.checks_disabled.load(Ordering::Relaxed)
        {
            runtime::sleep(active.inter).await;
            continue;
        }
        // The passive-only probe is a plain TCP connect; configured checks speak TLS if set.
        let tls = if check.is_some() {
            tls.as_deref()
        } else {
            None
        };
        let (outcome, took) = check::run(target.addr, active, tls).await;
        let now = Instant::now();
        let t = health.record(outcome.is_ok(), active.rise, active.fall, now);
        if let Some(t) = t {
            state.up.store(health.up, Ordering::Release);
            if health.up {
                state.passive_errors.store(0, Ordering::Relaxed);
                state.came_back();
            }
            let why = format!("{}, check duration: {}ms", outcome.text(), took.as_millis());
            let snap = cell.load();
            let be = snap.backends.iter().find(|b| b.name == target.backend);
            log_transition(be, &target.label, t, &why);
        }
        if let Ok(mut r) = state.check.lock() {
            r.last = outcome.text().to_string();
            r.last_duration = took;
            r.failed_total = health.failed_total;
            r.downs = health.downs;
            r.since = health.since;
            r.downtime = health.downtime;
            r.streak = health.streak;
        }
        runtime::sleep(jitter(health.interval(active), spread, fastrand::f64())).await;
    }
}
