//! The running process: its listening sockets, workers, health checker and shared state.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::saved::{self, SavedState, Saver};
use super::{transition, Phase, ProcessSettings, StartError, Tell, LISTEN_BACKLOG};
use nix::sys::resource::Resource;

use crate::config::Config;
use crate::runtime::{listen, RuntimeOptions};
use crate::snapshot::Snapshot;
use crate::state::LogStats;
use crate::system::privileges;
use crate::worker::{self, Listener, Shared, Worker};

/// Descriptors kept for listeners, rings, logs and health checks when sizing maxconn.
const RESERVED_FDS: u64 = 128;

static NEXT_LISTENER_ID: AtomicU64 = AtomicU64::new(1);

/// A running ringlb: workers, listeners and the shared state.
pub struct Process {
    pub(super) config_path: Option<PathBuf>,
    /// The config the published snapshot was compiled from: compiled again, unchanged, to
    /// install a certificate the ACME thread got.
    pub(super) config: Config,
    /// The ACME thread, once started.
    pub(super) acme: Option<crate::acme::Handle>,
    pub(super) shared: Arc<Shared>,
    pub(super) workers: Vec<Worker>,
    pub(super) checker: Option<crate::health::Checker>,
    /// The phase it is in; changed only through [`Process::enter`].
    phase: Phase,
    /// Workers, user and listeners, said once when the process reports ready.
    pub(super) summary: String,
    /// Keeps the state file up to date.
    pub(super) saver: Saver,
}

/// The state file `config` names (or systemd's state directory gives).
pub(super) fn state_path(config: &Config) -> Option<PathBuf> {
    config
        .global
        .state_file
        .resolve(std::env::var_os("STATE_DIRECTORY").as_deref())
}

