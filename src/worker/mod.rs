//! Worker threads: one per core, each with its own ring, its acceptors (one per listening
//! socket, all workers accepting on the same shared sockets) and its sessions.
//!
//! A worker talks to the control thread only through [`Shared`] (atomics and `ArcSwap`s) and
//! an eventfd that wakes it to look at them. Nothing here takes a lock per request.
//!
//! May import `proxy`, `transport` (TLS handshakes), `runtime`, `snapshot`, `state`, `config`,
//! `log`, `system`, `proxy_protocol` (headers read before a session starts), `tls` (the ACME
//! validation ALPN, whose connections end after the handshake).

#![allow(
    clippy::disallowed_methods,
    reason = "workers sweep idle pooled connections and time their drain"
)]

mod accept_proxy;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::config::Mode;
use crate::proxy::{self, Local};
use crate::proxy_protocol;
use crate::runtime::{self, Acceptor, Conn, EventFd, RuntimeOptions, Shot, TaskHandle};
use crate::snapshot::Snapshot;
use crate::state::{FrontendState, ProcessState};
use crate::transport::ktls::Offload;
use crate::transport::{self, Transport};

/// What the control thread asks of the workers; kept in an `AtomicU8` of [`Shared`] so a
/// worker reads it without a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum WorkerPhase {
    /// Accept and serve.
    Running = 0,
    /// Stop accepting, let sessions finish (up to `grace`), exit.
    Draining = 1,
    /// Exit now, closing everything.
    Stopping = 2,
}

impl WorkerPhase {
    fn from_u8(v: u8) -> WorkerPhase {
        match v {
            0 => WorkerPhase::Running,
            1 => WorkerPhase::Draining,
            _ => WorkerPhase::Stopping,
        }
    }
}

/// How long an acceptor pauses after the process ran out of file descriptors or memory, so
/// exhaustion never turns into a busy loop; connections wait in the kernel queue meanwhile.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How many requests in flight fewer than the recent peak make a worker return free heap
/// memory.
const TRIM_AFTER_DROP: usize = 256;

/// How often an acceptor at `maxconn` looks again for room.
const MAXCONN_RECHECK: Duration = Duration::from_millis(5);

/// Connections a multishot accept may take at once beyond the listener's backlog: the queue
/// holds one more than the backlog, and connections completing while the kernel empties it.
const BURST_SLACK: u32 = 16;

/// How the acceptors of a worker take connections, fixed when the worker starts.
#[derive(Clone, Copy)]
struct AcceptMode {
    /// `[global] tune_multishot_accept`.
    multishot: bool,
}

impl AcceptMode {
    fn new(snap: &Snapshot) -> AcceptMode {
        AcceptMode {
            multishot: snap.global.tune.multishot_accept,
        }
    }
}

/// The most connections a multishot accept on `fd` may take at once: the kernel empties the
/// listener's whole queue in one go.
fn burst(fd: &OwnedFd) -> u32 {
    let backlog = runtime::listen_backlog(fd).unwrap_or(u32::from(u16::MAX));
    backlog.saturating_add(BURST_SLACK)
}

/// A listening socket shared by all workers.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Unique for the life of the process; stays the same across reloads for the same socket.
    pub id: u64,
    pub addr: SocketAddr,
    pub fd: Arc<OwnedFd>,
}

/// What the control thread and the workers share.
pub struct Shared {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Access log destination; replaced by a reload that changes `[log]`.
    pub logger: ArcSwap<crate::log::Logger>,
    pub listeners: ArcSwap<Vec<Listener>>,
    /// Connections, reload counts, log counters: shared by every thread.
    pub process: Arc<ProcessState>,
    /// A [`WorkerPhase`].
    phase: AtomicU8,
}

impl Shared {
    pub fn new(
        snapshot: Snapshot,
        listeners: Vec<Listener>,
        logger: Arc<crate::log::Logger>,
    ) -> Shared {
        Shared {
            logger: ArcSwap::new(logger.clone()),
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            listeners: ArcSwap::from_pointee(listeners),
            process: Arc::new(ProcessState {
                log: logger.stats.clone(),
                ..Default::default()
            }),
            phase: AtomicU8::new(WorkerPhase::Running as u8),
        }
    }

