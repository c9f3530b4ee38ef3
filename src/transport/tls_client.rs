//! The server side of a session: a connection to a server, plain TCP or TLS (rustls's client
//! connection over the ring's receives and sends, as `tls.rs` does for clients).
//!
//! [`ServerConn`] is what the upstream pool holds and what the relays read and write. A pooled
//! connection keeps a raw receive in flight ([`ServerConn::recv_op`]: ciphertext for TLS);
//! the request that takes it hands that receive to [`ServerConn::recv_after`], which feeds it
//! through TLS when there is TLS. As in `tls.rs`, the rustls state is borrowed only between
//! awaits, so a receive and a send in flight at once (TCP mode) never clash.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use rustls::client::ClientConnection;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ConnectionCommon};

use super::{Chunk, Transport};
use crate::runtime::{self, Conn, Recv};

/// Why a TLS handshake with a server failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The server closed or the connection failed.
    Closed,
    /// No complete handshake before the connect deadline.
    Timeout,
    /// The server's certificate did not verify, or it broke the protocol.
    Tls(rustls::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Closed => write!(f, "closed by the server"),
            ConnectError::Timeout => write!(f, "timed out"),
            ConnectError::Tls(e) => write!(f, "{e}"),
        }
    }
}

/// A TLS connection to a server after its handshake.
pub struct TlsClientConn {
    conn: Conn,
    tls: RefCell<ClientConnection>,
}

/// A connection to a server: plain, or TLS in user space.
pub enum ServerConn {
    Plain(Conn),
    /// Boxed: the rustls state is about 2 KiB, and a plain connection should not carry its room.
    Tls(Box<TlsClientConn>),
}

/// Runs a client handshake on `conn` for server `name` until it completes or `deadline`
/// passes.
pub async fn connect(
    conn: Conn,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    deadline: Instant,
) -> Result<TlsClientConn, ConnectError> {
    let mut tls = ClientConnection::new(config, name).map_err(ConnectError::Tls)?;
    loop {
        if tls.wants_write() {
            let out = drain(&mut tls);
            match runtime::timeout_at(deadline, conn.send_all(out)).await {
                Ok((Ok(()), _)) => {}
                Ok(_) => return Err(ConnectError::Closed),
                Err(_) => return Err(ConnectError::Timeout),
            }
        }
        if !tls.is_handshaking() {
            break;
        }
        let buf = match runtime::timeout_at(deadline, conn.recv()).await {
            Ok(Ok(Some(b))) => b,
            Ok(_) => return Err(ConnectError::Closed),
            Err(_) => return Err(ConnectError::Timeout),
        };
        // Key exchange and certificate verification cost about as much as a server's
        // handshake: counted in the same per-iteration budget.
        runtime::heavy_step().await;
        let mut plain = Vec::new();
        if let Err(e) = absorb(&mut tls, buf.as_slice(), &mut plain) {
            // The alert rustls queued (bad certificate, …) goes out before the close.
            let alert = drain(&mut tls);
            if !alert.is_empty() {
                let _ = runtime::timeout_at(deadline, conn.send_all(alert)).await;
            }
            return Err(ConnectError::Tls(e));
        }
    }
    Ok(TlsClientConn {
        conn,
        tls: RefCell::new(tls),
    })
}

/// Everything rustls wants to send, as one buffer.
fn drain<D>(tls: &mut ConnectionCommon<D>) -> Vec<u8> {
    let mut out = Vec::new();
    while tls.wants_write() {
        if tls.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

/// Feeds received ciphertext to rustls, appending the application data it carried to `plain`;
/// `Ok(true)` when the server's close_notify came.
fn absorb<D>(
    tls: &mut ConnectionCommon<D>,
    mut input: &[u8],
    plain: &mut Vec<u8>,
) -> Result<bool, rustls::Error> {
    let mut closed = false;
    while !input.is_empty() {
        match tls.read_tls(&mut input) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(rustls::Error::General(e.to_string())),
        }
        let state = tls.process_new_packets()?;
        closed |= state.peer_has_closed();
        let n = state.plaintext_bytes_to_read();
        if n > 0 {
            let start = plain.len();
            plain.resize(start + n, 0);
            let got = tls.reader().read(plain.get_mut(start..).unwrap_or(&mut []));
            plain.truncate(start + got.unwrap_or(0));
        }
    }
    Ok(closed)
}

impl TlsClientConn {
    /// Plaintext rustls already holds.
    fn buffered(&self) -> io::Result<Option<Vec<u8>>> {
        let mut tls = self.tls.borrow_mut();
        let mut out = Vec::new();
        match tls.reader().read_to_end(&mut out) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok((!out.is_empty()).then_some(out))
    }

    async fn recv_plain(&self, mut pending: Option<Recv>) -> io::Result<Option<Chunk>> {
        if let Some(out) = self.buffered()? {
            return Ok(Some(Chunk::Heap(out)));
        }
        loop {
            let got = match pending.take() {
                Some(r) => r.await?,
                None => self.conn.recv().await?,
            };
            let Some(buf) = got else {
                return Ok(None);
            };
            let mut out = Vec::new();
            let closed = {
                let mut tls = self.tls.borrow_mut();
                absorb(&mut tls, buf.as_slice(), &mut out)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            };
            // Records without data (session tickets, key updates) are absorbed: wait for more.
            if !out.is_empty() {
                return Ok(Some(Chunk::Heap(out)));
            }
            if closed {
                return Ok(None);
            }
        }
    }

    /// Encrypts and sends `parts`, in as few sends as rustls's outgoing buffer allows (its
    /// limit, 64 KiB by default, stops a writer short of a large batch: what it refused goes
    /// in the next round).
    async fn send_plain(&self, parts: &[&[u8]]) -> io::Result<()> {
        let (mut part, mut at) = (0usize, 0usize);
        loop {
            let out = {
                let mut tls = self.tls.borrow_mut();
                while let Some(p) = parts.get(part) {
                    let rest = p.get(at..).unwrap_or(&[]);
                    let n = if rest.is_empty() {
                        0
                    } else {
                        tls.writer().write(rest)?
                    };
                    if n < rest.len() {
                        at += n;
                        break;
                    }
                    part += 1;
                    at = 0;
                }
                drain(&mut tls)
            };
            let done = part >= parts.len();
            if out.is_empty() && !done {
                return Err(io::Error::from(io::ErrorKind::WriteZero));
            }
            if !out.is_empty() {
                self.conn.send_all(out).await.0?;
            }
            if done {
                return Ok(());
            }
        }
    }
}

impl From<TlsClientConn> for ServerConn {
    fn from(c: TlsClientConn) -> ServerConn {
        ServerConn::Tls(Box::new(c))
    }
}

impl ServerConn {
    fn socket(&self) -> &Conn {
        match self {
            ServerConn::Plain(c) => c,
            ServerConn::Tls(t) => &t.conn,
        }
    }

    /// A raw receive on the socket (ciphertext for TLS), as an idle pooled connection keeps
    /// in flight; pass it to [`ServerConn::recv_after`] to read through it.
    pub fn recv_op(&self) -> Recv {
        self.socket().recv_op()
    }

    /// The next bytes from the server, starting with `pending` (a receive already in flight)
    /// when there is one; `Ok(None)` at its end of stream.
    pub async fn recv_after(&self, pending: Option<Recv>) -> io::Result<Option<Chunk>> {
        match self {
            ServerConn::Plain(c) => {
                let recv = pending.unwrap_or_else(|| c.recv_op());
                Ok(recv.await?.map(Chunk::Pool))
            }
            ServerConn::Tls(t) => t.recv_plain(pending).await,
        }
    }

    /// The connection speaks TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, ServerConn::Tls(_))
    }
}

