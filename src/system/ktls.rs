//! Kernel TLS (kTLS): the socket options that hand a TLS session's record layer to the kernel,
//! and the two record operations plain receives and sends cannot do (reading which
//! non-application record stopped a receive; sending a close_notify alert).
//!
//! The structures are the kernel's uapi `linux/tls.h` ones as `libc` defines them; `nix`
//! sets the options. Knows nothing of rustls: the caller passes the negotiated version, the
//! AEAD, the key, the 12-byte nonce base (IV) and the record sequence number.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::sockopt::{TcpTlsRx, TcpTlsTx, TcpUlp, TlsCryptoInfo};
use nix::sys::socket::{setsockopt, ControlMessageOwned, MsgFlags, TlsGetRecordType};

/// TLS record content types (RFC 8446 §5.1).
const RECORD_ALERT: u8 = 21;
/// Alert level "warning" and description "close_notify" (RFC 8446 §6).
const CLOSE_NOTIFY: [u8; 2] = [1, 0];
/// Handshake message type of a TLS 1.3 KeyUpdate.
const KEY_UPDATE: u8 = 24;

/// The TLS version a session negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
}

/// The AEADs the kernel's `tls` module runs (of those ringlb offers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
}

/// One direction's keys, as the handshake left them.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    pub version: Version,
    pub cipher: Cipher,
    pub key: &'a [u8],
    /// The 12-byte per-direction nonce base: for AES-GCM the 4-byte salt followed by the
    /// 8-byte IV, for ChaCha20-Poly1305 the whole IV.
    pub iv: &'a [u8],
    /// The sequence number of the next record in this direction.
    pub seq: u64,
}

/// Copies `src` into `dst` when the lengths match; the caller's key material is otherwise
/// not what the cipher needs.
fn fill<const N: usize>(dst: &mut [u8; N], src: Option<&[u8]>) -> io::Result<()> {
    match src {
        Some(s) if s.len() == N => {
            dst.copy_from_slice(s);
            Ok(())
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "kTLS key material of the wrong length",
        )),
    }
}

/// The kernel's `tls12_crypto_info_*` structure for `keys`.
pub fn crypto_info(keys: &Keys<'_>) -> io::Result<TlsCryptoInfo> {
    let version = match keys.version {
        Version::Tls12 => libc::TLS_1_2_VERSION,
        Version::Tls13 => libc::TLS_1_3_VERSION,
    };
    let seq = keys.seq.to_be_bytes();
    let salt = keys.iv.get(..4);
    let iv = keys.iv.get(4..);
    Ok(match keys.cipher {
        Cipher::Aes128Gcm => {
            let mut c = libc::tls12_crypto_info_aes_gcm_128 {
                info: libc::tls_crypto_info {
                    version,
                    cipher_type: libc::TLS_CIPHER_AES_GCM_128,
                },
                iv: [0; 8],
                key: [0; 16],
                salt: [0; 4],
                rec_seq: seq,
            };
            fill(&mut c.key, Some(keys.key))?;
            fill(&mut c.salt, salt)?;
            fill(&mut c.iv, iv)?;
            TlsCryptoInfo::Aes128Gcm(c)
        }
        Cipher::Aes256Gcm => {
            let mut c = libc::tls12_crypto_info_aes_gcm_256 {
                info: libc::tls_crypto_info {
                    version,
                    cipher_type: libc::TLS_CIPHER_AES_GCM_256,
                },
                iv: [0; 8],
                key: [0; 32],
                salt: [0; 4],
                rec_seq: seq,
            };
            fill(&mut c.key, Some(keys.key))?;
            fill(&mut c.salt, salt)?;
            fill(&mut c.iv, iv)?;
            TlsCryptoInfo::Aes256Gcm(c)
        }
        Cipher::Chacha20Poly1305 => {
            let mut c = libc::tls12_crypto_info_chacha20_poly1305 {
                info: libc::tls_crypto_info {
                    version,
                    cipher_type: libc::TLS_CIPHER_CHACHA20_POLY1305,
                },
                iv: [0; 12],
                key: [0; 32],
                salt: [],
                rec_seq: seq,
            };
            fill(&mut c.key, Some(keys.key))?;
            fill(&mut c.iv, Some(keys.iv))?;
            TlsCryptoInfo::Chacha20Poly1305(c)
        }
    })
}

