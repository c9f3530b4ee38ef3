//! TLS in user space: rustls's record layer over a plain connection. The handshake runs before
//! the session starts ([`handshake`]); afterwards `recv` decrypts what arrives and `send`
//! encrypts what leaves, so the session sees plaintext only.
//!
//! rustls is sans-IO: ciphertext comes from the ring's receives and goes out through its
//! sends; the connection state is borrowed only between awaits, never across one, so a
//! receive and a send in flight at once (TCP mode relays both ways) never clash.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use rustls::{ServerConfig, ServerConnection};

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
    tls: RefCell<ServerConnection>,
    info: TlsInfo,
    /// The ciphertext read during the handshake ended at a record boundary (kTLS needs it).
    edge: bool,
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

/// Runs a server handshake on `conn` until it completes or `deadline` passes.
pub async fn handshake(
    conn: Conn,
    config: Arc<ServerConfig>,
    deadline: Instant,
) -> Result<TlsConn, HandshakeError> {
    let mut tls = ServerConnection::new(config).map_err(HandshakeError::Protocol)?;
    let mut edge = super::ktls::RecordEdge::default();
    loop {
        if tls.wants_write() {
            let out = drain(&mut tls);
            match runtime::timeout_at(deadline, conn.send_all(out)).await {
                Ok((Ok(()), _)) => {}
                Ok(_) => return Err(HandshakeError::Closed),
                Err(_) => return Err(HandshakeError::Timeout),
            }
        }
        if !tls.is_handshaking() {
            break;
        }
        let buf = match runtime::timeout_at(deadline, conn.recv()).await {
            Ok(Ok(Some(b))) => b,
            Ok(_) => return Err(HandshakeError::Closed),
            Err(_) => return Err(HandshakeError::Timeout),
        };
        edge.feed(buf.as_slice());
        // Signing and key exchange cost 0.1–0.4 ms: a bounded number per loop iteration.
        runtime::heavy_step().await;
        if let Err(e) = absorb(&mut tls, buf.as_slice(), None) {
            // The alert rustls queued goes out before the close, as far as the client listens.
            let alert = drain(&mut tls);
            if !alert.is_empty() {
                let _ = runtime::timeout_at(deadline, conn.send_all(alert)).await;
            }
            return Err(HandshakeError::Protocol(e));
        }
    }
    let info = TlsInfo {
        sni: tls.server_name().unwrap_or("").to_ascii_lowercase(),
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
        tls: RefCell::new(tls),
        info,
        edge: edge.at_edge(),
    })
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

/// Everything rustls wants to send, as one buffer.
fn drain(tls: &mut ServerConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while tls.wants_write() {
        if tls.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

/// Feeds received ciphertext to rustls, processing records as they complete; with `plain`,
/// appends the application data they carried.
fn absorb(
    tls: &mut ServerConnection,
    mut input: &[u8],
    mut plain: Option<&mut Vec<u8>>,
) -> Result<(), rustls::Error> {
    while !input.is_empty() {
        match tls.read_tls(&mut input) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(rustls::Error::General(e.to_string())),
        }
        let state = tls.process_new_packets()?;
        if let Some(out) = plain.as_deref_mut() {
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let start = out.len();
                out.resize(start + n, 0);
                let got = tls.reader().read(out.get_mut(start..).unwrap_or(&mut []));
                out.truncate(start + got.unwrap_or(0));
            }
        }
    }
    Ok(())
}

impl TlsConn {
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// The socket, for the kernel's TLS socket options.
    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    /// The session can leave rustls without losing a byte: nothing is left to send and no
    /// partial record was read.
    pub fn can_hand_over(&self) -> bool {
        self.edge && !self.tls.borrow().wants_write()
    }

    /// Takes the session out of rustls (its config must allow secret extraction).
    pub fn hand_over(self) -> Result<Handover, rustls::Error> {
        let early = self
            .buffered()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .unwrap_or_default();
        let secrets = self.tls.into_inner().dangerous_extract_secrets()?;
        Ok(Handover {
            conn: self.conn,
            info: self.info,
            early,
            secrets,
        })
    }

    /// Plaintext rustls already holds (application data that came with the handshake).
    fn buffered(&self) -> io::Result<Option<Vec<u8>>> {
        let mut tls = self.tls.borrow_mut();
        let mut out = Vec::new();
        match tls.reader().read_to_end(&mut out) {
            Ok(_) => {}
            // Nothing more for now; what was read is in `out`.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok((!out.is_empty()).then_some(out))
    }

    async fn recv_plain(&self) -> io::Result<Option<Chunk>> {
        if let Some(out) = self.buffered()? {
            return Ok(Some(Chunk::Heap(out)));
        }
        loop {
            let Some(buf) = self.conn.recv().await? else {
                return Ok(None);
            };
            let mut out = Vec::new();
            let closed = {
                let mut tls = self.tls.borrow_mut();
                absorb(&mut tls, buf.as_slice(), Some(&mut out))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                // The peer's close_notify: the end of its stream.
                tls.process_new_packets()
                    .map(|s| s.peer_has_closed())
                    .unwrap_or(true)
            };
            if !out.is_empty() {
                return Ok(Some(Chunk::Heap(out)));
            }
            if closed {
                return Ok(None);
            }
        }
    }

    async fn send_plain(&self, parts: &[&[u8]]) -> io::Result<()> {
        let out = {
            let mut tls = self.tls.borrow_mut();
            for p in parts {
                tls.writer().write_all(p)?;
            }
            drain(&mut tls)
        };
        self.conn.send_all(out).await.0
    }
}

impl Transport for TlsConn {
    fn recv(&self) -> impl std::future::Future<Output = io::Result<Option<Chunk>>> {
        self.recv_plain()
    }

    async fn send(&self, buf: Chunk) -> (io::Result<()>, Chunk) {
        let r = self.send_plain(&[buf.as_slice()]).await;
        (r, buf)
    }

    async fn send_two(&self, head: Vec<u8>, body: Chunk) -> (io::Result<()>, Vec<u8>, Chunk) {
        let r = self.send_plain(&[&head, body.as_slice()]).await;
        (r, head, body)
    }

    async fn shutdown_write(&self) -> io::Result<()> {
        let out = {
            let mut tls = self.tls.borrow_mut();
            tls.send_close_notify();
            drain(&mut tls)
        };
        let r = self.conn.send_all(out).await.0;
        self.conn.shutdown_write()?;
        r
    }

    fn tls(&self) -> Option<&TlsInfo> {
        Some(&self.info)
    }
}
