//! TLS in user space: rustls's record layer over a plain connection. The handshake runs before
//! the session starts ([`handshake`]); afterwards `recv` decrypts what arrives and `send`
//! encrypts what leaves, so the session sees plaintext only.
//!
//! rustls is sans-IO, and here it is used through its unbuffered API: ringlb owns every byte
//! buffer. Records are decrypted where the kernel put them, in the provided receive buffer,
//! which goes back to the ring as soon as its plaintext is copied out; only the tail of a
//! record that has not fully arrived is kept (on the heap, freed once the record completes).
//! Outgoing records are encrypted straight into the buffer that is sent. So an idle
//! connection holds rustls's state (keys, sequence numbers) and nothing else: no receive or
//! send buffer (rustls's buffered API keeps a 4 KiB receive buffer per connection).
//!
//! The connection state is borrowed only between awaits, never across one, so a receive and a
//! send in flight at once (TCP mode relays both ways) never clash. Records rustls produces
//! while receiving (an alert, the answer to a key update, a refusal of renegotiation) are kept
//! in order and go out first with the next send; a fatal alert is sent at once.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, UnbufferedStatus, WriteTraffic,
};
use rustls::ServerConfig;

use super::{Chunk, Transport};
use crate::runtime::{self, Conn};

/// What a TLS client negotiated, for routing, headers and the access log.
#[derive(Debug, Clone, Default)]
pub struct TlsInfo {
    /// Server name indication, lowercase; empty when the client sent none.
    pub sni: String,
    /// "TLSv1.3" or "TLSv1.2".
    pub version: &'static str,
    /// The cipher suite's IANA name.
    pub cipher: &'static str,
    /// The ALPN protocol agreed on, if any.
    pub alpn: Option<Vec<u8>>,
    /// The session was resumed (ticket or cache): no full handshake.
    pub resumed: bool,
}

/// Why a handshake failed.
#[derive(Debug)]
pub enum HandshakeError {
    /// The client closed or the connection failed.
    Closed,
    /// No complete handshake within the deadline.
    Timeout,
    /// The client broke the protocol (not TLS, bad messages, no common parameters); an alert
    /// was sent where TLS allows.
    Protocol(rustls::Error),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Closed => write!(f, "closed by the client"),
            HandshakeError::Timeout => write!(f, "timed out"),
            HandshakeError::Protocol(e) => write!(f, "{e}"),
        }
    }
}

/// A TLS server connection after its handshake.
pub struct TlsConn {
    conn: Conn,
    /// Boxed: the sessions keep their transport by value (an async function's arguments are
    /// stored beside its locals), so a small `TlsConn` keeps their state small.
    st: Box<TlsState>,
}

/// The record layer's state and the bytes it holds between calls.
struct TlsState {
    tls: RefCell<UnbufferedServerConnection>,
    /// Ciphertext of a record whose end has not arrived yet. Empty, with no capacity, between
    /// records: that is what an idle connection holds.
    partial: RefCell<Vec<u8>>,
    /// Plaintext decrypted but not handed to the session yet (application data that came
    /// with the end of the handshake).
    ready: RefCell<Vec<u8>>,
    /// Records produced while receiving, to go out before the next ones sent.
    outbox: RefCell<Vec<u8>>,
    /// A send is in flight: records produced meanwhile wait in `outbox`, after it.
    sending: Cell<bool>,
    /// The peer's close_notify arrived: its stream has ended.
    peer_closed: Cell<bool>,
    info: TlsInfo,
}

/// A session leaving rustls for the kernel (kTLS): its socket, what was negotiated, the
/// plaintext rustls already decrypted, and the traffic secrets with their record sequence
/// numbers.
pub struct Handover {
    pub conn: Conn,
    pub info: TlsInfo,
    pub early: Vec<u8>,
    pub secrets: rustls::ExtractedSecrets,
}

/// What the first bytes of a connection say about TLS, for routing TLS that ringlb passes
/// through without terminating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// A ClientHello has started but is not complete yet.
    Incomplete,
    /// A complete ClientHello, with the server name it asks for (if any), lowercase.
    ServerName(Option<String>),
    /// Not a TLS ClientHello.
    NotTls,
}