/// Whether an error from [`attach`] means this kernel has no `tls` upper-layer protocol
/// (module absent, not loadable by this process, or kTLS not built), rather than a problem
/// of one socket.
pub fn unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) | Some(libc::ENOPROTOOPT)
    )
}

/// Attaches the `tls` upper-layer protocol to an established TCP socket. Until keys are set
/// the socket passes bytes through unchanged.
pub fn attach(fd: impl AsFd) -> io::Result<()> {
    setsockopt(&fd, TcpUlp::default(), b"tls").map_err(io::Error::from)
}

/// Gives the kernel the keys of the direction we send in.
pub fn set_tx(fd: impl AsFd, info: &TlsCryptoInfo) -> io::Result<()> {
    setsockopt(&fd, TcpTlsTx, info).map_err(io::Error::from)
}

/// Gives the kernel the keys of the direction we receive in.
pub fn set_rx(fd: impl AsFd, info: &TlsCryptoInfo) -> io::Result<()> {
    setsockopt(&fd, TcpTlsRx, info).map_err(io::Error::from)
}

/// A record that is not application data, found where a plain receive failed with `EIO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// The peer's close_notify: the end of its stream.
    CloseNotify,
    /// Another alert (level, description): the peer ends the session with an error.
    Alert(u8, u8),
    /// A TLS 1.3 KeyUpdate: the peer's next records use keys the kernel does not have.
    KeyUpdate,
    /// Some other handshake message (type), e.g. a renegotiation attempt.
    Handshake(u8),
    /// Nothing is waiting (the receive failed for another reason) or a record of another
    /// type.
    Other,
}

/// Reads the non-application record at the head of a kTLS socket's receive queue (the one a
/// plain receive refused with `EIO`), without blocking.
pub fn read_control(fd: impl AsFd) -> Control {
    let fd = fd.as_fd().as_raw_fd();
    let mut body = [0u8; 64];
    let mut cmsg = nix::cmsg_space!(u8);
    let mut iov = [IoSliceMut::new(&mut body)];
    let (kind, n) = {
        let msg = match nix::sys::socket::recvmsg::<()>(
            fd,
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(m) => m,
            Err(_) => return Control::Other,
        };
        let kind = msg.cmsgs().ok().and_then(|mut it| {
            it.find_map(|c| match c {
                ControlMessageOwned::TlsGetRecordType(t) => Some(t),
                _ => None,
            })
        });
        (kind, msg.bytes)
    };
    let got = body.get(..n).unwrap_or(&[]);
    match kind {
        Some(TlsGetRecordType::Alert) => match got {
            [_, 0, ..] => Control::CloseNotify,
            [level, what, ..] => Control::Alert(*level, *what),
            _ => Control::Other,
        },
        Some(TlsGetRecordType::Handshake) => match got.first() {
            Some(&KEY_UPDATE) => Control::KeyUpdate,
            Some(&t) => Control::Handshake(t),
            None => Control::Other,
        },
        _ => Control::Other,
    }
}

