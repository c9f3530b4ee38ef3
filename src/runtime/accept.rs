//! Multishot accept (`[global] tune_multishot_accept`): one `IORING_OP_ACCEPT` per listener
//! keeps accepting, each connection a completion, instead of one entry submitted per
//! connection. Into direct descriptors (`IORING_FILE_INDEX_ALLOC`) where the worker asks.
//!
//! The kernel writes the peer address of every connection of a multishot accept into the same
//! place. With `DEFER_TASKRUN` the accept runs only inside the worker's own `io_uring_enter`,
//! so at each reap that place holds the peer of the last connection the reap read (see
//! `Driver::reap`): that connection — every connection of a batch of one — comes out with its
//! address. The others' are asked for afterwards, on the ring, with
//! `getsockopt(SO_PEERNAME)` (`SOCKET_URING_OP_GETSOCKOPT`, Linux 6.7), which a direct
//! descriptor can answer too; without it, by `getpeername` on ordinary descriptors only.
//!
//! Stopping is by cancellation: the connections the kernel accepted before the cancellation
//! took effect are still handed out (or, once the acceptor is dropped, adopted: see
//! `take_adopted`), never closed.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::types::{DestinationSlot, Fd};
use io_uring::{opcode, squeue};
use socket2::SockAddr;

use super::driver::{Delivery, MultiOp, Op, Orphan, PeerBuf};
use super::executor::with_cx;
use super::net::{accepted, Conn};
use super::sock::{on_target, Target};

/// `SOCKET_URING_OP_GETSOCKOPT` (include/uapi/linux/io_uring.h).
const SOCKET_URING_OP_GETSOCKOPT: u32 = 2;
/// `IORING_ACCEPT_MULTISHOT`, in an accept entry's `ioprio`.
const ACCEPT_MULTISHOT: u16 = 1;