/// Reads the ClientHello at the start of `bytes` (nothing is answered: the bytes go on to the
/// server as they are).
pub fn client_hello(bytes: &[u8]) -> Hello {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut rd = bytes;
    while !rd.is_empty() {
        match acceptor.read_tls(&mut rd) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return Hello::NotTls,
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let name = accepted
                    .client_hello()
                    .server_name()
                    .map(str::to_ascii_lowercase);
                return Hello::ServerName(name);
            }
            Ok(None) => {}
            Err(_) => return Hello::NotTls,
        }
    }
    Hello::Incomplete
}

/// Bound on the states one call walks through (each record, each encoded message and each
/// transmission is one); a peer cannot make a receive loop longer than its bytes allow, this
/// only guards against a state that never changes.
const MAX_STATES: usize = 4096;

/// Room for one record's header, content type, padding and tag (TLS 1.2 and 1.3 AEADs).
const RECORD_OVERHEAD: usize = 64;

/// Largest plaintext in one record.
const MAX_FRAGMENT: usize = 16384;

/// What processing received ciphertext came to.
#[derive(Debug, Default)]
struct Read {
    /// Bytes at the front of the input that were whole records, processed.
    consumed: usize,
    /// The peer's close_notify was among them.
    peer_closed: bool,
}

/// Processes the whole records at the front of `input` (decrypting in place): appends their
/// application data to `plain` and the records rustls wants sent (handshake messages, tickets,
/// alerts) to `out`. On an error, `out` ends with the alert rustls queued for it.
fn read_records(
    tls: &mut UnbufferedServerConnection,
    input: &mut [u8],
    plain: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<Read, rustls::Error> {
    let mut done = Read::default();
    for _ in 0..MAX_STATES {
        let rest = input.get_mut(done.consumed..).unwrap_or_default();
        let UnbufferedStatus { discard, state } = tls.process_tls_records(rest);
        let mut extra = 0;
        let more = match state {
            Ok(ConnectionState::ReadTraffic(mut r)) => {
                while let Some(rec) = r.next_record() {
                    let rec = rec?;
                    plain.extend_from_slice(rec.payload);
                    extra += rec.discard;
                }
                true
            }
            Ok(ConnectionState::ReadEarlyData(mut r)) => {
                while let Some(rec) = r.next_record() {
                    let rec = rec?;
                    plain.extend_from_slice(rec.payload);
                    extra += rec.discard;
                }
                true
            }
            Ok(ConnectionState::EncodeTlsData(mut e)) => {
                encode(&mut e, out)?;
                true
            }
            // The caller sends `out` as a whole, in order, before it encrypts anything else.
            Ok(ConnectionState::TransmitTlsData(t)) => {
                t.done();
                true
            }
            Ok(ConnectionState::PeerClosed) | Ok(ConnectionState::Closed) => {
                done.peer_closed = true;
                false
            }
            // Nothing more in `input` but an incomplete record, if anything.
            Ok(_) => false,
            Err(e) => {
                flush_alert(tls, out);
                return Err(e);
            }
        };
        done.consumed += discard + extra;
        if !more {
            return Ok(done);
        }
    }
    Err(rustls::Error::General("TLS state did not settle".into()))
}

/// After an error: the alert rustls queued for it, appended to `out`.
fn flush_alert(tls: &mut UnbufferedServerConnection, out: &mut Vec<u8>) {
    for _ in 0..MAX_STATES {
        match tls.process_tls_records(&mut []).state {
            Ok(ConnectionState::EncodeTlsData(mut e)) => {
                if encode(&mut e, out).is_err() {
                    return;
                }
            }
            Ok(ConnectionState::TransmitTlsData(t)) => t.done(),
            _ => return,
        }
    }
}

/// Appends one encoded handshake or alert message to `out`.
fn encode(
    e: &mut EncodeTlsData<'_, ServerConnectionData>,
    out: &mut Vec<u8>,
) -> Result<(), rustls::Error> {
    let start = out.len();
    let mut room = 1024;
    loop {
        out.resize(start + room, 0);
        let dst = out.get_mut(start..).unwrap_or_default();
        match e.encode(dst) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(EncodeError::InsufficientSize(s)) if s.required_size > room => {
                room = s.required_size;
            }
            Err(err) => {
                out.truncate(start);
                return Err(rustls::Error::General(err.to_string()));
            }
        }
    }
}

