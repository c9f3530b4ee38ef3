//! Socket operations on the worker's ring: accept, connect, receive into provided buffers,
//! send from owned buffers, and an eventfd other threads use to wake a worker.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use io_uring::types::{DestinationSlot, Fd};
use io_uring::{cqueue, opcode, squeue};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::bufring::{PBuf, BGID};
use super::driver::{check, Completion, Op, Orphan};
use super::executor::with_cx;
use super::multishot;
use super::sock::{on_target, Sock, Target};

/// A buffer the kernel may read from while a send is in flight. Its heap address must not move
/// when the value moves (true for `Vec`, boxes, provided buffers and statics).
pub trait IoBuf: Unpin + 'static {
    fn io_ptr(&self) -> *const u8;
    fn io_len(&self) -> usize;
}

impl IoBuf for Vec<u8> {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

impl IoBuf for &'static [u8] {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

impl IoBuf for PBuf {
    fn io_ptr(&self) -> *const u8 {
        self.ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

/// A buffer shared by the zero-copy sends of its parts (after a short send) and the copying
/// send of a fallback: each holds a reference until the kernel lets go of it.
impl<B: IoBuf> IoBuf for Rc<B> {
    fn io_ptr(&self) -> *const u8 {
        (**self).io_ptr()
    }
    fn io_len(&self) -> usize {
        (**self).io_len()
    }
}

/// The two buffers of a vectored send and the kernel structures pointing into them; boxed so
/// the pointers stay valid while the operation is in flight.
struct TwoBufs<A, B> {
    msg: libc::msghdr,
    iov: [libc::iovec; 2],
    head: A,
    body: B,
}

/// A connected TCP (or Unix) stream socket driven by the ring: an ordinary or a direct
/// descriptor (see `sock.rs`).
#[derive(Debug)]
pub struct Conn {
    sock: Sock,
    /// Single receives, or one multishot receive kept armed (see `multishot`).
    multi: std::cell::Cell<u32>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Before the descriptor closes: an armed receive is cancelled (the ring holds its own
        // reference to the socket until the cancellation completes).
        multishot::release(self.multi.get());
    }
}

/// A receive waiting for data, holding no buffer until the data arrives. Kept by idle pooled
/// upstream connections: its completion tells that the server closed (or misbehaved).
///
/// When every provided buffer is in use the kernel answers `ENOBUFS`; the receive then waits
/// a moment for buffers to come back and submits itself again, so callers never see it.
pub struct Recv {
    op: Option<Op<()>>,
    target: Target,
    size: u32,
    /// Boxed: rare, and a waiting session holds a `Recv`.
    backoff: Option<Box<super::Sleep>>,
    /// The connection's multishot slot, when it reads through one (a handle on it).
    multi: Option<u32>,
}

impl Drop for Recv {
    fn drop(&mut self) {
        if let Some(m) = self.multi {
            multishot::drop_handle(m);
        }
    }
}

/// How long a receive waits for a provided buffer to come back after `ENOBUFS`.
pub(super) const NOBUFS_BACKOFF: Duration = Duration::from_millis(1);

fn submit_recv(target: Target, size: u32) -> Op<()> {
    Op::submit((), Orphan::Nothing, |_| {
        on_target!(target, |f| opcode::Recv::new(f, std::ptr::null_mut(), size)
            .buf_group(BGID)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT))
    })
}

impl Recv {
    pub fn is_done(&self) -> bool {
        match self.multi {
            Some(m) => multishot::has_news(m),
            None => self.op.as_ref().is_some_and(|op| op.is_done()),
        }
    }
}

impl Future for Recv {
    /// `Ok(None)` is end of stream.
    type Output = io::Result<Option<PBuf>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(m) = self.multi {
            let target = self.target;
            return multishot::poll_recv(target, m, &mut self.backoff, cx);
        }
        loop {
            if let Some(b) = self.backoff.as_mut() {
                if Pin::new(&mut **b).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.backoff = None;
                let (target, size) = (self.target, self.size);
                self.op = Some(submit_recv(target, size));
            }
            let Some(op) = self.op.as_mut() else {
                return Poll::Ready(Err(io::Error::other("receive polled after completion")));
            };
            let Completion { res, flags, .. } = match Pin::new(op).poll(cx) {
                Poll::Ready(c) => c,
                Poll::Pending => return Poll::Pending,
            };
            self.op = None;
            if res == -libc::ENOBUFS {
                self.backoff = Some(Box::new(super::sleep(NOBUFS_BACKOFF)));
                continue;
            }
            let buf = cqueue::buffer_select(flags).and_then(|bid| {
                with_cx(|c| {
                    c.bufs
                        .borrow_mut()
                        .as_mut()
                        .map(|r| r.take(bid, res.max(0) as u32))
                })
            });
            return Poll::Ready(match check(res) {
                Err(e) => Err(e),
                Ok(0) => Ok(None),
                Ok(_) => match buf {
                    Some(b) => Ok(Some(b)),
                    None => Err(io::Error::other("receive completed without a buffer")),
                },
            });
        }
    }
}

impl Conn {
    pub fn from_fd(fd: OwnedFd) -> Conn {
        Conn::new(Sock::os(fd))
    }

