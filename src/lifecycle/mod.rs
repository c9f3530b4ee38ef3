//! The control thread: start-up, signals, admin commands, reload, binary upgrade and drain, in
//! named phases: starting → running ⇄ reloading → (handing off →) draining → stopped. Each
//! transition is logged and reported through sd_notify (`READY=1`, `RELOADING=1`,
//! `STOPPING=1`, `STATUS=`, `MAINPID=`).
//!
//! Owns the listening sockets (workers only borrow them) and is the only thread that binds.
//!
//! The top of the house: may import any room below it (`config`, `health`, `log`, `runtime`,
//! `snapshot`, `stats`, `system`, `worker`); today also `proxy::stats` for admin commands.
//! Only `main.rs` and `ha` import it.

#![allow(
    clippy::disallowed_methods,
    reason = "the control thread: starts the workers, times drains and upgrades"
)]

pub mod control;
pub mod notify;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::config::{self, Config, Workers};
use crate::runtime::{listen, RuntimeOptions};
use crate::snapshot::Snapshot;
use crate::system::{handoff, privileges};
use crate::worker::{self, Listener, Shared, Worker};
use control::{Reply, Request};

/// Backlog of each listening socket (the kernel caps it at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 65535;

/// Descriptors kept for listeners, rings, logs and health checks when sizing maxconn.
const RESERVED_FDS: u64 = 128;

/// How long a new process may take to receive the sockets and report ready.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(30);

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

