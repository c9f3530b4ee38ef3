//! The ring and the table of operations in flight.
//!
//! Every submitted operation has a slot whose index is the SQE's `user_data`. A slot lives until
//! the operation's last completion (a multishot operation has several) has been reaped, so a
//! `user_data` is never reused while the kernel may still answer to it.
//!
//! Two set-up levers live here, each switchable (`RuntimeOptions`): the ring's own descriptor
//! registered with the kernel (`IORING_REGISTER_RING_FDS`), so that each `io_uring_enter`
//! names it by index and skips the file-table lookup; and a sparse fixed-file table, into
//! which accepts and sockets are made as direct descriptors (see `sock.rs`).

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::task::Waker;
use std::time::Duration;

use io_uring::types::{Fixed, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};
use slab::Slab;

use super::executor::RuntimeOptions;
use super::multishot::MultiSlot;

mod op;
pub(crate) use op::{Completion, Delivery, MultiOp, Op, PeerBuf};

/// `user_data` of entries whose completions carry no news: cancel requests, and the closes and
/// shutdowns of direct descriptors sent without waiting.
const IGNORED_USER_DATA: u64 = u64::MAX;

/// `io_uring_enter` flags (include/uapi/linux/io_uring.h).
const ENTER_GETEVENTS: u32 = 1;
const ENTER_EXT_ARG: u32 = 8;
const ENTER_REGISTERED_RING: u32 = 16;
/// `IORING_CQE_F_MORE`: another completion of the same operation follows.
const CQE_F_MORE: u32 = 1 << 1;
/// `io_uring_register` opcodes for registered ring descriptors (Linux 5.18).
const REGISTER_RING_FDS: u32 = 20;
const UNREGISTER_RING_FDS: u32 = 21;

/// `struct io_uring_rsrc_update`: one entry of a ring-descriptor (un)registration.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// What to do with a completion nobody will read any more (its future was dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Orphan {
    /// Nothing to release beyond the owned data.
    Nothing,
    /// A successful result is an accepted connection: keep it for the worker (see
    /// `take_adopted`), tagged with the listener it came from; `direct` when the result is a
    /// direct descriptor's index rather than a file descriptor.
    Adopt { tag: u64, direct: bool },
    /// A successful result is a direct descriptor nobody will own: close it.
    CloseDirect,
}

/// A connection whose accept completed after its future was dropped.
pub(crate) struct Adopted {
    pub(crate) res: i32,
    pub(crate) tag: u64,
    pub(crate) direct: bool,
    /// The accept's owned data (it holds the peer's address).
    pub(crate) data: Option<Box<dyn Any>>,
}

