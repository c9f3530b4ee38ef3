//! A single-threaded executor driving the worker's ring.
//!
//! Tasks are boxed futures in a slab; a waker is the task's index itself (no allocation: the
//! index is the waker's data word) and pushes it onto this thread's ready queue. Wakers never
//! cross threads: other threads talk to a worker through an eventfd (see `net::EventFd`).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use super::bufring::BufRing;
use super::driver::Driver;
use super::timer::Timers;

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// A task. Its waker is made from its index whenever it is polled (see [`task_waker`]).
struct TaskSlot {
    /// `None` while the task is being polled.
    fut: Option<Task>,
    /// Distinguishes tasks that reuse the same slab index.
    id: u64,
    /// Set when the task aborted itself while being polled.
    aborted: bool,
}

/// Everything a worker thread's runtime owns. Field order is drop order: the ring goes first,
/// only after every operation has been reaped (see [`Runtime::drop`]); the buffers after it.
pub(crate) struct Cx {
    pub(crate) driver: RefCell<Driver>,
    pub(crate) bufs: RefCell<Option<BufRing>>,
    pub(crate) timers: RefCell<Timers>,
    ready: RefCell<VecDeque<usize>>,
    tasks: RefCell<Slab<TaskSlot>>,
    /// Index of the root task of `block_on`, done when it returns.
    root_done: Cell<bool>,
    next_id: Cell<u64>,
    /// Heavy steps (a TLS handshake's cryptography) taken in this loop iteration.
    heavy: Cell<u32>,
    /// Tasks that wait for the next loop iteration (their heavy step was over budget).
    deferred: RefCell<Vec<Waker>>,
    /// The loop clock: read when the loop comes back from the kernel; `None` when each timer
    /// reads the clock itself.
    now: Cell<Option<Instant>>,
}

thread_local! {
    static CX: RefCell<Option<Rc<Cx>>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's runtime. Panics if called outside one: a programming error,
/// never a network-input path.
#[allow(
    clippy::panic,
    reason = "only reachable by calling a runtime operation off a worker thread, a programming error"
)]
pub(crate) fn with_cx<R>(f: impl FnOnce(&Cx) -> R) -> R {
    let cx = CX.with(|c| c.borrow().clone());
    match cx {
        Some(cx) => f(&cx),
        None => panic!("ringlb runtime operation used outside a worker runtime"),
    }
}

/// Runs `f` if this thread still has a runtime (it may be tearing down).
pub(crate) fn try_with_cx(f: impl FnOnce(&Cx)) {
    let cx = CX.try_with(|c| c.borrow().clone()).ok().flatten();
    if let Some(cx) = cx {
        f(&cx);
    }
}

/// The loop clock's reading of this iteration, if this thread's runtime keeps one.
pub(crate) fn loop_now() -> Option<Instant> {
    CX.try_with(|c| c.borrow().as_ref().and_then(|cx| cx.now.get()))
        .ok()
        .flatten()
}

/// `f`'s answer if this thread still has a runtime, else `default`.
pub(crate) fn try_with_cx_or<R>(default: R, f: impl FnOnce(&Cx) -> R) -> R {
    match CX.try_with(|c| c.borrow().clone()).ok().flatten() {
        Some(cx) => f(&cx),
        None => default,
    }
}

/// The functions of a task's waker, whose data word is the task's index (never a pointer:
/// nothing is dereferenced, cloned or freed). A task that ended and whose index was reused
/// gets at most a spurious wake-up from an old waker, which every future tolerates.
static TASK_WAKER: RawWakerVTable =
    RawWakerVTable::new(clone_task_waker, wake_task, wake_task, drop_task_waker);

fn clone_task_waker(data: *const ()) -> RawWaker {
    RawWaker::new(data, &TASK_WAKER)
}

fn wake_task(data: *const ()) {
    let idx = data.addr();
    let _ = CX.try_with(|c| {
        if let Some(cx) = c.borrow().as_ref() {
            cx.ready.borrow_mut().push_back(idx);
        }
    });
}

fn drop_task_waker(_: *const ()) {}

