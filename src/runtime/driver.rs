//! The ring and the table of operations in flight.
//!
//! Every submitted operation has a slot whose index is the SQE's `user_data`. A slot lives until
//! the operation's last completion (a multishot operation has several) has been reaped, so a
//! `user_data` is never reused while the kernel may still answer to it.

use std::any::Any;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode, squeue, IoUring};
use slab::Slab;

use super::executor::with_cx;
use super::multishot::MultiSlot;

/// `user_data` of the cancel requests themselves: their completions carry no news.
const CANCEL_USER_DATA: u64 = u64::MAX;

/// What to do with a completion nobody will read any more (its future was dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Orphan {
    /// Nothing to release beyond the owned data.
    Nothing,
    /// A successful result is an accepted connection: keep it for the worker (see
    /// `take_adopted`), tagged with the listener it came from.
    Adopt(u64),
}

thread_local! {
    static ADOPTED: std::cell::RefCell<Vec<(i32, u64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn adopt(fd: i32, tag: u64) {
    ADOPTED.with(|a| a.borrow_mut().push((fd, tag)));
}

pub(crate) fn take_adopted() -> Vec<(i32, u64)> {
    ADOPTED.with(|a| std::mem::take(&mut *a.borrow_mut()))
}

enum State {
    /// Submitted; the waker belongs to the task waiting for it, if any has polled yet.
    Pending(Option<Waker>),
    /// Completed, not yet read.
    Done { res: i32, flags: u32 },
    /// Its future was dropped before completion: the data the kernel may still touch is kept
    /// here until the final completion arrives.
    Orphaned(#[allow(dead_code)] Option<Box<dyn Any>>),
    /// A connection's multishot receive, for the connection's whole life (see `multishot`).
    Multi(MultiSlot),
}

struct Slot {
    state: State,
    orphan: Orphan,
}

pub(crate) struct Driver {
    pub(crate) ring: IoUring,
    slots: Slab<Slot>,
}

impl Driver {
    pub(crate) fn new(entries: u32) -> io::Result<Self> {
        let mut builder = IoUring::builder();
        builder
            .setup_cqsize(entries.saturating_mul(8))
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_submit_all();
        let ring = match builder.build(entries) {
            Ok(r) => r,
            // Kernels before 6.1 lack DEFER_TASKRUN; run without it rather than not at all.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::builder()
                .setup_cqsize(entries.saturating_mul(8))
                .setup_submit_all()
                .build(entries)?,
            Err(e) => return Err(e),
        };
        Ok(Driver {
            ring,
            slots: Slab::with_capacity(1024),
        })
    }

    /// Number of operations whose final completion has not been reaped.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// Number of accepts whose future was dropped but whose final completion (the connection,
    /// or the cancellation) has not been reaped yet.
    pub(crate) fn orphaned_accepts(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| {
                matches!(s.orphan, Orphan::Adopt(_)) && matches!(s.state, State::Orphaned(_))
            })
            .count()
    }

    pub(crate) fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: every buffer or address the entry points to is owned by the operation's
            // future or, once that is dropped, by its slot, until the completion is reaped.
            let pushed = unsafe { self.ring.submission().push(entry) };
            if pushed.is_ok() {
                return;
            }
            // Submission queue full: hand what is queued to the kernel and try again.
            if let Err(e) = self.ring.submit() {
                if e.raw_os_error() != Some(libc::EBUSY) && e.raw_os_error() != Some(libc::EINTR) {
                    // Nothing sensible to do but retry; the error shows in the next enter.
                    std::thread::yield_now();
                }
            }
        }
    }

    fn insert(&mut self, state: State, orphan: Orphan) -> usize {
        self.slots.insert(Slot { state, orphan })
    }

    /// Reaps every completion in the queue, waking the tasks waiting for them. Returns data of
    /// orphaned operations so the caller drops it outside any borrow.
    pub(crate) fn reap(&mut self, garbage: &mut Vec<Box<dyn Any>>) -> usize {
        let mut n = 0;
        // Multishot receives to cancel (too much unread), submitted after the queue is read.
        let mut cancel: Vec<usize> = Vec::new();
        let Driver { ring, slots, .. } = self;
        for cqe in ring.completion() {
            n += 1;
            let ud = cqe.user_data();
            if ud == CANCEL_USER_DATA {
                continue;
            }
            let idx = ud as usize;
            let res = cqe.result();
            let flags = cqe.flags();
            let Some(slot) = slots.get_mut(idx) else {
                continue;
            };
            match &mut slot.state {
                State::Pending(waker) => {
                    let w = waker.take();
                    slot.state = State::Done { res, flags };
                    if let Some(w) = w {
                        w.wake();
                    }
                }
                State::Done { .. } => {}
                State::Multi(m) => {
                    if m.complete(res, flags) {
                        cancel.push(idx);
                    }
                    if m.closed && !m.armed && m.handles == 0 {
                        slots.remove(idx);
                    }
                }
                State::Orphaned(_) => {
                    if let (Orphan::Adopt(tag), true) = (slot.orphan, res >= 0) {
                        adopt(res, tag);
                    }
                    recycle_if_buffer(flags);
                    if !cqueue::more(flags) {
                        let slot = slots.remove(idx);
                        if let State::Orphaned(Some(data)) = slot.state {
                            garbage.push(data);
                        }
                    }
                }
            }
        }
        for idx in cancel {
            self.push(&cancel_entry(idx));
        }
        n
    }

    /// A new multishot slot, not armed yet; its index is the receive's `user_data`.
    pub(crate) fn multi_new(&mut self) -> usize {
        self.insert(State::Multi(MultiSlot::new()), Orphan::Nothing)
    }

    /// The multishot slot at `idx`.
    pub(crate) fn multi(&mut self, idx: usize) -> Option<&mut MultiSlot> {
        match self.slots.get_mut(idx).map(|s| &mut s.state) {
            Some(State::Multi(m)) => Some(m),
            _ => None,
        }
    }

    /// Frees the multishot slot at `idx` once nothing refers to it any more: its connection
    /// closed, no `Recv` handle is left and the kernel's receive has ended. Returns what was
    /// queued, for the caller to drop outside the borrow.
    pub(crate) fn multi_settle(&mut self, idx: usize) -> Vec<super::multishot::Got> {
        let Some(m) = self.multi(idx) else {
            return Vec::new();
        };
        if !m.closed {
            return Vec::new();
        }
        let queued = std::mem::take(&mut m.queue);
        if m.armed {
            if !m.stopping {
                m.stopping = true;
                self.push(&cancel_entry(idx));
            }
        } else if m.handles == 0 {
            self.slots.remove(idx);
        }
        queued
    }
}

fn cancel_entry(idx: usize) -> squeue::Entry {
    opcode::AsyncCancel::new(idx as u64)
        .build()
        .user_data(CANCEL_USER_DATA)
}

/// A completion that selected a provided buffer but will never be read returns that buffer.
fn recycle_if_buffer(flags: u32) {
    if let Some(bid) = cqueue::buffer_select(flags) {
        super::bufring::recycle(bid);
    }
}

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
                    match w {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => *w = Some(cx.waker().clone()),
                    }
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
                State::Done { res, flags } => {
                    if let (Orphan::Adopt(tag), true) = (slot.orphan, res >= 0) {
                        adopt(res, tag);
                    }
                    recycle = Some(flags);
                    d.slots.remove(idx);
                    release = Some(Box::new(data));
                }
                State::Pending(_) => {
                    slot.state = State::Orphaned(Some(Box::new(data)));
                    d.push(&cancel_entry(idx));
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

/// Like `with_cx`, but silently does nothing when the runtime is already gone (thread exit).
fn with_cx_opt(f: impl FnOnce(&super::executor::Cx)) {
    super::executor::try_with_cx(f);
}

/// Converts a raw completion result into an io::Result.
pub(crate) fn check(res: i32) -> io::Result<i32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res)
    }
}
