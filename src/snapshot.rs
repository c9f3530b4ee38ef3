//! A validated [`Config`] compiled into what workers run: indexes instead of names, and the
//! shared per-server state (health verdict, requests in flight, counters) as atomics.
//!
//! A snapshot is immutable once published. Server state lives in `Arc<ServerState>` so that a
//! reload hands the same state to a server that stays (same backend, name and address): its
//! health, in-flight count and counters carry over.
//!
//! May import the pure rooms it compiles from: `config`, `route` and `stats` (the stats page's
//! users); today also `log`, for the counters the log writer shares. Imported by `health`, `proxy`,
//! `worker` and `lifecycle`.

#![allow(
    clippy::disallowed_methods,
    reason = "the mutable process state starts its clocks (process start, check report) when created"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Balance, Check, Config, ConnectionMode, Cookie, Mode, StatsPage, Timeouts};
use crate::route::Router;

/// Administrative state of a server, set over the admin socket or the stats page.
pub mod admin {
    /// Takes traffic as its health allows.
    pub const READY: u8 = 0;
    /// No new sessions except those a persistence cookie sends there.
    pub const DRAIN: u8 = 1;
    /// No traffic at all, health checks paused.
    pub const MAINT: u8 = 2;

    pub fn name(state: u8) -> &'static str {
        match state {
            DRAIN => "drain",
            MAINT => "maint",
            _ => "ready",
        }
    }
}

/// What the health checker last saw, for the stats page and logs (written a few times per
/// second at most, never on the request path).
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// "L7OK 200", "L7STS 500", "L4CON connection refused", …; empty before the first check.
    pub last: String,
    pub last_duration: Duration,
    pub failed_total: u64,
    pub downs: u64,
    /// When the health verdict last changed.
    pub since: Instant,
    pub downtime: Duration,
    /// Results toward a change of verdict (0 when stable).
    pub streak: u32,
}

impl Default for CheckReport {
    fn default() -> Self {
        CheckReport {
            last: String::new(),
            last_duration: Duration::ZERO,
            failed_total: 0,
            downs: 0,
            since: Instant::now(),
            downtime: Duration::ZERO,
            streak: 0,
        }
    }
}

/// Response counters by status class: 1xx, 2xx, 3xx, 4xx, 5xx, other.
#[derive(Debug, Default)]
pub struct Responses(pub [AtomicU64; 6]);

impl Responses {
    pub fn count(&self, status: u16) {
        let i = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        if let Some(c) = self.0.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self) -> [u64; 6] {
        let mut out = [0; 6];
        for (o, c) in out.iter_mut().zip(self.0.iter()) {
            *o = c.load(Ordering::Relaxed);
        }
        out
    }
}

/// State of one server shared by every worker (and kept across reloads).
#[derive(Debug)]
pub struct ServerState {
    /// Health verdict; `true` until a health check (or passive check) says otherwise.
    pub up: AtomicBool,
    /// [`admin`] state.
    pub admin: AtomicU8,
    /// Weight set at runtime; `u32::MAX` = the configured weight.
    pub weight_override: AtomicU32,
    /// Health checks paused by an operator (the verdict stays as it is).
    pub checks_disabled: AtomicBool,
    /// Requests (http) or connections (tcp) currently assigned: leastconn and maxconn read it.
    pub inflight: AtomicU32,
    /// Highest `inflight` seen.
    pub max_inflight: AtomicU32,
    /// Requests waiting for a slot on this server's backend, picked for it.
    pub queued: AtomicU32,
    /// Requests or connections sent to this server since start.
    pub total: AtomicU64,
    /// Failed connection attempts.
    pub connect_errors: AtomicU64,
    /// Responses that were bad or cut short.
    pub response_errors: AtomicU64,
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub responses: Responses,
    /// Consecutive connect failures or 5xx responses, for passive health checks.
    pub passive_errors: AtomicU32,
    pub check: Mutex<CheckReport>,
}

impl Default for ServerState {
    fn default() -> Self {
        ServerState {
            up: AtomicBool::new(true),
            admin: AtomicU8::new(admin::READY),
            weight_override: AtomicU32::new(u32::MAX),
            checks_disabled: AtomicBool::new(false),
            inflight: AtomicU32::new(0),
            max_inflight: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            total: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            response_errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            redispatches: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            responses: Responses::default(),
            passive_errors: AtomicU32::new(0),
            check: Mutex::new(CheckReport::default()),
        }
    }
}

