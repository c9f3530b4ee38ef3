//! The TCP session: pick a server, connect (with retries), then relay bytes both ways
//! (`tunnel.rs`) until both directions ended. A half-close is passed on: when one side stops
//! sending, the other side's socket is shut down for writing, and the opposite direction keeps
//! flowing.
//!
//! Inactivity: the session ends when neither direction moved for `timeout tunnel` where one
//! is written, else the longer of the frontend's `client` and the backend's `server` timeout
//! (`Timeouts::tcp_idle`).
//!
//! The session is one [`Exchange`]: counted and logged (tcplog) like an HTTP request, its
//! termination code derived the same way.

use std::time::{Duration, Instant};

use super::exchange::{Exchange, Outcome, Phase};
use super::upstream::{connect, Fail, Reuse, Want};
use super::{client_ip, tunnel, Accepted};
use crate::route::{NoHeaders, RequestView};
use crate::runtime;
use crate::snapshot::{FrontendRt, Snapshot};
use crate::transport::tls::{client_hello, Hello};
use crate::transport::{Chunk, TlsInfo, Transport};

/// Serves one client connection in TCP mode.
pub async fn serve<T: Transport>(accepted: Accepted, client: T) {
    let (local, peer) = (&accepted.local, accepted.peer);
    let snap = accepted.cell.load_full();
    let Some(fe) = accepted.frontend.resolve(&snap) else {
        return;
    };
    let mut x = Exchange::begin();
    // What a backend is chosen by: the client address, TLS, and (for TLS passed through) the
    // ClientHello, whose bytes then go to the server first.
    let mut peeked = Vec::new();
    let backend = if fe.routed {
        let hello = if fe.peek_hello {
            read_hello(&client, fe.timeouts.client, &mut peeked).await
        } else {
            None
        };
        let view = RequestView {
            method: b"",
            path: b"",
            host: None,
            src: client_ip(peer),
            headers: &NoHeaders,
            sni: client.tls().map(|t| t.sni.as_bytes()),
            hello_sni: hello.as_deref().map(str::as_bytes),
        };
        match fe.router.select(&view) {
            Ok(Some(&b)) => b,
            _ => fe.backend,
        }
    } else {
        fe.backend
    };
    x.backend = Some(backend);
    let want = Want {
        backend,
        client: client_ip(peer),
        addrs: accepted.client_addrs(),
        reuse: Reuse::Never,
        prefer: None,
        key: None,
    };
    let up = match connect(local, &snap, want).await {
        Ok(u) => u,
        // Nothing to answer in TCP mode: the client sees the connection close.
        Err(f) => {
            x.reach(f.phase());
            if f == Fail::ConnectFailed {
                x.retries = snap.backends.get(backend).map_or(0, |b| b.retries);
            }
            // TCP mode has no answer of its own.
            x.end_with(
                Outcome {
                    status: 0,
                    ..f.outcome(false)
                },
                None,
            );
            finish(&accepted, client.tls(), &snap, fe, &x);
            return;
        }
    };
    x.server = Some(up.server);
    x.tw = Some(up.waited);
    x.tc = Some(up.connecting);
    x.retries = up.retries;
    x.reach(Phase::Data);
    let server_timeout = snap
        .backends
        .get(backend)
        .map_or(Duration::ZERO, |b| b.timeouts.server);
    if !peeked.is_empty() {
        x.bytes_in += peeked.len() as u64;
        let sent = runtime::timeout(server_timeout, up.conn.send(Chunk::Heap(peeked))).await;
        if !matches!(sent, Ok((Ok(()), _))) {
            x.end_with(Outcome::server_error(0), None);
            finish(&accepted, client.tls(), &snap, fe, &x);
            return;
        }
    }
    let idle = match snap.backends.get(backend) {
        Some(be) => crate::config::Timeouts::tcp_idle(&fe.timeouts, &be.timeouts),
        None => fe.timeouts.client.max(server_timeout),
    };
    let meters = tunnel::Meters {
        frontend: &fe.state,
        server: x.target(&snap).1.map(|s| &*s.state),
    };
    let moved = tunnel::relay(&client, &up.conn, idle, meters).await;
    x.bytes_in += moved.up;
    x.bytes_out = moved.down;
    x.metered_in = moved.up;
    x.metered_out = moved.down;
    if let Some(o) = moved.end.outcome() {
        let srv = x.target(&snap).1;
        x.end_with(o, srv);
    }
    finish(&accepted, client.tls(), &snap, fe, &x);
}

/// The largest ClientHello read before giving up on routing by it (TLS records are at most
/// 16 KiB; a hello with post-quantum key shares is about 2 KiB).
const MAX_HELLO: usize = 16 * 1024 + 5;

/// Reads the start of a TLS connection into `peeked` until its ClientHello is complete, and
/// returns the server name it asks for. `None` when the client sent no name, something else
/// than TLS, more than [`MAX_HELLO`], or nothing within `limit`: the default route applies.
async fn read_hello(
    client: &impl Transport,
    limit: Duration,
    peeked: &mut Vec<u8>,
) -> Option<String> {
    let deadline = Instant::now() + limit;
    loop {
        match client_hello(peeked) {
            Hello::ServerName(name) => return name,
            Hello::NotTls => return None,
            Hello::Incomplete if peeked.len() > MAX_HELLO => return None,
            Hello::Incomplete => {}
        }
        match runtime::timeout_at(deadline, client.recv()).await {
            Ok(Ok(Some(chunk))) => peeked.extend_from_slice(chunk.as_slice()),
            _ => return None,
        }
    }
}

/// Counts the session (in the frontend, and in its client's tracking entry) and writes its
/// tcplog line if the frontend logs.
fn finish(
    accepted: &Accepted,
    tls: Option<&TlsInfo>,
    snap: &Snapshot,
    fe: &FrontendRt,
    x: &Exchange,
) {
    let local = &accepted.local;
    x.count(snap, fe);
    // The connection's bytes go into its client's rates when it ends.
    if let Some(t) = &accepted.track {
        t.exchange(0, (x.bytes_in, x.bytes_out));
    }
    if !fe.log {
        return;
    }
    let logger = local.logger.borrow().clone();
    if !logger.enabled() || (fe.dontlognull && x.bytes_out == 0 && x.server.is_some()) {
        return;
    }
    let mut rec = x.record(snap, fe, local, accepted.peer);
    rec.tls = tls.map(super::exchange::log_tls);
    logger.send(crate::log::format::tcplog(&rec, logger.anonymize));
}