impl Process {
    /// Validates, binds (or adopts inherited sockets), drops privileges and starts the workers.
    /// Server state comes from `handed` (a binary upgrade) or else from the state file, and is
    /// in place before any worker or check starts. Does not signal readiness.
    pub fn start(
        mut config: Config,
        config_path: Option<PathBuf>,
        mut inherited: HashMap<SocketAddr, OwnedFd>,
        handed: Option<SavedState>,
    ) -> Result<Process, StartError> {
        crate::system::check_io_uring().map_err(StartError::IoUring)?;
        fit_maxconn(&mut config);
        let settings = ProcessSettings::from_config(&config);
        let kept = config.clone();
        let state_file = state_path(&config);
        let snap = Snapshot::compile(config, None).map_err(StartError::Compile)?;
        match (handed, &state_file) {
            (Some(s), _) => s.apply(&snap, "the previous process"),
            (None, Some(path)) => {
                if let Some(s) = saved::load(path) {
                    s.apply(&snap, &format!("the state file {}", path.display()));
                }
            }
            (None, None) => {}
        }
        let listeners = open_listeners(&snap, &[], &mut inherited)?;
        // Sockets the previous process had but this config does not use close here; the
        // previous process still serves what it accepted from them.
        drop(inherited);
        // The rings are counted against the locked-memory limit once privileges are dropped.
        let _ = crate::system::raise_soft_limit(Resource::RLIMIT_MEMLOCK);
        let dropped = privileges::drop_privileges(
            settings.user.as_deref(),
            settings.group.as_deref(),
            settings.keep_bind_capability,
        )?;
        let cpus = crate::system::cpus();
        let n = snap.global.worker_count(&cpus);
        let log_stats = Arc::new(LogStats::default());
        let logger = make_logger(&snap, log_stats.clone());
        let shared = Arc::new(Shared::new(snap, listeners, logger));
        shared.process.workers.store(n as u32, Ordering::Relaxed);
        let opts = runtime_options(&shared.snapshot.load().global);
        let workers = worker::start(n, &cpus, shared.clone(), opts).map_err(ring_error)?;
        let summary = format!(
            "{n} workers, uid {} gid {}{}, listening on {}",
            dropped.uid,
            dropped.gid,
            if dropped.kept_bind {
                ", may bind ports < 1024 on reload"
            } else {
                ""
            },
            describe_listeners(&shared)
        );
        let checker = crate::health::Checker::start(shared.snapshot.clone()).map_err(ring_error)?;
        Ok(Process {
            config_path,
            config: kept,
            acme: None,
            shared,
            workers,
            checker: Some(checker),
            phase: Phase::Starting,
            summary,
            saver: Saver::new(state_file),
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Moves to phase `to`, logging it and telling systemd (see [`super::transition`]).
    pub(super) fn enter(&mut self, to: Phase, what: impl std::fmt::Display, tell: Tell<'_>) {
        self.phase = to;
        transition(to, what, tell);
    }

    pub(super) fn listener_fds(&self) -> Vec<(SocketAddr, i32)> {
        self.shared
            .listeners
            .load()
            .iter()
            .map(|l| (l.addr, l.fd.as_raw_fd()))
            .collect()
    }
}

/// Opens listening sockets for every address in `snap`, reusing those in `have` and those
/// inherited from a previous process (`inherited`, consumed as used). Once all are open, each
/// gets the deferred accept its frontend asks for, also a kept or inherited one whose setting
/// changed (a listener that cannot be opened leaves the kept ones as they were).
pub(super) fn open_listeners(
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
    for l in &out {
        let defer = snap.by_bind.get(&l.addr).is_some_and(|b| b.defer_accept);
        crate::system::set_defer_accept(l.fd.as_fd(), defer).map_err(|source| {
            StartError::Listen {
                addr: l.addr,
                source,
            }
        })?;
    }
    Ok(out)
}

/// A thread's ring could not be made. `ENOMEM` there is nearly always the locked-memory limit,
/// which the kernel applies to all processes of the user at once: the message says so and how
/// to raise it.
fn ring_error(e: std::io::Error) -> StartError {
    if e.raw_os_error() != Some(libc::ENOMEM) {
        return StartError::Workers(e);
    }
    let limit = match crate::system::soft_limit(Resource::RLIMIT_MEMLOCK) {
        Some(bytes) => format!("{} KiB", bytes / 1024),
        None => {
            return StartError::RingMemory(
                "cannot start workers: the kernel has no memory for their io_uring rings \
                 (ENOMEM; the locked-memory limit is unlimited)"
                    .into(),
            )
        }
    };
    StartError::RingMemory(format!(
        "cannot start workers: the kernel refused memory for their io_uring rings (ENOMEM). \
         It counts that memory against the locked-memory limit (RLIMIT_MEMLOCK, here {limit}) \
         for all processes of this user together, and during a binary upgrade the old and the \
         new process both hold rings. Raise the limit: LimitMEMLOCK=infinity in the systemd \
         unit (the packaged ringlb.service sets it), `ulimit -l unlimited` in a shell; or run \
         fewer workers"
    ))
}

/// Lowers the global maxconn to what the open-files limit allows (raising the soft limit to
/// the hard one first), with a warning that says how to get more.
pub(super) fn fit_maxconn(config: &mut Config) {
    let Ok(limit) = crate::system::raise_soft_limit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    // Each proxied connection needs two descriptors (client and server side).
    let fit = (limit.saturating_sub(RESERVED_FDS) / 2).min(u64::from(u32::MAX)) as u32;
    if config.global.maxconn > fit {
        crate::log::event(format_args!(
            "warning: maxconn {} does not fit the open files limit {limit} (two descriptors per connection); using maxconn {fit}. Raise LimitNOFILE to allow more.",
            config.global.maxconn
        ));
        config.global.maxconn = fit;
    }
}

/// Most fixed-file slots per worker: 64 Ki slots cost the kernel about 1 MiB per worker;
/// connections beyond them get ordinary descriptors.
const MAX_FIXED_FILES: u64 = 64 * 1024;

/// The workers' ring settings: the `tune_*` levers, and a fixed-file table with room for a
/// client and a server socket per connection (`maxconn`), within the open-files limit (the
/// kernel refuses a larger table).
fn runtime_options(g: &crate::snapshot::GlobalRt) -> RuntimeOptions {
    // Unknown (or unlimited, which Linux does not allow for open files): the kernel's
    // default soft limit.
    let nofile = crate::system::soft_limit(Resource::RLIMIT_NOFILE).unwrap_or(1024);
    let want = 2 * u64::from(g.maxconn) + 1024;
    RuntimeOptions {
        ring_fd: g.tune.ring_fd,
        fixed_files: if g.tune.direct_descriptors {
            want.min(nofile).min(MAX_FIXED_FILES) as u32
        } else {
            0
        },
        loop_clock: g.tune.loop_clock,
        zero_copy_min: g.tune.zero_copy_send.then_some(g.tune.zero_copy_min),
        batch_wait_us: g.tune.batch_wait_us,
        ..RuntimeOptions::default()
    }
}

/// The access logger for `snap`: a writer thread when some frontend logs, else a no-op.
pub(super) fn make_logger(snap: &Snapshot, stats: Arc<LogStats>) -> Arc<crate::log::Logger> {
    let Some(cfg) = &snap.global.access_log else {
        return crate::log::Logger::disabled(stats);
    };
    match crate::log::Logger::start(cfg, stats.clone()) {
        Ok(l) => l,
        Err(e) => {
            crate::log::event(format_args!(
                "cannot open the log destination {:?}: {e}; access logs are off",
                cfg.target
            ));
            crate::log::Logger::disabled(stats)
        }
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