impl ServerState {
    /// Takes a slot if the server is below `maxconn` (0 = unlimited).
    pub fn try_acquire(&self, maxconn: u32) -> bool {
        let got = if maxconn == 0 {
            self.inflight.fetch_add(1, Ordering::AcqRel) + 1
        } else {
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
                    Ok(_) => break cur + 1,
                    Err(now) => cur = now,
                }
            }
        };
        self.max_inflight.fetch_max(got, Ordering::Relaxed);
        true
    }

    pub fn release(&self) {
        self.inflight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether the balancer may send new (non-persistent) traffic here.
    pub fn usable(&self) -> bool {
        self.up.load(Ordering::Relaxed) && self.admin.load(Ordering::Relaxed) == admin::READY
    }

    /// Whether a request that must go here (persistence) may.
    pub fn reachable(&self) -> bool {
        self.up.load(Ordering::Relaxed) && self.admin.load(Ordering::Relaxed) != admin::MAINT
    }

    /// The weight in force: the runtime override or `configured`.
    pub fn weight(&self, configured: u32) -> u32 {
        match self.weight_override.load(Ordering::Relaxed) {
            u32::MAX => configured,
            w => w,
        }
    }
}

#[derive(Debug)]
pub struct ServerRt {
    pub name: String,
    pub addr: SocketAddr,
    pub weight: u32,
    pub maxconn: u32,
    pub backup: bool,
    /// Persistence cookie value naming this server.
    pub cookie: String,
    /// Active health check (backend settings with this server's overrides).
    pub check: Option<Check>,
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
    /// Consecutive connect failures or 5xx responses that mark a server down; 0 = off.
    pub passive_errors: u32,
    pub cookie: Option<Cookie>,
    /// Requests queued for a slot in this backend on every worker, by arrival ticket: the
    /// oldest one takes the next free slot, whichever worker it is on. Locked only while
    /// requests queue (all servers at maxconn), never on the normal request path.
    pub queue: Arc<BackendQueue>,
    pub servers: Vec<ServerRt>,
}

/// The cross-worker order of requests waiting for a server slot of one backend.
#[derive(Debug, Default)]
pub struct BackendQueue {
    /// Tickets are handed out in arrival order.
    pub next: AtomicU64,
    /// Queued tickets; the smallest is served first.
    pub waiting: Mutex<std::collections::BTreeSet<u64>>,
    /// `waiting` is non-empty (read without the lock on the request path).
    pub any: AtomicBool,
}

/// Name of the frontend the `[stats]` listener becomes.
pub const STATS_FRONTEND: &str = "stats";

/// Connections the `[stats]` listener accepts at once.
const STATS_MAXCONN: u32 = 64;

/// A stats page ready to serve: its settings and its parsed credentials.
#[derive(Debug)]
pub struct StatsRt {
    pub page: StatsPage,
    pub users: crate::stats::Users,
    /// Answer `/metrics` too (the dedicated listener).
    pub metrics_path: bool,
}

impl StatsRt {
    fn new(page: &StatsPage, metrics_path: bool) -> Result<StatsRt, String> {
        let entries: Vec<String> = page
            .users
            .iter()
            .map(|u| match &u.password {
                crate::config::Password::Plain(p) | crate::config::Password::Crypt(p) => {
                    format!("{}:{p}", u.name)
                }
            })
            .collect();
        let users =
            crate::stats::Users::parse(&entries).map_err(|e| format!("stats users: {e}"))?;
        Ok(StatsRt {
            page: page.clone(),
            users,
            metrics_path,
        })
    }
}

/// Process-wide figures shared by every thread (kept across reloads, not across upgrades).
#[derive(Debug)]
pub struct ProcessState {
    /// Client connections open in the whole process (global maxconn).
    pub conns: AtomicU32,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    pub workers: AtomicU32,
    pub started: Instant,
    pub log: Arc<crate::log::LogStats>,
    /// Totals at the last rate sample, for per-second rates on the stats page.
    pub rates: Mutex<RateSampler>,
}

impl Default for ProcessState {
    fn default() -> Self {
        ProcessState {
            conns: AtomicU32::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            workers: AtomicU32::new(0),
            started: Instant::now(),
            log: Arc::new(crate::log::LogStats::default()),
            rates: Mutex::new(RateSampler::default()),
        }
    }
}

/// Per-second rates from counter totals sampled when the stats are read: the rate is the
/// change since the previous sample at least a second older, so it reads as "requests in the
/// last second or so" without a timer anywhere.
#[derive(Debug, Default)]
pub struct RateSampler {
    prev: HashMap<String, (Instant, u64)>,
    last: HashMap<String, (Instant, u64)>,
}

impl RateSampler {
    /// The rate of counter `key`, whose total is now `total`.
    pub fn rate(&mut self, key: &str, total: u64, now: Instant) -> u64 {
        let last = self.last.get(key).copied();
        match last {
            Some((t, v)) if now.duration_since(t).as_secs_f64() >= 1.0 => {
                self.prev.insert(key.to_string(), (t, v));
                self.last.insert(key.to_string(), (now, total));
            }
            None => {
                self.last.insert(key.to_string(), (now, total));
            }
            _ => {}
        }
        match self.prev.get(key) {
            Some(&(t, v)) => {
                let secs = now.duration_since(t).as_secs_f64().max(1.0);
                (total.saturating_sub(v) as f64 / secs).round() as u64
            }
            None => 0,
        }
    }
}