thread_local! {
    static ADOPTED: std::cell::RefCell<Vec<Adopted>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn adopt(a: Adopted) {
    ADOPTED.with(|v| v.borrow_mut().push(a));
}

pub(crate) fn take_adopted() -> Vec<Adopted> {
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
    /// A multishot operation: its completions queue up until its owner reads them (see
    /// [`MultiOp`]).
    Multishot(Shots),
}

/// The completions of a multishot operation not read yet.
#[derive(Default)]
struct Shots {
    queue: VecDeque<Delivery>,
    /// Where a multishot accept's kernel writes the peer address of each connection it takes
    /// (the same place for all: see [`Driver::reap`]).
    peer: Option<Box<PeerBuf>>,
    waker: Option<Waker>,
    /// The kernel posted the final completion (one without `IORING_CQE_F_MORE`).
    ended: bool,
    /// A cancellation was submitted.
    cancelled: bool,
    /// The owner is gone: completions are handled by the slot's [`Orphan`] as they arrive,
    /// and the slot is freed at the final one.
    dropped: bool,
}

struct Slot {
    state: State,
    orphan: Orphan,
}

pub(crate) struct Driver {
    pub(crate) ring: IoUring,
    slots: Slab<Slot>,
    /// Index of the ring's own descriptor among this thread's registered rings, when
    /// registered: every enter passes it with `IORING_ENTER_REGISTERED_RING`.
    ring_index: Option<u32>,
    /// Whether the ring has a fixed-file table (tests look).
    #[cfg(test)]
    direct: bool,
    /// Slots of the table neither in use nor promised to an operation in flight. An accept
    /// into a full table would take the connection from the queue and close it (`ENFILE`
    /// after the accept), so a direct accept or socket is only submitted with a slot reserved.
    free_slots: u32,
    /// Relay sends of at least this many bytes go zero-copy (`IORING_OP_SEND_ZC`); `None`:
    /// every send copies. Cleared the first time the kernel refuses a zero-copy send.
    pub(crate) zero_copy_min: Option<u32>,
    /// Multishot slots that queued a provided buffer with no reader waiting, since the loop
    /// last settled them (see `multishot`).
    lent: Vec<usize>,
    /// The kernel skips the completions of successful entries that ask it to.
    skip_ignored: bool,
    /// Emptied multishot queues, their room kept for the next delivery (at most
    /// [`SPARE_QUEUES`]): a queue goes from empty to one item and back twice per keep-alive
    /// request (client and server), and an idle connection keeps no queue.
    spare_queues: Vec<Vec<super::multishot::Got>>,
    /// Microseconds a waiting enter gives the kernel to gather [`WAIT_BATCH`] completions
    /// before it returns with fewer, at least one (`min_wait_usec`, Linux 6.12); 0: it
    /// returns at the first.
    batch_wait_us: u32,
    /// Kernel entries since one reaped an accept's completion (saturating). An accept wakes a
    /// waiting worker at once whatever it waits for (the kernel forces the wake-up for
    /// exclusive polls, as accepts are), and the wait then sleeps again until its batch or
    /// its minimum time: the batched wait would add a sleep per connection. So a worker waits
    /// for one completion while connections come in.
    since_accept: u32,
    /// The ring runs the kernel's side of its operations only inside this thread's own
    /// `io_uring_enter` (`DEFER_TASKRUN`): what a multishot accept wrote into its peer buffer
    /// stays put between two entries (see [`Driver::reap`]).
    defer_taskrun: bool,
    /// Multishot slots with a peer buffer that got completions in the reap under way.
    peer_reads: Vec<usize>,
    /// Whether the worker has time to spare, for the batched wait.
    slack: super::slack::Slack,
}

/// Emptied multishot queues kept for reuse.
const SPARE_QUEUES: usize = 64;

/// Completions a batched wait asks for (see `RuntimeOptions::batch_wait_us`). Measured in
/// `16k`: 16 fill before the minimum wait matters and saved nothing measurable; 64 let the
/// worker sleep once per minimum wait while it is not saturated.
pub(crate) const WAIT_BATCH: u32 = 64;

/// Kernel entries without an accept after which a worker batches its waits again.
const ACCEPT_QUIET: u32 = 16;

/// The deadline a batched wait passes when the loop has no timer: the kernel treats a
/// minimum wait without an overall timeout as the whole timeout (`io_cqring_min_timer_wakeup`),
/// and would wake an idle worker every `batch_wait_us`.
const NO_DEADLINE: Duration = Duration::from_secs(3600);

impl Driver {
    pub(crate) fn new(opts: &RuntimeOptions) -> io::Result<Self> {
        let (ring, defer_taskrun) = Self::build(opts.ring_entries)?;
        let ring_index = if opts.ring_fd {
            register_ring_fd(&ring).ok()
        } else {
            None
        };
        // The table is sparse: the kernel allocates its slots (`IORING_FILE_INDEX_ALLOC`). A
        // kernel without it (before 5.19) or a table above the open-files limit: no direct
        // descriptors, every socket stays an ordinary descriptor.
        let direct = opts.fixed_files > 0
            && ring
                .submitter()
                .register_files_sparse(opts.fixed_files)
                .is_ok();
        let skip_ignored = ring.params().is_feature_skip_cqe_on_success();
        let batch_wait_us = if opts.batch_wait_us > 0 && !ring.params().is_feature_min_timeout() {
            crate::log::event(format_args!(
                "tune_batch_wait_us: this kernel has no minimum wait time for io_uring (Linux \
                 6.12+); the worker wakes at the first completion"
            ));
            0
        } else {
            opts.batch_wait_us
        };
        Ok(Driver {
            ring,
            slots: Slab::with_capacity(1024),
            ring_index,
            #[cfg(test)]
            direct,
            free_slots: if direct { opts.fixed_files } else { 0 },
            zero_copy_min: opts.zero_copy_min,
            lent: Vec::new(),
            spare_queues: Vec::new(),
            skip_ignored,
            batch_wait_us,
            since_accept: ACCEPT_QUIET,
            defer_taskrun,
            peer_reads: Vec::new(),
            slack: super::slack::Slack::default(),
        })
    }

    /// Whether the ring has a fixed-file table.
    #[cfg(test)]
    pub(crate) fn has_table(&self) -> bool {
        self.direct
    }

    /// The batched wait in force (0 when off or the kernel has none).
    #[cfg(test)]
    pub(crate) fn batch_wait_us(&self) -> u32 {
        self.batch_wait_us
    }

    /// Whether `io_uring_enter` names the ring by its registered index.
    #[cfg(test)]
    pub(crate) fn ring_registered(&self) -> bool {
        self.ring_index.is_some()
    }

    /// The ring, and whether it has `DEFER_TASKRUN`.
    fn build(entries: u32) -> io::Result<(IoUring, bool)> {
        let mut builder = IoUring::builder();
        builder
            .setup_cqsize(entries.saturating_mul(8))
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_submit_all();
        match builder.build(entries) {
            Ok(r) => Ok((r, true)),
            // Kernels before 6.1 lack DEFER_TASKRUN; run without it rather than not at all.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok((
                IoUring::builder()
                    .setup_cqsize(entries.saturating_mul(8))
                    .setup_submit_all()
                    .build(entries)?,
                false,
            )),
            Err(e) => Err(e),
        }
    }

    /// Called once per loop iteration with the loop's clock (see [`super::slack::Slack`]).
    pub(crate) fn observe(&mut self, now: std::time::Instant) {
        if self.batch_wait_us > 0 {
            self.slack.observe(now);
        }
    }

    /// What the loop measured of the worker's busy share.
    #[cfg(test)]
    pub(crate) fn slack(&self) -> &super::slack::Slack {
        &self.slack
    }

    /// Whether a multishot accept may be given a peer buffer (see [`Driver::reap`]).
    pub(crate) fn peers_at_reap(&self) -> bool {
        self.defer_taskrun
    }

    /// Submits what is queued and waits for at least one completion, at most `wait` (none:
    /// without limit). One kernel entry. With a batched wait, a wait that may block asks for
    /// the batch and returns with fewer once its minimum wait has passed with one in.
    pub(crate) fn enter(&mut self, wait: Option<Duration>) -> io::Result<()> {
        // A wait that may sleep gathers a batch: the kernel wakes the worker when
        // `WAIT_BATCH` completions are in, or `batch_wait_us` after it went to sleep with at
        // least one — fewer sleeps and wake-ups for a worker that is not saturated; not
        // while it is (see `slack.rs`).
        let batch = self.batch_wait_us > 0
            && wait != Some(Duration::ZERO)
            && self.since_accept >= ACCEPT_QUIET
            && !self.slack.saturated();
        let (want, min_usec, wait) = if batch {
            (
                WAIT_BATCH,
                self.batch_wait_us,
                Some(wait.unwrap_or(NO_DEADLINE)),
            )
        } else {
            (1, 0, wait)
        };
        let ts = wait.map(|w| Timespec::new().sec(w.as_secs()).nsec(w.subsec_nanos()));
        let args = ts
            .as_ref()
            .map(|ts| SubmitArgs::new().timespec(ts).min_wait_usec(min_usec));
        let Some(index) = self.ring_index else {
            let s = self.ring.submitter();
            return match &args {
                Some(args) => s.submit_with_args(want as usize, args).map(drop),
                None => s.submit_and_wait(1).map(drop),
            };
        };
        let to_submit = self.ring.submission().len() as u32;
        let mut flags = ENTER_GETEVENTS | ENTER_REGISTERED_RING;
        let (arg, size) = match &args {
            Some(a) => {
                flags |= ENTER_EXT_ARG;
                (
                    (a as *const SubmitArgs<'_, '_>).cast::<libc::c_void>(),
                    std::mem::size_of::<SubmitArgs<'_, '_>>(),
                )
            }
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `index` names this ring among the thread's registered rings (registered by
        // `register_ring_fd` on this thread: the ring is single-issuer); `arg`, when not null,
        // points to a live `io_uring_getevents_arg` (`SubmitArgs` is `repr(transparent)` over
        // it) of `size` bytes whose timespec outlives the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                index,
                to_submit,
                want,
                flags,
                arg,
                size,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
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
                matches!(s.orphan, Orphan::Adopt { .. })
                    && match &s.state {
                        State::Orphaned(_) => true,
                        State::Multishot(m) => m.dropped,
                        _ => false,
                    }
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

    /// Reserves a slot of the fixed-file table for an operation about to make a direct
    /// descriptor; false when there is no table or no free slot.
    pub(crate) fn reserve_slot(&mut self) -> bool {
        if self.free_slots == 0 {
            return false;
        }
        self.free_slots -= 1;
        true
    }

    /// Gives back a reserved slot whose operation failed.
    pub(crate) fn release_slot(&mut self) {
        self.free_slots += 1;
    }

    /// Closes direct descriptor `index` (queued on the ring; its slot is free for operations
    /// queued after the close, which the kernel runs after it).
    pub(crate) fn close_direct(&mut self, index: u32) {
        self.push_ignored(opcode::Close::new(Fixed(index)).build());
        self.release_slot();
    }

    /// Queues an entry whose completion nobody reads (a close or shutdown sent and forgotten,
    /// a cancellation). Where the kernel can (5.17), it posts none when the entry succeeds
    /// (`IOSQE_CQE_SKIP_SUCCESS`): a new connection's close and its receive's cancellation
    /// are two of its nine completions otherwise. A failure still posts one, ignored.
    pub(crate) fn push_ignored(&mut self, entry: squeue::Entry) {
        let entry = entry.user_data(IGNORED_USER_DATA);
        let entry = if self.skip_ignored {
            entry.flags(squeue::Flags::SKIP_SUCCESS)
        } else {
            entry
        };
        self.push(&entry);
    }

    fn insert(&mut self, state: State, orphan: Orphan) -> usize {
        self.slots.insert(Slot { state, orphan })
    }

    /// Reaps every completion in the queue, waking the tasks waiting for them. Returns data of
    /// orphaned operations so the caller drops it outside any borrow.
    ///
    /// A multishot accept given a peer buffer: the kernel writes each connection's peer
    /// address there before it posts that connection's completion, so the buffer holds the
    /// peer of the last connection posted. With `DEFER_TASKRUN` the accept runs only inside
    /// this thread's `io_uring_enter` (at its submission, or as task work of a waiting
    /// entry), never while the loop runs; so once every completion posted so far is read —
    /// none left in the kernel's overflow list (`IORING_SQ_CQ_OVERFLOW`) — the last one this
    /// reap read for that accept is the buffer's connection, and it gets the address if it is
    /// a connection (an accept that failed after the kernel wrote the address, into a full
    /// table, ends in an error: then none does). Its session starts at once; the others ask
    /// for theirs (`SO_PEERNAME`, see `accept.rs`).
    pub(crate) fn reap(&mut self, garbage: &mut Vec<Box<dyn Any>>) -> usize {
        let mut n = 0;
        // Multishot receives to cancel (too much unread), submitted after the queue is read.
        let mut cancel: Vec<usize> = Vec::new();
        let mut closes: Vec<Option<u32>> = Vec::new();
        // Table slots the kernel filled for multishot accepts (`IORING_FILE_INDEX_ALLOC`).
        let mut allocated = 0u32;
        let mut accepted = false;
        let Driver {
            ring,
            slots,
            lent,
            spare_queues,
            peer_reads,
            ..
        } = self;
        for cqe in ring.completion() {
            n += 1;
            let ud = cqe.user_data();
            if ud == IGNORED_USER_DATA {
                continue;
            }
            let idx = ud as usize;
            let res = cqe.result();
            let flags = cqe.flags();
            let Some(slot) = slots.get_mut(idx) else {
                continue;
            };
            accepted |= matches!(slot.orphan, Orphan::Adopt { .. });
            match &mut slot.state {
                State::Pending(waker) => {
                    let w = waker.take();
                    slot.state = State::Done { res, flags };
                    if let Some(w) = w {
                        w.wake();
                    }
                }
                // A zero-copy send's notification reaped before its result was read: the
                // result no longer waits for anything (see `Op::poll_parking`).
                State::Done { flags: done, .. } if cqueue::notif(flags) => {
                    *done &= !CQE_F_MORE;
                }
                State::Done { .. } => {}
                State::Multi(m) => {
                    let was_lent = m.lent;
                    if m.queue.capacity() == 0 {
                        if let Some(q) = spare_queues.pop() {
                            m.queue = q;
                        }
                    }
                    if m.complete(res, flags) {
                        cancel.push(idx);
                    }
                    if m.lent && !was_lent {
                        lent.push(idx);
                    }
                    if m.closed && !m.armed && m.handles == 0 {
                        slots.remove(idx);
                    }
                }
                State::Multishot(m) => {
                    let last = !cqueue::more(flags);
                    let orphan = slot.orphan;
                    if let (Orphan::Adopt { direct: true, .. }, true) = (orphan, res >= 0) {
                        allocated += 1;
                    }
                    if m.dropped {
                        if let (Orphan::Adopt { tag, direct }, true) = (orphan, res >= 0) {
                            adopt(Adopted {
                                res,
                                tag,
                                direct,
                                data: None,
                            });
                        }
                        if last {
                            slots.remove(idx);
                        }
                    } else {
                        if m.peer.is_some() && !peer_reads.contains(&idx) {
                            peer_reads.push(idx);
                        }
                        m.queue.push_back(Delivery {
                            res,
                            flags,
                            peer: None,
                        });
                        m.ended |= last;
                        if let Some(w) = m.waker.take() {
                            w.wake();
                        }
                    }
                }
                State::Orphaned(_) => {
                    recycle_if_buffer(flags);
                    if !cqueue::more(flags) {
                        let slot = slots.remove(idx);
                        let data = match slot.state {
                            State::Orphaned(d) => d,
                            _ => None,
                        };
                        match (slot.orphan, res >= 0) {
                            (Orphan::Adopt { tag, direct }, true) => adopt(Adopted {
                                res,
                                tag,
                                direct,
                                data,
                            }),
                            (Orphan::CloseDirect, true) => {
                                closes.push(Some(res as u32));
                                garbage.extend(data);
                            }
                            (Orphan::Adopt { direct: true, .. } | Orphan::CloseDirect, false) => {
                                // The slot reserved for it stays unused.
                                closes.push(None);
                                garbage.extend(data);
                            }
                            _ => garbage.extend(data),
                        }
                    }
                }
            }
        }
        if !peer_reads.is_empty() {
            // Completions still in the overflow list: the last one read may not be the last
            // posted, so no connection of this reap gets the buffer's address.
            let complete = !ring.submission().cq_overflow();
            for idx in peer_reads.drain(..) {
                let Some(Slot {
                    state: State::Multishot(m),
                    ..
                }) = slots.get_mut(idx)
                else {
                    continue;
                };
                let Some(buf) = m.peer.as_deref_mut() else {
                    continue;
                };
                let peer = buf.take();
                if let Some(d) = m.queue.back_mut().filter(|d| complete && d.res >= 0) {
                    d.peer = peer;
                }
            }
        }
        for idx in cancel {
            self.push_ignored(cancel_entry(idx));
        }
        self.free_slots = self.free_slots.saturating_sub(allocated);
        self.since_accept = if accepted {
            0
        } else {
            self.since_accept.saturating_add(1)
        };
        for close in closes {
            match close {
                Some(index) => self.close_direct(index),
                None => self.release_slot(),
            }
        }
        n
    }

    /// A new multishot slot, not armed yet; its index is the receive's `user_data`.
    pub(crate) fn multi_new(&mut self) -> usize {
        self.insert(State::Multi(MultiSlot::new()), Orphan::Nothing)
    }

    /// Keeps an emptied multishot queue's room for the next delivery (see `spare_queues`).
    pub(crate) fn spare_queue(&mut self, q: Vec<super::multishot::Got>) {
        if q.is_empty() && q.capacity() > 0 && self.spare_queues.len() < SPARE_QUEUES {
            self.spare_queues.push(q);
        }
    }

    /// Spare multishot queues held (tests look).
    #[cfg(test)]
    pub(crate) fn spare_queues(&self) -> usize {
        self.spare_queues.len()
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
                self.push_ignored(cancel_entry(idx));
            }
        } else if m.handles == 0 {
            self.slots.remove(idx);
        }
        queued
    }

    /// Moves what multishot slots queued with no reader waiting, and is still unread, to the
    /// heap: called before each kernel entry, after the woken tasks ran.
    pub(crate) fn settle_lent(&mut self) {
        let lent = std::mem::take(&mut self.lent);
        for &idx in &lent {
            if self.multi(idx).is_some_and(|m| m.settle()) {
                self.push_ignored(cancel_entry(idx));
            }
        }
        self.lent = lent;
        self.lent.clear();
    }

    /// Lists the multishot slot at `idx` for the next settling (it just became lent).
    pub(crate) fn list_lent(&mut self, idx: usize) {
        self.lent.push(idx);
    }

    /// Whether some multishot slot holds a delivery nobody read yet (tests look).
    #[cfg(test)]
    pub(crate) fn has_unread(&mut self) -> bool {
        self.slots
            .iter()
            .any(|(_, s)| matches!(&s.state, State::Multi(m) if !m.queue.is_empty()))
    }

    /// Free slots of the fixed-file table (0 without a table).
    pub(crate) fn free_slots(&self) -> u32 {
        self.free_slots
    }
}

