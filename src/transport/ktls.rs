//! kTLS: after the handshake, the record layer goes to the kernel (`setsockopt(SOL_TLS)`) and
//! the session relays with plain ring receives and sends; an idle connection keeps no TLS
//! state in ringlb.
//!
//! [`offload`] decides per session: the worker has not found the kernel without the `tls`
//! upper-layer protocol, the suite is one the kernel runs, rustls has nothing left to send
//! and no partial record is held back (it could not be handed over). Then the `tls` ULP is
//! attached, the plaintext rustls already decrypted becomes the session's first input, the
//! traffic secrets are extracted and given to the kernel for both directions. The first attempt that finds no `tls`
//! module marks the worker thread as without kTLS: it does not try again.
//!
//! A receive on a kTLS socket that meets a record other than application data fails with
//! `EIO` and leaves the record queued; [`KtlsConn`] then reads it with its record type
//! (`TLS_GET_RECORD_TYPE`): a close_notify is the end of the peer's stream, other alerts end
//! the session, and a TLS 1.3 KeyUpdate (new keys the kernel would need from us) ends it too,
//! with a throttled log line. `shutdown_write` sends a close_notify (`TLS_SET_RECORD_TYPE`)
//! before the FIN.

#![allow(
    clippy::disallowed_methods,
    reason = "the throttled log line of an unfollowable record is timed"
)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ConnectionTrafficSecrets;

use super::tls::{Handover, TlsConn, TlsInfo};
use super::{Chunk, Transport};
use crate::runtime::{Conn, Recv};
use crate::system::ktls::{self as sys, Cipher, Control, Keys, Version};

/// How often a kind of record kTLS cannot follow is logged, per worker.
const UNFOLLOWED_LOG_EVERY: Duration = Duration::from_secs(60);

/// Whether this worker thread may use kTLS: unknown until a first attempt, then known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Unknown,
    Available,
    Unavailable,
}

thread_local! {
    static PROBE: Cell<Probe> = const { Cell::new(Probe::Unknown) };
    static UNFOLLOWED: RefCell<[crate::log::Throttle; 2]> = RefCell::new([
        crate::log::Throttle::new(UNFOLLOWED_LOG_EVERY),
        crate::log::Throttle::new(UNFOLLOWED_LOG_EVERY),
    ]);
}

/// A TLS session whose records the kernel encrypts and decrypts.
pub struct KtlsConn {
    conn: Conn,
    info: TlsInfo,
    /// Plaintext rustls decrypted before the hand-over (request bytes that came with the
    /// client's Finished): the first receive yields it.
    early: Cell<Option<Vec<u8>>>,
}

/// What became of a TLS session after its handshake.
#[allow(
    clippy::large_enum_variant,
    reason = "made once per session and taken apart at once; boxing would cost an allocation"
)]
pub enum Offload {
    /// The kernel runs the record layer.
    Kernel(KtlsConn),
    /// rustls keeps it: no kTLS on this worker, or not for this session.
    User(TlsConn),
    /// The hand-over failed after the keys left rustls: the connection cannot go on.
    Failed(io::Error),
}

/// The kernel's name for the AEAD of a suite (by its IANA name), if the kernel runs it.
fn cipher_of(name: &str) -> Option<Cipher> {
    if name.contains("AES_128_GCM") {
        Some(Cipher::Aes128Gcm)
    } else if name.contains("AES_256_GCM") {
        Some(Cipher::Aes256Gcm)
    } else if name.contains("CHACHA20_POLY1305") {
        Some(Cipher::Chacha20Poly1305)
    } else {
        None
    }
}

fn version_of(info: &TlsInfo) -> Option<Version> {
    match info.version {
        "TLSv1.3" => Some(Version::Tls13),
        "TLSv1.2" => Some(Version::Tls12),
        _ => None,
    }
}

