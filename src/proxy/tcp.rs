//! The TCP session: pick a server, connect (with retries), then relay bytes both ways until
//! both directions ended. A half-close is passed on: when one side stops sending, the other
//! side's socket is shut down for writing, and the opposite direction keeps flowing.
//!
//! Inactivity: the session ends when neither direction moved for the longer of the frontend's
//! `client` and the backend's `server` timeout.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::{client_ip, connect, Local, Reuse};
use crate::log::format::Record;
use crate::runtime::{self, Conn};
use crate::snapshot::Snapshot;
use std::sync::atomic::Ordering;

/// Serves one client connection in TCP mode.
pub async fn serve(
    local: Rc<Local>,
    cell: Arc<ArcSwap<Snapshot>>,
    frontend: Arc<str>,
    client: Conn,
    peer: Option<SocketAddr>,
) {
    let snap = cell.load_full();
    let Some(fe) = snap.frontends.iter().find(|f| *f.name == *frontend) else {
        return;
    };
    let started = (Instant::now(), std::time::SystemTime::now());
    let Some(be) = snap.backends.get(fe.backend) else {
        return;
    };
    let client_ip = client_ip(peer);
    let mut rec = Record {
        client: peer,
        start: started.1,
        frontend: fe.name.clone(),
        backend: be.name.clone(),
        server: None,
        tq: None,
        tw: None,
        tc: None,
        tr: None,
        ta: Duration::ZERO,
        status: 0,
        bytes: 0,
        term: *b"--",
        actconn: 0,
        feconn: 0,
        beconn: 0,
        srvconn: 0,
        retries: 0,
        srv_queue: 0,
        backend_queue: 0,
        request_line: String::new(),
    };
    let up = match connect(&local, &snap, fe.backend, client_ip, Reuse::Never, None).await {
        Ok(u) => u,
        // Nothing to answer in TCP mode: the client sees the connection close.
        Err(f) => {
            rec.term = if f == super::Fail::QueueTimeout {
                *b"sQ"
            } else {
                *b"SC"
            };
            if f == super::Fail::ConnectFailed {
                rec.retries = be.retries;
            }
            finish(&local, fe, &mut rec, started.0);
            return;
        }
    };
    let srv = be.servers.get(up.server);
    rec.server = srv.map(|s| s.name.clone());
    rec.tw = Some(up.waited);
    rec.tc = Some(up.connecting);
    rec.retries = up.retries;
    let idle = fe.timeouts.client.max(be.timeouts.server);
    let last = Cell::new(Instant::now());
    let up_bytes = Cell::new(0u64);
    let down_bytes = Cell::new(0u64);
    let c2s = pump(&client, &up.conn, &last, idle, &up_bytes);
    let s2c = pump(&up.conn, &client, &last, idle, &down_bytes);
    let mut c2s = std::pin::pin!(c2s);
    let mut s2c = std::pin::pin!(s2c);
    let (mut a, mut b) = (false, false);
    std::future::poll_fn(|cx| {
        if !a {
            a = c2s.as_mut().poll(cx).is_ready();
        }
        if !b {
            b = s2c.as_mut().poll(cx).is_ready();
        }
        if a && b {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    rec.bytes = down_bytes.get();
    fe.state
        .bytes_in
        .fetch_add(up_bytes.get(), Ordering::Relaxed);
    fe.state
        .bytes_out
        .fetch_add(down_bytes.get(), Ordering::Relaxed);
    if let Some(srv) = srv {
        srv.state
            .bytes_in
            .fetch_add(up_bytes.get(), Ordering::Relaxed);
        srv.state
            .bytes_out
            .fetch_add(down_bytes.get(), Ordering::Relaxed);
    }
    finish(&local, fe, &mut rec, started.0);
}

/// Writes the session's tcplog line if the frontend logs.
fn finish(local: &Local, fe: &crate::snapshot::FrontendRt, rec: &mut Record, started: Instant) {
    if !fe.log {
        return;
    }
    let logger = local.logger.borrow().clone();
    if !logger.enabled() || (fe.dontlognull && rec.bytes == 0 && rec.server.is_some()) {
        return;
    }
    rec.ta = started.elapsed();
    rec.actconn = local.sessions.get() as u32;
    rec.feconn = fe.state.conns.load(Ordering::Relaxed);
    logger.send(crate::log::format::tcplog(rec, logger.anonymize));
}

/// Copies `from` → `to` until end of stream (then half-closes `to`) or inactivity on both
/// directions for `idle`. The receive stays in flight while the other direction keeps the
/// session alive, so no byte is lost to a cancellation.
async fn pump(from: &Conn, to: &Conn, last: &Cell<Instant>, idle: Duration, moved: &Cell<u64>) {
    let mut recv = from.recv_op();
    loop {
        let deadline = last.get() + idle;
        match runtime::timeout_at(deadline, &mut recv).await {
            Ok(Ok(Some(buf))) => {
                last.set(Instant::now());
                moved.set(moved.get() + buf.len() as u64);
                let sent = runtime::timeout(idle, to.send_all(buf)).await;
                if !matches!(sent, Ok((Ok(()), _))) {
                    let _ = from.shutdown_write();
                    return;
                }
                last.set(Instant::now());
                recv = from.recv_op();
            }
            Ok(Ok(None)) | Ok(Err(_)) => {
                let _ = to.shutdown_write();
                return;
            }
            Err(_) => {
                // The other direction may have moved meanwhile: only give up when both idled.
                if last.get() + idle > Instant::now() {
                    continue;
                }
                let _ = to.shutdown_write();
                let _ = from.shutdown_write();
                return;
            }
        }
    }
}