/// Sends a close_notify alert through a kTLS socket (a record of type alert, encrypted by the
/// kernel), without blocking: when the send buffer is full it is skipped, the FIN that follows
/// still ends the stream.
pub fn send_close_notify(fd: impl AsFd) -> io::Result<()> {
    let fd = fd.as_fd().as_raw_fd();
    let iov = [IoSlice::new(&CLOSE_NOTIFY)];
    // `TLS_SET_RECORD_TYPE` has no `nix` control message: build it by hand.
    let space = {
        // SAFETY: CMSG_SPACE only computes a size.
        unsafe { libc::CMSG_SPACE(1) as usize }
    };
    // u64 elements keep the buffer aligned for `cmsghdr`.
    let mut buf = vec![0u64; space.div_ceil(8)];
    // SAFETY: msghdr is a plain C struct; all-zero is a valid value, the fields that matter
    // are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len();
    msg.msg_control = buf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: msg_control points at `space` zeroed, aligned bytes, room for one cmsghdr with
    // one byte of data; CMSG_FIRSTHDR returns its start (non-null: controllen ≥ the header).
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() {
            return Err(io::Error::other("no room for the control message"));
        }
        (*c).cmsg_level = libc::SOL_TLS;
        (*c).cmsg_type = libc::TLS_SET_RECORD_TYPE;
        (*c).cmsg_len = libc::CMSG_LEN(1) as _;
        *libc::CMSG_DATA(c) = RECORD_ALERT;
    }
    // SAFETY: msg points at the iovec array and the control buffer, both alive until the call
    // returns; sendmsg only reads them.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(cipher: Cipher, key: &[u8], version: Version) -> Keys<'_> {
        Keys {
            version,
            cipher,
            key,
            iv: &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            seq: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn aes_gcm_splits_salt_and_iv_and_numbers_records_big_endian() {
        let key = [7u8; 16];
        let info = crypto_info(&keys(Cipher::Aes128Gcm, &key, Version::Tls13)).unwrap();
        let TlsCryptoInfo::Aes128Gcm(c) = info else {
            panic!("wrong structure: {info:?}");
        };
        assert_eq!(c.info.version, 0x0304);
        assert_eq!(c.info.cipher_type, 51);
        assert_eq!(c.salt, [1, 2, 3, 4]);
        assert_eq!(c.iv, [5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(c.key, key);
        assert_eq!(c.rec_seq, [1, 2, 3, 4, 5, 6, 7, 8]);
        // The kernel checks the option's length against its own structure.
        assert_eq!(std::mem::size_of_val(&c), 4 + 8 + 16 + 4 + 8);
    }

    #[test]
    fn aes_256_and_tls12() {
        let key = [9u8; 32];
        let info = crypto_info(&keys(Cipher::Aes256Gcm, &key, Version::Tls12)).unwrap();
        let TlsCryptoInfo::Aes256Gcm(c) = info else {
            panic!("wrong structure: {info:?}");
        };
        assert_eq!(c.info.version, 0x0303);
        assert_eq!(c.info.cipher_type, 52);
        assert_eq!(c.key, key);
        assert_eq!(c.salt, [1, 2, 3, 4]);
        assert_eq!(std::mem::size_of_val(&c), 4 + 8 + 32 + 4 + 8);
    }

    #[test]
    fn chacha_takes_the_whole_iv() {
        let key = [3u8; 32];
        let info = crypto_info(&keys(Cipher::Chacha20Poly1305, &key, Version::Tls13)).unwrap();
        let TlsCryptoInfo::Chacha20Poly1305(c) = info else {
            panic!("wrong structure: {info:?}");
        };
        assert_eq!(c.info.cipher_type, 54);
        assert_eq!(c.iv, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(c.rec_seq, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(std::mem::size_of_val(&c), 4 + 12 + 32 + 8);
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let short = [0u8; 15];
        assert!(crypto_info(&keys(Cipher::Aes128Gcm, &short, Version::Tls13)).is_err());
        let mut k = keys(Cipher::Chacha20Poly1305, &[0u8; 32], Version::Tls13);
        k.iv = &[0u8; 8];
        assert!(crypto_info(&k).is_err());
    }

    #[test]
    fn a_socket_without_the_ulp_reports_it_clearly() {
        // On a kernel with the `tls` module this attaches; without it the error is one that
        // `unavailable` recognises. Either way it is a decision, never a panic.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s, _) = l.accept().unwrap();
        match attach(&c) {
            Ok(()) => {}
            Err(e) => assert!(unavailable(&e), "unexpected error: {e}"),
        }
    }
}