/// The waker of task `idx`: two words, no allocation.
fn task_waker(idx: usize) -> Waker {
    // SAFETY: the vtable's functions treat the data word as a plain integer (the index): they
    // never dereference it, and clone, wake and drop are all sound for any value, on any thread.
    unsafe {
        Waker::from_raw(RawWaker::new(
            std::ptr::without_provenance(idx),
            &TASK_WAKER,
        ))
    }
}

/// The index of the task that `waker` wakes, if it is a task waker of this runtime.
pub(crate) fn task_of(waker: &Waker) -> Option<usize> {
    std::ptr::eq(waker.vtable(), &TASK_WAKER).then(|| waker.data().addr())
}

/// Wakes task `idx` (see [`task_of`]).
pub(crate) fn wake_task_index(idx: usize) {
    wake_task(std::ptr::without_provenance(idx));
}

/// Identifies a spawned task so it can be aborted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskHandle {
    idx: usize,
    id: u64,
}

impl TaskHandle {
    /// Drops the task's future (cancelling everything it has in flight). A no-op if the task
    /// already finished. A task aborting itself stops at its next return to the executor.
    pub fn abort(self) {
        try_with_cx(|cx| {
            let fut = {
                let mut tasks = cx.tasks.borrow_mut();
                match tasks.get_mut(self.idx) {
                    Some(slot) if slot.id == self.id => {
                        let f = slot.fut.take();
                        if f.is_some() {
                            tasks.remove(self.idx);
                        } else {
                            slot.aborted = true;
                        }
                        f
                    }
                    _ => None,
                }
            };
            drop(fut);
        });
    }
}

/// Wakes every task of this worker's runtime: each is polled again and looks at what it
/// waits for (see [`Signal`](super::Signal)).
pub(crate) fn wake_all() {
    try_with_cx(|cx| {
        let tasks = cx.tasks.borrow();
        let mut ready = cx.ready.borrow_mut();
        ready.extend(tasks.iter().map(|(idx, _)| idx));
    });
}

/// Spawns a task on this worker's runtime.
pub fn spawn(fut: impl Future<Output = ()> + 'static) -> TaskHandle {
    with_cx(|cx| {
        let mut tasks = cx.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let idx = entry.key();
        let id = cx.next_id.get();
        cx.next_id.set(id + 1);
        entry.insert(TaskSlot {
            fut: Some(Box::pin(fut)),
            id,
            aborted: false,
        });
        cx.ready.borrow_mut().push_back(idx);
        TaskHandle { idx, id }
    })
}

impl Cx {
    /// Heavy steps taken in this loop iteration.
    #[cfg(test)]
    pub(crate) fn heavy_used(&self) -> u32 {
        self.heavy.get()
    }
}

/// Heavy steps (full TLS handshake messages) a worker takes per loop iteration; the rest wait
/// for the next one, so a flood of handshakes cannot hold the loop while established sessions'
/// completions wait. About 16 × 0.1–0.4 ms of cryptography between two reaps.
pub const HEAVY_STEPS_PER_ITERATION: u32 = 16;