    fn new(sock: Sock) -> Conn {
        Conn {
            sock,
            multi: std::cell::Cell::new(multishot::OFF),
        }
    }

    /// From now on, reads go through one multishot receive kept armed for the connection's
    /// life (with `on`). Only for a connection whose every byte is read through `recv`: no
    /// receive may leave bytes in the socket for someone else (a kTLS hand-over, a peek).
    pub fn set_multishot(&self, on: bool) {
        if on && self.multi.get() == multishot::OFF {
            self.multi.set(multishot::ON);
        }
    }

    pub(super) fn target(&self) -> Target {
        self.sock.target()
    }

    /// Whether this socket is a direct descriptor (it then has no file descriptor).
    pub fn is_direct(&self) -> bool {
        matches!(self.target(), Target::Direct(_))
    }

    /// The file descriptor, for what the ring cannot do (kTLS's socket options); an error for
    /// a direct descriptor.
    pub fn os_fd(&self) -> io::Result<BorrowedFd<'_>> {
        self.sock.os_fd().ok_or_else(no_fd)
    }

    /// Starts a receive into a provided buffer.
    pub fn recv_op(&self) -> Recv {
        let size = with_cx(|c| {
            c.bufs
                .borrow()
                .as_ref()
                .map(|b| b.buf_size())
                .unwrap_or(16384)
        });
        if let Some(m) = multishot::prepare(self.target(), &self.multi) {
            return Recv {
                op: None,
                target: self.target(),
                size,
                backoff: None,
                multi: Some(m),
            };
        }
        Recv {
            op: Some(submit_recv(self.target(), size)),
            target: self.target(),
            size,
            backoff: None,
            multi: None,
        }
    }

    /// Bytes that were received already and wait unread, without waiting for more: only a
    /// connection in multishot mode has any (`None` otherwise, and before an end of stream
    /// or error, which the next receive reports).
    pub fn received(&self) -> Option<PBuf> {
        match self.multi.get() {
            multishot::OFF | multishot::ON => None,
            n => multishot::take_ready(n - 2),
        }
    }

    /// Receives the next bytes; `Ok(None)` at end of stream.
    pub async fn recv(&self) -> io::Result<Option<PBuf>> {
        self.recv_op().await
    }

    /// Receives at most `max` bytes into a buffer of its own (not a provided one); with
    /// `peek` they stay in the socket (`MSG_PEEK`), so that a reader can take exactly the
    /// bytes that are its own and leave the rest to whoever reads next. Waits for at least one
    /// byte; empty at end of stream.
    pub async fn recv_owned(&self, max: usize, peek: bool) -> io::Result<Vec<u8>> {
        let target = self.target();
        let len = u32::try_from(max).unwrap_or(u32::MAX);
        let flags = if peek { libc::MSG_PEEK } else { 0 };
        let op = Op::submit(vec![0u8; max], Orphan::Nothing, |b| {
            on_target!(target, |f| opcode::Recv::new(f, b.as_mut_ptr(), len)
                .flags(flags)
                .build())
        });
        let c = op.await;
        let n = check(c.res)? as usize;
        let mut buf = c.data;
        buf.truncate(n);
        Ok(buf)
    }

