//! Per-session flows: HTTP (`http`) and TCP (`tcp`), and what they share on a worker — the
//! upstream keep-alive pool, the balancer state, the per-backend queues and the retry loop.
//!
//! May import `runtime`, `snapshot`, `state`, `config`, `http`, `route`, `balance`, `log`,
//! `stats` (rendering the stats page), `admin` (the stats model and the page's admin form) and
//! `health` (passive check reports). Never blocks, never takes a lock on the request path:
//! everything here is owned by one worker thread ([`Local`]) or is an atomic in the shared
//! state.
//!
//! Invariant: a server slot (`ServerState::inflight`) taken for a request is released exactly
//! once, by [`SlotGuard`]'s drop, whatever way the request ends.

pub mod http;
mod persist;
mod pool;
pub mod tcp;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::balance::{Balancer, Candidate, Pick};
use crate::runtime::{self, Conn, Recv, Signal};
use crate::snapshot::Snapshot;
use crate::state::{BackendQueue, ProcessState, ServerState};

pub use pool::Pool;

/// Initial capacity of an output buffer: a typical rewritten head and a small body.
const OUT_BUF: usize = 1024;

/// How often a queued request looks again for a free server slot, in case the slot was freed
/// on another worker (releases on this worker wake the queue at once).
const QUEUE_RECHECK: Duration = Duration::from_millis(1);

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
    pub process: Arc<ProcessState>,
    /// Where access log lines go (replaced when a reload changes `[log]`).
    pub logger: RefCell<Arc<crate::log::Logger>>,
}

