//! Binary upgrade: the running process hands its listening sockets to a new ringlb process
//! over a Unix socket (SCM_RIGHTS). The sockets are never closed in between, so no SYN and no
//! connection waiting in an accept queue is lost: whichever process calls accept next gets it.
//!
//! Protocol on a `SOCK_SEQPACKET` pair (old → new, then new → old):
//! 1. old: `LISTENERS <addr> <addr> …` with one fd per address as ancillary data;
//!    then, when the new process was started with [`STATE_ENV`] set, the server state as
//!    `STATE <bytes>` messages ending with `STATE-END` (a process that does not know of it
//!    never reads them);
//! 2. new: `READY` once its workers accept (or `FAILED <reason>`);
//! 3. old stops accepting, drains, exits.
#![allow(unsafe_code)]

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

/// Most listeners one handoff carries (one message).
const MAX_FDS: usize = 250;

/// A pair: the old process keeps the first end; the second is inherited by the new process.
pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((a, b))
}

/// Lets `fd` survive exec (the end handed to the new process).
pub fn inherit(fd: &OwnedFd) -> io::Result<()> {
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD)?;
    let mut f = nix::fcntl::FdFlag::from_bits_truncate(flags);
    f.remove(nix::fcntl::FdFlag::FD_CLOEXEC);
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(f))?;
    Ok(())
}

/// Takes ownership of an inherited handoff fd number (from `--takeover-fd`).
pub fn from_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    // Validate it is an open descriptor before owning it.
    // SAFETY: F_GETFD only queries flags; an invalid number fails with EBADF.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd number was passed by our parent for us alone and is open (checked above).
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let flags = nix::fcntl::fcntl(&owned, nix::fcntl::FcntlArg::F_GETFD)?;
    let mut f = nix::fcntl::FdFlag::from_bits_truncate(flags);
    f.insert(nix::fcntl::FdFlag::FD_CLOEXEC);
    nix::fcntl::fcntl(&owned, nix::fcntl::FcntlArg::F_SETFD(f))?;
    Ok(owned)
}

fn set_timeout(sock: &OwnedFd, t: Duration) -> io::Result<()> {
    let tv = nix::sys::time::TimeVal::new(t.as_secs() as i64, t.subsec_micros() as i64);
    setsockopt(sock, sockopt::ReceiveTimeout, &tv)?;
    Ok(())
}

/// Old side: sends the listening sockets, and the admin socket's listener if there is one.
pub fn send_listeners(
    sock: &OwnedFd,
    listeners: &[(SocketAddr, RawFd)],
    admin: Option<RawFd>,
) -> io::Result<()> {
    if listeners.len() + 1 > MAX_FDS {
        return Err(io::Error::other(format!(
            "too many listeners to hand over ({} > {MAX_FDS})",
            listeners.len()
        )));
    }
    let mut text = String::from("LISTENERS");
    for (a, _) in listeners {
        text.push(' ');
        text.push_str(&a.to_string());
    }
    let mut fds: Vec<RawFd> = listeners.iter().map(|(_, fd)| *fd).collect();
    if let Some(a) = admin {
        text.push_str(" admin");
        fds.push(a);
    }
    let iov = [IoSlice::new(text.as_bytes())];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None)?;
    Ok(())
}

/// What a new process receives: listening sockets by address, and the admin listener.
pub struct Inherited {
    pub listeners: Vec<(SocketAddr, OwnedFd)>,
    pub admin: Option<OwnedFd>,
}

/// New side: receives the listening sockets, waiting at most `timeout`.
pub fn recv_listeners(sock: &OwnedFd, timeout: Duration) -> io::Result<Inherited> {
    set_timeout(sock, timeout)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg_space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let (text, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = loop {
            match recvmsg::<()>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                // A signal for the process may land on this thread: not a reason to give up.
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other?,
            }
        };
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(v) = c {
                // SAFETY: SCM_RIGHTS hands us new descriptors that nothing else owns.
                fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        let n = msg.bytes;
        (
            String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned(),
            fds,
        )
    };
    let mut words = text.split_whitespace();
    if words.next() != Some("LISTENERS") {
        return Err(io::Error::other(format!(
            "unexpected handoff message {text:?}"
        )));
    }
    let mut addrs: Vec<SocketAddr> = Vec::new();
    let mut has_admin = false;
    for w in words {
        if w == "admin" {
            has_admin = true;
            continue;
        }
        let a = w
            .parse()
            .map_err(|_| io::Error::other(format!("bad address {w:?} in handoff")))?;
        addrs.push(a);
    }
    let mut fds = fds;
    if addrs.len() + usize::from(has_admin) != fds.len() {
        return Err(io::Error::other(format!(
            "handoff carried {} names but {} sockets",
            addrs.len() + usize::from(has_admin),
            fds.len()
        )));
    }
    let admin = if has_admin { fds.pop() } else { None };
    Ok(Inherited {
        listeners: addrs.into_iter().zip(fds).collect(),
        admin,
    })
}

