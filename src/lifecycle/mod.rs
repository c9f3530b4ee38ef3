//! The control thread: start-up, signals, reload, drain and sd_notify, in named phases.
//!
//! Phases: starting → running ⇄ reloading → draining → stopped. Each transition is logged and
//! reported through sd_notify (`READY=1`, `RELOADING=1`, `STOPPING=1`, `STATUS=`).
//!
//! May import everything below it; owns the listening sockets (workers only borrow them).

pub mod notify;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::config::{self, Config, Workers};
use crate::runtime::{listen, RuntimeOptions};
use crate::snapshot::Snapshot;
use crate::worker::{self, Listener, Shared, Worker};

/// Backlog of each listening socket (the kernel caps it at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 65535;

/// Descriptors kept for listeners, rings, logs and health checks when sizing maxconn.
const RESERVED_FDS: u64 = 128;

static NEXT_LISTENER_ID: AtomicU64 = AtomicU64::new(1);

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
}

fn log(msg: &str) {
    eprintln!("ringlb: {msg}");
}

/// Opens listening sockets for every address in `snap` not already in `have`.
fn open_listeners(snap: &Snapshot, have: &[Listener]) -> Result<Vec<Listener>, StartError> {
    let mut out = Vec::new();
    for addr in snap.bind_addrs() {
        if let Some(l) = have.iter().find(|l| l.addr == addr) {
            out.push(l.clone());
            continue;
        }
        let fd =
            listen(addr, LISTEN_BACKLOG).map_err(|source| StartError::Listen { addr, source })?;
        out.push(Listener {
            id: NEXT_LISTENER_ID.fetch_add(1, Ordering::Relaxed),
            addr,
            fd: Arc::new(fd),
        });
    }
    Ok(out)
}

/// Lowers the global maxconn to what the open-files limit allows (raising the soft limit to
/// the hard one first), with a warning that says how to get more.
fn fit_maxconn(config: &mut Config) {
    let Ok(limit) = crate::system::raise_nofile() else {
        return;
    };
    // Each proxied connection needs two descriptors (client and server side).
    let fit = (limit.saturating_sub(RESERVED_FDS) / 2).min(u64::from(u32::MAX)) as u32;
    if config.global.maxconn > fit {
        log(&format!(
            "warning: maxconn {} does not fit the open files limit {limit} (two descriptors per connection); using maxconn {fit}. Raise LimitNOFILE to allow more.",
            config.global.maxconn
        ));
        config.global.maxconn = fit;
    }
}

fn worker_count(cfg: &Config, cpus: &[usize]) -> usize {
    match cfg.global.workers {
        Workers::Auto => cpus.len().max(1),
        Workers::Count(n) => n.max(1),
    }
}

/// A running ringlb: workers, listeners and the shared state.
pub struct Server {
    config_path: Option<PathBuf>,
    shared: Arc<Shared>,
    workers: Vec<Worker>,
}

impl Server {
    /// Validates, binds and starts the workers. Does not signal readiness.
    pub fn start(mut config: Config, config_path: Option<PathBuf>) -> Result<Server, StartError> {
        crate::system::check_io_uring().map_err(StartError::IoUring)?;
        fit_maxconn(&mut config);
        let snap = Snapshot::compile(config, None);
        let listeners = open_listeners(&snap, &[])?;
        let cpus = crate::system::cpus();
        let n = worker_count(&snap.config, &cpus);
        let shared = Arc::new(Shared::new(snap, listeners));
        let workers = worker::start(n, &cpus, shared.clone(), RuntimeOptions::default())
            .map_err(StartError::Workers)?;
        log(&format!(
            "running: {n} workers, listening on {}",
            describe_listeners(&shared)
        ));
        Ok(Server {
            config_path,
            shared,
            workers,
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Reloads the config file: on success new sessions and requests use it; on failure the
    /// running config stays and the diagnostics are returned.
    pub fn reload(&mut self) -> Result<(), Vec<String>> {
        let Some(path) = self.config_path.clone() else {
            return Err(vec!["no config file to reload".into()]);
        };
        let mut cfg =
            config::load(&path).map_err(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>())?;
        fit_maxconn(&mut cfg);
        let prev = self.shared.snapshot.load_full();
        let snap = Snapshot::compile(cfg, Some(&prev));
        let old = self.shared.listeners.load_full();
        let listeners = open_listeners(&snap, &old).map_err(|e| vec![e.to_string()])?;
        // Publish the config before the listeners so a new listener's first connection finds
        // its frontend.
        self.shared.snapshot.store(Arc::new(snap));
        self.shared.listeners.store(Arc::new(listeners));
        for w in &self.workers {
            w.notify();
        }
        Ok(())
    }

    /// Stops accepting, lets sessions finish up to the grace period, joins the workers.
    pub fn drain(self, fast: bool) {
        let phase = if fast {
            worker::STOPPING
        } else {
            worker::DRAINING
        };
        self.shared.phase.store(phase, Ordering::Release);
        for w in &self.workers {
            w.notify();
        }
        for w in self.workers {
            w.join();
        }
    }
}

fn describe_listeners(shared: &Shared) -> String {
    let l = shared.listeners.load();
    l.iter()
        .map(|l| l.addr.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `ringlb run`: start, report ready, then serve signals until told to stop.
pub fn run(path: &Path) -> Result<(), StartError> {
    let cfg = config::load(path).map_err(StartError::Config)?;
    run_config(cfg, Some(path.to_path_buf()))
}

/// Runs an already validated config (used by `run` and `demo`).
pub fn run_config(cfg: Config, path: Option<PathBuf>) -> Result<(), StartError> {
    let mut signals =
        Signals::new([SIGHUP, SIGTERM, SIGINT]).map_err(|e| StartError::Workers(e))?;
    let mut server = Server::start(cfg, path)?;
    notify::notify("READY=1\nSTATUS=running");
    for sig in signals.forever() {
        match sig {
            SIGHUP => {
                notify::notify(&format!(
                    "RELOADING=1\nMONOTONIC_USEC={}",
                    notify::monotonic_usec()
                ));
                log("reloading");
                match server.reload() {
                    Ok(()) => {
                        log("reload done: new sessions and requests use the new config");
                        notify::notify("READY=1\nSTATUS=running (reloaded)");
                    }
                    Err(errs) => {
                        for e in &errs {
                            log(e);
                        }
                        log("reload failed: the previous config keeps serving");
                        notify::notify(&format!(
                            "READY=1\nSTATUS=reload failed, previous config still serving: {}",
                            errs.first().map(String::as_str).unwrap_or("")
                        ));
                    }
                }
            }
            SIGTERM | SIGINT => {
                let fast = sig == SIGINT;
                notify::notify("STOPPING=1\nSTATUS=draining");
                log(if fast {
                    "stopping now"
                } else {
                    "draining: no new connections, finishing sessions"
                });
                server.drain(fast);
                log("stopped");
                return Ok(());
            }
            _ => {}
        }
    }
    Ok(())
}

/// Listening addresses by frontend, for messages.
pub fn binds_by_frontend(cfg: &Config) -> HashMap<String, Vec<SocketAddr>> {
    cfg.frontends
        .iter()
        .map(|f| (f.name.clone(), f.binds.clone()))
        .collect()
}
