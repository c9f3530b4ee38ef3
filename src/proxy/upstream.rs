//! Getting a connection to a server: pick and queue (`queue`), reuse an idle pooled one or
//! connect, retrying failed connects on the same server (the last retry elsewhere with
//! `redispatch`).

use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::exchange::{Outcome, Phase};
use super::queue::{acquire, Choice, SlotGuard};
use super::{pool, Local};
use crate::runtime::{self, Conn, Recv};
use crate::snapshot::{ServerRt, Snapshot};
use crate::transport::{tls_client, ServerConn};

/// Why a request could not be served; each maps to a status, a log code and a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    /// No server up in the backend.
    NoServer,
    /// Every server stayed at maxconn until `timeout queue`.
    QueueTimeout,
    /// The queue was at its `maxqueue` (the backend's, or the pinned server's): 503 at once.
    QueueFull,
    /// Connecting failed on every attempt.
    ConnectFailed,
    /// The server did not answer within `timeout server`.
    ServerTimeout,
    /// The server sent something unparseable or ambiguous, or closed before answering.
    BadResponse,
}

impl Fail {
    pub fn status(self) -> u16 {
        match self {
            Fail::NoServer | Fail::QueueTimeout | Fail::QueueFull | Fail::ConnectFailed => 503,
            Fail::ServerTimeout => 504,
            Fail::BadResponse => 502,
        }
    }

    /// The phase a request that failed so had reached.
    pub fn phase(self) -> Phase {
        match self {
            Fail::QueueTimeout | Fail::QueueFull => Phase::Queue,
            Fail::NoServer | Fail::ConnectFailed => Phase::Connect,
            Fail::ServerTimeout | Fail::BadResponse => Phase::Headers,
        }
    }

    /// How the request ends; `linger` when the client may still be sending its body.
    pub fn outcome(self, linger: bool) -> Outcome {
        let o = match self {
            Fail::QueueTimeout | Fail::ServerTimeout => Outcome::server_timeout(self.status()),
            _ => Outcome::server_error(self.status()),
        };
        Outcome { linger, ..o }
    }
}

/// A connection to a server, fresh or from the pool.
pub struct Upstream {
    /// Time spent waiting for a server slot.
    pub waited: Duration,
    /// Time spent connecting (zero for a pooled connection).
    pub connecting: Duration,
    /// Connection attempts that failed before this one.
    pub retries: u32,
    pub conn: ServerConn,
    /// A receive already in flight (pooled connections keep one).
    pub pending: Option<Recv>,
    pub server: usize,
    /// The server slot, held while the request uses the server; its drop frees it.
    _slot: SlotGuard,
    pub reused: bool,
    /// Where the connection goes back to in the pool.
    pub key: pool::Key,
}

