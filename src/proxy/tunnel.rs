//! The two-way byte relay between a client transport and a server connection: a TCP-mode
//! session after its connect, and an HTTP connection after the server's `101 Switching
//! Protocols` (WebSocket).
//!
//! Both directions move at once, each holding at most one receive buffer. A half-close is
//! passed on: when one side stops sending, the other side's write half is shut
//! (`shutdown_write`: TCP FIN, TLS close_notify) and the opposite direction keeps flowing. The
//! relay ends when both directions ended, when either failed (the other is then cut), or when
//! neither moved for `idle`.
//!
//! It moves bytes, adds them to the frontend's and server's byte counters as they move (a
//! tunnel may last hours: the stats page shows its traffic meanwhile), and says how it ended
//! ([`End`]); the session owning it records the totals in its exchange (as already counted),
//! derives the termination code (`exchange::term_code`) and logs.

use std::cell::Cell;
use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::exchange::Outcome;
use crate::runtime;
use crate::state::{FrontendState, ServerState};
use crate::transport::{Transport, MAX_GATHER};

/// How a relay ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Both sides finished sending.
    Done,
    /// Neither direction moved for the inactivity limit.
    Idle,
    /// The client's connection failed (reset, or it stopped taking bytes).
    ClientFailed,
    /// The server's connection failed.
    ServerFailed,
}

impl End {
    /// The exchange's early end, if any (nothing is answered: bytes already flowed).
    pub fn outcome(self) -> Option<Outcome> {
        match self {
            End::Done => None,
            End::Idle => Some(Outcome {
                status: 0,
                ..Outcome::client_timeout(false)
            }),
            End::ClientFailed => Some(Outcome::client_closed()),
            End::ServerFailed => Some(Outcome::server_error(0)),
        }
    }
}

/// What a relay moved, and how it ended.
#[derive(Clone, Copy, Debug)]
pub struct Relayed {
    /// Bytes from the client to the server.
    pub up: u64,
    /// Bytes from the server to the client.
    pub down: u64,
    pub end: End,
}

/// The byte counters a relay adds to while it runs.
#[derive(Clone, Copy)]
pub struct Meters<'a> {
    pub frontend: &'a FrontendState,
    pub server: Option<&'a ServerState>,
}

/// Which way bytes move.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// What the two directions share.
struct Shared<'a> {
    /// When a byte last moved either way.
    last: Cell<Instant>,
    idle: Duration,
    up: Cell<u64>,
    down: Cell<u64>,
    meters: Meters<'a>,
}

impl Shared<'_> {
    fn moved(&self, way: Way, n: u64) {
        let (total, fe, srv) = match way {
            Way::Up => (
                &self.up,
                &self.meters.frontend.bytes_in,
                self.meters.server.map(|s| &s.bytes_in),
            ),
            Way::Down => (
                &self.down,
                &self.meters.frontend.bytes_out,
                self.meters.server.map(|s| &s.bytes_out),
            ),
        };
        total.set(total.get() + n);
        fe.add(n);
        if let Some(srv) = srv {
            srv.add(n);
        }
    }
}

/// How one direction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// The sender finished; the receiver's write half was shut.
    Eof,
    Idle,
    RecvFailed,
    SendFailed,
}

/// Relays `client` ↔ `server` until both directions end, one fails, or nothing moved for
/// `idle`, adding the bytes to `meters` as they move.
pub async fn relay(
    client: &impl Transport,
    server: &impl Transport,
    idle: Duration,
    meters: Meters<'_>,
) -> Relayed {
    let shared = Shared {
        last: Cell::new(Instant::now()),
        idle,
        up: Cell::new(0),
        down: Cell::new(0),
        meters,
    };
    let c2s = pump(client, server, &shared, Way::Up);
    let s2c = pump(server, client, &shared, Way::Down);
    let mut c2s = std::pin::pin!(c2s);
    let mut s2c = std::pin::pin!(s2c);
    let (mut a, mut b) = (None, None);
    // A direction that failed or idled ends the relay; the other one's receive is dropped
    // with the session, which is about to close (the transport invariant allows it).
    let end = std::future::poll_fn(|cx| {
        if a.is_none() {
            if let Poll::Ready(f) = c2s.as_mut().poll(cx) {
                a = Some(f);
            }
        }
        if b.is_none() {
            if let Poll::Ready(f) = s2c.as_mut().poll(cx) {
                b = Some(f);
            }
        }
        let end = match (a, b) {
            (Some(Flow::RecvFailed), _) | (_, Some(Flow::SendFailed)) => End::ClientFailed,
            (Some(Flow::SendFailed), _) | (_, Some(Flow::RecvFailed)) => End::ServerFailed,
            (Some(Flow::Idle), _) | (_, Some(Flow::Idle)) => End::Idle,
            (Some(Flow::Eof), Some(Flow::Eof)) => End::Done,
            _ => return Poll::Pending,
        };
        Poll::Ready(end)
    })
    .await;
    if end == End::Idle {
        let _ = client.shutdown_write().await;
        let _ = server.shutdown_write().await;
    }
    Relayed {
        up: shared.up.get(),
        down: shared.down.get(),
        end,
    }
}

/// Copies `from` → `to` until `from`'s end of stream (then shuts `to`'s write half), a
/// failure, or inactivity of both directions for `idle` (`last` is shared by the two). The
/// receive stays in flight while the other direction keeps the relay alive, so no byte is
/// lost to a cancellation.
async fn pump(from: &impl Transport, to: &impl Transport, shared: &Shared<'_>, way: Way) -> Flow {
    let (last, idle) = (&shared.last, shared.idle);
    loop {
        let recv = from.recv();
        let mut recv = std::pin::pin!(recv);
        let got = loop {
            match runtime::timeout_at(last.get() + idle, recv.as_mut()).await {
                Ok(got) => break got,
                // The other direction may have moved meanwhile: only give up when both idled.
                Err(_) if last.get() + idle > Instant::now() => {}
                Err(_) => return Flow::Idle,
            }
        };
        match got {
            Ok(Some(buf)) => {
                last.set(Instant::now());
                let mut n = buf.len() as u64;
                // What else arrived with it goes out in the same (vectored) send.
                let sent = match from.recv_ready() {
                    None => runtime::timeout(idle, to.send(buf)).await.map(|(r, _)| r),
                    Some(next) => {
                        let mut batch = vec![buf, next];
                        while batch.len() < MAX_GATHER {
                            match from.recv_ready() {
                                Some(c) => batch.push(c),
                                None => break,
                            }
                        }
                        n = batch.iter().map(|c| c.len() as u64).sum();
                        runtime::timeout(idle, to.send_gather(batch))
                            .await
                            .map(|(r, _)| r)
                    }
                };
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Flow::SendFailed,
                    Err(_) => return Flow::Idle,
                }
                shared.moved(way, n);
                last.set(Instant::now());
            }
            Ok(None) => {
                let _ = to.shutdown_write().await;
                return Flow::Eof;
            }
            Err(_) => return Flow::RecvFailed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::exchange::{term_code, Phase};

    #[test]
    fn ends_give_their_termination_codes() {
        let code = |e: End| term_code(e.outcome(), Phase::Data);
        assert_eq!(&code(End::Done), b"--");
        assert_eq!(&code(End::Idle), b"cD");
        assert_eq!(&code(End::ClientFailed), b"CD");
        assert_eq!(&code(End::ServerFailed), b"SD");
        assert!([End::Idle, End::ClientFailed, End::ServerFailed]
            .iter()
            .all(|e| e.outcome().is_some_and(|o| o.status == 0)));
    }
}
