//! Per-session flows and what they share on a worker.
//!
//! | file | job |
//! |---|---|
//! | `http/` | the HTTP/1.1 session (its own table of files) |
//! | `tcp.rs` | the TCP session: connect, relay both ways |
//! | `tunnel.rs` | the two-way byte relay (half-close passed on, inactivity limit): TCP mode, and an HTTP connection after `101 Switching Protocols` |
//! | `exchange.rs` | one request (or TCP connection): phase reached, [`exchange::Outcome`], termination code, counters, log record |
//! | `upstream.rs` | a connection to a server: reuse or connect, retries, redispatch |
//! | `queue.rs` | server slots (`maxconn`), the first-come-first-served queue and its bounds (`maxqueue`), slow-start weights |
//! | `hashkey.rs` | the request key a hashing backend balances on (URI, URL parameter, header, cookie) |
//! | `pool.rs` | idle keep-alive server connections, per worker |
//! | `persist.rs` | cookie persistence |
//! | `track.rs` | per-client tracking when a connection opens: counted in its client's entry, then the connection rules (`reject`) |
//!
//! May import `runtime`, `transport`, `snapshot`, `state`, `config`, `http`, `route`, `rules`
//! (header rules and their answers), `balance`, `stats` (rendering the stats page), `log`,
//! `admin` (the stats model and the page's admin form), `health` (passive check reports),
//! `tls` (a server's TLS settings, the key of its pooled connections) and `proxy_protocol`
//! (headers to servers). Never blocks, never takes a lock per request: everything here is
//! owned by one worker thread ([`Local`]) or is an atomic in the shared state.

mod exchange;
pub mod h2;
mod hashkey;
pub mod http;
mod persist;
mod pool;
mod queue;
pub mod tcp;
pub mod track;
mod tunnel;
mod upstream;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::balance::{Balancer, Candidate};
use crate::runtime::Signal;
use crate::snapshot::{FrontendRt, Snapshot};

pub use pool::Pool;
use queue::Queue;
pub use upstream::{Fail, Reuse};

/// At most one event line a second per worker for failed TLS handshakes (and for PROXY headers).
const TLS_FAILURE_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Initial capacity of an output buffer: a typical rewritten head and a small body.
const OUT_BUF: usize = 1024;

/// Everything a worker owns for its sessions.
pub struct Local {
    pub worker: usize,
    pub pool: RefCell<Pool>,
    /// Balancer state for the snapshot generation it was built for.
    balancers: RefCell<(u64, Vec<Balancer>)>,
    /// Requests waiting for a server slot, per backend index of the current generation.
    queues: RefCell<Vec<Queue>>,
    /// Scratch candidate list for picks, reused so a pick allocates nothing.
    scratch: RefCell<Vec<Candidate>>,
    /// Raised when the worker drains: idle sessions close, busy ones finish their request.
    pub draining: Signal,
    /// Sessions open on this worker.
    pub sessions: Cell<usize>,
    /// Requests in flight on this worker, and their peak since the last heap trim.
    pub requests: Cell<usize>,
    pub requests_peak: Cell<usize>,
    /// Output buffers returned by finished sends, reused for the next head.
    spare: RefCell<Vec<Vec<u8>>>,
    /// Process-wide figures (for the stats page).
    pub process: Arc<crate::state::ProcessState>,
    /// Where access log lines go (replaced when a reload changes `[log]`).
    pub logger: RefCell<Arc<crate::log::Logger>>,
    /// Failed TLS handshakes are logged at most once a second per worker (scanners send
    /// thousands), with the count of the others.
    tls_failures: RefCell<crate::log::Throttle>,
    /// PROXY protocol headers refused, logged the same way.
    proxy_failures: RefCell<crate::log::Throttle>,
    /// Failed TLS handshakes with servers, logged the same way (a server with a bad
    /// certificate fails every connection).
    server_tls_failures: RefCell<crate::log::Throttle>,
    /// HTTP/2 limits hit, logged the same way (a flood hits them by the thousand).
    h2_limits: RefCell<crate::log::Throttle>,
    /// Connections rejected by a connection rule, logged the same way.
    rejected: RefCell<crate::log::Throttle>,
    /// HTTP/2 request trailers dropped, logged the same way.
    h2_trailers: RefCell<crate::log::Throttle>,
}

