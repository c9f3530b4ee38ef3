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

use super::{connect, Local, Reuse, UNKNOWN_CLIENT};
use crate::runtime::{self, Conn};
use crate::snapshot::Snapshot;

/// Serves one client connection in TCP mode.
pub async fn serve(
    local: Rc<Local>,
    cell: Arc<ArcSwap<Snapshot>>,
    frontend: String,
    client: Conn,
    peer: Option<SocketAddr>,
) {
    let snap = cell.load_full();
    let Some(fe) = snap.frontends.iter().find(|f| f.name == frontend) else {
        return;
    };
    let Some(be) = snap.backends.get(fe.backend) else {
        return;
    };
    let client_ip = peer.map(|p| p.ip()).unwrap_or(UNKNOWN_CLIENT);
    let up = match connect(&local, &snap, fe.backend, client_ip, Reuse::Never).await {
        Ok(u) => u,
        // Nothing to answer in TCP mode: the client sees the connection close.
        Err(_) => return,
    };
    let idle = fe.timeouts.client.max(be.timeouts.server);
    let last = Cell::new(Instant::now());
    let c2s = pump(&client, &up.conn, &last, idle);
    let s2c = pump(&up.conn, &client, &last, idle);
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
}

/// Copies `from` → `to` until end of stream (then half-closes `to`) or inactivity on both
/// directions for `idle`. The receive stays in flight while the other direction keeps the
/// session alive, so no byte is lost to a cancellation.
async fn pump(from: &Conn, to: &Conn, last: &Cell<Instant>, idle: Duration) {
    let mut recv = from.recv_op();
    loop {
        let deadline = last.get() + idle;
        match runtime::timeout_at(deadline, &mut recv).await {
            Ok(Ok(Some(buf))) => {
                last.set(Instant::now());
                let sent = runtime::timeout(idle, to.send_all(buf)).await;
                if !matches!(sent, Ok((Ok(()), _))) {
                    let _ = from.shutdown_write();
                    return;
                }
                last.set(Instant::now());
                recv = from.recv_op();
            }
            Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                runtime::sleep(Duration::from_millis(1)).await;
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
