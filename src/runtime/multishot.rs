//! A multishot receive kept armed by its connection: one submission for many reads.
//!
//! A connection in multishot mode (see [`Conn::set_multishot`](super::Conn::set_multishot))
//! owns one driver slot for its whole life. The kernel posts a completion per arrival of
//! data, each with a provided buffer and `IORING_CQE_F_MORE` while the receive stays armed;
//! the reaper queues them in the slot and wakes the reader. A completion without `F_MORE`
//! (end of stream, an error, `ENOBUFS` when the buffer ring ran dry, our own cancellation)
//! disarms it, and the next read arms it again.
//!
//! The provided buffers stay a shared, bounded resource, as with single receives:
//! - a delivery queued in a slot keeps its provided buffer until the tasks woken by the same
//!   batch of completions have run (the loop then calls [`MultiSlot::settle`]): the first
//!   one always, and up to [`MAX_LENT`] while the ring has more than half of its buffers
//!   free. A reader that was busy with the completion just before (the send of a response,
//!   whose client's next request came in the same batch) takes the buffer itself, with no
//!   copy; a relay takes all that is queued at once ([`take_ready`]) and sends it in one
//!   vectored send. What is still unread when the loop settles, and what arrives behind
//!   something unread past that limit, is copied to the heap and its buffer goes back to
//!   the ring, so a connection that is not reading holds no provided buffer across a kernel
//!   entry;
//! - once more than [`MAX_QUEUED`] bytes wait unread on the heap, the receive is cancelled:
//!   the socket's own buffer and TCP flow control hold the rest, as they do for single
//!   receives.
//!
//! The slot lives until its connection closed, no `Recv` handle refers to it any more (a
//! pooled connection's probe is dropped after the connection) and the kernel's receive has
//! ended, so an index held by either always names this slot.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode};

use super::bufring::PBuf;
use super::executor::with_cx;
use super::sock::{on_target, Target};
use super::Sleep;

/// Bytes that may wait unread on the heap in a multishot slot before its receive is
/// cancelled.
pub(crate) const MAX_QUEUED: usize = 64 * 1024;

/// Provided buffers one slot may keep queued unread until the loop settles, while its ring
/// is roomy (a 256 KiB response arrives as eight 32 KiB deliveries in one batch).
pub(crate) const MAX_LENT: usize = 8;

/// What the kernel delivered and the reader has not taken yet.
pub(crate) enum Got {
    /// Bytes (a provided buffer, or their heap copy).
    Data(PBuf),
    /// The receive ended: 0 at end of stream, else `-errno`.
    End(i32),
}

/// The state of one connection's multishot receive, kept in its driver slot.
pub(crate) struct MultiSlot {
    /// The reader waiting now, if any.
    pub(crate) waker: Option<Waker>,
    /// Delivered, not yet read, in order; unallocated when empty.
    pub(crate) queue: Vec<Got>,
    /// `Recv` handles alive that name this slot.
    pub(crate) handles: u32,
    /// The kernel's receive is in flight (its final completion has not been reaped).
    pub(crate) armed: bool,
    /// A cancellation was submitted and its final completion has not arrived.
    pub(crate) stopping: bool,
    /// The connection closed: nothing is queued any more, the slot goes when settled.
    pub(crate) closed: bool,
    /// A provided buffer was queued while no reader waited: the driver lists the slot and
    /// the loop moves what is still unread to the heap before it enters the kernel again.
    pub(crate) lent: bool,
}

impl MultiSlot {
    pub(crate) fn new() -> MultiSlot {
        MultiSlot {
            waker: None,
            queue: Vec::new(),
            handles: 0,
            armed: false,
            stopping: false,
            closed: false,
            lent: false,
        }
    }

    /// The loop is about to enter the kernel: provided buffers still queued unread go to the
    /// heap (see the module's doc). Returns whether the receive must be cancelled now (too
    /// much unread).
    pub(crate) fn settle(&mut self) -> bool {
        self.lent = false;
        self.heap_unread();
        self.over_queued()
    }

    /// Too much waits unread on the heap and the receive is still armed: it is to be
    /// cancelled (marked so here).
    fn over_queued(&mut self) -> bool {
        let heaped: usize = self
            .queue
            .iter()
            .map(|g| match g {
                Got::Data(b) if !b.is_pool() => b.len(),
                _ => 0,
            })
            .sum();
        self.armed && !self.stopping && heaped > MAX_QUEUED && {
            self.stopping = true;
            true
        }
    }