/// Appends the records of `data` (or a close_notify alert when `data` is `None`) to `out`.
fn encrypt(
    w: &mut WriteTraffic<'_, ServerConnectionData>,
    data: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let start = out.len();
    let len = data.map_or(0, <[u8]>::len);
    let mut room = len + (len / MAX_FRAGMENT + 1) * RECORD_OVERHEAD;
    loop {
        out.resize(start + room, 0);
        let dst = out.get_mut(start..).unwrap_or_default();
        let r = match data {
            Some(d) => w.encrypt(d, dst),
            None => w.queue_close_notify(dst),
        };
        match r {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(s)) if s.required_size > room => {
                room = s.required_size;
            }
            Err(e) => {
                out.truncate(start);
                return Err(io::Error::other(e.to_string()));
            }
        }
    }
}

/// Encrypts with `write` once rustls is ready to send application data, after any records it
/// has queued (they come first in `out`).
fn write_records(
    tls: &mut UnbufferedServerConnection,
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut WriteTraffic<'_, ServerConnectionData>, &mut Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    for _ in 0..MAX_STATES {
        match tls.process_tls_records(&mut []).state {
            Ok(ConnectionState::EncodeTlsData(mut e)) => {
                encode(&mut e, out).map_err(io::Error::other)?;
            }
            Ok(ConnectionState::TransmitTlsData(t)) => t.done(),
            Ok(ConnectionState::WriteTraffic(mut w)) => return write(&mut w, out),
            // Seen (and acted on) by the receiving side already.
            Ok(ConnectionState::PeerClosed) => {}
            Ok(ConnectionState::Closed) => return Err(io::ErrorKind::BrokenPipe.into()),
            Ok(other) => return Err(io::Error::other(format!("TLS cannot send now ({other:?})"))),
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }
    Err(io::Error::other("TLS state did not settle"))
}

/// Runs a server handshake on `conn` until it completes or `deadline` passes.
pub async fn handshake(
    conn: Conn,
    config: Arc<ServerConfig>,
    deadline: Instant,
) -> Result<TlsConn, HandshakeError> {
    let mut tls = UnbufferedServerConnection::new(config).map_err(HandshakeError::Protocol)?;
    // The handshake's ciphertext: a flight may span receives, and a message may span records.
    let mut incoming: Vec<u8> = Vec::new();
    let mut plain = Vec::new();
    // rustls's unbuffered server does not report the name the client asked for: it is read
    // from the ClientHello before rustls processes (and may rearrange) the bytes.
    let mut sni: Option<String> = None;
    let mut peer_closed = false;
    loop {
        if sni.is_none() && !incoming.is_empty() {
            match client_hello(&incoming) {
                Hello::Incomplete => {}
                Hello::ServerName(name) => sni = Some(name.unwrap_or_default()),
                Hello::NotTls => sni = Some(String::new()),
            }
        }
        let mut out = Vec::new();
        let read = read_records(&mut tls, &mut incoming, &mut plain, &mut out);
        if !out.is_empty() {
            match runtime::timeout_at(deadline, conn.send_all(out)).await {
                Ok((Ok(()), _)) => {}
                // The alert went out as far as the client listens; the error is what counts.
                Ok(_) if read.is_err() => {}
                Ok(_) => return Err(HandshakeError::Closed),
                Err(_) => return Err(HandshakeError::Timeout),
            }
        }
        let read = read.map_err(HandshakeError::Protocol)?;
        incoming.drain(..read.consumed.min(incoming.len()));
        if read.peer_closed {
            peer_closed = true;
        }
        if !tls.is_handshaking() {
            break;
        }
        if peer_closed {
            return Err(HandshakeError::Closed);
        }
        let buf = match runtime::timeout_at(deadline, conn.recv()).await {
            Ok(Ok(Some(b))) => b,
            Ok(_) => return Err(HandshakeError::Closed),
            Err(_) => return Err(HandshakeError::Timeout),
        };
        // Signing and key exchange cost 0.1–0.4 ms: a bounded number per loop iteration.
        runtime::heavy_step().await;
        incoming.extend_from_slice(buf.as_slice());
    }
    let info = TlsInfo {
        sni: sni.unwrap_or_default(),
        version: match tls.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "TLS",
        },
        cipher: tls
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("-"),
        alpn: tls.alpn_protocol().map(<[u8]>::to_vec),
        resumed: matches!(tls.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
    };
    Ok(TlsConn {
        conn,
        st: Box::new(TlsState {
            tls: RefCell::new(tls),
            partial: RefCell::new(shrunk(incoming)),
            ready: RefCell::new(shrunk(plain)),
            outbox: RefCell::new(Vec::new()),
            sending: Cell::new(false),
            peer_closed: Cell::new(peer_closed),
            info,
        }),
    })
}