fn log(msg: &str) {
    eprintln!("ringlb[{}]: {msg}", std::process::id());
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

/// Opens listening sockets for every address in `snap`, reusing those in `have` and those
/// inherited from a previous process (`inherited`, consumed as used).
fn open_listeners(
    snap: &Snapshot,
    have: &[Listener],
    inherited: &mut HashMap<SocketAddr, OwnedFd>,
) -> Result<Vec<Listener>, StartError> {
    let mut out = Vec::new();
    for addr in snap.bind_addrs() {
        if let Some(l) = have.iter().find(|l| l.addr == addr) {
            out.push(l.clone());
            continue;
        }
        let fd = match inherited.remove(&addr) {
            Some(fd) => fd,
            None => privileges::with_bind_capability(|| listen(addr, LISTEN_BACKLOG))
                .map_err(|source| StartError::Listen { addr, source })?,
        };
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

fn wants_log(cfg: &Config) -> bool {
    cfg.frontends.iter().any(|f| f.log)
}

/// The access logger for `cfg`: a writer thread when some frontend logs, else a no-op.
fn make_logger(cfg: &Config, stats: Arc<crate::log::LogStats>) -> Arc<crate::log::Logger> {
    if !wants_log(cfg) {
        return crate::log::Logger::disabled(stats);
    }
    match crate::log::Logger::start(&cfg.log, stats.clone()) {
        Ok(l) => l,
        Err(e) => {
            log(&format!(
                "cannot open the log destination {:?}: {e}; access logs are off",
                cfg.log.target
            ));
            crate::log::Logger::disabled(stats)
        }
    }
}

fn worker_count(cfg: &Config, cpus: &[usize]) -> usize {
    match cfg.global.workers {
        Workers::Auto => cpus.len().max(1),
        Workers::Count(n) => n.max(1),
    }
}

/// What a valid reload led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// The new config is published; this process serves it.
    Applied,
    /// The worker count changes: a new process must take over.
    NeedsHandoff { from: usize, to: usize },
}

/// A running ringlb: workers, listeners and the shared state.
pub struct Server {
    config_path: Option<PathBuf>,
    shared: Arc<Shared>,
    workers: Vec<Worker>,
    checker: Option<crate::health::Checker>,
}

impl Server {
    /// Validates, binds (or adopts inherited sockets), drops privileges and starts the workers.
    /// Does not signal readiness.
    pub fn start(
        mut config: Config,
        config_path: Option<PathBuf>,
        mut inherited: HashMap<SocketAddr, OwnedFd>,
    ) -> Result<Server, StartError> {
        crate::system::check_io_uring().map_err(StartError::IoUring)?;
        fit_maxconn(&mut config);
        let settings = ProcessSettings::from_config(&config);
        let snap = Snapshot::compile(config, None).map_err(StartError::Compile)?;
        let listeners = open_listeners(&snap, &[], &mut inherited)?;
        // Sockets the previous process had but this config does not use close here; the
        // previous process still serves what it accepted from them.
        drop(inherited);
        let dropped = privileges::drop_privileges(
            settings.user.as_deref(),
            settings.group.as_deref(),
            settings.keep_bind_capability,
        )?;
        let cpus = crate::system::cpus();
        let n = worker_count(&snap.config, &cpus);
        let log_stats = Arc::new(crate::log::LogStats::default());
        let logger = make_logger(&snap.config, log_stats.clone());
        let shared = Arc::new(Shared::new(snap, listeners, logger));
        shared.process.workers.store(n as u32, Ordering::Relaxed);
        let workers = worker::start(n, &cpus, shared.clone(), RuntimeOptions::default())
            .map_err(StartError::Workers)?;
        log(&format!(
            "running: {n} workers, uid {} gid {}{}, listening on {}",
            dropped.uid,
            dropped.gid,
            if dropped.kept_bind {
                ", may bind ports < 1024 on reload"
            } else {
                ""
            },
            describe_listeners(&shared)
        ));
        let checker =
            crate::health::Checker::start(shared.snapshot.clone()).map_err(StartError::Workers)?;
        Ok(Server {
            config_path,
            shared,
            workers,
            checker: Some(checker),
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Reloads the config file: on success new sessions and requests use it; on failure the
    /// running config stays and the diagnostics are returned.
    pub fn reload(&mut self) -> Result<Reloaded, Vec<String>> {
        let Some(path) = self.config_path.clone() else {
            return Err(vec!["no config file to reload".into()]);
        };
        let mut cfg =
            config::load(&path).map_err(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>())?;
        fit_maxconn(&mut cfg);
        let prev = self.shared.snapshot.load_full();
        let snap = Snapshot::compile(cfg, Some(&prev)).map_err(|e| vec![e])?;
        // Workers are threads with their own rings: another count is a new process, started
        // like a binary upgrade (listening sockets handed over, nothing dropped).
        let want = worker_count(&snap.config, &crate::system::cpus());
        if want != self.workers.len() {
            return Ok(Reloaded::NeedsHandoff {
                from: self.workers.len(),
                to: want,
            });
        }
        let old = self.shared.listeners.load_full();
        let listeners =
            open_listeners(&snap, &old, &mut HashMap::new()).map_err(|e| vec![e.to_string()])?;
        // Publish the config before the listeners so a new listener's first connection finds
        // its frontend.
        if snap.config.log != prev.config.log || wants_log(&snap.config) != wants_log(&prev.config)
        {
            let stats = self.shared.logger.load().stats.clone();
            self.shared.logger.store(make_logger(&snap.config, stats));
        }
        self.shared.snapshot.store(Arc::new(snap));
        self.shared.listeners.store(Arc::new(listeners));
        for w in &self.workers {
            w.notify();
        }
        if let Some(c) = &self.checker {
            c.notify();
        }
        Ok(Reloaded::Applied)
    }

    /// Stops accepting, lets sessions finish up to the grace period (or not, with `fast`),
    /// joins the workers.
    pub fn drain(mut self, fast: bool) {
        if let Some(c) = self.checker.take() {
            c.stop();
        }
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

    fn listener_fds(&self) -> Vec<(SocketAddr, i32)> {
        self.shared
            .listeners
            .load()
            .iter()
            .map(|l| (l.addr, l.fd.as_raw_fd()))
            .collect()
    }
}

fn describe_listeners(shared: &Shared) -> String {
    let l = shared.listeners.load();
    l.iter()
        .map(|l| {
            let real = socket2::SockRef::from(&*l.fd)
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket());
            real.unwrap_or(l.addr).to_string()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the control loop reacts to.
enum Event {
    Signal(i32),
    Admin(Request),
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
    // The path of our own binary, read now: after a package upgrade replaces the file, this
    // path names the new binary, which is what an upgrade must start.
    let exe = std::env::current_exe().ok();
    let mut handoff_sock = None;
    let mut inherited = HashMap::new();
    let mut admin_listener: Option<UnixListener> = None;
    if let Some(fd) = args.takeover_fd {
        let sock = handoff::from_inherited(fd).map_err(StartError::Takeover)?;
        let got = handoff::recv_listeners(&sock, HANDOFF_TIMEOUT).map_err(StartError::Takeover)?;
        inherited.extend(got.listeners);
        admin_listener = got.admin.map(UnixListener::from);
        log(&format!("took over {} listening sockets", inherited.len()));
        handoff_sock = Some(sock);
    }
    let predecessor = handoff_sock.as_ref().map(|_| nix::unistd::getppid());
    let settings = ProcessSettings::from_config(&cfg);
    // The admin socket is bound before privileges are dropped (its directory may be root's).
    if admin_listener.is_none() {
        if let Some(path) = &settings.admin_socket {
            let l = control::bind(path).map_err(|source| StartError::Admin {
                path: path.clone(),
                source,
            })?;
            admin_listener = Some(l);
        }
    }
    let admin_fd = admin_listener.as_ref().map(|l| l.as_raw_fd());
    let server = match Server::start(cfg, path, inherited) {
        Ok(s) => s,
        Err(e) => {
            if let Some(sock) = &handoff_sock {
                let _ = handoff::send_status(sock, &format!("FAILED {e}"));
            }
            return Err(e);
        }
    };
    let (tx, rx) = mpsc::channel::<Event>();
    if let Some(l) = admin_listener {
        control::serve(l, tx.clone(), admin_event).map_err(StartError::Workers)?;
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
    notify::notify(&format!(
        "MAINPID={}\nREADY=1\nSTATUS=running",
        std::process::id()
    ));
    if let Some(sock) = handoff_sock.take() {
        let _ = handoff::send_status(&sock, "READY");
    }
    log("ready");
    control_loop(
        server,
        rx,
        Upgrade {
            exe,
            predecessor,
            admin_fd,
        },
    )
}

/// What a binary upgrade needs to know about this process.
struct Upgrade {
    exe: Option<PathBuf>,
    /// The process this one replaced, while it may still be draining.
    predecessor: Option<nix::unistd::Pid>,
    /// The admin socket's listener, handed over with the others.
    admin_fd: Option<i32>,
}

fn control_loop(mut server: Server, rx: Receiver<Event>, up: Upgrade) -> Result<(), StartError> {
    let watchdog = notify::watchdog_interval();
    loop {
        let ev = match watchdog {
            Some(every) => match rx.recv_timeout(every) {
                Ok(ev) => ev,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    notify::notify("WATCHDOG=1");
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            },
            None => match rx.recv() {
                Ok(ev) => ev,
                Err(_) => return Ok(()),
            },
        };
        match ev {
            Event::Signal(SIGHUP) => {
                if let Ok(Reloaded::NeedsHandoff { .. }) = do_reload(&mut server) {
                    match do_upgrade(&server, &up) {
                        Ok(_) => return finish_after_handoff(server),
                        Err(e) => reload_failed(&server, &e),
                    }
                }
            }
            Event::Signal(SIGUSR2) => {
                if do_upgrade(&server, &up).is_ok() {
                    return finish_after_handoff(server);
                }
            }
            Event::Signal(sig @ (SIGTERM | SIGINT)) => {
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
            Event::Signal(_) => {}
            Event::Admin(req) => {
                let cmd = req.line.split_whitespace().collect::<Vec<_>>();
                match cmd.as_slice() {
                    ["reload"] => {
                        let reply = match do_reload(&mut server) {
                            Ok(Reloaded::Applied) => Reply::ok(vec!["reloaded".into()]),
                            Ok(Reloaded::NeedsHandoff { from, to }) => {
                                match do_upgrade(&server, &up) {
                                    Ok(pid) => {
                                        let _ = req.reply.send(Reply::ok(vec![format!(
                                        "workers {from} → {to}: new process {pid} is serving; this one drains"
                                    )]));
                                        return finish_after_handoff(server);
                                    }
                                    Err(e) => {
                                        reload_failed(&server, &e);
                                        Reply::err(format!(
                                            "reload needs a new process, which failed: {e}"
                                        ))
                                    }
                                }
                            }
                            Err(errs) => Reply {
                                lines: errs,
                                ok: false,
                                error: Some("reload failed, previous config still serving".into()),
                            },
                        };
                        let _ = req.reply.send(reply);
                    }
                    ["upgrade"] => match do_upgrade(&server, &up) {
                        Ok(pid) => {
                            let _ = req.reply.send(Reply::ok(vec![format!(
                                "new process {pid} is serving; this one drains"
                            )]));
                            return finish_after_handoff(server);
                        }
                        Err(e) => {
                            let _ = req.reply.send(Reply::err(e));
                        }
                    },
                    ["status"] => {
                        let s = server.shared();
                        let _ = req.reply.send(Reply::ok(vec![
                            format!("pid {}", std::process::id()),
                            format!("generation {}", s.snapshot.load().generation),
                            format!("connections {}", s.process.conns.load(Ordering::Relaxed)),
                        ]));
                    }
                    _ => {
                        let reply = admin_command(server.shared(), &cmd);
                        let _ = req.reply.send(reply);
                    }
                }
            }
        }
    }
}

/// Admin commands that read or change server state (no process lifecycle).
fn admin_command(shared: &Shared, cmd: &[&str]) -> Reply {
    use crate::proxy::stats::{apply, collect, ServerChange};
    use crate::snapshot::admin;
    let snap = shared.snapshot.load_full();
    let split = |name: &str| -> Option<(String, String)> {
        let (b, s) = name.split_once('/')?;
        Some((b.to_string(), s.to_string()))
    };
    let change = |target: &str, c: ServerChange| match split(target) {
        Some((b, s)) => match apply(&snap, &b, &s, &c) {
            Ok(msg) => {
                log(&format!("admin: {msg}"));
                Reply::ok(vec![msg])
            }
            Err(e) => Reply::err(e),
        },
        None => Reply::err(format!("expected BACKEND/SERVER, got {target:?}")),
    };
    match cmd {
        ["show", "servers"] => {
            let model = collect(&snap, &shared.process);
            let mut lines = vec!["# backend server address status weight cur total check".to_string()];
            for b in &model.backends {
                for sv in &b.servers {
                    lines.push(format!(
                        "{} {} {} {} {} {} {} {}",
                        b.name,
                        sv.name,
                        sv.addr,
                        sv.status.label(),
                        sv.weight,
                        sv.cur,
                        sv.total,
                        sv.check.as_ref().map(|c| c.last_result.replace(' ', "_")).unwrap_or_else(|| "-".into())
                    ));
                }
            }
            Reply::ok(lines)
        }
        ["show", "stat"] => {
            let model = collect(&snap, &shared.process);
            Reply::ok(crate::stats::render_csv(&model).lines().map(String::from).collect())
        }
        ["show", "info"] => {
            let model = collect(&snap, &shared.process);
            let p = &model.process;
            Reply::ok(vec![
                format!("Name: ringlb"),
                format!("Version: {}", model.version),
                format!("Pid: {}", model.pid),
                format!("Uptime_sec: {}", model.uptime_s),
                format!("CurrConns: {}", p.conns),
                format!("Maxconn: {}", p.maxconn),
                format!("Workers: {}", p.workers),
                format!("Reloads: {}", p.reloads_ok),
                format!("ReloadsFailed: {}", p.reloads_failed),
                format!("LogLines: {}", p.log_lines),
                format!("LogDropped: {}", p.log_dropped),
                format!("ConfigGeneration: {}", p.config_generation),
            ])
        }
        ["set", "server", target, "state", state] => {
            let st = match *state {
                "ready" => admin::READY,
                "drain" => admin::DRAIN,
                "maint" => admin::MAINT,
                other => return Reply::err(format!("unknown state {other:?} (ready, drain, maint)")),
            };
            change(target, ServerChange::State(st))
        }
        ["set", "server", target, "weight", w] => match w.parse::<u32>() {
            Ok(w) => change(target, ServerChange::Weight(w)),
            Err(_) => Reply::err(format!("weight must be a number 0..=256, got {w:?}")),
        },
        ["enable", "health", target] => change(target, ServerChange::Checks(true)),
        ["disable", "health", target] => change(target, ServerChange::Checks(false)),
        _ => Reply::err(format!(
            "unknown command {:?} (try: status, reload, upgrade, show servers, show stat, show info, \
             set server B/S state ready|drain|maint, set server B/S weight N, enable|disable health B/S)",
            cmd.join(" ")
        )),
    }
}

fn do_reload(server: &mut Server) -> Result<Reloaded, Vec<String>> {
    notify::notify(&format!(
        "RELOADING=1\nMONOTONIC_USEC={}",
        notify::monotonic_usec()
    ));
    log("reloading");
    let process = server.shared.process.clone();
    match server.reload() {
        Ok(Reloaded::Applied) => {
            process.reloads_ok.fetch_add(1, Ordering::Relaxed);
            log("reload done: new sessions and requests use the new config");
            notify::notify("READY=1\nSTATUS=running (reloaded)");
            Ok(Reloaded::Applied)
        }
        Ok(r @ Reloaded::NeedsHandoff { from, to }) => {
            log(&format!(
                "reload: workers change from {from} to {to}: handing over to a new process"
            ));
            Ok(r)
        }
        Err(errs) => {
            process.reloads_failed.fetch_add(1, Ordering::Relaxed);
            for e in &errs {
                log(e);
            }
            log("reload failed: the previous config keeps serving");
            notify::notify(&format!(
                "READY=1\nSTATUS=reload failed, previous config still serving: {}",
                errs.first().map(String::as_str).unwrap_or("")
            ));
            Err(errs)
        }
    }
}

/// Records and reports a reload that could not be completed.
fn reload_failed(server: &Server, why: &str) {
    server
        .shared
        .process
        .reloads_failed
        .fetch_add(1, Ordering::Relaxed);
    log(&format!(
        "reload failed: {why}; the previous config keeps serving"
    ));
    notify::notify(&format!(
        "READY=1\nSTATUS=reload failed, previous config still serving: {why}"
    ));
}

/// Starts the new binary and hands it the listening sockets. On success the caller drains.
fn do_upgrade(server: &Server, up: &Upgrade) -> Result<u32, String> {
    // At most two generations at once: this one and the one it replaces, still draining.
    if let Some(p) = up.predecessor {
        if nix::unistd::getppid() == p && still_running(p) {
            let msg =
                format!("previous process {p} is still draining; upgrade again once it has exited");
            log(&msg);
            return Err(msg);
        }
    }
    let Some(exe) = up.exe.as_deref() else {
        return Err("cannot find the ringlb binary to start".into());
    };
    let Some(config) = server.config_path.as_ref() else {
        return Err("no config file to start the new process with".into());
    };
    log(&format!("upgrade: starting {}", exe.display()));
    let started = Instant::now();
    let (ours, theirs) = handoff::pair().map_err(|e| e.to_string())?;
    handoff::inherit(&theirs).map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(exe)
        .arg("run")
        .arg("-c")
        .arg(config)
        .arg("--takeover-fd")
        .arg(theirs.as_raw_fd().to_string())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    drop(theirs);
    let fail = |child: &mut std::process::Child, msg: String| {
        let _ = child.kill();
        let _ = child.wait();
        log(&format!(
            "upgrade failed: {msg}; this process keeps serving"
        ));
        notify::notify(&format!(
            "MAINPID={}\nSTATUS=upgrade failed: {msg}",
            std::process::id()
        ));
        Err(msg)
    };
    if let Err(e) = handoff::send_listeners(&ours, &server.listener_fds(), up.admin_fd) {
        return fail(&mut child, format!("cannot hand over the sockets: {e}"));
    }
    match handoff::recv_status(&ours, HANDOFF_TIMEOUT) {
        Ok(s) if s == "READY" => {
            log(&format!(
                "upgrade: process {} ready after {:?}; draining",
                child.id(),
                started.elapsed()
            ));
            Ok(child.id())
        }
        Ok(s) if s.is_empty() => fail(
            &mut child,
            "the new process exited before it was ready".into(),
        ),
        Ok(s) => fail(&mut child, s),
        Err(e) => fail(&mut child, format!("no answer from the new process: {e}")),
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

/// After a handoff: stop accepting, finish sessions in flight (up to `grace`), exit. The new
/// process already told systemd it is the main process, so no STOPPING=1 here.
fn finish_after_handoff(server: Server) -> Result<(), StartError> {
    server.drain(false);
    log("handed over and drained; exiting");
    Ok(())
}