/// The kernel's key structure for one direction of extracted secrets.
pub fn crypto_info(
    version: Version,
    seq: u64,
    secrets: &ConnectionTrafficSecrets,
) -> io::Result<nix::sys::socket::sockopt::TlsCryptoInfo> {
    let (cipher, key, iv) = match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (Cipher::Aes128Gcm, key, iv),
        ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (Cipher::Aes256Gcm, key, iv),
        ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
            (Cipher::Chacha20Poly1305, key, iv)
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "cipher suite without kTLS support",
            ))
        }
    };
    sys::crypto_info(&Keys {
        version,
        cipher,
        key: key.as_ref(),
        iv: iv.as_ref(),
        seq,
    })
}

/// Hands the record layer of a finished handshake to the kernel where it can take it.
pub fn offload(tls: TlsConn) -> Offload {
    if PROBE.get() == Probe::Unavailable {
        return Offload::User(tls);
    }
    let version = version_of(tls.info());
    if version.is_none() || cipher_of(tls.info().cipher).is_none() || !tls.can_hand_over() {
        return Offload::User(tls);
    }
    if let Err(e) = tls.conn().os_fd().and_then(sys::attach) {
        if sys::unavailable(&e) {
            PROBE.set(Probe::Unavailable);
            crate::log::event(format_args!(
                "kernel TLS is not available (setsockopt TCP_ULP \"tls\": {e}); this worker \
                 keeps TLS records in user space (load the kernel module: modprobe tls)"
            ));
        }
        // Another error (the client already left): rustls carries on, the session sees it.
        return Offload::User(tls);
    }
    PROBE.set(Probe::Available);
    let Some(version) = version else {
        return Offload::Failed(io::Error::other("TLS version unknown"));
    };
    let Handover {
        conn,
        info,
        early,
        secrets,
    } = match tls.hand_over() {
        Ok(h) => h,
        Err(e) => return Offload::Failed(io::Error::other(format!("extracting secrets: {e}"))),
    };
    let set = crypto_info(version, secrets.tx.0, &secrets.tx.1)
        .and_then(|tx| sys::set_tx(conn.os_fd()?, &tx))
        .and_then(|()| crypto_info(version, secrets.rx.0, &secrets.rx.1))
        .and_then(|rx| sys::set_rx(conn.os_fd()?, &rx));
    if let Err(e) = set {
        return Offload::Failed(e);
    }
    Offload::Kernel(KtlsConn {
        conn,
        info,
        early: Cell::new((!early.is_empty()).then_some(early)),
    })
}

impl KtlsConn {
    /// What the record that stopped a receive means for the session.
    fn control(&self, err: io::Error) -> io::Result<Option<Chunk>> {
        let control = match self.conn.os_fd() {
            Ok(fd) => sys::read_control(fd),
            Err(_) => Control::Other,
        };
        match control {
            Control::CloseNotify => Ok(None),
            Control::Alert(_, what) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("TLS alert {what} from the client"),
            )),
            Control::KeyUpdate => {
                unfollowed(0, "a client updated its TLS 1.3 keys (KeyUpdate), which kernel TLS here cannot follow: connection closed");
                Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "TLS KeyUpdate on a kTLS connection",
                ))
            }
            Control::Handshake(t) => {
                unfollowed(1, format_args!("a client sent a TLS handshake message (type {t}) after the handshake on a kTLS connection: connection closed"));
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "TLS handshake message after the handshake",
                ))
            }
            Control::Other => Err(err),
        }
    }
}

/// Logs, throttled per worker and cause, a record kTLS could not follow.
fn unfollowed(cause: usize, text: impl std::fmt::Display) {
    UNFOLLOWED.with_borrow_mut(|t| {
        if let Some(t) = t.get_mut(cause) {
            t.event(std::time::Instant::now(), text);
        }
    });
}

/// A receive on a kTLS connection: the plaintext decrypted before the hand-over first, then
/// provided buffers as the kernel fills them with decrypted data.
pub struct KtlsRecv<'a> {
    early: Option<Vec<u8>>,
    recv: Option<Recv>,
    conn: &'a KtlsConn,
}

impl Future for KtlsRecv<'_> {
    type Output = io::Result<Option<Chunk>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(early) = self.early.take() {
            return Poll::Ready(Ok(Some(Chunk::Heap(early))));
        }
        let Some(recv) = self.recv.as_mut() else {
            return Poll::Ready(Err(io::Error::other("receive polled after completion")));
        };
        match Pin::new(recv).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(got) => {
                self.recv = None;
                Poll::Ready(match got {
                    Ok(b) => Ok(b.map(Chunk::Pool)),
                    Err(e) if e.raw_os_error() == Some(libc::EIO) => self.conn.control(e),
                    Err(e) => Err(e),
                })
            }
        }
    }
}