/// Set in the environment of a new process to say that server state follows the listeners.
pub const STATE_ENV: &str = "RINGLB_HANDOFF_STATE";

/// Bytes of state per message (well below the socket's buffer).
const STATE_CHUNK: usize = 32 * 1024;

/// Old side: sends the server state (any length) after the listeners, waiting at most
/// `timeout` for the new process to take each part.
pub fn send_state(sock: &OwnedFd, state: &[u8], timeout: Duration) -> io::Result<()> {
    let tv = nix::sys::time::TimeVal::new(timeout.as_secs() as i64, timeout.subsec_micros() as i64);
    setsockopt(sock, sockopt::SendTimeout, &tv)?;
    for chunk in state.chunks(STATE_CHUNK) {
        let iov = [IoSlice::new(b"STATE "), IoSlice::new(chunk)];
        sendmsg::<()>(sock.as_raw_fd(), &iov, &[], MsgFlags::empty(), None)?;
    }
    let iov = [IoSlice::new(b"STATE-END")];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &[], MsgFlags::empty(), None)?;
    Ok(())
}

/// New side: receives the server state sent by [`send_state`], waiting at most `timeout` for
/// each part.
pub fn recv_state(sock: &OwnedFd, timeout: Duration) -> io::Result<Vec<u8>> {
    set_timeout(sock, timeout)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; STATE_CHUNK + 64];
    loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let n = loop {
            match recvmsg::<()>(sock.as_raw_fd(), &mut iov, None, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other?.bytes,
            }
        };
        let msg = buf.get(..n).unwrap_or(&[]);
        if msg == b"STATE-END" {
            return Ok(out);
        }
        match msg.strip_prefix(b"STATE ") {
            Some(part) => out.extend_from_slice(part),
            None if n == 0 => {
                return Err(io::Error::other("handoff closed before the state ended"))
            }
            None => return Err(io::Error::other("unexpected message in the state handoff")),
        }
    }
}

/// What the new process answers (step 2 of the protocol).
#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    /// `READY`: its workers accept.
    Ready,
    /// `FAILED <why>`: it could not start, and says why.
    Failed(String),
    /// It closed the socket without a word.
    Closed,
}

const READY: &str = "READY";
const FAILED: &str = "FAILED ";

/// The new process is ready (`READY`).
pub fn send_ready(sock: &OwnedFd) -> io::Result<()> {
    send_line(sock, READY)
}

/// The new process could not start (`FAILED <why>`).
pub fn send_failed(sock: &OwnedFd, why: &str) -> io::Result<()> {
    send_line(sock, &format!("{FAILED}{why}"))
}

fn send_line(sock: &OwnedFd, line: &str) -> io::Result<()> {
    let iov = [IoSlice::new(line.as_bytes())];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &[], MsgFlags::empty(), None)?;
    Ok(())
}

/// Waits for the new process's status. A line that is neither `READY` nor `FAILED …` is
/// taken as its reason for failing.
pub fn recv_status(sock: &OwnedFd, timeout: Duration) -> io::Result<Status> {
    let line = recv_line(sock, timeout)?;
    Ok(if line.is_empty() {
        Status::Closed
    } else if line == READY {
        Status::Ready
    } else {
        Status::Failed(match line.strip_prefix(FAILED) {
            Some(why) => why.to_owned(),
            None => line,
        })
    })
}

/// One status line; empty when the peer closed the socket.
fn recv_line(sock: &OwnedFd, timeout: Duration) -> io::Result<String> {
    set_timeout(sock, timeout)?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = loop {
        match recvmsg::<()>(sock.as_raw_fd(), &mut iov, None, MsgFlags::empty()) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other?,
        }
    };
    let n = msg.bytes;
    Ok(String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned())
}