    fn lent_count(&self) -> usize {
        self.queue
            .iter()
            .filter(|g| matches!(g, Got::Data(b) if b.is_pool()))
            .count()
    }

    /// Takes one completion. Returns whether the receive must be cancelled (too much unread).
    pub(crate) fn complete(&mut self, res: i32, flags: u32) -> bool {
        let more = cqueue::more(flags);
        if !more {
            self.armed = false;
            self.stopping = false;
        }
        if self.closed {
            if let Some(bid) = cqueue::buffer_select(flags) {
                super::bufring::recycle(bid);
            }
            return false;
        }
        let waiting = self.waker.is_some();
        if res > 0 {
            let buf = cqueue::buffer_select(flags).and_then(|bid| {
                super::executor::try_with_cx_or(None, |c| {
                    c.bufs
                        .try_borrow_mut()
                        .ok()?
                        .as_mut()
                        .map(|r| (r.take(bid, res as u32), r.roomy()))
                })
            });
            match buf {
                // The provided buffer itself (no copy): first in the queue, for the reader
                // waiting now or, until the loop settles, one busy with the completion just
                // before; behind others while the ring is roomy, for a reader that takes all
                // at once. Anything else goes to the heap.
                Some((b, roomy))
                    if self.queue.is_empty() || (roomy && self.lent_count() < MAX_LENT) =>
                {
                    self.lent |= !waiting || !self.queue.is_empty();
                    self.queue.push(Got::Data(b));
                }
                Some((b, _)) => self.queue.push(Got::Data(b.into_heap())),
                None => self.queue.push(Got::End(-libc::EIO)),
            }
        } else if res == -libc::ECANCELED && !more {
            // Our own cancellation: nothing to read; a reader re-arms.
        } else {
            // End of stream or an error (`ENOBUFS` included): the receive is over.
            if let Some(bid) = cqueue::buffer_select(flags) {
                super::bufring::recycle(bid);
            }
            self.queue.push(Got::End(res));
        }
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        self.over_queued()
    }

    /// The reader's handle went (it took a delivery, or it stopped waiting): provided
    /// buffers still queued move to the heap when the loop settles, so an idle connection
    /// holds none across a kernel entry, while the same task may still take them at once.
    /// Returns whether the slot must be listed for settling.
    fn detach(&mut self) -> bool {
        self.waker = None;
        let list = !self.lent && self.lent_count() > 0;
        self.lent |= list;
        list
    }

    /// Queued provided buffers move to the heap (their buffers go back to the ring).
    fn heap_unread(&mut self) {
        for g in self.queue.iter_mut() {
            if let Got::Data(b) = g {
                if b.is_pool() {
                    let pb = std::mem::replace(b, PBuf::empty());
                    *b = pb.into_heap();
                }
            }
        }
    }
}

/// The submission that arms a multishot receive on `target` for slot `idx`.
fn arm_entry(target: Target, idx: usize) -> io_uring::squeue::Entry {
    on_target!(target, |f| opcode::RecvMulti::new(f, super::bufring::BGID)
        .build())
    .user_data(idx as u64)
}

/// A connection's multishot mode: 0 off (single receives), 1 on but never used yet, else its
/// slot's index + 2. One word, as every connection carries it.
pub(crate) const OFF: u32 = 0;
pub(crate) const ON: u32 = 1;

/// A new handle on the slot of a connection in multishot mode (made on first use), armed
/// unless something waits unread in it; `None` when the mode is off.
pub(crate) fn prepare(target: Target, mode: &std::cell::Cell<u32>) -> Option<u32> {
    let idx = match mode.get() {
        OFF => return None,
        ON => {
            let idx = with_cx(|c| c.driver.borrow_mut().multi_new());
            let idx = u32::try_from(idx).ok().filter(|i| *i < u32::MAX - 2)?;
            mode.set(idx + 2);
            idx
        }
        n => n - 2,
    };
    with_cx(|c| {
        let mut d = c.driver.borrow_mut();
        let m = d.multi(idx as usize)?;
        m.handles += 1;
        let arm = !m.armed && m.queue.is_empty() && {
            m.armed = true;
            true
        };
        if arm {
            d.push(&arm_entry(target, idx as usize));
        }
        Some(idx)
    })
}