impl Local {
    pub fn new(
        worker: usize,
        logger: Arc<crate::log::Logger>,
        process: Arc<crate::state::ProcessState>,
    ) -> Local {
        Local {
            process,
            logger: RefCell::new(logger),
            tls_failures: RefCell::new(crate::log::Throttle::new(TLS_FAILURE_LOG_EVERY)),
            proxy_failures: RefCell::new(crate::log::Throttle::new(TLS_FAILURE_LOG_EVERY)),
            server_tls_failures: RefCell::new(crate::log::Throttle::new(TLS_FAILURE_LOG_EVERY)),
            h2_limits: RefCell::new(crate::log::Throttle::new(TLS_FAILURE_LOG_EVERY)),
            rejected: RefCell::new(crate::log::Throttle::new(TLS_FAILURE_LOG_EVERY)),
            h2_trailers: RefCell::new(crate::log::Throttle::new(TLS_FAILURE_LOG_EVERY)),
            worker,
            pool: RefCell::new(Pool::default()),
            balancers: RefCell::new((0, Vec::new())),
            queues: RefCell::new(Vec::new()),
            scratch: RefCell::new(Vec::new()),
            draining: Signal::new(),
            sessions: Cell::new(0),
            requests: Cell::new(0),
            requests_peak: Cell::new(0),
            spare: RefCell::new(Vec::new()),
        }
    }

    /// A client connection of frontend `fe` closed: it leaves the process's, the frontend's
    /// and this worker's counts of open connections.
    pub fn connection_closed(&self, fe: &crate::state::FrontendState) {
        self.process
            .conns
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        fe.conns.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.sessions.set(self.sessions.get().saturating_sub(1));
    }

    /// An empty output buffer, reused when possible.
    pub fn out_buf(&self) -> Vec<u8> {
        self.spare
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(OUT_BUF))
    }

    /// Logs a failed TLS handshake on `frontend` (throttled; the client's address is left
    /// out: event lines are not anonymised like access logs).
    pub fn tls_failure(&self, frontend: &FrontendRef, why: &impl std::fmt::Display) {
        self.tls_failures.borrow_mut().event(
            std::time::Instant::now(),
            format_args!("frontend {}: TLS handshake failed: {why}", frontend.key),
        );
    }

    /// Logs a connection closed before its session started on frontend `key`: at its PROXY
    /// protocol header, or gone before its peer address was known (throttled like TLS
    /// failures; the peer's address is left out for the same reason).
    pub fn proxy_failure(&self, key: &str, why: &impl std::fmt::Display) {
        self.proxy_failures.borrow_mut().event(
            std::time::Instant::now(),
            format_args!("frontend {key}: connection closed: {why}"),
        );
    }

    /// Logs an HTTP/2 limit hit on frontend `key` by client `peer` and what ringlb did about
    /// it (throttled: the operator needs the client's address to act on a flood).
    pub fn h2_limit(
        &self,
        key: &str,
        limit: crate::h2::Limit,
        peer: Option<SocketAddr>,
        action: &impl std::fmt::Display,
    ) {
        let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        self.h2_limits.borrow_mut().event(
            std::time::Instant::now(),
            format_args!(
                "frontend {key}: h2 limit {} hit by client {peer}: {action}",
                limit.name()
            ),
        );
    }

    /// Logs request trailers of h2 stream `stream` of client `peer` on frontend `key` dropped:
    /// the request went to its server with `content-length` (throttled like h2 limits).
    pub fn h2_trailers_dropped(&self, key: &str, peer: Option<SocketAddr>, stream: u32) {
        let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        self.h2_trailers.borrow_mut().event(
            std::time::Instant::now(),
            format_args!(
                "frontend {key}: h2 request trailers of client {peer} stream {stream} dropped: \
                 the request went to its server with content-length"
            ),
        );
    }

    /// Logs a connection of `peer` on frontend `key` closed by its connection rule number
    /// `rule` (0-based; throttled like h2 limits: a flood is rejected by the thousand, and the
    /// operator needs the address to act on it).
    pub fn connection_rejected(&self, key: &str, peer: Option<SocketAddr>, rule: usize) {
        let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string());
        self.rejected.borrow_mut().event(
            std::time::Instant::now(),
            format_args!(
                "frontend {key}: connection from {peer} rejected by connection_rule {}",
                rule + 1
            ),
        );
    }

    /// Logs a failed TLS handshake with server `backend/server` (throttled).
    pub fn server_tls_failure(&self, backend: &str, server: &str, why: &impl std::fmt::Display) {
        self.server_tls_failures.borrow_mut().event(
            std::time::Instant::now(),
            format_args!("server {backend}/{server}: TLS handshake failed: {why}"),
        );
    }

    pub fn give_back(&self, mut v: Vec<u8>) {
        let mut spare = self.spare.borrow_mut();
        // Keep a few modest buffers; big ones (a large head) are freed.
        if spare.len() < 64 && v.capacity() <= 64 * 1024 {
            v.clear();
            spare.push(v);
        }
    }
}

