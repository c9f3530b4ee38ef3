//! Per-worker keep-alive pool of idle upstream connections (plain or TLS), keyed by server
//! address and TLS settings — and, for a server sent PROXY protocol headers, by the client the
//! connection's header named: such a connection only ever carries requests of that client (as
//! HAProxy keeps them private).
//!
//! An idle connection keeps a receive in flight (holding no buffer): if the server closes it
//! or sends stray bytes, that receive completes and the connection is discarded instead of
//! being handed to a request. When a request takes the connection, the same receive becomes
//! the read of the response, so reuse costs no extra operation.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxBuildHasher;

use crate::proxy_protocol::{Addresses, Version};
use crate::runtime::Recv;
use crate::snapshot::ServerRt;
use crate::tls::ServerTlsRt;
use crate::transport::ServerConn;

/// Idle connections kept per server per worker; more are closed.
pub const MAX_IDLE_PER_SERVER: usize = 256;

/// Idle connections older than this are closed by the sweeper: servers commonly close idle
/// keep-alive connections after 5–75 s, and a connection they closed is a wasted attempt.
pub const MAX_IDLE_AGE: Duration = Duration::from_secs(4);

/// A non-idempotent request only takes a connection idle for less than this, so the race
/// with a server closing it at the same moment is unlikely (such a request is never replayed).
pub const FRESH_FOR_UNSAFE: Duration = Duration::from_millis(1500);

/// Which idle connections a request to a server may take: same address, and the same TLS
/// settings (the very config of this snapshot: after a reload a TLS server's pooled
/// connections are not reused, as their certificate was checked under the old settings).
#[derive(Clone)]
pub struct Key {
    addr: SocketAddr,
    tls: Option<Arc<ServerTlsRt>>,
    /// The PROXY header version the connection started with (the same server may be in two
    /// backends that differ in it).
    proxy: Option<Version>,
    /// The client named by the connection's PROXY header; `None` when the server is sent
    /// none (any request may take it).
    client: Option<Addresses>,
}

impl Key {
    /// Connections to `srv` for a request of `client` (both ends of its connection).
    pub fn of(srv: &ServerRt, client: Option<Addresses>) -> Key {
        Key {
            addr: srv.addr,
            tls: srv.tls.clone(),
            proxy: srv.send_proxy,
            client: srv.send_proxy.and(client),
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.addr == other.addr
            && self.proxy == other.proxy
            && self.client == other.client
            && match (&self.tls, &other.tls) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.addr.hash(h);
        self.tls.as_ref().map(Arc::as_ptr).hash(h);
        self.proxy.hash(h);
        self.client.hash(h);
    }
}

pub struct Idle {
    pub conn: ServerConn,
    pub probe: Recv,
    pub since: Instant,
}

#[derive(Default)]
pub struct Pool {
    /// Connections any request to their server may take (no client in the key). Hashed with
    /// FxHash (the `rustc-hash` crate): such a key is a server's address and settings from the
    /// config, which no client chooses, so it needs no defence against chosen collisions;
    /// SipHash on it was 0.4 % of a keep-alive request's CPU.
    idle: HashMap<Key, Vec<Idle>, FxBuildHasher>,
    /// Connections that carried a PROXY header naming a client: keyed by that client too,
    /// whose address and port the client picks, so hashed with the standard keyed SipHash.
    private: HashMap<Key, Vec<Idle>>,
    /// Idle connections held now (all servers).
    pub count: usize,
}

impl Pool {
    /// The most recently used live connection to `addr`; with `fresh` only one idle for less
    /// than that. Dead connections met on the way are closed.
    pub fn take(
        &mut self,
        key: &Key,
        now: Instant,
        fresh: Option<Duration>,
    ) -> Option<(ServerConn, Recv)> {
        let list = if key.client.is_some() {
            self.private.get_mut(key)?
        } else {
            self.idle.get_mut(key)?
        };
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

    pub fn put(&mut self, key: Key, conn: ServerConn, probe: Recv, now: Instant) {
        let list = if key.client.is_some() {
            self.private.entry(key).or_default()
        } else {
            self.idle.entry(key).or_default()
        };
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
        for list in self.idle.values_mut().chain(self.private.values_mut()) {
            list.retain(|i| !i.probe.is_done() && now.duration_since(i.since) <= MAX_IDLE_AGE);
            count += list.len();
        }
        self.idle.retain(|_, l| !l.is_empty());
        self.private.retain(|_, l| !l.is_empty());
        self.count = count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn key(addr: &str, client: Option<Addresses>) -> Key {
        Key {
            addr: addr.parse().unwrap(),
            tls: None,
            proxy: client.map(|_| Version::V2),
            client,
        }
    }

    /// Keys of different servers hash apart with the fast hasher, and equal keys alike.
    #[test]
    fn server_keys_hash_apart() {
        let b = FxBuildHasher;
        let mut seen = std::collections::HashSet::new();
        for port in 1..2000u16 {
            for ip in ["127.0.0.1", "10.0.0.2", "[::1]"] {
                let k = key(&format!("{ip}:{port}"), None);
                assert_eq!(b.hash_one(&k), b.hash_one(k.clone()));
                assert!(seen.insert(b.hash_one(&k)), "collision at {ip}:{port}");
            }
        }
        // The low bits (the table's index) spread too: 2000 ports of one address over 256
        // buckets (7.8 each on average) fill nearly all, none with more than four times that.
        let mut buckets = [0u32; 256];
        for port in 1..2000u16 {
            let h = b.hash_one(key(&format!("127.0.0.1:{port}"), None));
            buckets[(h & 255) as usize] += 1;
        }
        let empty = buckets.iter().filter(|&&n| n == 0).count();
        assert!(empty <= 3, "{empty} empty: {buckets:?}");
        assert!(buckets.iter().all(|&n| n <= 31), "{buckets:?}");
    }
}
