//! Server slots and the queue in front of them: a request takes a slot on a server below its
//! `maxconn`, or waits in its backend's queue, first come first served across workers.
//!
//! Queue bounds: a request that would wait while the backend's queue already holds
//! `maxqueue` requests (all workers) is refused at once (503, `SQ`); one that must wait for a
//! particular server (persistence, a held retry) while that server's `maxqueue` requests
//! already wait for it goes to another server with `redispatch`, else is refused the same way.
//!
//! Slow start: the candidates' weights are the servers' weights in force ramped by
//! `ServerState::ramped` (scaled by `balance::WEIGHT_SCALE`), read at each pick.
//!
//! Invariant: a slot (`ServerState::inflight`) taken for a request is released exactly once,
//! by [`SlotGuard`]'s drop, whatever way the request ends; so is a server's `queued` count,
//! by [`PinnedWait`]'s drop.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::upstream::{Fail, Want};
use super::Local;
use crate::balance::{Balancer, Candidate, Pick, WEIGHT_SCALE};
use crate::runtime;
use crate::snapshot::{BackendRt, Snapshot};
use crate::state::ServerState;

/// How often a queued request looks again for a free server slot, in case the slot was freed
/// on another worker (releases on this worker wake the queue at once).
const QUEUE_RECHECK: Duration = Duration::from_millis(1);

/// Which servers a pick may take: `pin` names the one it must take while it can (a
/// persistence cookie, a retry without redispatch); `exclude` the one it must avoid (the
/// redispatched retry).
#[derive(Clone, Copy, Debug, Default)]
pub struct Choice {
    pub pin: Option<usize>,
    pub exclude: Option<usize>,
}

impl Local {
    fn sync_generation(&self, snap: &Snapshot) {
        let mut b = self.balancers.borrow_mut();
        if b.0 != snap.generation {
            // Workers draw random choices from different sequences.
            let seed = {
                use std::hash::{BuildHasher, Hasher};
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(self.worker);
                h.finish()
            };
            b.1 = snap
                .backends
                .iter()
                .enumerate()
                .map(|(i, be)| {
                    let mut bal =
                        Balancer::with_ring(&be.balance, be.servers.len(), be.ring.clone());
                    bal.seed(seed ^ i as u64);
                    bal
                })
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
pub(super) struct Queue {
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
    queue: Arc<crate::state::BackendQueue>,
}

impl Ticket {
    /// Joins `backend`'s queue; `Err(QueueFull)` when `bounded` and the queue already holds the
    /// backend's `maxqueue` requests (checked under the lock that adds this one).
    fn join(
        local: &Rc<Local>,
        snap: &Snapshot,
        backend: usize,
        bounded: bool,
    ) -> Result<Ticket, Fail> {
        let be = snap.backends.get(backend).ok_or(Fail::NoServer)?;
        let queue = be.queue.clone();
        let id = queue.next.fetch_add(1, Ordering::Relaxed);
        {
            let mut w = queue.waiting.lock().unwrap_or_else(|p| p.into_inner());
            if bounded && be.maxqueue != 0 && w.len() >= be.maxqueue as usize {
                be.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                return Err(Fail::QueueFull);
            }
            w.insert(id);
            queue.any.store(true, Ordering::Release);
        }
        // From here the ticket exists: its drop takes it out of the shared set again.
        let ticket = Ticket {
            local: local.clone(),
            backend,
            id,
            queue,
        };
        local
            .queues
            .borrow_mut()
            .get_mut(backend)
            .ok_or(Fail::NoServer)?
            .waiting
            .push_back((id, None));
        Ok(ticket)
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

/// A request counted in a server's `queued` while it waits for that server; the drop uncounts.
struct PinnedWait(Arc<ServerState>);

impl Drop for PinnedWait {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Picks a server and takes a slot on it, queueing while all are full. With `pin`, the slot
/// is taken on that server (a retry without redispatch), as long as it is up.
pub async fn acquire(
    local: &Rc<Local>,
    snap: &Snapshot,
    want: Want,
    mut choice: Choice,
) -> Result<(usize, SlotGuard), Fail> {
    local.sync_generation(snap);
    let backend = want.backend;
    let Some(be) = snap.backends.get(backend) else {
        return Err(Fail::NoServer);
    };
    let deadline = crate::runtime::now() + be.timeouts.queue;
    // A request arriving while others wait queues behind them (first come, first served).
    let mut ticket = if be.queue.any.load(Ordering::Acquire) {
        Some(Ticket::join(local, snap, backend, true)?)
    } else {
        None
    };
    let mut pinned_wait: Option<PinnedWait> = None;
    loop {
        let turn = match &ticket {
            None => true,
            Some(t) => match t.at_front() {
                Some(front) => front,
                // The queue was reset by a reload: start over against the new one.
                None => {
                    ticket = Some(Ticket::join(local, snap, backend, false)?);
                    ticket.as_ref().and_then(Ticket::at_front).unwrap_or(true)
                }
            },
        };
        let pick = if turn {
            pick(local, be, want, choice)
        } else {
            Pick::Full
        };
        match pick {
            Pick::Server(i) => {
                let Some(s) = be.servers.get(i) else {
                    return Err(Fail::NoServer);
                };
                if s.state.try_acquire(s.maxconn) {
                    s.state.total.add(1);
                    // Leaving the queue lets the next request try at once.
                    drop(ticket);
                    drop(pinned_wait);
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
                if pinned_wait.is_none() {
                    if let Some(s) = choice.pin.and_then(|i| be.servers.get(i)) {
                        if s.state.reachable() {
                            // Waits for this server in particular: its own bound applies.
                            let queued = s.state.queued.fetch_add(1, Ordering::AcqRel);
                            let wait = PinnedWait(s.state.clone());
                            if s.maxqueue != 0 && queued >= s.maxqueue {
                                drop(wait);
                                if be.redispatch {
                                    // Balanced like a new request: at once if another
                                    // server has room, else at the back of the queue.
                                    ticket = None;
                                    choice.pin = None;
                                    s.state.redispatches.fetch_add(1, Ordering::Relaxed);
                                    continue;
                                }
                                s.state.queue_full.fetch_add(1, Ordering::Relaxed);
                                return Err(Fail::QueueFull);
                            }
                            pinned_wait = Some(wait);
                        }
                    }
                }
                if ticket.is_none() {
                    ticket = Some(Ticket::join(local, snap, backend, true)?);
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
fn pick(local: &Local, be: &BackendRt, want: Want, choice: Choice) -> Pick {
    let pinned = choice.pin.and_then(|i| be.servers.get(i).map(|s| (i, s)));
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
    let ramps = be.balance.dynamic();
    scratch.extend(be.servers.iter().map(|s| {
        let inflight = s.state.inflight.load(Ordering::Relaxed);
        let weight = s.state.weight(s.weight).saturating_mul(WEIGHT_SCALE);
        Candidate {
            weight: if ramps {
                s.state.ramped(weight, s.slowstart)
            } else {
                weight
            },
            up: s.state.usable(),
            backup: s.backup,
            inflight,
            has_room: s.maxconn == 0 || inflight < s.maxconn,
        }
    }));
    let mut b = local.balancers.borrow_mut();
    match b.1.get_mut(want.backend) {
        Some(bal) => bal.pick_keyed(&scratch, want.client, want.key, choice.exclude),
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
