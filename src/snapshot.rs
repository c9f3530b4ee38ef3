//! A validated [`Config`] compiled into what workers run: indexes instead of names, and the
//! shared per-server state (health verdict, requests in flight, counters) as atomics.
//!
//! A snapshot is immutable once published. Server state lives in `Arc<ServerState>` so that a
//! reload hands the same state to a server that stays (same backend, name and address): its
//! health, in-flight count and counters carry over.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::{Balance, Config, ConnectionMode, Mode, Timeouts};

/// State of one server shared by every worker (and kept across reloads).
#[derive(Debug)]
pub struct ServerState {
    /// Health verdict; `true` until a health check says otherwise.
    pub up: AtomicBool,
    /// Requests (http) or connections (tcp) currently assigned: leastconn and maxconn read it.
    pub inflight: AtomicU32,
    /// Requests or connections sent to this server since start.
    pub total: AtomicU64,
    /// Failed connection attempts.
    pub connect_errors: AtomicU64,
    /// Responses that were bad or cut short.
    pub response_errors: AtomicU64,
}

impl Default for ServerState {
    fn default() -> Self {
        ServerState {
            up: AtomicBool::new(true),
            inflight: AtomicU32::new(0),
            total: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            response_errors: AtomicU64::new(0),
        }
    }
}

impl ServerState {
    /// Takes a slot if the server is below `maxconn` (0 = unlimited).
    pub fn try_acquire(&self, maxconn: u32) -> bool {
        if maxconn == 0 {
            self.inflight.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        let mut cur = self.inflight.load(Ordering::Acquire);
        loop {
            if cur >= maxconn {
                return false;
            }
            match self.inflight.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    pub fn release(&self) {
        self.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
pub struct ServerRt {
    pub name: String,
    pub addr: SocketAddr,
    pub weight: u32,
    pub maxconn: u32,
    pub backup: bool,
    pub state: Arc<ServerState>,
}

#[derive(Debug)]
pub struct BackendRt {
    pub name: String,
    pub mode: Mode,
    pub balance: Balance,
    pub retries: u32,
    pub redispatch: bool,
    pub timeouts: Timeouts,
    pub servers: Vec<ServerRt>,
}

/// Counters of one frontend shared by every worker (kept across reloads by name).
#[derive(Debug, Default)]
pub struct FrontendState {
    /// Client connections open now.
    pub conns: AtomicU32,
    pub total_conns: AtomicU64,
    pub requests: AtomicU64,
}

#[derive(Debug)]
pub struct FrontendRt {
    pub name: String,
    pub binds: Vec<SocketAddr>,
    pub mode: Mode,
    pub backend: usize,
    pub maxconn: u32,
    pub timeouts: Timeouts,
    pub forwardfor: bool,
    pub connection: ConnectionMode,
    pub state: Arc<FrontendState>,
}

#[derive(Debug)]
pub struct Snapshot {
    /// Increases by one at every publish; workers rebuild their per-snapshot state on change.
    pub generation: u64,
    pub config: Config,
    pub frontends: Vec<FrontendRt>,
    pub backends: Vec<BackendRt>,
    /// Which frontend a listening address belongs to.
    pub by_bind: HashMap<SocketAddr, usize>,
}

impl Snapshot {
    /// Compiles `config`; state of servers and frontends that also exist in `prev` carries over.
    pub fn compile(config: Config, prev: Option<&Snapshot>) -> Snapshot {
        let mut old_servers: HashMap<(&str, &str, SocketAddr), &Arc<ServerState>> = HashMap::new();
        let mut old_fronts: HashMap<&str, &Arc<FrontendState>> = HashMap::new();
        if let Some(p) = prev {
            for b in &p.backends {
                for s in &b.servers {
                    old_servers.insert((b.name.as_str(), s.name.as_str(), s.addr), &s.state);
                }
            }
            for f in &p.frontends {
                old_fronts.insert(f.name.as_str(), &f.state);
            }
        }
        let backends: Vec<BackendRt> = config
            .backends
            .iter()
            .map(|b| BackendRt {
                name: b.name.clone(),
                mode: b.mode,
                balance: b.balance,
                retries: b.retries,
                redispatch: b.redispatch,
                timeouts: b.timeouts,
                servers: b
                    .servers
                    .iter()
                    .map(|s| ServerRt {
                        name: s.name.clone(),
                        addr: s.address,
                        weight: s.weight,
                        maxconn: s.maxconn,
                        backup: s.backup,
                        state: old_servers
                            .get(&(b.name.as_str(), s.name.as_str(), s.address))
                            .map(|a| Arc::clone(a))
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        let backend_idx: HashMap<&str, usize> = config
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.as_str(), i))
            .collect();
        let mut by_bind = HashMap::new();
        let frontends: Vec<FrontendRt> = config
            .frontends
            .iter()
            .enumerate()
            .map(|(i, f)| {
                for a in &f.binds {
                    by_bind.insert(*a, i);
                }
                FrontendRt {
                    name: f.name.clone(),
                    binds: f.binds.clone(),
                    mode: f.mode,
                    // Validation guarantees the name exists; 0 is never reached for a valid config.
                    backend: backend_idx
                        .get(f.default_backend.as_str())
                        .copied()
                        .unwrap_or(0),
                    maxconn: f.maxconn,
                    timeouts: f.timeouts,
                    forwardfor: f.forwardfor,
                    connection: f.connection,
                    state: old_fronts
                        .get(f.name.as_str())
                        .map(|a| Arc::clone(a))
                        .unwrap_or_default(),
                }
            })
            .collect();
        Snapshot {
            generation: prev.map(|p| p.generation + 1).unwrap_or(1),
            config,
            frontends,
            backends,
            by_bind,
        }
    }

    /// Every address any frontend listens on.
    pub fn bind_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.by_bind.keys().copied().collect();
        v.sort();
        v
    }
}
