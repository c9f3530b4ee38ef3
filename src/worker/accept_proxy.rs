//! Reading the PROXY protocol header a listener with `accept_proxy` expects before anything
//! else (before the TLS handshake, the first HTTP request, or the TCP relay).
//!
//! The bytes are looked at with `MSG_PEEK` and only those that belong to the header are
//! taken from the socket: whatever the client sent after it in the same segment (the request,
//! the ClientHello) stays there for the session, untouched.

use std::time::Instant;

use crate::proxy_protocol::{self, Header, Parse};
use crate::runtime::{self, Conn};

/// Why a connection was closed at its header.
#[derive(Debug)]
pub enum Failure {
    /// Malformed, too long, or something else than a PROXY header.
    Invalid(proxy_protocol::Error),
    /// Not complete within the deadline.
    Late,
    /// The peer closed (or reset) after sending part of a header.
    Cut,
    /// The peer closed without sending a byte: a TCP probe, not an error.
    Silent,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Invalid(e) => e.fmt(f),
            Failure::Late => f.write_str("PROXY header not complete in time"),
            Failure::Cut => f.write_str("connection closed inside the PROXY header"),
            Failure::Silent => f.write_str("connection closed before a PROXY header"),
        }
    }
}

/// Reads the header at the start of `conn`, by `deadline`.
pub async fn read(conn: &Conn, deadline: Instant) -> Result<Header, Failure> {
    let mut have: Vec<u8> = Vec::new();
    loop {
        let more = match proxy_protocol::parse(&have) {
            Ok(Parse::Complete { header, .. }) => return Ok(header),
            Ok(Parse::Incomplete { more }) => more,
            Err(e) => return Err(Failure::Invalid(e)),
        };
        let peeked = match runtime::timeout_at(deadline, conn.recv_owned(more, true)).await {
            Err(_) => return Err(Failure::Late),
            Ok(Ok(p)) if !p.is_empty() => p,
            Ok(_) if have.is_empty() => return Err(Failure::Silent),
            Ok(_) => return Err(Failure::Cut),
        };
        // How many of the peeked bytes are the header's: all of them while it is
        // incomplete; up to its end once it is complete. An invalid header is refused before
        // anything is taken.
        let mut seen = have.clone();
        seen.extend_from_slice(&peeked);
        let take = match proxy_protocol::parse(&seen) {
            Ok(Parse::Complete { len, .. }) => len.saturating_sub(have.len()),
            Ok(Parse::Incomplete { .. }) => peeked.len(),
            Err(e) => return Err(Failure::Invalid(e)),
        };
        let mut left = take;
        while left > 0 {
            // Peeked bytes are in the socket already: this receive does not wait.
            match runtime::timeout_at(deadline, conn.recv_owned(left, false)).await {
                Ok(Ok(got)) if !got.is_empty() => {
                    left = left.saturating_sub(got.len());
                    have.extend_from_slice(&got);
                }
                Err(_) => return Err(Failure::Late),
                Ok(_) => return Err(Failure::Cut),
            }
        }
    }
}
