//! A socket as the ring names it: an ordinary file descriptor, or a direct descriptor (a slot
//! of the worker's fixed-file table, `IORING_FILE_INDEX_ALLOC`).
//!
//! An operation on a direct descriptor pays no file-table lookup and no reference count on the
//! file (which a multithreaded process pays on every ordinary descriptor), an accept into one
//! installs nothing in the process's descriptor table, and its close is an entry on the ring,
//! not a system call. What needs a real descriptor (kTLS's `setsockopt`, `getsockname`, the
//! listener hand-over) keeps ordinary ones: the worker decides per listener.
//!
//! Four bytes either way, so that an idle connection costs no more than before: a value ≥ 0 is
//! an owned file descriptor, a value < 0 is the direct descriptor `!value`.

use std::os::fd::{BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use super::executor::try_with_cx;

/// An owned socket: closing it is dropping it.
#[derive(Debug)]
pub(crate) struct Sock(i32);

/// How an entry names a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Os(RawFd),
    Direct(u32),
}

/// Builds an entry on `target`: `$f` is bound to `types::Fd` or `types::Fixed`.
macro_rules! on_target {
    ($target:expr, |$f:ident| $build:expr) => {
        match $target {
            $crate::runtime::sock::Target::Os(raw) => {
                let $f = io_uring::types::Fd(raw);
                $build
            }
            $crate::runtime::sock::Target::Direct(index) => {
                let $f = io_uring::types::Fixed(index);
                $build
            }
        }
    };
}
pub(crate) use on_target;

impl Sock {
    pub(crate) fn os(fd: OwnedFd) -> Sock {
        Sock(fd.into_raw_fd())
    }

    /// Takes ownership of the direct descriptor `index` (from a completed accept or socket).
    pub(crate) fn direct(index: u32) -> Sock {
        Sock(!(index.min(i32::MAX as u32) as i32))
    }

    pub(crate) fn target(&self) -> Target {
        if self.0 >= 0 {
            Target::Os(self.0)
        } else {
            Target::Direct(!self.0 as u32)
        }
    }