impl Local {
    pub fn new(
        worker: usize,
        logger: Arc<crate::log::Logger>,
        process: Arc<ProcessState>,
    ) -> Local {
        Local {
            process,
            logger: RefCell::new(logger),
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

    /// An empty output buffer, reused when possible.
    pub fn out_buf(&self) -> Vec<u8> {
        self.spare
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(OUT_BUF))
    }

    pub fn give_back(&self, mut v: Vec<u8>) {
        let mut spare = self.spare.borrow_mut();
        // Keep a few modest buffers; big ones (a large head) are freed.
        if spare.len() < 64 && v.capacity() <= 64 * 1024 {
            v.clear();
            spare.push(v);
        }
    }

    fn sync_generation(&self, snap: &Snapshot) {
        let mut b = self.balancers.borrow_mut();
        if b.0 != snap.generation {
            b.1 = snap
                .backends
                .iter()
                .map(|be| Balancer::new(be.balance, be.servers.len()))
                .collect();
            b.0 = snap.generation;
            let old = std::mem::take(&mut *self.queues.borrow_mut());
            // Waiters of the old generation wake, find their ticket gone and queue again
            // against the new backends.
            for q in old {
                for (_, w) in q.waiting {
                    if let Some(w) = w {
                        w.wake();
                    }
                }
            }
            self.queues
                .borrow_mut()
                .resize_with(snap.backends.len(), Queue::default);
        }
    }

    /// Wakes the request at the front of `backend`'s queue: a slot may be free for it.
    fn wake_queue(&self, backend: usize) {
        let w = self
            .queues
            .borrow_mut()
            .get_mut(backend)
            .and_then(|q| q.waiting.front_mut())
            .and_then(|(_, w)| w.take());
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// Requests of one backend waiting for a server slot on this worker, first come first served.
#[derive(Default)]
struct Queue {
    /// Tickets in arrival order, with the waker of the request holding each.
    waiting: VecDeque<(u64, Option<Waker>)>,
}

/// A place in a backend's queue; leaving it (served, timed out, or the request dropped) lets
/// the next request try.
struct Ticket {
    local: Rc<Local>,
    backend: usize,
    /// Arrival order across workers.
    id: u64,
    queue: Arc<BackendQueue>,
}

impl Ticket {
    fn join(local: &Rc<Local>, snap: &Snapshot, backend: usize) -> Option<Ticket> {
        let queue = snap.backends.get(backend)?.queue.clone();
        let id = queue.next.fetch_add(1, Ordering::Relaxed);
        {
            let mut w = queue.waiting.lock().unwrap_or_else(|p| p.into_inner());
            w.insert(id);
            queue.any.store(true, Ordering::Release);
        }
        local
            .queues
            .borrow_mut()
            .get_mut(backend)?
            .waiting
            .push_back((id, None));
        Some(Ticket {
            local: local.clone(),
            backend,
            id,
            queue,
        })
    }

    /// `Some(true)` when this is the oldest request waiting on any worker; `None` when this
    /// worker's queue was reset (reload).
    fn at_front(&self) -> Option<bool> {
        let present = self
            .local
            .queues
            .borrow()
            .get(self.backend)
            .is_some_and(|q| q.waiting.iter().any(|(id, _)| *id == self.id));
        if !present {
            return None;
        }
        let w = self.queue.waiting.lock().unwrap_or_else(|p| p.into_inner());
        Some(w.first() == Some(&self.id))
    }

    /// The oldest waiting request on this worker: it polls for slots freed elsewhere.
    fn local_front(&self) -> bool {
        self.local
            .queues
            .borrow()
            .get(self.backend)
            .and_then(|q| q.waiting.front().map(|(id, _)| *id))
            == Some(self.id)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        {
            let mut w = self.queue.waiting.lock().unwrap_or_else(|p| p.into_inner());
            w.remove(&self.id);
            self.queue.any.store(!w.is_empty(), Ordering::Release);
        }
        let was_front = {
            let mut queues = self.local.queues.borrow_mut();
            let Some(q) = queues.get_mut(self.backend) else {
                return;
            };
            let front = q.waiting.front().map(|(id, _)| *id) == Some(self.id);
            q.waiting.retain(|(id, _)| *id != self.id);
            front
        };
        if was_front {
            self.local.wake_queue(self.backend);
        }
    }
}

/// A taken server slot; dropping it frees the slot and wakes one queued request.
pub struct SlotGuard {
    state: Arc<ServerState>,
    local: Rc<Local>,
    backend: usize,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.state.release();
        self.local.wake_queue(self.backend);
    }
}

/// Why a request could not be served; each maps to a status, a log code and a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    /// No server up in the backend.
    NoServer,
    /// Every server stayed at maxconn until `timeout queue`.
    QueueTimeout,
    /// Connecting failed on every attempt.
    ConnectFailed,
    /// The server did not answer within `timeout server`.
    ServerTimeout,
    /// The server sent something unparseable or ambiguous, or closed before answering.
    BadResponse,
}

impl Fail {
    pub fn status(self) -> u16 {
        match self {
            Fail::NoServer | Fail::QueueTimeout | Fail::ConnectFailed => 503,
            Fail::ServerTimeout => 504,
            Fail::BadResponse => 502,
        }
    }
}

/// Picks a server and takes a slot on it, queueing while all are full. With `pin`, the slot
/// is taken on that server (a retry without redispatch), as long as it is up.
pub async fn acquire(
    local: &Rc<Local>,
    snap: &Snapshot,
    backend: usize,
    client: IpAddr,
    exclude: Option<usize>,
    pin: Option<usize>,
) -> Result<(usize, SlotGuard), Fail> {
    local.sync_generation(snap);
    let Some(be) = snap.backends.get(backend) else {
        return Err(Fail::NoServer);
    };
    let deadline = Instant::now() + be.timeouts.queue;
    // A request arriving while others wait queues behind them (first come, first served).
    let mut ticket = if be.queue.any.load(Ordering::Acquire) {
        Ticket::join(local, snap, backend)
    } else {
        None
    };
    loop {
        let turn = match &ticket {
            None => true,
            Some(t) => match t.at_front() {
                Some(front) => front,
                // The queue was reset by a reload: start over against the new one.
                None => {
                    ticket = Ticket::join(local, snap, backend);
                    ticket.as_ref().and_then(Ticket::at_front).unwrap_or(true)
                }
            },
        };
        let pick = if turn {
            pick(local, be, backend, client, exclude, pin)
        } else {
            Pick::Full
        };
        match pick {
            Pick::Server(i) => {
                let Some(s) = be.servers.get(i) else {
                    return Err(Fail::NoServer);
                };
                if s.state.try_acquire(s.maxconn) {
                    s.state.total.fetch_add(1, Ordering::Relaxed);
                    // Leaving the queue lets the next request try at once.
                    drop(ticket);
                    return Ok((
                        i,
                        SlotGuard {
                            state: s.state.clone(),
                            local: local.clone(),
                            backend,
                        },
                    ));
                }
                // Lost a race with another worker for the last slot: look again.
            }
            Pick::NoServer => return Err(Fail::NoServer),
            Pick::Full => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(Fail::QueueTimeout);
                }
                if ticket.is_none() {
                    ticket = Ticket::join(local, snap, backend);
                }
                let Some(t) = ticket.as_ref() else {
                    return Err(Fail::NoServer);
                };
                // The front request also looks again now and then: slots freed by other
                // workers do not wake this worker's queue.
                let wake_at = if t.local_front() {
                    deadline.min(now + QUEUE_RECHECK)
                } else {
                    deadline
                };
                let _ = runtime::timeout_at(
                    wake_at,
                    QueueWait {
                        ticket: t,
                        registered: false,
                    },
                )
                .await;
            }
        }
    }
}

/// Asks the balancer (or the pinned server) for a server with a free slot.
fn pick(
    local: &Local,
    be: &crate::snapshot::BackendRt,
    backend: usize,
    client: IpAddr,
    exclude: Option<usize>,
    pin: Option<usize>,
) -> Pick {
    let pinned = pin.and_then(|i| be.servers.get(i).map(|s| (i, s)));
    if let Some((i, s)) = pinned.filter(|(_, s)| s.state.reachable()) {
        let inflight = s.state.inflight.load(Ordering::Relaxed);
        return if s.maxconn == 0 || inflight < s.maxconn {
            Pick::Server(i)
        } else {
            Pick::Full
        };
    }
    let mut scratch = local.scratch.borrow_mut();
    scratch.clear();
    scratch.extend(be.servers.iter().map(|s| {
        let inflight = s.state.inflight.load(Ordering::Relaxed);
        Candidate {
            weight: s.state.weight(s.weight),
            up: s.state.usable(),
            backup: s.backup,
            inflight,
            has_room: s.maxconn == 0 || inflight < s.maxconn,
        }
    }));
    let mut b = local.balancers.borrow_mut();
    match b.1.get_mut(backend) {
        Some(bal) => bal.pick(&scratch, client, exclude),
        None => Pick::NoServer,
    }
}