thread_local! {
    /// False once the kernel refused a multishot accept (`EINVAL`, before Linux 5.19): this
    /// worker accepts one connection per entry from then on.
    static MULTISHOT: Cell<bool> = const { Cell::new(true) };
    /// Whether the ring answers `getsockopt(SO_PEERNAME)`; `None` until probed.
    static PEERNAME_ON_RING: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Whether this worker's kernel takes multishot accepts (true until one was refused).
pub fn multishot_accept_available() -> bool {
    MULTISHOT.get()
}

/// What a multishot accept hands out.
pub enum Shot {
    /// A connection, with its peer address when the accept could tell it (else ask
    /// [`with_peers`]).
    Conn(Conn, Option<SocketAddr>),
    /// An accept failed; the multishot ends with it (its next answer is `Ended`).
    Failed(io::Error),
    /// The kernel refused multishot accepts: this worker no longer uses them.
    Unsupported,
}

/// A multishot accept on one listening socket.
pub struct MultiAccept {
    op: MultiOp,
    direct: bool,
    /// Whether any connection came: an `EINVAL` before the first means "not supported".
    any: bool,
}

impl MultiAccept {
    /// Arms a multishot accept on `listener`; `tag` comes back with connections adopted after
    /// it is dropped. With `direct`, connections are direct descriptors: only ask for that
    /// when the table has room for every connection the listener's queue may hold (the kernel
    /// closes a connection it accepted into a full table), and when [`peers_on_ring`] is true.
    pub fn arm(listener: &Arc<OwnedFd>, tag: u64, direct: bool) -> MultiAccept {
        let fd = listener.as_raw_fd();
        let flags = if direct { 0 } else { libc::SOCK_CLOEXEC };
        let orphan = Orphan::Adopt { tag, direct };
        let op = if with_cx(|c| c.driver.borrow().peers_at_reap()) {
            let mut peer = PeerBuf::new();
            let (addr, len) = peer.pointers();
            let mut entry = opcode::Accept::new(Fd(fd), addr, len).flags(flags);
            if direct {
                entry = entry.file_index(Some(DestinationSlot::auto_target()));
            }
            MultiOp::submit_with(multishot(entry.build()), Some(peer), orphan)
        } else {
            let entry = opcode::AcceptMulti::new(Fd(fd))
                .allocate_file_index(direct)
                .flags(flags)
                .build();
            MultiOp::submit(entry, orphan)
        };
        MultiAccept {
            op,
            direct,
            any: false,
        }
    }

    /// Whether its connections are direct descriptors.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Waits for the next connection; `None` once the multishot ended (cancelled, failed, or
    /// ended by the kernel): arm a new one to go on.
    pub async fn next(&mut self) -> Option<Shot> {
        let c = self.op.next().await?;
        Some(self.shot(c))
    }

    /// The next connection already accepted, without waiting.
    pub fn try_next(&mut self) -> Option<Shot> {
        let c = self.op.try_next()?;
        Some(self.shot(c))
    }

    fn shot(&mut self, Delivery { res, peer, .. }: Delivery) -> Shot {
        if res >= 0 {
            self.any = true;
            return Shot::Conn(accepted(res, self.direct), peer);
        }
        if res == -libc::EINVAL && !self.any {
            MULTISHOT.set(false);
            return Shot::Unsupported;
        }
        Shot::Failed(io::Error::from_raw_os_error(-res))
    }

    /// Stops accepting; the connections accepted before the kernel saw the cancellation still
    /// come out of [`MultiAccept::next`] before its `None`.
    pub fn cancel(&mut self) {
        self.op.cancel();
    }
}

/// The longest accept queue `listener` may hold: its backlog as the kernel keeps it
/// (`tcpi_sacked` of a listening socket's `TCP_INFO`, after the `net.core.somaxconn` cap).
/// A multishot accept may take that many connections at once.
pub fn listen_backlog(listener: &OwnedFd) -> Option<u32> {
    // SAFETY: `tcp_info` is plain old data, valid zeroed.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` are live and `len` is the size of `info`; the kernel writes at
    // most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    // `TCP_LISTEN` is state 10 (include/net/tcp_states.h).
    (r == 0 && info.tcpi_state == 10).then_some(info.tcpi_sacked)
}

/// Free slots of this worker's fixed-file table.
pub fn free_direct_slots() -> u32 {
    with_cx(|c| c.driver.borrow().free_slots())
}

/// Whether this ring answers `getsockopt(SO_PEERNAME)` (probed once per worker on `listener`:
/// a listening socket has no peer, so a ring that can ask says `ENOTCONN`). Direct multishot
/// accepts need it: a direct descriptor has no `getpeername`.
pub async fn peers_on_ring(listener: &Arc<OwnedFd>, v6: bool) -> bool {
    if let Some(known) = PEERNAME_ON_RING.get() {
        return known;
    }
    let res = peername(Target::Os(listener.as_raw_fd()), v6).await.res;
    let known = res == -libc::ENOTCONN;
    PEERNAME_ON_RING.set(Some(known));
    known
}

/// Storage for the address `SO_PEERNAME` writes.
struct PeerAddr {
    storage: socket2::SockAddrStorage,
    len: libc::socklen_t,
}

/// Asks the ring for the peer address of `target`: the result and what it wrote.
fn peername(target: Target, v6: bool) -> Op<Box<PeerAddr>> {
    // `SO_PEERNAME` refuses a buffer longer than the address: ask for exactly the family's.
    let len = if v6 {
        std::mem::size_of::<libc::sockaddr_in6>()
    } else {
        std::mem::size_of::<libc::sockaddr_in>()
    } as libc::socklen_t;
    let addr = Box::new(PeerAddr {
        storage: socket2::SockAddrStorage::zeroed(),
        len,
    });
    Op::submit(addr, Orphan::Nothing, |a| {
        let val: *mut libc::c_void = (&mut a.storage as *mut socket2::SockAddrStorage).cast();
        let set = on_target!(target, |f| opcode::SetSockOpt::new(
            f,
            libc::SOL_SOCKET as u32,
            libc::SO_PEERNAME as u32,
            val,
            a.len
        )
        .build());
        as_getsockopt(set)
    })
}

/// The same accept as `entry`, multishot (`IORING_ACCEPT_MULTISHOT` in `ioprio`, the two
/// bytes at offset 2, which the io-uring crate sets only on an accept without an address).
/// The kernel writes each connection's peer address where `entry` points, the same place for
/// all.
fn multishot(entry: squeue::Entry) -> squeue::Entry {
    patch(entry, 2, &ACCEPT_MULTISHOT.to_ne_bytes())
}

/// The same socket command as `entry` (a `SOCKET_URING_OP_SETSOCKOPT`, which the io-uring
/// crate builds), as a `SOCKET_URING_OP_GETSOCKOPT` (`cmd_op`, the first four bytes of the
/// union at offset 8): both take level, name, value and length in the same fields; the kernel
/// writes the value and answers its length.
fn as_getsockopt(entry: squeue::Entry) -> squeue::Entry {
    patch(entry, 8, &SOCKET_URING_OP_GETSOCKOPT.to_ne_bytes())
}

/// `entry` with `bytes` written at byte `at` of its `io_uring_sqe`: a field the io-uring crate
/// does not set for this operation.
fn patch(entry: squeue::Entry, at: usize, bytes: &[u8]) -> squeue::Entry {
    // SAFETY: `squeue::Entry` is `repr(C)` around the kernel's 64-byte `io_uring_sqe`, built
    // from a zeroed one, so every byte is initialised; the transmute checks the size.
    let mut raw: [u8; 64] = unsafe { std::mem::transmute::<squeue::Entry, [u8; 64]>(entry) };
    if let Some(field) = raw.get_mut(at..at + bytes.len()) {
        field.copy_from_slice(bytes);
    }
    // SAFETY: the same bytes with one field changed to a value the kernel defines for it,
    // still a valid entry.
    unsafe { std::mem::transmute::<[u8; 64], squeue::Entry>(raw) }
}

/// The peer addresses of connections from a multishot accept on a listener of family `v6`:
/// asked on the ring all at once (answered in one loop iteration), or with `getpeername` where
/// the ring cannot (ordinary descriptors; a direct one then has none).
pub async fn with_peers(conns: Vec<Conn>, v6: bool) -> Vec<(Conn, Option<SocketAddr>)> {
    let on_ring = PEERNAME_ON_RING.get() == Some(true);
    let ops: Vec<(Conn, Option<Op<Box<PeerAddr>>>)> = conns
        .into_iter()
        .map(|c| {
            let op = on_ring.then(|| peername(c.target(), v6));
            (c, op)
        })
        .collect();
    let mut out = Vec::with_capacity(ops.len());
    for (conn, op) in ops {
        let peer = match op {
            Some(op) => {
                let c = op.await;
                if c.res > 0 {
                    let a = *c.data;
                    // SAFETY: the kernel wrote a socket address of `res` bytes (at most the
                    // length asked, within the storage) into the storage.
                    unsafe { SockAddr::new(a.storage, c.res as libc::socklen_t) }.as_socket()
                } else {
                    conn.peer_addr().ok()
                }
            }
            None => conn.peer_addr().ok(),
        };
        out.push((conn, peer));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{IpAddr, TcpStream};
    use std::time::Duration;

    use super::super::{accept_now, accepts_pending, sleep, take_adopted, Runtime, RuntimeOptions};
    use super::*;

    fn runtime() -> Runtime {
        Runtime::new(RuntimeOptions {
            fixed_files: 64,
            ..RuntimeOptions::small(64)
        })
        .unwrap()
    }

    use crate::runtime::test_listener as listener;

    /// A client connected from its own loopback address `127.0.9.n`.
    fn client(addr: SocketAddr, n: u8) -> TcpStream {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let src = SocketAddr::new(IpAddr::from([127, 0, 9, n]), 0);
        sock.bind(&src.into()).unwrap();
        sock.connect(&addr.into()).unwrap();
        sock.into()
    }

    /// One multishot accept hands out every connection of a burst, each with its own peer
    /// address (the last of a reap's with it, the others asked on the ring for direct
    /// descriptors), then connections one at a time, each with its address, and ends after a
    /// cancellation.
    #[test]
    fn a_multishot_accept_takes_a_burst_with_each_peer() {
        let rt = runtime();
        let (lfd, addr) = listener();
        rt.block_on(async move {
            let on_ring = peers_on_ring(&lfd, false).await;
            let direct = on_ring && free_direct_slots() > 0;
            if !direct {
                eprintln!("direct descriptors or SO_PEERNAME on the ring missing: ordinary ones");
            }
            let at_reap = with_cx(|c| c.driver.borrow().peers_at_reap());
            // Queued before the accept is armed: the kernel takes them at its submission.
            let mut clients: Vec<TcpStream> = (1..=5).map(|n| client(addr, n)).collect();
            let mut shots = MultiAccept::arm(&lfd, 1, direct);
            let mut known = Vec::new();
            let mut conns = Vec::new();
            while known.len() + conns.len() < 5 {
                match shots.next().await {
                    Some(Shot::Conn(c, Some(peer))) => known.push((c, Some(peer))),
                    Some(Shot::Conn(c, None)) => conns.push(c),
                    Some(Shot::Unsupported) => {
                        eprintln!("skipped: this kernel has no multishot accept (Linux 5.19+)");
                        return;
                    }
                    Some(Shot::Failed(e)) => panic!("accept failed: {e}"),
                    None => panic!("the multishot accept ended after {}", conns.len()),
                }
            }
            assert!(conns.iter().all(|c| c.is_direct() == direct));
            // The last connection of the last reap that read any of them has its address.
            assert!(known.len() >= usize::from(at_reap), "{}", known.len());
            let mut with = with_peers(conns, false).await;
            with.extend(known);
            let mut peers: Vec<SocketAddr> = with.iter().filter_map(|(_, p)| *p).collect();
            peers.sort();
            let mut want: Vec<SocketAddr> =
                clients.iter().map(|c| c.local_addr().unwrap()).collect();
            want.sort();
            assert_eq!(peers, want);
            // One at a time: each comes with its own address.
            for n in 6..=9 {
                clients.push(client(addr, n));
                match shots.next().await {
                    Some(Shot::Conn(c, Some(peer))) => with.push((c, Some(peer))),
                    Some(Shot::Conn(c, None)) => {
                        assert!(!at_reap, "a connection alone came without its address");
                        with.extend(with_peers(vec![c], false).await);
                    }
                    _ => panic!("no connection"),
                }
            }
            // Each connection is the one its peer address names.
            for (conn, peer) in with {
                let (r, _) = conn.send_all(peer.unwrap().to_string().into_bytes()).await;
                r.unwrap();
            }
            for c in &mut clients {
                let me = c.local_addr().unwrap().to_string();
                let mut got = vec![0u8; me.len()];
                c.read_exact(&mut got).unwrap();
                assert_eq!(got, me.as_bytes());
            }
            shots.cancel();
            assert!(matches!(shots.next().await, Some(Shot::Failed(_))));
            assert!(shots.next().await.is_none(), "ended after the cancellation");
        });
    }

    /// A listener's backlog as the kernel keeps it (capped by `net.core.somaxconn`).
    #[test]
    fn the_backlog_of_a_listener_is_read_back() {
        let (lfd, _) = listener();
        let backlog = listen_backlog(&lfd).expect("TCP_INFO of a listening socket");
        assert!((1..=128).contains(&backlog), "{backlog}");
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(server.local_addr().unwrap()).unwrap();
        assert_eq!(listen_backlog(&OwnedFd::from(c)), None, "not a listener");
    }

    /// A multishot accept dropped with connections it took but nobody read closes none of
    /// them: each is adopted (or still waits in the queue).
    #[test]
    fn a_dropped_multishot_accept_adopts_what_it_took() {
        let rt = runtime();
        let (lfd, addr) = listener();
        rt.block_on(async move {
            let _clients: Vec<TcpStream> = (1..=6).map(|n| client(addr, n)).collect();
            let mut shots = MultiAccept::arm(&lfd, 9, free_direct_slots() >= 6);
            let first = match shots.next().await {
                Some(Shot::Conn(c, _)) => c,
                Some(Shot::Unsupported) => {
                    eprintln!("skipped: this kernel has no multishot accept (Linux 5.19+)");
                    return;
                }
                _ => panic!("no connection"),
            };
            drop(shots);
            // The cancellation's completion ends what the dropped accept may still hand over.
            while accepts_pending() {
                sleep(Duration::from_millis(1)).await;
            }
            let adopted = take_adopted();
            assert!(adopted.iter().all(|(_, tag, _)| *tag == 9));
            let mut queued = 0;
            while let Ok(Some(_)) = accept_now(&lfd) {
                queued += 1;
            }
            assert_eq!(1 + adopted.len() + queued, 6, "a connection was lost");
            drop(first);
        });
    }
}