impl Transport for ServerConn {
    fn recv(&self) -> impl std::future::Future<Output = io::Result<Option<Chunk>>> {
        self.recv_after(None)
    }

    async fn send(&self, buf: Chunk) -> (io::Result<()>, Chunk) {
        match self {
            ServerConn::Plain(c) => Transport::send(c, buf).await,
            ServerConn::Tls(t) => {
                let r = t.send_plain(&[buf.as_slice()]).await;
                (r, buf)
            }
        }
    }

    async fn send_two(&self, head: Vec<u8>, body: Chunk) -> (io::Result<()>, Vec<u8>, Chunk) {
        match self {
            ServerConn::Plain(c) => c.send_two(head, body).await,
            ServerConn::Tls(t) => {
                let r = t.send_plain(&[&head, body.as_slice()]).await;
                (r, head, body)
            }
        }
    }

    async fn send_gather(&self, chunks: Vec<Chunk>) -> (io::Result<()>, Vec<Chunk>) {
        match self {
            ServerConn::Plain(c) => Transport::send_gather(c, chunks).await,
            ServerConn::Tls(t) => {
                let parts: Vec<&[u8]> = chunks.iter().map(Chunk::as_slice).collect();
                let r = t.send_plain(&parts).await;
                (r, chunks)
            }
        }
    }

    /// Only a plain connection tells (a TLS one has its records to decrypt first).
    fn recv_ready(&self) -> Option<Chunk> {
        match self {
            ServerConn::Plain(c) => c.received().map(Chunk::Pool),
            ServerConn::Tls(_) => None,
        }
    }

    async fn shutdown_write(&self) -> io::Result<()> {
        match self {
            ServerConn::Plain(c) => c.shutdown_write().await,
            ServerConn::Tls(t) => {
                let out = {
                    let mut tls = t.tls.borrow_mut();
                    tls.send_close_notify();
                    drain(&mut tls)
                };
                let r = t.conn.send_all(out).await.0;
                t.conn.shutdown_write().await?;
                r
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Runtime, RuntimeOptions};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::time::Duration;

    /// A gathered send larger than rustls's outgoing buffer (64 KiB) goes out whole, in order,
    /// in several rounds: a relay may gather 16 deliveries of 32 KiB for a TLS server.
    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "the test's TLS server runs on a thread of its own; the handshake's deadline reads the clock"
    )]
    fn a_gathered_send_larger_than_the_tls_buffer_goes_out_whole() {
        let provider = crate::tls::provider();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["backend.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().clone();
        let server_cfg = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![der.clone()],
                PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client_cfg = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let total = 16 * 32 * 1024;
        let want: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let conn = rustls::ServerConnection::new(Arc::new(server_cfg)).unwrap();
            let mut s = rustls::StreamOwned::new(conn, sock);
            let mut got = vec![0u8; total];
            s.read_exact(&mut got).unwrap();
            got
        });
        let rt = Runtime::new(RuntimeOptions::small(16)).unwrap();
        let chunks: Vec<Chunk> = want
            .chunks(32 * 1024)
            .map(|c| Chunk::Heap(c.to_vec()))
            .collect();
        rt.block_on(async move {
            let conn = Conn::connect(addr).await.unwrap();
            let name = ServerName::try_from("backend.test").unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            let tls = match connect(conn, Arc::new(client_cfg), name, deadline).await {
                Ok(t) => t,
                Err(e) => panic!("handshake: {e}"),
            };
            let (r, back) = ServerConn::from(tls).send_gather(chunks).await;
            r.unwrap();
            assert_eq!(back.len(), 16, "every chunk comes back");
        });
        let got = server.join().unwrap();
        assert!(got == want, "bytes changed or out of order");
    }
}
