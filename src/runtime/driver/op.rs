//! The futures that wait on a driver slot: [`Op`], one operation answered once (or twice: a
//! zero-copy send's result, then its notification), and [`MultiOp`], a multishot operation
//! whose completions queue in the slot until read. Dropped early, each leaves its slot and
//! what the kernel still touches to the driver, handled by the slot's [`Orphan`].

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode, squeue};

use super::super::executor::with_cx;
use super::{adopt, park, recycle_if_buffer, with_cx_opt, Adopted, Orphan, Shots, Slot, State};

/// A one-shot operation. `T` owns what the kernel reads or writes while it runs.
pub(crate) struct Op<T: 'static> {
    idx: usize,
    data: Option<T>,
}

/// What a completed operation hands back.
pub(crate) struct Completion<T> {
    pub res: i32,
    pub flags: u32,
    pub data: T,
}

impl<T: 'static> Op<T> {
    /// Submits the entry built from `data` (whose heap addresses stay put while it moves).
    pub(crate) fn submit(
        data: T,
        orphan: Orphan,
        build: impl FnOnce(&mut T) -> squeue::Entry,
    ) -> Op<T> {
        let mut data = data;
        let entry = build(&mut data);
        with_cx(|cx| {
            let mut d = cx.driver.borrow_mut();
            let idx = d.insert(State::Pending(None), orphan);
            d.push(&entry.user_data(idx as u64));
            Op {
                idx,
                data: Some(data),
            }
        })
    }

    /// True once the kernel answered (a poll would return at once).
    pub(crate) fn is_done(&self) -> bool {
        self.data.is_none()
            || with_cx(|cx| {
                matches!(
                    cx.driver.borrow().slots.get(self.idx).map(|s| &s.state),
                    Some(State::Done { .. })
                )
            })
    }
}

impl<T: Unpin + 'static> Op<T> {
    /// Polls an operation that may complete twice: a zero-copy send answers with its result
    /// (flagged `IORING_CQE_F_MORE`), then with a notification (`IORING_CQE_F_NOTIF`) once the
    /// kernel no longer reads the buffer. On the result, the data comes back if the
    /// notification was reaped already (or none follows); otherwise it moves into the slot,
    /// which lives, and keeps the data, until the notification is reaped.
    pub(crate) fn poll_parking(&mut self, cx: &mut Context<'_>) -> Poll<(i32, Option<T>)> {
        let idx = self.idx;
        let done = with_cx(|c| {
            let mut d = c.driver.borrow_mut();
            let slot = d.slots.get_mut(idx)?;
            match &mut slot.state {
                State::Done { res, flags } => {
                    let (res, more) = (*res, cqueue::more(*flags));
                    if more {
                        let data = self.data.take().map(|v| Box::new(v) as Box<dyn Any>);
                        slot.state = State::Orphaned(data);
                    } else {
                        d.slots.remove(idx);
                    }
                    Some(res)
                }
                State::Pending(w) => {
                    park(w, cx.waker());
                    None
                }
                _ => None,
            }
        });
        match done {
            Some(res) => Poll::Ready((res, self.data.take())),
            None => Poll::Pending,
        }
    }
}

impl<T: Unpin + 'static> Future for Op<T> {
    type Output = Completion<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Completion<T>> {
        let idx = self.idx;
        let done = with_cx(|c| {
            let mut d = c.driver.borrow_mut();
            let slot = d.slots.get_mut(idx)?;
            match &mut slot.state {
                State::Done { res, flags } => {
                    let out = (*res, *flags);
                    d.slots.remove(idx);
                    Some(out)
                }
                State::Pending(w) => {
                    park(w, cx.waker());
                    None
                }
                _ => None,
            }
        });
        match done {
            Some((res, flags)) => match self.data.take() {
                Some(data) => Poll::Ready(Completion { res, flags, data }),
                None => Poll::Pending,
            },
            None => Poll::Pending,
        }
    }
}