/// Waits until the ticket's request is woken (its turn may have come).
struct QueueWait<'a> {
    ticket: &'a Ticket,
    registered: bool,
}

impl Future for QueueWait<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let t = self.ticket;
        let mut queues = t.local.queues.borrow_mut();
        let slot = queues
            .get_mut(t.backend)
            .and_then(|q| q.waiting.iter_mut().find(|(id, _)| *id == t.id));
        match slot {
            // Woken: `wake_queue` took the waker.
            Some((_, None)) if self.registered => Poll::Ready(()),
            Some((_, w)) => {
                *w = Some(cx.waker().clone());
                drop(queues);
                self.registered = true;
                Poll::Pending
            }
            // The queue was reset.
            None => Poll::Ready(()),
        }
    }
}

/// A connection to a server, fresh or from the pool.
pub struct Upstream {
    /// Time spent waiting for a server slot.
    pub waited: Duration,
    /// Time spent connecting (zero for a pooled connection).
    pub connecting: Duration,
    /// Connection attempts that failed before this one.
    pub retries: u32,
    pub conn: Conn,
    /// A receive already in flight (pooled connections keep one).
    pub pending: Option<Recv>,
    pub server: usize,
    pub slot: SlotGuard,
    pub reused: bool,
}

/// Gets a connection to a server of `backend`: picks, queues, reuses an idle one or connects,
/// retrying failed connects `retries` times (on another server with `redispatch`). `prefer`
/// is the server a persistence cookie names.
pub async fn connect(
    local: &Rc<Local>,
    snap: &Snapshot,
    backend: usize,
    client: IpAddr,
    reuse: Reuse,
    prefer: Option<usize>,
) -> Result<Upstream, Fail> {
    let Some(be) = snap.backends.get(backend) else {
        return Err(Fail::NoServer);
    };
    let mut exclude = None;
    // A persistence cookie names a server: used while it can take the request, else the
    // balancer picks another one (and the cookie is set again).
    let mut pin = prefer;
    let mut attempt = 0u32;
    let mut waited = Duration::ZERO;
    loop {
        let queued_at = Instant::now();
        let (server, slot) = acquire(local, snap, backend, client, exclude, pin).await?;
        waited += queued_at.elapsed();
        let Some(srv) = be.servers.get(server) else {
            return Err(Fail::NoServer);
        };
        if reuse != Reuse::Never {
            let fresh = if reuse == Reuse::FreshOnly {
                Some(pool::FRESH_FOR_UNSAFE)
            } else {
                None
            };
            let got = local
                .pool
                .borrow_mut()
                .take(srv.addr, Instant::now(), fresh);
            if let Some((conn, probe)) = got {
                return Ok(Upstream {
                    waited,
                    connecting: Duration::ZERO,
                    retries: attempt,
                    conn,
                    pending: Some(probe),
                    server,
                    slot,
                    reused: true,
                });
            }
        }
        let connect_at = Instant::now();
        match runtime::timeout(be.timeouts.connect, Conn::connect(srv.addr)).await {
            Ok(Ok(conn)) => {
                return Ok(Upstream {
                    waited,
                    connecting: connect_at.elapsed(),
                    retries: attempt,
                    conn,
                    pending: None,
                    server,
                    slot,
                    reused: false,
                })
            }
            Ok(Err(_)) | Err(_) => {
                srv.state.connect_errors.fetch_add(1, Ordering::Relaxed);
                crate::health::passive_failure(be, srv);
                drop(slot);
                attempt += 1;
                if attempt > be.retries {
                    return Err(Fail::ConnectFailed);
                }
                srv.state.retries.fetch_add(1, Ordering::Relaxed);
                // Retries stay on the server the balancer chose (re-picking would move them
                // anyway with round robin); only the last one may go elsewhere, with redispatch.
                if be.redispatch && attempt == be.retries {
                    exclude = Some(server);
                    pin = None;
                    srv.state.redispatches.fetch_add(1, Ordering::Relaxed);
                } else {
                    pin = Some(server);
                }
                // A refused connect fails at once; a short pause keeps retries from being a
                // burst against a server that is restarting.
                runtime::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// Which pooled connections a request may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Any live idle connection (idempotent requests: replayed if it turns out dead).
    Any,
    /// Only a connection idle very briefly (requests that are never replayed).
    FreshOnly,
    /// Always a new connection.
    Never,
}

/// The client address used for balancing when the peer address is unknown.
pub const UNKNOWN_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// The client address balancing and routing see.
pub fn client_ip(peer: Option<std::net::SocketAddr>) -> IpAddr {
    peer.map(|p| p.ip()).unwrap_or(UNKNOWN_CLIENT)
}