/// `v` without spare capacity (none at all when empty): what stays with an idle connection.
fn shrunk(mut v: Vec<u8>) -> Vec<u8> {
    if v.is_empty() {
        Vec::new()
    } else {
        v.shrink_to_fit();
        v
    }
}

impl TlsConn {
    pub fn info(&self) -> &TlsInfo {
        &self.st.info
    }

    /// The socket, for the kernel's TLS socket options.
    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    /// The session can leave rustls without losing a byte: nothing is left to send and no
    /// partial record was received.
    pub fn can_hand_over(&self) -> bool {
        self.st.partial.borrow().is_empty()
            && self.st.outbox.borrow().is_empty()
            && !self.st.tls.borrow().wants_write()
    }

    /// Takes the session out of rustls (its config must allow secret extraction).
    pub fn hand_over(self) -> Result<Handover, rustls::Error> {
        let st = *self.st;
        #[allow(
            deprecated,
            reason = "the kernel takes over after the handshake, tickets sent; a key update \
                      it cannot follow ends the session (transport::ktls)"
        )]
        let secrets = st.tls.into_inner().dangerous_extract_secrets()?;
        Ok(Handover {
            conn: self.conn,
            info: st.info,
            early: st.ready.into_inner(),
            secrets,
        })
    }

    /// Decrypts `buf` (with the start of a record kept from before, if any); returns the
    /// plaintext, whether the peer closed, and records to send.
    fn absorb(&self, mut buf: runtime::PBuf) -> (Result<Read, rustls::Error>, Vec<u8>, Vec<u8>) {
        let mut plain = Vec::new();
        let mut out = Vec::new();
        let mut tls = self.st.tls.borrow_mut();
        let mut partial = self.st.partial.borrow_mut();
        let read = if partial.is_empty() {
            // The usual case: whole records, decrypted in the provided buffer.
            let read = read_records(&mut tls, buf.as_mut_slice(), &mut plain, &mut out);
            if let Ok(r) = &read {
                let rest = buf.as_slice().get(r.consumed..).unwrap_or_default();
                if !rest.is_empty() {
                    partial.extend_from_slice(rest);
                }
            }
            read
        } else {
            partial.extend_from_slice(buf.as_slice());
            drop(buf);
            let read = read_records(&mut tls, &mut partial, &mut plain, &mut out);
            if let Ok(r) = &read {
                let n = r.consumed.min(partial.len());
                partial.drain(..n);
                if partial.is_empty() {
                    *partial = Vec::new();
                }
            }
            read
        };
        (read, plain, out)
    }

    async fn recv_plain(&self) -> io::Result<Option<Chunk>> {
        let ready = std::mem::take(&mut *self.st.ready.borrow_mut());
        if !ready.is_empty() {
            return Ok(Some(Chunk::Heap(ready)));
        }
        loop {
            if self.st.peer_closed.get() {
                return Ok(None);
            }
            let Some(buf) = self.conn.recv().await? else {
                return Ok(None);
            };
            // Nothing but the receive is held across an await here: this future is part of
            // every session's state.
            let failed = {
                let (read, plain, out) = self.absorb(buf);
                let answered = !out.is_empty();
                if answered {
                    self.st.outbox.borrow_mut().extend_from_slice(&out);
                }
                match read {
                    Ok(read) => {
                        if read.peer_closed {
                            self.st.peer_closed.set(true);
                        }
                        if !plain.is_empty() {
                            return Ok(Some(Chunk::Heap(plain)));
                        }
                        if !answered || self.st.sending.get() {
                            continue;
                        }
                        None
                    }
                    Err(e) => Some(io::Error::new(io::ErrorKind::InvalidData, e)),
                }
            };
            let Some(failed) = failed else {
                // Records rustls answered with and no data to carry them (a refused TLS 1.2
                // renegotiation, the reply to a key update): the peer may be waiting for them,
                // so they go out now, not in front of the next response.
                let queued = std::mem::take(&mut *self.st.outbox.borrow_mut());
                self.flush(queued).await?;
                continue;
            };
            // The alert goes out now unless a send is in flight (it would come between that
            // send's records); the session closes either way. Boxed: a rare path should not
            // enlarge every session's receive.
            if !self.st.sending.get() {
                let alert = std::mem::take(&mut *self.st.outbox.borrow_mut());
                let _ = Box::pin(self.conn.send_all(alert)).await;
            }
            return Err(failed);
        }
    }

    /// Encrypts with `write`, after the records already queued: what goes out next.
    fn seal(
        &self,
        write: impl FnOnce(&mut WriteTraffic<'_, ServerConnectionData>, &mut Vec<u8>) -> io::Result<()>,
    ) -> io::Result<Vec<u8>> {
        let mut out = std::mem::take(&mut *self.st.outbox.borrow_mut());
        write_records(&mut self.st.tls.borrow_mut(), &mut out, write)?;
        Ok(out)
    }

    /// Encrypts `parts` as application data.
    fn seal_data(&self, parts: &[&[u8]]) -> io::Result<Vec<u8>> {
        self.seal(|w, out| {
            for p in parts.iter().filter(|p| !p.is_empty()) {
                encrypt(w, Some(p), out)?;
            }
            Ok(())
        })
    }

    /// Sends sealed records, then anything queued while they were in flight. Boxed, so that
    /// the futures the sessions hold stay small (they are part of every session's state).
    fn flush(&self, out: Vec<u8>) -> Pin<Box<dyn Future<Output = io::Result<()>> + '_>> {
        Box::pin(async move {
            self.st.sending.set(true);
            let mut r = self.conn.send_all(out).await.0;
            while r.is_ok() {
                let more = std::mem::take(&mut *self.st.outbox.borrow_mut());
                if more.is_empty() {
                    break;
                }
                r = self.conn.send_all(more).await.0;
            }
            self.st.sending.set(false);
            r
        })
    }
}