impl<T: 'static> Drop for Op<T> {
    fn drop(&mut self) {
        let Some(data) = self.data.take() else { return };
        let mut release: Option<Box<dyn Any>> = None;
        let mut recycle = None;
        with_cx_opt(|cx| {
            let mut d = cx.driver.borrow_mut();
            let idx = self.idx;
            let Some(slot) = d.slots.get_mut(idx) else {
                return;
            };
            match slot.state {
                // A second completion (a zero-copy send's notification) will follow: the slot
                // and the data the kernel still reads stay until it comes.
                State::Done { flags, .. } if cqueue::more(flags) => {
                    slot.state = State::Orphaned(Some(Box::new(data)));
                }
                State::Done { res, flags } => {
                    recycle = Some(flags);
                    let orphan = slot.orphan;
                    d.slots.remove(idx);
                    match (orphan, res >= 0) {
                        (Orphan::Adopt { tag, direct }, true) => adopt(Adopted {
                            res,
                            tag,
                            direct,
                            data: Some(Box::new(data)),
                        }),
                        (Orphan::CloseDirect, true) => {
                            d.close_direct(res as u32);
                            release = Some(Box::new(data));
                        }
                        (Orphan::Adopt { direct: true, .. } | Orphan::CloseDirect, false) => {
                            d.release_slot();
                            release = Some(Box::new(data));
                        }
                        _ => release = Some(Box::new(data)),
                    }
                }
                State::Pending(_) => {
                    slot.state = State::Orphaned(Some(Box::new(data)));
                    d.push_ignored(opcode::AsyncCancel::new(idx as u64).build());
                }
                _ => {}
            }
        });
        if let Some(flags) = recycle {
            recycle_if_buffer(flags);
        }
        drop(release);
    }
}

/// One completion of a multishot operation.
pub(crate) struct Delivery {
    pub(crate) res: i32,
    pub(crate) flags: u32,
    /// For a multishot accept with a peer buffer, the connection's peer address when the
    /// reaper could tell it (see `Driver::reap`).
    pub(crate) peer: Option<SocketAddr>,
}

/// Storage the kernel writes a peer address into: a multishot accept's, owned by its driver
/// slot until the final completion (the kernel writes it until then).
pub(crate) struct PeerBuf {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

/// The size of a `sockaddr_storage`, what an accept may write.
const STORAGE_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_storage>() as _;

impl PeerBuf {
    pub(crate) fn new() -> Box<PeerBuf> {
        Box::new(PeerBuf {
            // SAFETY: `sockaddr_storage` is plain old data, valid zeroed.
            storage: unsafe { std::mem::zeroed() },
            len: STORAGE_LEN,
        })
    }

    /// The address and length pointers an accept entry takes.
    pub(crate) fn pointers(&mut self) -> (*mut libc::sockaddr, *mut libc::socklen_t) {
        (
            (&mut self.storage as *mut libc::sockaddr_storage).cast(),
            &mut self.len,
        )
    }

    /// The address written last, if any (an IP socket address), leaving the buffer as new.
    /// Only called between two kernel entries (see `Driver::reap`).
    pub(crate) fn take(&mut self) -> Option<SocketAddr> {
        let len = std::mem::replace(&mut self.len, STORAGE_LEN).min(STORAGE_LEN);
        let written = std::mem::replace(
            &mut self.storage,
            // SAFETY: plain old data, valid zeroed.
            unsafe { std::mem::zeroed() },
        );
        let mut storage = socket2::SockAddrStorage::zeroed();
        // SAFETY: `SockAddrStorage` is a `repr(transparent)` `sockaddr_storage`, as large.
        unsafe { *storage.view_as::<libc::sockaddr_storage>() = written };
        // SAFETY: the kernel wrote a socket address of `len` bytes (at most the storage's size)
        // into the storage, or it is still zeroed (family 0: not an IP address).
        unsafe { socket2::SockAddr::new(storage, len) }.as_socket()
    }
}

/// A multishot operation: one entry, many completions, read in order with [`MultiOp::next`].
///
/// Dropped before its final completion, it submits a cancellation, and what it had not read,
/// and what still comes, is handled by its [`Orphan`] (an accepted connection is adopted); the
/// slot is freed at the final completion.
pub(crate) struct MultiOp {
    idx: usize,
}

impl MultiOp {
    pub(crate) fn submit(entry: squeue::Entry, orphan: Orphan) -> MultiOp {
        Self::submit_with(entry, None, orphan)
    }

