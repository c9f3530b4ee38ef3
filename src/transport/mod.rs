//! Transports: how a session's bytes move between ringlb and a peer.
//!
//! A session reads and writes through [`Transport`] and never asks which one it has. Plain TCP
//! ([`Conn`](crate::runtime::Conn), in `plain.rs`), TLS in user space and kTLS are implemented; the
//! others arrive beside them:
//! - **TLS in user space** (`tls.rs`): the `Conn` and rustls's unbuffered connection state.
//!   `recv` receives ciphertext into a provided buffer, has rustls decrypt it there and yields
//!   the plaintext as a [`Chunk::Heap`]; `send` encrypts into a heap buffer and sends that. No
//!   buffer stays with an idle connection. The handshake runs before the session starts, on
//!   the worker that accepted the connection.
//! - **TLS to servers** (`tls_client.rs`): rustls's client connection the same way, and
//!   [`ServerConn`], the server side of a session: plain or TLS, held by the upstream pool.
//! - **kTLS** (`ktls.rs`): after the handshake the record keys go to the kernel
//!   (`setsockopt(SOL_TLS)`), so the transport is a `Conn` again that only has to tell a
//!   non-application record (an alert) apart from data; an idle connection keeps no TLS state
//!   in ringlb. Where the kernel has no `tls` module, the session stays on rustls.
//! - **One HTTP/2 stream** (`proxy/h2/stream.rs`, as it converts heads): `recv` yields the
//!   request as an HTTP/1.1 head, then the stream's DATA payloads (flow control granted as the
//!   session consumes them); `send` turns the HTTP/1.1 response into HEADERS/DATA frames on the
//!   connection's writer; `shutdown_write` ends the stream with END_STREAM.
//! - **Prefixed** (`prefixed.rs`): a transport whose first bytes were read ahead (a plain
//!   listener telling the h2 preface from HTTP/1.1).
//!
//! May import `runtime`, `system` (kTLS socket options), `log` (event lines) and rustls.
//! Nothing here knows about HTTP heads or configs.
//!
//! Invariant: a future returned by `recv` may be dropped only when the session is about to
//! close (a dropped receive may have taken bytes with it); the sessions hold one receive in
//! flight across every other wait instead of cancelling it.

pub mod ktls;
mod plain;
pub mod prefixed;
pub mod tls;
pub mod tls_client;

use std::future::Future;
use std::io;

use crate::runtime::{IoBuf, PBuf};
pub use tls::TlsInfo;
pub use tls_client::ServerConn;

/// Bytes received or about to be sent: a provided receive buffer as the kernel filled it (no
/// copy), heap bytes (gathered heads, decrypted records), or a response built at compile time.
#[derive(Debug)]
pub enum Chunk {
    Pool(PBuf),
    Heap(Vec<u8>),
    Static(&'static [u8]),
}

impl Chunk {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Chunk::Pool(p) => p.as_slice(),
            Chunk::Heap(v) => v,
            Chunk::Static(s) => s,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

impl IoBuf for Chunk {
    fn io_ptr(&self) -> *const u8 {
        match self {
            Chunk::Pool(p) => p.io_ptr(),
            Chunk::Heap(v) => v.io_ptr(),
            Chunk::Static(s) => s.io_ptr(),
        }
    }
    fn io_len(&self) -> usize {
        match self {
            Chunk::Pool(p) => p.io_len(),
            Chunk::Heap(v) => v.io_len(),
            Chunk::Static(s) => s.io_len(),
        }
    }
}

/// A byte stream to one peer, as the sessions see it.
pub trait Transport {
    /// The next bytes from the peer; `Ok(None)` at its end of stream. Dropping the future
    /// before it completes may lose bytes: only a session about to close does that.
    fn recv(&self) -> impl Future<Output = io::Result<Option<Chunk>>>;

    /// Sends all of `buf` and hands it back (a heap buffer is reused for the next head).
    fn send(&self, buf: Chunk) -> impl Future<Output = (io::Result<()>, Chunk)>;

    /// Sends `head` then `body` as one write where the transport can, and hands both back.
    fn send_two(
        &self,
        head: Vec<u8>,
        body: Chunk,
    ) -> impl Future<Output = (io::Result<()>, Vec<u8>, Chunk)>;

    /// Sends all of `chunks` in order, as one write where the transport can (a vectored
    /// send; one TLS flush), and hands them back.
    fn send_gather(
        &self,
        chunks: Vec<Chunk>,
    ) -> impl Future<Output = (io::Result<()>, Vec<Chunk>)> {
        send_each(self, chunks)
    }

    /// Bytes received already that wait unread, without waiting for more (a relay sends
    /// them together); `None` when there are none, or where the transport cannot tell.
    fn recv_ready(&self) -> Option<Chunk> {
        None
    }

    /// Tells the peer nothing more will come (TCP FIN; TLS close_notify, then FIN; h2
    /// END_STREAM).
    fn shutdown_write(&self) -> impl Future<Output = io::Result<()>>;

    /// What TLS negotiated, when the bytes arrive over TLS (for `X-Forwarded-Proto`, routing
    /// on SNI and the access log); `None` for plain TCP.
    fn tls(&self) -> Option<&TlsInfo> {
        None
    }

    /// The bytes are one HTTP/2 stream (the access log shows `HTTP/2.0`).
    fn is_h2(&self) -> bool {
        false
    }

    /// The next send starts with a response head that the session parsed and wrote: `head`,
    /// its offsets into the bytes sent. A transport that turns response heads into something
    /// else (an h2 stream: HEADERS) uses it instead of parsing the bytes again.
    fn response_head(&self, _head: &crate::http::ResponseHead) {}
}

/// Chunks one gathered send takes at most (relays of responses, uploads and tunnels): 16 ×
/// 32 KiB receive buffers, 512 KiB.
pub const MAX_GATHER: usize = 16;

/// Sends `chunks` one after the other (a transport with no gathered write), handing them back.
pub async fn send_each<T: Transport + ?Sized>(
    t: &T,
    chunks: Vec<Chunk>,
) -> (io::Result<()>, Vec<Chunk>) {
    let mut back = Vec::with_capacity(chunks.len());
    let mut result = Ok(());
    for c in chunks {
        if result.is_ok() {
            let (r, c) = t.send(c).await;
            result = r;
            back.push(c);
        } else {
            back.push(c);
        }
    }
    (result, back)
}