impl Transport for KtlsConn {
    fn recv(&self) -> impl Future<Output = io::Result<Option<Chunk>>> {
        let early = self.early.take();
        let recv = early.is_none().then(|| self.conn.recv_op());
        KtlsRecv {
            early,
            recv,
            conn: self,
        }
    }

    fn send(&self, buf: Chunk) -> impl Future<Output = (io::Result<()>, Chunk)> {
        self.conn.send_all(buf)
    }

    fn send_two(
        &self,
        head: Vec<u8>,
        body: Chunk,
    ) -> impl Future<Output = (io::Result<()>, Vec<u8>, Chunk)> {
        self.conn.send_two(head, body)
    }

    /// One vectored send: the kernel cuts the records.
    fn send_gather(
        &self,
        chunks: Vec<Chunk>,
    ) -> impl Future<Output = (io::Result<()>, Vec<Chunk>)> {
        self.conn.send_vectored(chunks)
    }

    async fn shutdown_write(&self) -> io::Result<()> {
        // Best effort: with a full send buffer the alert is skipped and the FIN alone ends
        // the stream (a truncation the client may report; nothing is sent after it anyway).
        let _ = self.conn.os_fd().and_then(sys::send_close_notify);
        self.conn.shutdown_write().await
    }

    fn tls(&self) -> Option<&TlsInfo> {
        Some(&self.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::sockopt::TlsCryptoInfo;
    use rustls::crypto::cipher::{AeadKey, Iv};

    #[test]
    fn suites_map_to_kernel_ciphers() {
        assert_eq!(
            cipher_of("TLS13_AES_128_GCM_SHA256"),
            Some(Cipher::Aes128Gcm)
        );
        assert_eq!(
            cipher_of("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
            Some(Cipher::Aes256Gcm)
        );
        assert_eq!(
            cipher_of("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
            Some(Cipher::Chacha20Poly1305)
        );
        assert_eq!(cipher_of("TLS_RSA_WITH_AES_128_CBC_SHA"), None);
    }

    #[test]
    fn extracted_secrets_become_the_kernel_structure() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let iv: [u8; 12] = std::array::from_fn(|i| 100 + i as u8);
        let secrets = ConnectionTrafficSecrets::Aes256Gcm {
            key: AeadKey::from(key),
            iv: Iv::new(iv),
        };
        let info = crypto_info(Version::Tls13, 2, &secrets).unwrap();
        let TlsCryptoInfo::Aes256Gcm(c) = info else {
            panic!("wrong structure: {info:?}");
        };
        assert_eq!(c.key, key);
        assert_eq!(c.salt, [100, 101, 102, 103]);
        assert_eq!(c.iv, [104, 105, 106, 107, 108, 109, 110, 111]);
        assert_eq!(c.rec_seq, [0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(c.info.version, 0x0304);

        let secrets = ConnectionTrafficSecrets::Chacha20Poly1305 {
            key: AeadKey::from(key),
            iv: Iv::new(iv),
        };
        let info = crypto_info(Version::Tls12, 1, &secrets).unwrap();
        let TlsCryptoInfo::Chacha20Poly1305(c) = info else {
            panic!("wrong structure: {info:?}");
        };
        assert_eq!(c.iv, iv);
        assert_eq!(c.info.version, 0x0303);
        assert_eq!(c.rec_seq, [0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn a_key_of_another_length_is_refused_not_truncated() {
        // rustls keeps AES-128 keys in a 32-byte buffer; `as_ref` is the key's own length.
        let key = AeadKey::from([5u8; 32]);
        let secrets = ConnectionTrafficSecrets::Aes128Gcm {
            key,
            iv: Iv::new([0; 12]),
        };
        // A 32-byte key is not an AES-128 key: refused, not truncated.
        assert!(crypto_info(Version::Tls13, 0, &secrets).is_err());
    }
}
