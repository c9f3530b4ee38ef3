//! Several buffers in one vectored send (`sendmsg`): a relay's batch of received chunks
//! leaves in one operation instead of one send each.

use std::io;

use io_uring::opcode;

use super::driver::{check, Op, Orphan};
use super::net::{Conn, IoBuf};
use super::sock::on_target;

/// The buffers of a vectored send and the kernel structures pointing into them; boxed so the
/// pointers stay valid while the operation is in flight.
struct Gather<B> {
    msg: libc::msghdr,
    iov: Vec<libc::iovec>,
    bufs: Vec<B>,
}

/// Vectors for the bytes of `bufs` from offset `sent` on (over all of them, in order).
fn vectors<B: IoBuf>(bufs: &[B], sent: usize, iov: &mut Vec<libc::iovec>) {
    iov.clear();
    let mut skip = sent;
    for b in bufs {
        let len = b.io_len();
        if skip >= len {
            skip -= len;
            continue;
        }
        // SAFETY: skip < len, so the pointer stays inside the buffer.
        let base = unsafe { b.io_ptr().add(skip) };
        iov.push(libc::iovec {
            iov_base: base as *mut libc::c_void,
            iov_len: len - skip,
        });
        skip = 0;
    }
}

impl Conn {
    /// Sends all of `bufs`, in order, with one vectored send (another for what a short send
    /// left), and hands them back.
    pub async fn send_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<()>, Vec<B>) {
        let total: usize = bufs.iter().map(|b| b.io_len()).sum();
        let mut data = Box::new(Gather {
            // SAFETY: msghdr is a plain C struct; all-zero is a valid value, and the vector
            // pointer is filled in before each submission.
            msg: unsafe { std::mem::zeroed() },
            iov: Vec::with_capacity(bufs.len()),
            bufs,
        });
        let mut sent = 0usize;
        while sent < total {
            let Gather { iov, bufs, .. } = &mut *data;
            vectors(bufs, sent, iov);
            let target = self.target();
            // The vectors point into the buffers' own memory, which does not move with the
            // box (`IoBuf`); the header points into the box, which the operation owns.
            let op = Op::submit(data, Orphan::Nothing, |d| {
                d.msg.msg_iov = d.iov.as_mut_ptr();
                d.msg.msg_iovlen = d.iov.len();
                on_target!(target, |f| opcode::SendMsg::new(f, &d.msg)
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build())
            });
            let c = op.await;
            data = c.data;
            match check(c.res) {
                Ok(0) => return (Err(io::Error::from(io::ErrorKind::WriteZero)), data.bufs),
                Ok(n) => sent += n as usize,
                Err(e) => return (Err(e), data.bufs),
            }
        }
        (Ok(()), data.bufs)
    }
}

/// Whether relays send zero-copy on this worker (`[global] tune_zero_copy_send`): they then
/// send buffer by buffer, as `Conn::send_relay` decides for each.
pub fn zero_copy_relay() -> bool {
    super::executor::with_cx(|c| c.driver.borrow().zero_copy_min.is_some())
}