/// Gets a connection to a server of `backend`: picks, queues, reuses an idle one or connects,
/// retrying failed connects `retries` times (on another server with `redispatch`). `prefer`
/// is the server a persistence cookie names.
pub async fn connect(local: &Rc<Local>, snap: &Snapshot, want: Want) -> Result<Upstream, Fail> {
    let Some(be) = snap.backends.get(want.backend) else {
        return Err(Fail::NoServer);
    };
    // A persistence cookie names a server: used while it can take the request, else the
    // balancer picks another one (and the cookie is set again).
    let mut choice = Choice {
        pin: want.prefer,
        exclude: None,
    };
    let mut attempt = 0u32;
    let mut waited = Duration::ZERO;
    loop {
        let queued_at = runtime::now();
        let (server, slot) = acquire(local, snap, want, choice).await?;
        waited += runtime::now().saturating_duration_since(queued_at);
        let Some(srv) = be.servers.get(server) else {
            return Err(Fail::NoServer);
        };
        let key = pool::Key::of(srv, want.addrs);
        if want.reuse != Reuse::Never {
            let fresh = if want.reuse == Reuse::FreshOnly {
                Some(pool::FRESH_FOR_UNSAFE)
            } else {
                None
            };
            let got = local.pool.borrow_mut().take(&key, runtime::now(), fresh);
            if let Some((conn, probe)) = got {
                return Ok(Upstream {
                    waited,
                    connecting: Duration::ZERO,
                    retries: attempt,
                    conn,
                    pending: Some(probe),
                    server,
                    _slot: slot,
                    reused: true,
                    key,
                });
            }
        }
        let connect_at = runtime::now();
        let deadline = connect_at + be.timeouts.connect;
        // Boxed: opening a connection (and a TLS handshake) needs far more room than taking
        // a pooled one, and every request's future would otherwise carry that room.
        let opened = Box::pin(runtime::timeout_at(
            deadline,
            open(srv, want.addrs, deadline, snap.global.tune.multishot_recv),
        ))
        .await
        .unwrap_or(Err(Open::Timeout));
        match opened {
            Ok(conn) => {
                return Ok(Upstream {
                    waited,
                    connecting: runtime::now().saturating_duration_since(connect_at),
                    retries: attempt,
                    conn,
                    pending: None,
                    server,
                    _slot: slot,
                    reused: false,
                    key,
                })
            }
            Err(e) => {
                if let Open::Tls(why) = &e {
                    local.server_tls_failure(&be.name, &srv.name, why);
                }
                srv.state.connect_errors.fetch_add(1, Ordering::Relaxed);
                crate::health::passive_failure(be, srv);
                drop(slot);
                attempt += 1;
                if attempt > be.retries {
                    return Err(Fail::ConnectFailed);
                }
                srv.state.retries.fetch_add(1, Ordering::Relaxed);
                // Retries stay on the server the balancer chose (re-picking would move them
                // anyway with round robin); only the last one may go elsewhere, with redispatch.
                if be.redispatch && attempt == be.retries {
                    choice = Choice {
                        pin: None,
                        exclude: Some(server),
                    };
                    srv.state.redispatches.fetch_add(1, Ordering::Relaxed);
                } else {
                    choice.pin = Some(server);
                }
                // A refused connect fails at once; a short pause keeps retries from being a
                // burst against a server that is restarting.
                runtime::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// Why opening a connection to a server failed.
enum Open {
    /// TCP connect refused, reset or unreachable.
    Tcp,
    /// The connect timeout passed (TCP connect and TLS handshake together).
    Timeout,
    /// The TLS handshake failed (certificate not verified, protocol error, server closed).
    Tls(tls_client::ConnectError),
}

/// Connects to `srv`, writes its PROXY protocol header (naming `client`) when it is sent one,
/// then runs the TLS handshake when the server speaks TLS; the connect timeout covers all
/// (as HAProxy counts the handshake in the connect time). With `multishot`, the connection
/// reads through one multishot receive for its whole life (`tune_multishot_recv`).
async fn open(
    srv: &ServerRt,
    client: Option<crate::proxy_protocol::Addresses>,
    deadline: Instant,
    multishot: bool,
) -> Result<ServerConn, Open> {
    let conn = Conn::connect(srv.addr).await.map_err(|_| Open::Tcp)?;
    conn.set_multishot(multishot);
    if let Some(version) = srv.send_proxy {
        let mut header = Vec::with_capacity(64);
        crate::proxy_protocol::encode(version, client, &mut header);
        conn.send_all(header).await.0.map_err(|_| Open::Tcp)?;
    }
    match &srv.tls {
        None => Ok(ServerConn::Plain(conn)),
        Some(t) => tls_client::connect(conn, t.config.clone(), t.name.clone(), deadline)
            .await
            .map(ServerConn::from)
            .map_err(|e| match e {
                tls_client::ConnectError::Timeout => Open::Timeout,
                e => Open::Tls(e),
            }),
    }
}

/// What a request asks of its backend.
#[derive(Clone, Copy, Debug)]
pub struct Want {
    pub backend: usize,
    /// The address balancing by source sees.
    pub client: IpAddr,
    /// Both ends of the client's connection, for servers sent a PROXY protocol header.
    pub addrs: Option<crate::proxy_protocol::Addresses>,
    pub reuse: Reuse,
    /// The server a persistence cookie names.
    pub prefer: Option<usize>,
    /// Hash of the request's balancing key (hashing backends; `None`: no key, or not one).
    pub key: Option<u64>,
}

/// Which pooled connections a request may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Any live idle connection (idempotent requests: replayed if it turns out dead).
    Any,
    /// Only a connection idle very briefly (requests that are never replayed).
    FreshOnly,
    /// Always a new connection.
    Never,
}