    /// Submits `entry`, which points into `peer`: the slot keeps it until the final
    /// completion (see `Driver::reap`).
    pub(crate) fn submit_with(
        entry: squeue::Entry,
        peer: Option<Box<PeerBuf>>,
        orphan: Orphan,
    ) -> MultiOp {
        with_cx(|cx| {
            let mut d = cx.driver.borrow_mut();
            let shots = Shots {
                peer,
                ..Shots::default()
            };
            let idx = d.insert(State::Multishot(shots), orphan);
            d.push(&entry.user_data(idx as u64));
            MultiOp { idx }
        })
    }

    /// The next completion without waiting: `Ready(None)` once the final one was read,
    /// `Pending` when none is queued.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.take(Some(cx.waker()))
    }

    /// The next completion already queued, if any.
    pub(crate) fn try_next(&mut self) -> Option<Delivery> {
        match self.take(None) {
            Poll::Ready(c) => c,
            Poll::Pending => None,
        }
    }

    /// The next completion; `None` once the final one was read.
    pub(crate) async fn next(&mut self) -> Option<Delivery> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn take(&mut self, waker: Option<&Waker>) -> Poll<Option<Delivery>> {
        let idx = self.idx;
        with_cx(|c| {
            let mut d = c.driver.borrow_mut();
            let Some(Slot {
                state: State::Multishot(m),
                ..
            }) = d.slots.get_mut(idx)
            else {
                return Poll::Ready(None);
            };
            if let Some(c) = m.queue.pop_front() {
                return Poll::Ready(Some(c));
            }
            if m.ended {
                // The kernel is done with this `user_data`: the slot may be reused.
                d.slots.remove(idx);
                self.idx = usize::MAX;
                return Poll::Ready(None);
            }
            if let Some(w) = waker {
                park(&mut m.waker, w);
            }
            Poll::Pending
        })
    }

    /// Asks the kernel to end the operation; the completions it posted before are still read,
    /// the last one being `ECANCELED`.
    pub(crate) fn cancel(&mut self) {
        let idx = self.idx;
        with_cx(|c| {
            let mut d = c.driver.borrow_mut();
            if let Some(Slot {
                state: State::Multishot(m),
                ..
            }) = d.slots.get_mut(idx)
            {
                if !m.ended && !m.cancelled {
                    m.cancelled = true;
                    d.push_ignored(opcode::AsyncCancel::new(idx as u64).build());
                }
            }
        });
    }
}

impl Drop for MultiOp {
    fn drop(&mut self) {
        let idx = self.idx;
        let mut closes = Vec::new();
        with_cx_opt(|cx| {
            let mut d = cx.driver.borrow_mut();
            let Some(slot) = d.slots.get_mut(idx) else {
                return;
            };
            let orphan = slot.orphan;
            let State::Multishot(m) = &mut slot.state else {
                return;
            };
            for Delivery { res, flags, .. } in m.queue.drain(..) {
                recycle_if_buffer(flags);
                match (orphan, res >= 0) {
                    (Orphan::Adopt { tag, direct }, true) => adopt(Adopted {
                        res,
                        tag,
                        direct,
                        data: None,
                    }),
                    (Orphan::CloseDirect, true) => closes.push(res as u32),
                    _ => {}
                }
            }
            if m.ended {
                d.slots.remove(idx);
            } else {
                m.dropped = true;
                if !m.cancelled {
                    m.cancelled = true;
                    d.push_ignored(opcode::AsyncCancel::new(idx as u64).build());
                }
            }
            for index in closes.drain(..) {
                d.close_direct(index);
            }
        });
    }
}