    /// Sends `buf[off..]` once; returns how many bytes went out.
    pub async fn send<B: IoBuf>(&self, buf: B, off: usize) -> (io::Result<usize>, B) {
        let target = self.target();
        let op = Op::submit(buf, Orphan::Nothing, |b| {
            let off = off.min(b.io_len());
            // SAFETY: off ≤ len, so the pointer stays inside the buffer the op owns.
            let ptr = unsafe { b.io_ptr().add(off) };
            on_target!(target, |f| opcode::Send::new(
                f,
                ptr,
                (b.io_len() - off) as u32
            )
            .flags(libc::MSG_NOSIGNAL)
            .build())
        });
        let c = op.await;
        (check(c.res).map(|n| n as usize), c.data)
    }

    /// Sends all of `buf`, resuming after short sends.
    pub async fn send_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        self.send_from(buf, 0).await
    }

    /// Sends `head` then `body` with one vectored send (no copy of the body into the head's
    /// buffer), resuming after short sends. Both buffers come back.
    pub async fn send_two<A: IoBuf, B: IoBuf>(&self, head: A, body: B) -> (io::Result<()>, A, B) {
        let target = self.target();
        let total = head.io_len() + body.io_len();
        let data = Box::new(TwoBufs {
            // SAFETY: msghdr and iovec are plain C structs; all-zero is a valid value, and the
            // pointers are filled in below, before submission.
            msg: unsafe { std::mem::zeroed() },
            iov: [
                libc::iovec {
                    iov_base: head.io_ptr() as *mut libc::c_void,
                    iov_len: head.io_len(),
                },
                libc::iovec {
                    iov_base: body.io_ptr() as *mut libc::c_void,
                    iov_len: body.io_len(),
                },
            ],
            head,
            body,
        });
        let op = Op::submit(data, Orphan::Nothing, |d| {
            d.msg.msg_iov = d.iov.as_mut_ptr();
            d.msg.msg_iovlen = 2;
            on_target!(target, |f| opcode::SendMsg::new(f, &d.msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build())
        });
        let c = op.await;
        let TwoBufs { head, body, .. } = *c.data;
        let sent = match check(c.res) {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), head, body),
        };
        if sent >= total {
            return (Ok(()), head, body);
        }
        // Short send: the rest of the head, then the rest of the body.
        let head_len = head.io_len();
        let (r, head) = if sent < head_len {
            self.send_from(head, sent).await
        } else {
            (Ok(()), head)
        };
        if let Err(e) = r {
            return (Err(e), head, body);
        }
        let (r, body) = self.send_from(body, sent.saturating_sub(head_len)).await;
        (r, head, body)
    }

    /// Sends `buf[off..]` completely.
    async fn send_from<B: IoBuf>(&self, buf: B, off: usize) -> (io::Result<()>, B) {
        let mut buf = buf;
        let mut off = off;
        while off < buf.io_len() {
            let (r, b) = self.send(buf, off).await;
            buf = b;
            match r {
                Ok(0) => return (Err(io::Error::from(io::ErrorKind::WriteZero)), buf),
                Ok(n) => off += n,
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Sends all of `buf` as a body relay does: zero-copy (`IORING_OP_SEND_ZC`) when the
    /// worker's lever is on and `buf` holds at least its threshold, otherwise as `send_all`.
    ///
    /// A zero-copy send completes twice: with its result, then with a notification once the
    /// kernel no longer reads the pages (on a real NIC, when the data is acknowledged). The
    /// buffer comes back only when every notification was reaped already; otherwise it stays
    /// with the operations' slots, is released when the last notification arrives, and `None`
    /// comes back. A kernel that refuses zero-copy sends (`EINVAL`: no `IORING_OP_SEND_ZC`;
    /// `EOPNOTSUPP`: the socket cannot) turns the lever off for this worker, with one log
    /// line per process, and the bytes go out by copy; so do the bytes of a send over the
    /// locked-memory limit (see `over_locked_memory`).
    pub async fn send_relay<B: IoBuf>(&self, buf: B) -> (io::Result<()>, Option<B>) {
        let min = with_cx(|c| c.driver.borrow().zero_copy_min);
        if min.is_none_or(|m| buf.io_len() < m as usize) {
            let (r, b) = self.send_all(buf).await;
            return (r, Some(b));
        }
        let len = buf.io_len();
        let shared = Rc::new(buf);
        let mut off = 0;
        let mut result = Ok(());
        while off < len {
            match check(self.send_zc(Rc::clone(&shared), off).await) {
                Ok(0) => {
                    result = Err(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => off += n as usize,
                Err(e) if (off == 0 && zero_copy_refused(&e)) || over_locked_memory(&e) => {
                    result = self.send_from(Rc::clone(&shared), off).await.0;
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        (result, Rc::try_unwrap(shared).ok())
    }

    /// One zero-copy send of `buf[off..]`; resolves to the result (bytes sent or `-errno`).
    fn send_zc<B: IoBuf>(&self, buf: Rc<B>, off: usize) -> SendZc<B> {
        let target = self.target();
        SendZc(Op::submit(buf, Orphan::Nothing, |b| {
            let off = off.min(b.io_len());
            // SAFETY: off ≤ len, so the pointer stays inside the buffer the op owns (and,
            // after the result, its slot owns until the notification).
            let ptr = unsafe { b.io_ptr().add(off) };
            on_target!(target, |f| opcode::SendZc::new(
                f,
                ptr,
                (b.io_len() - off) as u32
            )
            // MSG_WAITALL: the ring itself resumes a short send on a stream socket, under the
            // same notification.
            .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
            .build())
        }))
    }

    /// Opens a TCP connection (`TCP_NODELAY` set). Times out only through the caller's
    /// `timeout`. A direct descriptor where the worker has a fixed-file table and the kernel
    /// sets socket options through the ring (6.7); an ordinary one otherwise.
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let sock = match direct_socket(addr).await {
            Some(sock) => sock,
            None => {
                let sock = tcp_socket(addr)?;
                sock.set_tcp_nodelay(true)?;
                Sock::os(sock.into())
            }
        };
        let target = sock.target();
        let sa = Box::new(SockAddr::from(addr));
        let op = Op::submit(sa, Orphan::Nothing, |sa| {
            on_target!(target, |f| opcode::Connect::new(
                f,
                sa.as_ptr().cast(),
                sa.len()
            )
            .build())
        });
        let c = op.await;
        check(c.res)?;
        Ok(Conn::new(sock))
    }

    /// Half-closes: the peer reads end of stream, our side can still receive.
    ///
    /// On a direct descriptor this is a ring operation, awaited while the `Conn` lives: the
    /// kernel runs a shutdown in its worker threads and looks the slot up only then, so a
    /// shutdown sent and forgotten could meet the next connection accepted into the slot
    /// after this one's close.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        match self.target() {
            Target::Os(_) => match self.sock.os_fd() {
                Some(fd) => socket2::SockRef::from(&fd).shutdown(std::net::Shutdown::Write),
                None => Err(no_fd()),
            },
            Target::Direct(index) => {
                let op = Op::submit((), Orphan::Nothing, |_| {
                    opcode::Shutdown::new(io_uring::types::Fixed(index), libc::SHUT_WR).build()
                });
                check(op.await.res).map(drop)
            }
        }
    }

    /// The peer's address (`getpeername`); an error for a direct descriptor.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket2::SockRef::from(&self.os_fd()?)
            .peer_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("peer is not an IP socket"))
    }

    /// The local address (`getsockname`); an error for a direct descriptor.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket2::SockRef::from(&self.os_fd()?)
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("socket is not an IP socket"))
    }
}