impl Transport for TlsConn {
    fn recv(&self) -> impl Future<Output = io::Result<Option<Chunk>>> {
        self.recv_plain()
    }

    async fn send(&self, buf: Chunk) -> (io::Result<()>, Chunk) {
        let r = match self.seal_data(&[buf.as_slice()]) {
            Ok(out) => self.flush(out).await,
            Err(e) => Err(e),
        };
        (r, buf)
    }

    async fn send_two(&self, head: Vec<u8>, body: Chunk) -> (io::Result<()>, Vec<u8>, Chunk) {
        let r = match self.seal_data(&[&head, body.as_slice()]) {
            Ok(out) => self.flush(out).await,
            Err(e) => Err(e),
        };
        (r, head, body)
    }

    /// All the chunks sealed into one buffer, sent in one flush.
    async fn send_gather(&self, chunks: Vec<Chunk>) -> (io::Result<()>, Vec<Chunk>) {
        let parts: Vec<&[u8]> = chunks.iter().map(Chunk::as_slice).collect();
        let r = match self.seal_data(&parts) {
            Ok(out) => self.flush(out).await,
            Err(e) => Err(e),
        };
        (r, chunks)
    }

    async fn shutdown_write(&self) -> io::Result<()> {
        let r = match self.seal(|w, out| encrypt(w, None, out)) {
            Ok(out) => self.flush(out).await,
            Err(e) => Err(e),
        };
        self.conn.shutdown_write().await?;
        r
    }

    fn tls(&self) -> Option<&TlsInfo> {
        Some(&self.st.info)
    }
}