    /// Asks the workers to move to `phase` (they look when woken).
    pub fn set_phase(&self, phase: WorkerPhase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    pub fn phase(&self) -> WorkerPhase {
        WorkerPhase::from_u8(self.phase.load(Ordering::Acquire))
    }
}

pub struct Worker {
    pub id: usize,
    wake: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Wakes the worker to look at the shared state (new listeners, phase).
    pub fn notify(&self) {
        self.wake.notify();
    }

    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts `n` workers, pinned round-robin to `cpus`. Returns once every ring is created, or
/// the first error.
pub fn start(
    n: usize,
    cpus: &[usize],
    shared: Arc<Shared>,
    opts: RuntimeOptions,
) -> std::io::Result<Vec<Worker>> {
    let mut workers = Vec::with_capacity(n);
    for id in 0..n {
        let wake = Arc::new(EventFd::new()?);
        let sh = shared.clone();
        let wk = wake.clone();
        let cpu = cpus.get(id % cpus.len().max(1)).copied();
        let pin = move || {
            if let Some(cpu) = cpu {
                let _ = crate::system::pin_to(cpu);
            }
        };
        let thread =
            runtime::start_thread(format!("ringlb-w{id}"), opts, pin, move || run(id, sh, wk))?;
        workers.push(Worker {
            id,
            wake,
            thread: Some(thread),
        });
    }
    Ok(workers)
}

/// A worker's main task.
async fn run(id: usize, shared: Arc<Shared>, wake: Arc<EventFd>) {
    let local = Rc::new(Local::new(
        id,
        shared.logger.load_full(),
        shared.process.clone(),
    ));
    let mut acceptors: HashMap<u64, TaskHandle> = HashMap::new();
    let mut known: HashMap<u64, SocketAddr> = HashMap::new();
    let mode = AcceptMode::new(&shared.snapshot.load());
    sync_listeners(&local, &shared, mode, &mut acceptors, &mut known);
    let sweeper = {
        let local = local.clone();
        runtime::spawn(async move {
            loop {
                runtime::sleep(Duration::from_secs(1)).await;
                local.pool.borrow_mut().sweep(Instant::now());
                // After a burst of requests has ended, give the memory it used back.
                let (active, peak) = (local.requests.get(), local.requests_peak.get());
                if peak >= active + TRIM_AFTER_DROP {
                    runtime::release_pooled();
                    crate::system::trim_heap();
                    local.requests_peak.set(active);
                }
            }
        })
    };
    loop {
        // Connections whose accept completed while its acceptor was being removed.
        adopt(&local, &shared, &known);
        match shared.phase() {
            WorkerPhase::Running => {
                crate::state::counter::bind_worker(
                    id,
                    shared.snapshot.load().global.tune.per_worker_counters,
                );
                sync_listeners(&local, &shared, mode, &mut acceptors, &mut known);
                *local.logger.borrow_mut() = shared.logger.load_full();
            }
            WorkerPhase::Draining | WorkerPhase::Stopping => break,
        }
        let _ = runtime::timeout(Duration::from_millis(250), wake.wait()).await;
    }
    // Drain: stop accepting, close idle connections, let requests in flight finish. Aborting
    // an acceptor cancels its accept; the kernel may have completed it already, and that
    // connection (adopted) is served here like any other.
    for (_, h) in acceptors.drain() {
        h.abort();
    }
    sweeper.abort();
    local.draining.raise();
    *local.pool.borrow_mut() = proxy::Pool::default();
    let grace = shared.snapshot.load().global.grace;
    let deadline = Instant::now() + grace;
    let mut swept = false;
    loop {
        adopt(&local, &shared, &known);
        // Not done while a cancelled accept may still hand over a connection; once none can,
        // serve what a cancelled accept's wake-up left in the queues.
        if !swept && !runtime::accepts_pending() {
            swept = true;
            if shared.phase() == WorkerPhase::Draining {
                sweep_accept_queues(&local, &shared);
            }
        }
        let idle = swept && local.sessions.get() == 0;
        if idle || shared.phase() == WorkerPhase::Stopping {
            break;
        }
        if Instant::now() >= deadline {
            // Sessions cut here write no access log line: say how many, so that their
            // clients' failures are accounted for.
            let open = local.sessions.get();
            if open > 0 {
                crate::log::event(format_args!(
                    "worker {}: grace period ({grace:?}) over: closing {open} sessions still open",
                    local.worker
                ));
            }
            break;
        }
        runtime::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts acceptors for listeners this worker does not serve yet; stops those removed.
fn sync_listeners(
    local: &Rc<Local>,
    shared: &Arc<Shared>,
    mode: AcceptMode,
    acceptors: &mut HashMap<u64, TaskHandle>,
    known: &mut HashMap<u64, SocketAddr>,
) {
    let listeners = shared.listeners.load_full();
    for l in listeners.iter() {
        known.insert(l.id, l.addr);
        acceptors.entry(l.id).or_insert_with(|| {
            runtime::spawn(accept_loop(local.clone(), shared.clone(), l.clone(), mode))
        });
    }
    acceptors.retain(|id, h| {
        let keep = listeners.iter().any(|l| l.id == *id);
        if !keep {
            h.abort();
        }
        keep
    });
}

/// Most connections a stopping worker takes from one listener's queue (see
/// [`runtime::accept_now`]); the next process accepts the rest.
const SWEEP_MAX: usize = 1024;

/// After this worker's accepts are cancelled, serves the connections waiting in the accept
/// queues: one may have been left there by the wake-up of a cancelled accept, with no other
/// accept (of this process or the next) woken for it.
fn sweep_accept_queues(local: &Rc<Local>, shared: &Arc<Shared>) {
    for l in shared.listeners.load().iter() {
        for _ in 0..SWEEP_MAX {
            match runtime::accept_now(&l.fd) {
                Ok(Some((conn, peer))) => start_session(local, shared, l.addr, conn, peer),
                Ok(None) => break,
                Err(e) => {
                    crate::log::event(format_args!(
                        "worker {}: cannot accept on {} while stopping: {e}",
                        local.worker, l.addr
                    ));
                    break;
                }
            }
        }
    }
}

fn adopt(local: &Rc<Local>, shared: &Arc<Shared>, known: &HashMap<u64, SocketAddr>) {
    for (conn, tag, peer) in runtime::take_adopted() {
        let Some(addr) = known.get(&tag) else {
            continue;
        };
        if peer.is_none() && conn.is_direct() {
            // From a multishot accept: its peer address is asked on the ring.
            start_sessions(local, shared, *addr, vec![conn]);
            continue;
        }
        let peer = peer.or_else(|| conn.peer_addr().ok());
        start_session(local, shared, *addr, conn, peer);
    }
}

/// Connections still allowed under `maxconn` on `addr`: the process's and its frontend's.
fn room(shared: &Shared, addr: SocketAddr) -> u32 {
    let snap = shared.snapshot.load();
    let process = snap
        .global
        .maxconn
        .saturating_sub(shared.process.conns.load(Ordering::Relaxed));
    let frontend = snap
        .by_bind
        .get(&addr)
        .and_then(|b| snap.frontends.get(b.frontend))
        .map_or(u32::MAX, |fe| {
            fe.maxconn
                .saturating_sub(fe.state.conns.load(Ordering::Relaxed))
        });
    process.min(frontend)
}

async fn accept_loop(local: Rc<Local>, shared: Arc<Shared>, listener: Listener, mode: AcceptMode) {
    let mut acc = Acceptor::new(listener.fd.clone(), listener.id);
    let mut last_complaint: Option<Instant> = None;
    let burst = burst(&listener.fd);
    loop {
        // Above maxconn, connections wait in the kernel's accept queue.
        while room(&shared, listener.addr) == 0 {
            runtime::sleep(MAXCONN_RECHECK).await;
        }
        let direct = direct_descriptors(&shared.snapshot.load(), listener.addr);
        if mode.multishot
            && runtime::multishot_accept_available()
            && room(&shared, listener.addr) >= burst
        {
            if let Some(e) = multishot_accepts(&local, &shared, &listener, direct, burst).await {
                accept_failed(&local, &listener, &e, &mut last_complaint).await;
            }
            continue;
        }
        match acc.accept(direct).await {
            Ok((conn, peer)) => start_session(&local, &shared, listener.addr, conn, peer),
            Err(e) => accept_failed(&local, &listener, &e, &mut last_complaint).await,
        }
    }
}

/// After a failed accept: out of descriptors or memory, says so (at most every 10 s) and
/// pauses, so that exhaustion never turns into a busy loop; connections wait in the kernel
/// queue meanwhile. Other errors concern one connection only.
async fn accept_failed(
    local: &Local,
    listener: &Listener,
    e: &std::io::Error,
    last_complaint: &mut Option<Instant>,
) {
    if let Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) = e.raw_os_error() {
        if last_complaint.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            crate::log::event(format_args!(
                "worker {}: cannot accept on {}: {e}; pausing accepts (raise LimitNOFILE or lower maxconn)",
                local.worker, listener.addr
            ));
            *last_complaint = Some(Instant::now());
        }
        runtime::sleep(ACCEPT_BACKOFF).await;
    }
}

/// Whether a worker already said that its kernel has no multishot accept (said once).
static MULTISHOT_REFUSED: AtomicBool = AtomicBool::new(false);

/// Takes connections on `listener` with one multishot accept until it ends: cancelled when
/// the room under `maxconn` falls below `burst` (what the kernel may take at once: so that
/// no burst carries the worker past the limit), or the fixed-file table's room does, or
/// ended by the kernel. Every connection the kernel accepted is served, including those that
/// come after the cancellation. Returns the error it ended with.
async fn multishot_accepts(
    local: &Rc<Local>,
    shared: &Arc<Shared>,
    listener: &Listener,
    direct: bool,
    burst: u32,
) -> Option<std::io::Error> {
    let v6 = listener.addr.is_ipv6();
    // The kernel closes a connection it accepted into a full table.
    let direct = direct
        && runtime::free_direct_slots() >= burst
        && runtime::peers_on_ring(&listener.fd, v6).await;
    let mut shots = runtime::MultiAccept::arm(&listener.fd, listener.id, direct);
    let mut failed = None;
    while let Some(first) = shots.next().await {
        let mut conns = Vec::new();
        let mut shot = Some(first);
        while let Some(s) = shot {
            match s {
                // The last connection the reap read: its address came with it.
                Shot::Conn(c, Some(peer)) => {
                    start_session(local, shared, listener.addr, c, Some(peer));
                }
                Shot::Conn(c, None) => conns.push(c),
                Shot::Failed(e) => failed = Some(e),
                Shot::Unsupported => {
                    if !MULTISHOT_REFUSED.swap(true, Ordering::Relaxed) {
                        crate::log::event(format_args!(
                            "this kernel has no multishot accept (Linux 5.19+): accepting one \
                             connection per entry (tune_multishot_accept has no effect)"
                        ));
                    }
                }
            }
            shot = shots.try_next();
        }
        if !conns.is_empty() {
            start_sessions(local, shared, listener.addr, conns);
        }
        let low_table = shots.is_direct() && runtime::free_direct_slots() < burst;
        if low_table || room(shared, listener.addr) < burst {
            shots.cancel();
        }
    }
    failed
}

/// Starts the sessions of connections from a multishot accept that came without their peer
/// addresses once those are known (asked on the ring, one loop iteration). A task of its own,
/// so that an acceptor stopped meanwhile loses none of them. While they wait they count as
/// connections (for `maxconn`) and as sessions (a draining worker waits for them).
fn start_sessions(local: &Rc<Local>, shared: &Arc<Shared>, addr: SocketAddr, conns: Vec<Conn>) {
    let n = conns.len();
    let snap = shared.snapshot.load();
    let fe = snap
        .by_bind
        .get(&addr)
        .and_then(|b| snap.frontends.get(b.frontend))
        .map(|fe| fe.state.clone());
    drop(snap);
    let pending = PendingConns {
        local: local.clone(),
        shared: shared.clone(),
        fe,
        n,
    };
    shared.process.conns.fetch_add(n as u32, Ordering::Relaxed);
    if let Some(fe) = &pending.fe {
        fe.conns.fetch_add(n as u32, Ordering::Relaxed);
    }
    local.sessions.set(local.sessions.get() + n);
    let _ = runtime::spawn(async move {
        let with_peers = runtime::with_peers(conns, addr.is_ipv6()).await;
        let (local, shared) = (pending.local.clone(), pending.shared.clone());
        drop(pending);
        for (conn, peer) in with_peers {
            start_session(&local, &shared, addr, conn, peer);
        }
    });
}

/// Connections accepted whose sessions have not started, counted in the totals until then.
struct PendingConns {
    local: Rc<Local>,
    shared: Arc<Shared>,
    fe: Option<Arc<FrontendState>>,
    n: usize,
}

impl Drop for PendingConns {
    fn drop(&mut self) {
        let n = self.n as u32;
        self.shared.process.conns.fetch_sub(n, Ordering::Relaxed);
        if let Some(fe) = &self.fe {
            fe.conns.fetch_sub(n, Ordering::Relaxed);
        }
        self.local
            .sessions
            .set(self.local.sessions.get().saturating_sub(self.n));
    }
}

/// Whether connections accepted on `addr` may be direct descriptors (see `runtime::Conn`):
/// not where something needs their file descriptor — kTLS on a TLS listener, or the local
/// address of a wildcard listener's connection for the PROXY header sent to servers.
fn direct_descriptors(snap: &Snapshot, addr: SocketAddr) -> bool {
    let tls = snap.by_bind.get(&addr).is_none_or(|b| b.tls);
    !(tls || snap.sends_proxy && addr.ip().is_unspecified())
}

/// Counts a connection out of the process, frontend and worker totals when dropped, unless
/// handed over to a session that does it itself.
struct SessionGuard {
    local: Rc<Local>,
    fe: Option<Arc<FrontendState>>,
}

impl SessionGuard {
    /// The frontend whose count the session takes the connection off (see
    /// `proxy::http::serve_counted`); the guard no longer does.
    fn hand_over(mut self) -> Option<Arc<FrontendState>> {
        self.fe.take()
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if let Some(fe) = self.fe.take() {
            self.local.connection_closed(&fe);
        }
    }
}

fn start_session(
    local: &Rc<Local>,
    shared: &Arc<Shared>,
    addr: SocketAddr,
    conn: Conn,
    peer: Option<SocketAddr>,
) {
    let snap = shared.snapshot.load_full();
    let Some(bind) = snap.by_bind.get(&addr).copied() else {
        // The listener's frontend was removed by a reload: nobody to serve it.
        return;
    };
    let Some(fe) = snap.frontends.get(bind.frontend) else {
        // The listener's frontend was removed by a reload: nobody to serve it.
        return;
    };
    if peer.is_none() {
        // Neither the accept nor the socket could name the client: it reset the connection
        // before its session started (`ENOTCONN`). Nothing arrived to serve, and a session
        // without a source address would pass by the source-address rules.
        local.proxy_failure(&fe.key, &"the client was gone before its session started");
        return;
    }
    if bind.accept_proxy
        && !fe.accept_proxy_from.is_empty()
        && !peer.is_some_and(|p| fe.accept_proxy_from.iter().any(|c| c.contains(p.ip())))
    {
        // Only the listed proxies may name another client; the connection is closed unread.
        fe.state.proxy_refused.fetch_add(1, Ordering::Relaxed);
        local.proxy_failure(&fe.key, &"peer not allowed to send a PROXY header");
        return;
    }
    shared.process.conns.fetch_add(1, Ordering::Relaxed);
    let now = fe.state.conns.fetch_add(1, Ordering::Relaxed) + 1;
    if now > fe.state.max_conns.load(Ordering::Relaxed) {
        fe.state.max_conns.fetch_max(now, Ordering::Relaxed);
    }
    fe.state.total_conns.add(1);
    local.sessions.set(local.sessions.get() + 1);
    let guard = SessionGuard {
        local: local.clone(),
        fe: Some(fe.state.clone()),
    };
    let Some(frontend) = proxy::FrontendRef::new(&snap, bind.frontend) else {
        return;
    };
    let mode = fe.mode;
    // A plain HTTP connection is read only through `recv` once its PROXY header is taken: it
    // may keep one multishot receive armed. (A TLS one may pass its records to kTLS, which
    // must find them in the socket.)
    let multishot = snap.global.tune.multishot_recv && mode == Mode::Http && !bind.tls;
    // Plain listeners of a frontend with `[h2] cleartext` tell the h2 preface from HTTP/1.1.
    let h2_plain = (mode == Mode::Http && fe.h2.cleartext).then_some(fe.timeouts.http_request);
    let handshake = fe.tls.clone().filter(|_| bind.tls).map(|tls| Handshake {
        tls,
        timeout: fe.timeouts.client,
        counters: fe.state.clone(),
    });
    // The address the client connected to, for PROXY headers sent to servers: the listener's
    // own, or (a wildcard listener) the connection's.
    let dst = if addr.ip().is_unspecified() {
        snap.sends_proxy.then(|| conn.local_addr().ok()).flatten()
    } else {
        snap.sends_proxy.then_some(addr)
    }
    .map(Box::new);
    let mut accepted = proxy::Accepted {
        local: local.clone(),
        cell: shared.snapshot.clone(),
        frontend,
        peer,
        dst,
        track: None,
    };
    let expect_proxy = bind.accept_proxy.then_some(fe.timeouts.client);
    if expect_proxy.is_none() {
        // Counted and checked against the connection rules before anything is spent on it: a
        // rejected connection closes here, before its task, handshake or first receive.
        match proxy::track::admit(fe, peer, local) {
            proxy::track::Admission::Serve(t) => accepted.track = t,
            proxy::track::Admission::Reject => return,
        }
        if mode == Mode::Http && handshake.is_none() {
            // A plain HTTP session (or, on a frontend with h2 cleartext, the connection that
            // tells h2 from HTTP/1.1) is the task itself, counted out as it ends: the task is
            // what an idle keep-alive connection costs.
            if let Some(fe) = guard.hand_over() {
                conn.set_multishot(multishot);
                let _ = match h2_plain {
                    None => runtime::spawn(proxy::http::serve_counted(accepted, conn, fe)),
                    Some(wait) => {
                        runtime::spawn(proxy::h2::serve_plain(accepted, conn, wait, Some(fe)))
                    }
                };
            }
            return;
        }
    }
    let _ = runtime::spawn(async move {
        let _guard = guard;
        if let Some(limit) = expect_proxy {
            // Boxed, so that the plain session's task reserves no room for it.
            let deadline = Instant::now() + limit;
            match Box::pin(accept_proxy::read(&conn, deadline)).await {
                Ok(proxy_protocol::Header::Proxied(a)) => {
                    accepted.peer = Some(a.src);
                    accepted.dst = Some(Box::new(a.dst));
                }
                Ok(proxy_protocol::Header::Local) => {}
                Err(accept_proxy::Failure::Silent) => return,
                Err(why) => {
                    if let Some(fe) = &_guard.fe {
                        fe.proxy_failed.fetch_add(1, Ordering::Relaxed);
                    }
                    let key = accepted.frontend.key().to_owned();
                    accepted.local.proxy_failure(&key, &why);
                    return;
                }
            }
            // The client is the one the header named.
            let snap = accepted.cell.load();
            let Some(fe) = accepted.frontend.resolve(&snap) else {
                return;
            };
            match proxy::track::admit(fe, accepted.peer, &accepted.local) {
                proxy::track::Admission::Serve(t) => accepted.track = t,
                proxy::track::Admission::Reject => return,
            }
        }
        conn.set_multishot(multishot);
        // The sessions are boxed, so that this task reserves no room for any of them (a TLS
        // connection's state is large); `serve_tls` holds only the boxes it waits on, so it
        // runs inline. (A plain HTTP session without a PROXY header is spawned as its task.)
        match (handshake, mode) {
            (None, Mode::Http) if h2_plain.is_some() => {
                let wait = h2_plain.unwrap_or_default();
                Box::pin(proxy::h2::serve_plain(accepted, conn, wait, None)).await;
            }
            (None, Mode::Http) => Box::pin(proxy::http::serve(accepted, conn)).await,
            (None, Mode::Tcp) => Box::pin(proxy::tcp::serve(accepted, conn)).await,
            (Some(h), _) => serve_tls(mode, accepted, conn, h).await,
        }
    });
}

/// What a TLS listener's connection needs before its session: the frontend's TLS, how long
/// the handshake may take, and where it is counted.
struct Handshake {
    tls: Arc<crate::tls::TlsRt>,
    timeout: Duration,
    counters: Arc<FrontendState>,
}

/// Runs the TLS handshake, then the session over TLS.
///
/// The handshake and the session are boxed apart, and this future holds nothing but the box
/// it waits on: an idle TLS connection keeps the session's box and rustls's state, not room
/// for a handshake that ended long ago.
async fn serve_tls(mode: Mode, accepted: proxy::Accepted, conn: Conn, h: Handshake) {
    let session = Box::pin(open_tls(mode, accepted, conn, h)).await;
    if let Some(session) = session {
        session.await;
    }
}

/// The TLS handshake, counted; then the session to run over it (`None` when it failed).
async fn open_tls(
    mode: Mode,
    accepted: proxy::Accepted,
    conn: Conn,
    h: Handshake,
) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> {
    let deadline = Instant::now() + h.timeout;
    match transport::tls::handshake(conn, h.tls.config.clone(), deadline).await {
        Ok(conn) => {
            h.counters.tls_handshakes.fetch_add(1, Ordering::Relaxed);
            if conn.info().resumed {
                h.counters.tls_resumed.fetch_add(1, Ordering::Relaxed);
            }
            if conn.info().alpn.as_deref() == Some(crate::tls::ACME_TLS_ALPN) {
                // An ACME tls-alpn-01 validation: the handshake was all of it (RFC 8737).
                return None;
            }
            // ALPN "h2": the connection speaks HTTP/2 whichever record layer runs it.
            let mode = match (mode, conn.info().alpn.as_deref()) {
                (Mode::Http, Some(b"h2")) => Session::H2,
                (Mode::Http, _) => Session::Http,
                (Mode::Tcp, _) => Session::Tcp,
            };
            if !h.tls.ktls {
                h.counters.tls_userspace.fetch_add(1, Ordering::Relaxed);
                return Some(boxed_session(mode, accepted, conn));
            }
            // Whichever record layer runs it, the session has its own box: a kTLS session's
            // holds no room for rustls.
            match transport::ktls::offload(conn) {
                Offload::Kernel(conn) => {
                    h.counters.tls_ktls.fetch_add(1, Ordering::Relaxed);
                    Some(boxed_session(mode, accepted, conn))
                }
                Offload::User(conn) => {
                    h.counters.tls_userspace.fetch_add(1, Ordering::Relaxed);
                    Some(boxed_session(mode, accepted, conn))
                }
                Offload::Failed(e) => {
                    h.counters.tls_ktls_failed.fetch_add(1, Ordering::Relaxed);
                    accepted
                        .local
                        .tls_failure(&accepted.frontend, &format_args!("kTLS set-up: {e}"));
                    None
                }
            }
        }
        Err(e) => {
            h.counters.tls_failed.fetch_add(1, Ordering::Relaxed);
            accepted.local.tls_failure(&accepted.frontend, &e);
            None
        }
    }
}

/// The session of a frontend's mode over `conn`, boxed (a plain function, so that `conn` is
/// moved into the box and never kept in the caller's state).
fn boxed_session<T: Transport + 'static>(
    session: Session,
    accepted: proxy::Accepted,
    conn: T,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    match session {
        Session::Http => Box::pin(proxy::http::serve(accepted, conn)),
        Session::H2 => Box::pin(proxy::h2::serve(accepted, conn, Vec::new())),
        Session::Tcp => Box::pin(proxy::tcp::serve(accepted, conn)),
    }
}

/// What runs over a TLS connection after its handshake.
#[derive(Clone, Copy)]
enum Session {
    Http,
    H2,
    Tcp,
}