fn cancel_entry(idx: usize) -> squeue::Entry {
    opcode::AsyncCancel::new(idx as u64).build()
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(index) = self.ring_index.take() {
            let up = RsrcUpdate {
                offset: index,
                resv: 0,
                data: 0,
            };
            // SAFETY: unregisters the one entry this thread registered for this ring; `up` is a
            // live `io_uring_rsrc_update`. The registered entry holds a reference to the ring
            // file, so without this a dropped ring would live until the thread exits.
            unsafe {
                libc::syscall(
                    libc::SYS_io_uring_register,
                    self.ring.as_raw_fd(),
                    UNREGISTER_RING_FDS,
                    &up as *const RsrcUpdate,
                    1u32,
                )
            };
        }
    }
}

/// Registers `ring`'s descriptor for this thread; returns its index.
fn register_ring_fd(ring: &IoUring) -> io::Result<u32> {
    let mut up = RsrcUpdate {
        // -1: the kernel picks a free index and writes it back here.
        offset: u32::MAX,
        resv: 0,
        data: ring.as_raw_fd() as u64,
    };
    // SAFETY: `up` is a live `io_uring_rsrc_update` the kernel reads and writes back (one
    // entry); the descriptor is this thread's own ring.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            REGISTER_RING_FDS,
            &mut up as *mut RsrcUpdate,
            1u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(up.offset)
}

/// A completion that selected a provided buffer but will never be read returns that buffer.
fn recycle_if_buffer(flags: u32) {
    if let Some(bid) = cqueue::buffer_select(flags) {
        super::bufring::recycle(bid);
    }
}

/// Keeps `waker` in `slot` to be woken at the next completion, unless what is there already
/// wakes the same task.
pub(crate) fn park(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
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
