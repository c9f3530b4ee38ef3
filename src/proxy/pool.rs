//! Per-worker keep-alive pool of idle upstream connections, keyed by server address — and,
//! for a server sent PROXY protocol headers, by the client the connection's header named: such
//! a connection only ever carries requests of that client (as HAProxy keeps them private).
//!
//! An idle connection keeps a receive in flight (holding no buffer): if the server closes it
//! or sends stray bytes, that receive completes and the connection is discarded instead of
//! being handed to a request. When a request takes the connection, the same receive becomes
//! the read of the response, so reuse costs no extra operation.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::proxy_protocol::Addresses;
use crate::runtime::{Conn, Recv};

/// Which idle connections a request may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub server: SocketAddr,
    /// The PROXY header version the connection started with (the same server may be in two
    /// backends that differ in it).
    pub proxy: Option<crate::proxy_protocol::Version>,
    /// The client named by the connection's PROXY header; `None` when the server is sent
    /// none (any request may take it).
    pub client: Option<Addresses>,
}

/// Idle connections kept per server per worker; more are closed.
pub const MAX_IDLE_PER_SERVER: usize = 256;

/// Idle connections older than this are closed by the sweeper: servers commonly close idle
/// keep-alive connections after 5–75 s, and a connection they closed is a wasted attempt.
pub const MAX_IDLE_AGE: Duration = Duration::from_secs(4);

/// A non-idempotent request only takes a connection idle for less than this, so the race
/// with a server closing it at the same moment is unlikely (such a request is never replayed).
pub const FRESH_FOR_UNSAFE: Duration = Duration::from_millis(1500);

pub struct Idle {
    pub conn: Conn,
    pub probe: Recv,
    pub since: Instant,
}

#[derive(Default)]
pub struct Pool {
    idle: HashMap<Key, Vec<Idle>>,
    /// Idle connections held now (all servers).
    pub count: usize,
}

impl Pool {
    /// The most recently used live connection for `key`; with `fresh` only one idle for less
    /// than that. Dead connections met on the way are closed.
    pub fn take(
        &mut self,
        key: Key,
        now: Instant,
        fresh: Option<Duration>,
    ) -> Option<(Conn, Recv)> {
        let list = self.idle.get_mut(&key)?;
        while let Some(idle) = list.pop() {
            self.count -= 1;
            if idle.probe.is_done() || now.duration_since(idle.since) > MAX_IDLE_AGE {
                continue;
            }
            if let Some(f) = fresh {
                if now.duration_since(idle.since) > f {
                    // Too old for this request, maybe fine for the next idempotent one.
                    list.push(idle);
                    self.count += 1;
                    return None;
                }
            }
            return Some((idle.conn, idle.probe));
        }
        None
    }

    pub fn put(&mut self, key: Key, conn: Conn, probe: Recv, now: Instant) {
        let list = self.idle.entry(key).or_default();
        if list.len() >= MAX_IDLE_PER_SERVER {
            // Drop the oldest: the newest is the likeliest still open at the server.
            list.remove(0);
            self.count -= 1;
        }
        list.push(Idle {
            conn,
            probe,
            since: now,
        });
        self.count += 1;
    }

    /// Closes connections the server closed or that idled too long.
    pub fn sweep(&mut self, now: Instant) {
        let mut count = 0;
        for list in self.idle.values_mut() {
            list.retain(|i| !i.probe.is_done() && now.duration_since(i.since) <= MAX_IDLE_AGE);
            count += list.len();
        }
        self.idle.retain(|_, l| !l.is_empty());
        self.count = count;
    }
}