/// A zero-copy send in flight: its result, while its buffer waits in the slot for the
/// notification (see `Op::poll_parking`).
struct SendZc<B: 'static>(Op<Rc<B>>);

impl<B: IoBuf> Future for SendZc<B> {
    type Output = i32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<i32> {
        self.0.poll_parking(cx).map(|(res, _)| res)
    }
}

/// Whether `e`, the answer to a zero-copy send that sent nothing, is the kernel refusing
/// zero-copy; if so the lever goes off for this worker (logged once per process).
fn zero_copy_refused(e: &io::Error) -> bool {
    static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let code = e.raw_os_error();
    if code != Some(libc::EINVAL) && code != Some(libc::EOPNOTSUPP) {
        return false;
    }
    with_cx(|c| c.driver.borrow_mut().zero_copy_min = None);
    if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        crate::log::event(format_args!(
            "zero-copy send refused by the kernel ({e}); tune_zero_copy_send is off, \
             sends copy"
        ));
    }
    true
}

/// Whether `e`, the answer to a zero-copy send, says the pages could not be accounted: the
/// kernel counts the pages of zero-copy sends in flight against the user's `RLIMIT_MEMLOCK`
/// (unless the process has `CAP_IPC_LOCK`) and answers `ENOMEM` above it. That send copies
/// instead; the lever stays on (logged once per process).
fn over_locked_memory(e: &io::Error) -> bool {
    static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let code = e.raw_os_error();
    if code != Some(libc::ENOMEM) && code != Some(libc::ENOBUFS) {
        return false;
    }
    if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        crate::log::event(format_args!(
            "zero-copy send over the locked-memory limit ({e}); such sends copy \
             (raise LimitMEMLOCK to avoid it)"
        ));
    }
    true
}