/// Counters of one frontend shared by every worker (kept across reloads by name).
#[derive(Debug, Default)]
pub struct FrontendState {
    /// Client connections open now.
    pub conns: AtomicU32,
    /// Highest `conns` seen.
    pub max_conns: AtomicU32,
    pub total_conns: AtomicU64,
    pub requests: AtomicU64,
    /// Requests ringlb answered itself with a 4xx (bad framing, timeouts).
    pub req_errors: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub responses: Responses,
}

#[derive(Debug)]
pub struct FrontendRt {
    pub name: String,
    /// The name again, shared cheaply by every session of this frontend.
    pub key: Arc<str>,
    pub binds: Vec<SocketAddr>,
    pub mode: Mode,
    pub backend: usize,
    pub maxconn: u32,
    pub timeouts: Timeouts,
    pub forwardfor: bool,
    pub connection: ConnectionMode,
    /// Routes compiled to backend indexes; no match = `backend`.
    pub router: Router<usize>,
    /// Whether any route exists (skips building a request view when none does).
    pub routed: bool,
    pub stats: Option<Arc<StatsRt>>,
    /// Serves only the stats page (the `[stats]` listener); anything else gets 404.
    pub stats_only: bool,
    /// Access log lines for this frontend.
    pub log: bool,
    pub dontlognull: bool,
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
    /// Fails only on what validation should have caught (a route naming an unknown ACL).
    pub fn compile(config: Config, prev: Option<&Snapshot>) -> Result<Snapshot, String> {
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
                passive_errors: b.passive.errors,
                cookie: b.cookie.clone(),
                queue: Arc::default(),
                servers: b
                    .servers
                    .iter()
                    .map(|s| ServerRt {
                        name: s.name.clone(),
                        addr: s.address,
                        weight: s.weight,
                        maxconn: s.maxconn,
                        backup: s.backup,
                        cookie: s.cookie.clone(),
                        check: s.check.clone(),
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
        let mut frontends = Vec::with_capacity(config.frontends.len());
        for (i, f) in config.frontends.iter().enumerate() {
            for a in &f.binds {
                by_bind.insert(*a, i);
            }
            let rules = f
                .routes
                .iter()
                .filter_map(|r| backend_idx.get(r.backend.as_str()).map(|&b| (&r.guard, b)));
            let router =
                Router::new(&f.acls, rules).map_err(|e| format!("frontend {}: {e}", f.name))?;
            frontends.push(FrontendRt {
                router,
                routed: !f.routes.is_empty(),
                stats: match &f.stats {
                    Some(p) => Some(Arc::new(StatsRt::new(p, false)?)),
                    None => None,
                },
                stats_only: false,
                log: f.log,
                dontlognull: f.dontlognull,
                name: f.name.clone(),
                key: Arc::from(f.name.as_str()),
                binds: f.binds.clone(),
                mode: f.mode,
                backend: backend_idx
                    .get(f.default_backend.as_str())
                    .copied()
                    .ok_or_else(|| {
                        format!("frontend {}: no backend {}", f.name, f.default_backend)
                    })?,
                maxconn: f.maxconn,
                timeouts: f.timeouts,
                forwardfor: f.forwardfor,
                connection: f.connection,
                state: old_fronts
                    .get(f.name.as_str())
                    .map(|a| Arc::clone(a))
                    .unwrap_or_default(),
            });
        }
        if let Some(l) = &config.stats {
            by_bind.insert(l.bind, frontends.len());
            frontends.push(FrontendRt {
                router: Router::new(&[], std::iter::empty()).map_err(|e| e.to_string())?,
                routed: false,
                stats: Some(Arc::new(StatsRt::new(&l.page, true)?)),
                stats_only: true,
                log: false,
                dontlognull: false,
                name: STATS_FRONTEND.to_string(),
                key: Arc::from(STATS_FRONTEND),
                binds: vec![l.bind],
                mode: Mode::Http,
                backend: 0,
                maxconn: STATS_MAXCONN,
                timeouts: crate::config::defaults::TIMEOUTS,
                forwardfor: false,
                connection: ConnectionMode::KeepAlive,
                state: old_fronts
                    .get(STATS_FRONTEND)
                    .map(|a| Arc::clone(a))
                    .unwrap_or_default(),
            });
        }
        Ok(Snapshot {
            generation: prev.map(|p| p.generation + 1).unwrap_or(1),
            config,
            frontends,
            backends,
            by_bind,
        })
    }

    /// Every address any frontend listens on.
    pub fn bind_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.by_bind.keys().copied().collect();
        v.sort();
        v
    }
}