/// A connection a worker accepted, and where it belongs: what every session starts from.
pub struct Accepted {
    pub local: Rc<Local>,
    pub cell: Arc<ArcSwap<Snapshot>>,
    pub frontend: FrontendRef,
    /// The client: the peer, or the source a PROXY protocol header named.
    pub peer: Option<SocketAddr>,
    /// The address the client connected to (a PROXY header's destination, or the listener's
    /// own); known when a server is sent PROXY headers. Boxed: it is rarely there, and an idle
    /// session's future holds it twice (see `idle_session_future_stays_small`).
    pub dst: Option<Box<SocketAddr>>,
    /// The connection counted in its frontend's tracking table (a table keyed by `src`);
    /// taken off when dropped. An HTTP/2 stream's is `None`: its connection holds it.
    pub track: Option<Box<track::Tracked>>,
}

impl Accepted {
    /// Both ends of the client's connection, for the PROXY header sent to a server.
    pub fn client_addrs(&self) -> Option<crate::proxy_protocol::Addresses> {
        client_addrs(self.peer, self.dst.as_deref().copied())
    }
}

/// Both ends of a client's connection, when both are known.
pub fn client_addrs(
    peer: Option<SocketAddr>,
    dst: Option<SocketAddr>,
) -> Option<crate::proxy_protocol::Addresses> {
    Some(crate::proxy_protocol::Addresses {
        src: peer?,
        dst: dst?,
    })
}

/// A session's frontend: its index in the snapshot of one generation, found again by name
/// when a reload published another one. Resolved once per request (HTTP) or session (TCP).
#[derive(Clone)]
pub struct FrontendRef {
    key: Arc<str>,
    generation: Cell<u64>,
    index: Cell<usize>,
}

impl FrontendRef {
    /// The frontend at `index` in `snap`.
    pub fn new(snap: &Snapshot, index: usize) -> Option<FrontendRef> {
        let fe = snap.frontends.get(index)?;
        Some(FrontendRef {
            key: fe.key.clone(),
            generation: Cell::new(snap.generation),
            index: Cell::new(index),
        })
    }

    /// The frontend's name.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The frontend's name, shared (no copy).
    pub fn shared_key(&self) -> Arc<str> {
        self.key.clone()
    }

    /// The frontend in `snap`; `None` when a reload removed it.
    pub fn resolve<'s>(&self, snap: &'s Snapshot) -> Option<&'s FrontendRt> {
        if snap.generation != self.generation.get() {
            let index = snap.frontends.iter().position(|f| f.key == self.key)?;
            self.index.set(index);
            self.generation.set(snap.generation);
        }
        snap.frontends.get(self.index.get())
    }
}

/// The client address used for balancing when the peer address is unknown.
pub const UNKNOWN_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// The client address balancing and routing see.
pub fn client_ip(peer: Option<std::net::SocketAddr>) -> IpAddr {
    peer.map(|p| p.ip()).unwrap_or(UNKNOWN_CLIENT)
}

/// What the worker hands a session for a connection accepted on the first frontend of
/// `config`, with `/dev/null` as the connection (for tests that measure a session's futures).
#[cfg(test)]
pub(crate) fn test_accepted(config: &str) -> (Accepted, crate::runtime::Conn) {
    let cfg = crate::config::parse_str(config, "t").expect("config");
    let snap = Snapshot::compile(cfg, None).expect("snapshot");
    let frontend = FrontendRef::new(&snap, 0).expect("frontend");
    let stats = Arc::new(crate::log::LogStats::default());
    let local = Rc::new(Local::new(
        0,
        crate::log::Logger::disabled(stats),
        Arc::default(),
    ));
    let fd: std::os::fd::OwnedFd = std::fs::File::open("/dev/null").expect("fd").into();
    let accepted = Accepted {
        local,
        cell: Arc::new(ArcSwap::from_pointee(snap)),
        frontend,
        peer: None,
        dst: None,
        track: None,
    };
    (accepted, crate::runtime::Conn::from_fd(fd))
}