/// Waits, if this loop iteration already took its share of heavy steps, until a later one;
/// then counts one. Call before a CPU-heavy step that traffic can make happen at will.
pub async fn heavy_step() {
    std::future::poll_fn(|cx| {
        with_cx(|rt| {
            let used = rt.heavy.get();
            if used < HEAVY_STEPS_PER_ITERATION {
                rt.heavy.set(used + 1);
                Poll::Ready(())
            } else {
                rt.deferred.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
    })
    .await
}

#[derive(Clone, Copy, Debug)]
pub struct RuntimeOptions {
    /// Submission queue entries.
    pub ring_entries: u32,
    /// Provided buffers in the receive ring (a power of two, at most 32768). 512 × 32 KiB: a
    /// 16 KiB response and its head arrive in one receive and leave in one send.
    pub buffers: u16,
    /// Size of each provided buffer.
    pub buffer_size: u32,
    /// Register the ring's own descriptor so that `io_uring_enter` skips its lookup
    /// (`[global] tune_ring_fd`).
    pub ring_fd: bool,
    /// Slots of the fixed-file table that accepted and connected sockets use as direct
    /// descriptors; 0: none, every socket is an ordinary descriptor
    /// (`[global] tune_direct_descriptors`).
    pub fixed_files: u32,
    /// Read the clock once per loop iteration for every timer armed or checked in it
    /// (`[global] tune_loop_clock`); off: each reads it itself.
    pub loop_clock: bool,
    /// Relay sends of at least this many bytes go zero-copy (`[global] tune_zero_copy_send`,
    /// `tune_zero_copy_min`); `None`: every send copies its bytes into the socket.
    pub zero_copy_min: Option<u32>,
    /// Microseconds a worker about to sleep lets the kernel gather a batch of completions
    /// before it wakes for fewer (at least one); 0: it wakes at the first
    /// (`[global] tune_batch_wait_us`).
    pub batch_wait_us: u32,
}

/// Fixed-file slots per worker by default: room for a client and a server socket for each of
/// `[global] maxconn`'s default 8000 connections; beyond the table, sockets are ordinary
/// descriptors.
pub const DEFAULT_FIXED_FILES: u32 = 16 * 1024;

#[cfg(test)]
impl RuntimeOptions {
    /// A test's runtime: a 64-entry ring and `buffers` provided buffers of 4 KiB, the rest as
    /// by default.
    pub(crate) fn small(buffers: u16) -> RuntimeOptions {
        RuntimeOptions {
            ring_entries: 64,
            buffers,
            buffer_size: 4096,
            ..RuntimeOptions::default()
        }
    }
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            ring_entries: 1024,
            buffers: 512,
            buffer_size: 32 * 1024,
            ring_fd: true,
            fixed_files: DEFAULT_FIXED_FILES,
            loop_clock: true,
            zero_copy_min: None,
            batch_wait_us: 0,
        }
    }
}

/// Starts a thread that runs `main` on a runtime of its own, after `setup` (e.g. CPU
/// pinning). Returns once the ring exists, or with the error that prevented it.
pub fn start_thread<M, F>(
    name: String,
    opts: RuntimeOptions,
    setup: impl FnOnce() + Send + 'static,
    main: M,
) -> io::Result<std::thread::JoinHandle<()>>
where
    M: FnOnce() -> F + Send + 'static,
    F: Future<Output = ()> + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new().name(name).spawn(move || {
        setup();
        let rt = match Runtime::new(opts) {
            Ok(rt) => {
                let _ = tx.send(Ok(()));
                rt
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        rt.block_on(main());
    })?;
    match rx.recv() {
        Ok(Ok(())) => Ok(thread),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::other("thread died while creating its ring")),
    }
}

/// A worker's runtime. Create, `block_on` the worker's main future, drop.
pub struct Runtime {
    cx: Rc<Cx>,
}

impl Runtime {
    pub fn new(opts: RuntimeOptions) -> io::Result<Runtime> {
        let driver = Driver::new(&opts)?;
        let bufs = BufRing::new(&driver.ring, opts.buffers, opts.buffer_size)?;
        let cx = Rc::new(Cx {
            driver: RefCell::new(driver),
            bufs: RefCell::new(Some(bufs)),
            timers: RefCell::new(Timers::default()),
            ready: RefCell::new(VecDeque::with_capacity(256)),
            tasks: RefCell::new(Slab::with_capacity(1024)),
            root_done: Cell::new(false),
            heavy: Cell::new(0),
            deferred: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            now: Cell::new(opts.loop_clock.then(Instant::now)),
        });
        CX.with(|c| *c.borrow_mut() = Some(cx.clone()));
        Ok(Runtime { cx })
    }

    /// Runs `root` and every task it spawns until `root` returns. Tasks still running then are
    /// dropped (their operations cancelled) when the runtime is dropped.
    pub fn block_on(&self, root: impl Future<Output = ()> + 'static) {
        let cx = self.cx.clone();
        cx.root_done.set(false);
        let flag = cx.clone();
        let _ = spawn(async move {
            root.await;
            flag.root_done.set(true);
        });
        let mut garbage: Vec<Box<dyn Any>> = Vec::new();
        loop {
            self.run_ready();
            if cx.root_done.get() {
                break;
            }
            let now = self.tick();
            let due = cx.timers.borrow().next_deadline().is_some_and(|d| d <= now);
            if due {
                // Completions first: what the kernel can deliver by `now` (a request that came
                // in while this thread ran tasks or was preempted) must reach its operation
                // before that operation's deadline is acted on, or a session would time out —
                // and close, with the bytes unread — on data that had arrived in time.
                self.enter(Some(Duration::ZERO), &mut garbage);
                garbage.clear();
            }
            let fired = cx.timers.borrow_mut().fire(now);
            if fired > 0 {
                continue;
            }
            let wait = cx
                .timers
                .borrow()
                .next_deadline()
                .map(|d| d.saturating_duration_since(now));
            self.enter(wait, &mut garbage);
            let now = self.tick();
            cx.driver.borrow_mut().observe(now);
            garbage.clear();
            self.next_iteration();
        }
    }

    /// Reads the clock; with the loop clock, that reading is what timers use until the next.
    fn tick(&self) -> Instant {
        let now = Instant::now();
        if self.cx.now.get().is_some() {
            self.cx.now.set(Some(now));
        }
        now
    }

    /// A new loop iteration: the heavy-step budget is whole again, and the tasks deferred to
    /// it run (after the completions just reaped woke the sessions they belong to).
    fn next_iteration(&self) {
        self.cx.heavy.set(0);
        let deferred = std::mem::take(&mut *self.cx.deferred.borrow_mut());
        for w in deferred {
            w.wake();
        }
    }

    fn run_ready(&self) {
        let cx = &self.cx;
        // Bounded so completions are reaped between bursts of ready tasks.
        for _ in 0..4096 {
            let Some(idx) = cx.ready.borrow_mut().pop_front() else {
                return;
            };
            let taken = match cx.tasks.borrow_mut().get_mut(idx) {
                Some(slot) => slot.fut.take().map(|f| (f, task_waker(idx))),
                None => None,
            };
            let Some((mut task, waker)) = taken else {
                continue;
            };
            let mut tcx = Context::from_waker(&waker);
            match task.as_mut().poll(&mut tcx) {
                Poll::Ready(()) => {
                    let mut tasks = cx.tasks.borrow_mut();
                    if tasks.contains(idx) {
                        tasks.remove(idx);
                    }
                }
                Poll::Pending => {
                    let mut tasks = cx.tasks.borrow_mut();
                    match tasks.get_mut(idx) {
                        Some(slot) if !slot.aborted => slot.fut = Some(task),
                        Some(_) => {
                            tasks.remove(idx);
                            drop(tasks);
                            drop(task);
                        }
                        None => {}
                    }
                }
            }
            if cx.root_done.get() {
                return;
            }
        }
    }

    /// Submits queued entries and waits for at least one completion, or until `wait` passes,
    /// or not at all when tasks are ready.
    fn enter(&self, wait: Option<Duration>, garbage: &mut Vec<Box<dyn Any>>) {
        let cx = &self.cx;
        let busy = !cx.ready.borrow().is_empty() || !cx.deferred.borrow().is_empty();
        {
            let mut d = cx.driver.borrow_mut();
            d.settle_lent();
            let wait = if busy { Some(Duration::ZERO) } else { wait };
            if let Err(e) = d.enter(wait) {
                match e.raw_os_error() {
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                    | Some(libc::EAGAIN) => {}
                    _ => crate::log::event(format_args!("io_uring_enter failed: {e}")),
                }
            }
            d.reap(garbage);
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Drop every task: their operations submit cancellations.
        let tasks: Vec<Task> = {
            let mut t = self.cx.tasks.borrow_mut();
            let v = t.drain().filter_map(|s| s.fut).collect();
            v
        };
        drop(tasks);
        self.cx.ready.borrow_mut().clear();
        // Reap until nothing is in flight, bounded so a stuck kernel cannot hang shutdown.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut garbage = Vec::new();
        while self.cx.driver.borrow().in_flight() > 0 && Instant::now() < deadline {
            self.enter(Some(Duration::from_millis(10)), &mut garbage);
            garbage.clear();
        }
        // Connections accepted by cancelled accepts nobody served (the worker stopped without
        // waiting for them, see `accepts_pending`): closing them tells their clients at once,
        // where a leaked descriptor would leave them waiting for an answer until exit.
        drop(super::net::take_adopted());
        CX.with(|c| *c.borrow_mut() = None);
    }
}