/// The next delivery of the multishot receive in slot `idx`, arming it again when it ended.
/// `ENOBUFS` (the ring ran dry) waits `backoff` and re-arms, as single receives do.
pub(crate) fn poll_recv(
    target: Target,
    idx: u32,
    backoff: &mut Option<Box<Sleep>>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Option<PBuf>>> {
    loop {
        if let Some(b) = backoff.as_mut() {
            if Pin::new(&mut **b).poll(cx).is_pending() {
                return Poll::Pending;
            }
            *backoff = None;
        }
        let got = with_cx(|c| {
            let mut d = c.driver.borrow_mut();
            if d.multi(idx as usize).is_none_or(|m| m.closed) {
                return Some(Got::End(-libc::EBADF));
            }
            if let Some(got) = pop(&mut d, idx as usize) {
                return Some(got);
            }
            let m = d.multi(idx as usize)?;
            super::driver::park(&mut m.waker, cx.waker());
            let arm = !m.armed && {
                m.armed = true;
                true
            };
            if arm {
                d.push(&arm_entry(target, idx as usize));
            }
            None
        });
        return match got {
            None => Poll::Pending,
            Some(Got::Data(b)) => Poll::Ready(Ok(Some(b))),
            Some(Got::End(0)) => Poll::Ready(Ok(None)),
            Some(Got::End(e)) if e == -libc::ENOBUFS => {
                *backoff = Some(Box::new(super::sleep(super::net::NOBUFS_BACKOFF)));
                continue;
            }
            Some(Got::End(e)) => Poll::Ready(Err(io::Error::from_raw_os_error(-e))),
        };
    }
}

/// Something arrived (or the receive ended) and waits unread: for an idle pooled connection,
/// the server closed it or sent stray bytes.
pub(crate) fn has_news(idx: u32) -> bool {
    with_cx(|c| {
        c.driver
            .borrow_mut()
            .multi(idx as usize)
            .is_none_or(|m| m.closed || !m.queue.is_empty())
    })
}

/// A `Recv` handle is dropped: its reader stopped waiting.
pub(crate) fn drop_handle(idx: u32) {
    let mut queued = Vec::new();
    super::executor::try_with_cx(|c| {
        if let Ok(mut d) = c.driver.try_borrow_mut() {
            if let Some(m) = d.multi(idx as usize) {
                let list = m.detach();
                m.handles = m.handles.saturating_sub(1);
                if list {
                    d.list_lent(idx as usize);
                }
                queued = d.multi_settle(idx as usize);
            }
        }
    });
    drop(queued);
}

/// The next delivery already queued in slot `idx`, without waiting: `None` when nothing is
/// queued or what comes next is the end of the receive (the next `Recv` reports it).
pub(crate) fn take_ready(idx: u32) -> Option<PBuf> {
    super::executor::try_with_cx_or(None, |c| {
        let mut d = c.driver.try_borrow_mut().ok()?;
        let m = d.multi(idx as usize).filter(|m| !m.closed)?;
        if !matches!(m.queue.first(), Some(Got::Data(_))) {
            return None;
        }
        match pop(&mut d, idx as usize)? {
            Got::Data(b) => Some(b),
            Got::End(_) => None,
        }
    })
}

/// Takes the first delivery queued in slot `idx`. An idle connection keeps no queue: the
/// room goes with its last item, to the driver's spares for the next connection that
/// receives.
fn pop(d: &mut super::driver::Driver, idx: usize) -> Option<Got> {
    let m = d.multi(idx)?;
    if m.queue.is_empty() {
        return None;
    }
    let got = m.queue.remove(0);
    if m.queue.is_empty() {
        let q = std::mem::take(&mut m.queue);
        d.spare_queue(q);
    }
    Some(got)
}

/// The connection closes: its receive is cancelled, what waited unread is dropped.
pub(crate) fn release(mode: u32) {
    if mode < 2 {
        return;
    }
    let idx = (mode - 2) as usize;
    let mut queued = Vec::new();
    super::executor::try_with_cx(|c| {
        if let Ok(mut d) = c.driver.try_borrow_mut() {
            if let Some(m) = d.multi(idx) {
                m.closed = true;
                m.waker = None;
            }
            queued = d.multi_settle(idx);
        }
    });
    drop(queued);
}