    /// The ordinary descriptor, if this is one.
    pub(crate) fn os_fd(&self) -> Option<BorrowedFd<'_>> {
        // SAFETY: a value ≥ 0 is a descriptor this Sock owns and keeps open while borrowed.
        (self.0 >= 0).then(|| unsafe { BorrowedFd::borrow_raw(self.0) })
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        match self.target() {
            // SAFETY: the descriptor is owned by this Sock and used by nothing else after it.
            Target::Os(fd) => drop(unsafe { OwnedFd::from_raw_fd(fd) }),
            // The close is queued on the ring; the slot is not reused before it has run, so no
            // later socket can be closed by mistake. Without a runtime (thread exit) the ring's
            // own close frees the table.
            Target::Direct(index) => try_with_cx(|cx| {
                if let Ok(mut d) = cx.driver.try_borrow_mut() {
                    d.close_direct(index);
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use super::super::executor::with_cx;
    use super::super::{take_adopted, timeout, Acceptor, Conn, Runtime, RuntimeOptions};

    fn runtime(opts: RuntimeOptions) -> Runtime {
        Runtime::new(RuntimeOptions {
            ring_entries: 64,
            buffers: 64,
            buffer_size: 4096,
            ..opts
        })
        .unwrap()
    }

    use crate::runtime::test_listener as listener;

    fn has_table() -> bool {
        let direct = with_cx(|c| c.driver.borrow().has_table());
        if !direct {
            eprintln!("skipped: this kernel has no sparse fixed-file table (Linux 5.19+)");
        }
        direct
    }

    /// Accepts one connection and echoes what it receives until end of stream.
    async fn echo_one(acc: &mut Acceptor, direct: bool) -> bool {
        let (conn, _) = acc.accept(direct).await.unwrap();
        let was_direct = conn.is_direct();
        while let Ok(Some(buf)) = conn.recv().await {
            let (r, _) = conn.send_all(buf).await;
            r.unwrap();
        }
        was_direct
    }

    /// Every combination of the levers serves the same bytes; with a table, accepted and
    /// connected sockets are direct descriptors, without one they are ordinary.
    #[test]
    fn every_lever_combination_round_trips() {
        for ring_fd in [true, false] {
            for fixed_files in [64, 0] {
                for loop_clock in [true, false] {
                    let rt = runtime(RuntimeOptions {
                        ring_fd,
                        fixed_files,
                        loop_clock,
                        ..RuntimeOptions::default()
                    });
                    let (lfd, addr) = listener();
                    let seen = std::rc::Rc::new(std::cell::Cell::new(None));
                    let s = seen.clone();
                    rt.block_on(async move {
                        assert_eq!(
                            with_cx(|c| c.driver.borrow().ring_registered()),
                            ring_fd,
                            "ring descriptor registered"
                        );
                        let _server = super::super::spawn(async move {
                            let mut acc = Acceptor::new(lfd, 0);
                            s.set(Some(echo_one(&mut acc, true).await));
                        });
                        let c = Conn::connect(addr).await.unwrap();
                        let table = with_cx(|c| c.driver.borrow().has_table());
                        assert_eq!(table, fixed_files > 0 && table, "no table without slots");
                        assert_eq!(c.is_direct(), table, "connected socket direct");
                        let (r, _) = c.send_all(b"lever".to_vec()).await;
                        r.unwrap();
                        let b = c.recv().await.unwrap().unwrap();
                        assert_eq!(b.as_slice(), b"lever");
                        drop(b);
                        c.shutdown_write().await.unwrap();
                        // The echo side reads end of stream, ends and closes: we read it too.
                        assert!(c.recv().await.unwrap().is_none());
                        assert_eq!(seen.get(), Some(table), "accepted socket direct");
                    });
                    drop(rt);
                }
            }
        }
    }

    /// Closing a direct descriptor frees its slot: more connections than slots, one after the
    /// other, all get one.
    #[test]
    fn closed_direct_descriptors_give_their_slots_back() {
        let rt = runtime(RuntimeOptions {
            fixed_files: 4,
            ..RuntimeOptions::default()
        });
        let (lfd, addr) = listener();
        rt.block_on(async move {
            if !has_table() {
                return;
            }
            let mut acc = Acceptor::new(lfd, 0);
            for i in 0..12 {
                let client = std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.write_all(b"x").unwrap();
                    let mut buf = [0u8; 1];
                    s.read_exact(&mut buf).unwrap();
                    buf
                });
                let (conn, peer) = acc.accept(true).await.unwrap();
                assert!(conn.is_direct(), "connection {i} got a direct descriptor");
                assert!(peer.is_some());
                let b = conn.recv().await.unwrap().unwrap();
                let (r, _) = conn.send_all(b.as_slice().to_vec()).await;
                r.unwrap();
                drop(b);
                drop(conn);
                assert_eq!(client.join().unwrap(), *b"x");
            }
        });
    }

    /// A full table does not refuse connections: they get ordinary descriptors.
    #[test]
    fn a_full_table_falls_back_to_ordinary_descriptors() {
        let rt = runtime(RuntimeOptions {
            fixed_files: 2,
            ..RuntimeOptions::default()
        });
        let (lfd, addr) = listener();
        rt.block_on(async move {
            if !has_table() {
                return;
            }
            let mut acc = Acceptor::new(lfd, 0);
            let clients: Vec<_> = (0..4)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            let mut conns = Vec::new();
            for _ in 0..4 {
                conns.push(acc.accept(true).await.unwrap().0);
            }
            let direct: Vec<bool> = conns.iter().map(|c| c.is_direct()).collect();
            assert_eq!(direct, vec![true, true, false, false]);
            // The ordinary ones work as well as the direct ones.
            for (c, mut s) in conns.iter().zip(clients) {
                let (r, _) = c.send_all(b"ok".to_vec()).await;
                r.unwrap();
                let mut buf = [0u8; 2];
                s.read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"ok");
            }
            // A connect with the table full is an ordinary socket too.
            let c = Conn::connect(addr).await.unwrap();
            assert!(!c.is_direct());
        });
    }

    /// An accept dropped while the kernel completes it hands its direct descriptor and the
    /// peer's address to the worker (`take_adopted`), not to nobody.
    #[test]
    fn a_dropped_direct_accept_is_adopted_with_its_peer() {
        let rt = runtime(RuntimeOptions::default());
        let (lfd, addr) = listener();
        rt.block_on(async move {
            if !has_table() {
                return;
            }
            // Waiting in the backlog: the accept completes as soon as it is submitted.
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            let mut acc = Acceptor::new(lfd, 7);
            let t = timeout(Duration::ZERO, acc.accept(true)).await;
            assert!(
                t.is_err(),
                "the accept was dropped before its answer was read"
            );
            super::super::sleep(Duration::from_millis(20)).await;
            let adopted = take_adopted();
            assert_eq!(adopted.len(), 1);
            let (conn, tag, peer) = adopted.into_iter().next().unwrap();
            assert_eq!(tag, 7);
            assert!(conn.is_direct());
            assert_eq!(peer, Some(client.local_addr().unwrap()));
            let (r, _) = conn.send_all(b"adopted".to_vec()).await;
            r.unwrap();
            let mut buf = [0u8; 7];
            client.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"adopted");
        });
    }
}