/// What an operation that needs a file descriptor answers for a direct descriptor.
fn no_fd() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "a direct descriptor has no file descriptor",
    )
}

thread_local! {
    /// Cleared the first time this thread's kernel refuses to make or set up a direct socket
    /// (no `IORING_OP_SOCKET` into the table, no socket options through the ring): later
    /// connects go straight to ordinary sockets.
    static DIRECT_CONNECT: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// A TCP socket with `TCP_NODELAY` as a direct descriptor, made and set up on the ring; `None`
/// when the worker has no fixed-file table, the table is full or the kernel cannot.
async fn direct_socket(addr: SocketAddr) -> Option<Sock> {
    if !DIRECT_CONNECT.get() || !with_cx(|c| c.driver.borrow_mut().reserve_slot()) {
        return None;
    }
    let domain = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    let op = Op::submit((), Orphan::CloseDirect, |_| {
        opcode::Socket::new(domain, libc::SOCK_STREAM, libc::IPPROTO_TCP)
            .file_index(Some(DestinationSlot::auto_target()))
            .build()
    });
    let res = op.await.res;
    if res < 0 {
        with_cx(|c| c.driver.borrow_mut().release_slot());
        DIRECT_CONNECT.set(false);
        return None;
    }
    let sock = Sock::direct(res as u32);
    let Target::Direct(index) = sock.target() else {
        return None;
    };
    let op = Op::submit(Box::new(1i32), Orphan::Nothing, |one| {
        opcode::SetSockOpt::new(
            io_uring::types::Fixed(index),
            libc::IPPROTO_TCP as u32,
            libc::TCP_NODELAY as u32,
            (&**one as *const i32).cast(),
            std::mem::size_of::<i32>() as u32,
        )
        .build()
    });
    if op.await.res < 0 {
        DIRECT_CONNECT.set(false);
        return None;
    }
    Some(sock)
}

/// Accepts connections on a listening socket shared with other workers.
///
/// One accept is in flight at a time and carries the peer address, so there is no
/// `getpeername` per connection and stopping is exact: a caller that stops calling `accept`
/// leaves further connections in the kernel's queue (for the next process, or for `maxconn`).
/// If an accept is dropped while the kernel completes it, the connection is not closed but
/// adopted (see [`take_adopted`]) so the worker still serves it.
pub struct Acceptor {
    listener: Arc<OwnedFd>,
    tag: u64,
}

/// Storage for the peer address an accept fills in.
struct AcceptAddr {
    storage: socket2::SockAddrStorage,
    len: libc::socklen_t,
}

impl Acceptor {
    /// `tag` comes back with connections adopted after this acceptor was dropped.
    pub fn new(listener: Arc<OwnedFd>, tag: u64) -> Acceptor {
        Acceptor { listener, tag }
    }

    /// Waits for the next connection. With `direct`, and where the worker has a fixed-file
    /// table with a free slot, the connection is a direct descriptor. Errors (EMFILE, ENFILE,
    /// …) are returned so the caller can back off.
    pub async fn accept(&mut self, direct: bool) -> io::Result<(Conn, Option<SocketAddr>)> {
        // A full table (no slot to reserve): this connection gets an ordinary descriptor.
        let direct = direct && with_cx(|c| c.driver.borrow_mut().reserve_slot());
        let fd = self.listener.as_raw_fd();
        let storage = socket2::SockAddrStorage::zeroed();
        let len = storage.size_of();
        let addr = Box::new(AcceptAddr { storage, len });
        let orphan = Orphan::Adopt {
            tag: self.tag,
            direct,
        };
        let op = Op::submit(addr, orphan, |a| {
            // SAFETY: viewing the storage as the generic sockaddr header the kernel fills in.
            let sa: *mut libc::sockaddr = unsafe { a.storage.view_as::<libc::sockaddr>() };
            let accept = opcode::Accept::new(Fd(fd), sa, &mut a.len);
            if direct {
                // Close-on-exec means nothing for a direct descriptor (the kernel refuses it).
                accept
                    .file_index(Some(DestinationSlot::auto_target()))
                    .build()
            } else {
                accept.flags(libc::SOCK_CLOEXEC).build()
            }
        });
        let c = op.await;
        if c.res < 0 && direct {
            with_cx(|c| c.driver.borrow_mut().release_slot());
        }
        let res = check(c.res)?;
        Ok((accepted(res, direct), peer_of(*c.data)))
    }
}

/// The connection a successful accept returned.
pub(super) fn accepted(res: i32, direct: bool) -> Conn {
    let sock = if direct {
        Sock::direct(res as u32)
    } else {
        // SAFETY: a successful accept returns a new fd that nothing else owns.
        Sock::os(unsafe { OwnedFd::from_raw_fd(res) })
    };
    Conn::new(sock)
}

/// The peer address an accept wrote.
fn peer_of(a: AcceptAddr) -> Option<SocketAddr> {
    // SAFETY: the kernel wrote a socket address of `len` bytes (at most the storage's size)
    // into the storage, or left it zeroed (family 0: not an IP address).
    unsafe { SockAddr::new(a.storage, a.len) }.as_socket()
}

/// Whether some dropped accept may still deliver a connection to [`take_adopted`]: its
/// cancellation was submitted but the kernel's final answer has not been reaped. A worker that
/// stops accepting waits for this to turn false before it exits, so a connection the kernel
/// completed at the moment of the cancellation is served, not left open and unanswered.
pub fn accepts_pending() -> bool {
    super::executor::try_with_cx_or(false, |cx| cx.driver.borrow().orphaned_accepts() > 0)
}

/// Takes a connection already waiting in `listener`'s accept queue without waiting (the
/// listening sockets are non-blocking); `None` when the queue is empty.
///
/// A worker that stops accepting calls this once its accepts are cancelled: the kernel wakes
/// one waiting accept per new connection, and when the woken one was being cancelled the
/// connection stays queued with no other waiter woken for it, until the next one arrives.
pub fn accept_now(listener: &OwnedFd) -> io::Result<Option<(Conn, Option<SocketAddr>)>> {
    match socket2::SockRef::from(listener).accept() {
        Ok((sock, peer)) => {
            let conn = Conn::from_fd(OwnedFd::from(sock));
            Ok(Some((conn, peer.as_socket())))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Connections whose accept completed after its future was dropped, with the acceptor's tag
/// and the peer address the accept received.
pub fn take_adopted() -> Vec<(Conn, u64, Option<SocketAddr>)> {
    super::driver::take_adopted()
        .into_iter()
        .map(|a| {
            // Each result came from a completed accept and was handed to nobody else.
            let conn = accepted(a.res, a.direct);
            let peer = a
                .data
                .and_then(|d| d.downcast::<Box<AcceptAddr>>().ok())
                .and_then(|addr| peer_of(**addr));
            (conn, a.tag, peer)
        })
        .collect()
}

/// An eventfd: any thread may `notify`, the owning worker `wait`s on its ring.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd has no pointer arguments; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EventFd {
            // SAFETY: fd is a fresh descriptor owned by nothing else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Wakes the waiting worker. Callable from any thread.
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Waits until notified (at least once since the last wait).
    pub async fn wait(&self) {
        let fd = self.fd.as_raw_fd();
        let op = Op::submit(Box::new([0u8; 8]), Orphan::Nothing, |b| {
            opcode::Read::new(Fd(fd), b.as_mut_ptr(), 8).build()
        });
        let _ = op.await;
    }
}

/// A close-on-exec TCP socket of `addr`'s family.
fn tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )
}

/// Creates a listening TCP socket bound to `addr`, shared by every worker.
pub fn listen(addr: SocketAddr, backlog: i32) -> io::Result<OwnedFd> {
    let sock = tcp_socket(addr)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux: one setsockopt here
    // instead of one per connection.
    sock.set_tcp_nodelay(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    Ok(sock.into())
}

#[cfg(test)]
#[path = "net_tests.rs"]
mod tests;
