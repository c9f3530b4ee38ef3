//! A validated [`Config`] compiled into what workers run: indexes instead of names, routes
//! compiled to routers, stats credentials parsed, and every setting read from one place (the
//! `Config` itself is not kept, so a setting cannot be read two ways).
//!
//! A snapshot is immutable once published. The mutable state it points to lives in
//! `crate::state`: a server's `Arc<ServerState>` is handed to the same server (same backend,
//! name and address) in the next snapshot, a frontend's `Arc<FrontendState>` to the frontend
//! of the same name, so health, in-flight counts and counters carry over a reload.
//!
//! May import `config`, `track` (a frontend's tracking table, carried over a reload),
//! `route` (the compiled router), `rules` (compiled rule sets, error
//! pages), `stats` (parsed credentials, [`Users`]), `state`, `tls` (a frontend's server config
//! and the servers' client configs, built when the snapshot is) and `log` (a warning for TLS to
//! servers without verification).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    Balance, Check, Config, ConnectionMode, Cookie, Log, Mode, StatsPage, Timeouts, Workers,
};
use crate::config::{ErrorFile, RuleDef};
use crate::route::{Acl, Router};
use crate::rules::{Body, ErrorPage, ErrorPages, RuleSet, MAX_PAGE};
use crate::state::{BackendQueue, BackendState, FrontendState, ServerState};
use crate::stats::Users;

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
    /// The PROXY protocol header every connection to this server starts with.
    pub send_proxy: Option<crate::config::ProxyVersion>,
    /// TLS to this server; `None` = plain TCP.
    pub tls: Option<Arc<crate::tls::ServerTlsRt>>,
    /// Window over which the weight ramps up after the server comes back; zero = none.
    pub slowstart: Duration,
    /// Requests that may wait for this server in particular; 0 = no limit.
    pub maxqueue: u32,
    pub state: Arc<ServerState>,
}

#[derive(Debug)]
pub struct BackendRt {
    pub name: String,
    pub mode: Mode,
    pub balance: Balance,
    /// The consistent-hashing ring (built here, once, shared by every worker's balancer).
    pub ring: Option<Arc<crate::balance::Ring>>,
    /// Requests that may wait in the queue (all workers); 0 = no limit.
    pub maxqueue: u32,
    /// Counters kept across reloads (by backend name).
    pub counters: Arc<BackendState>,
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
    /// Request rules run once this backend is chosen (after the frontend's).
    pub request_rules: RuleSet,
    /// Response rules run before the frontend's.
    pub response_rules: RuleSet,
    /// Error pages for requests that reached this backend (before the frontend's).
    pub errors: ErrorPages,
}

/// Name of the frontend the `[stats]` listener becomes.
pub const STATS_FRONTEND: &str = "stats";

/// Connections the `[stats]` listener accepts at once.
const STATS_MAXCONN: u32 = 64;

/// A stats page ready to serve: its settings and its parsed credentials.
#[derive(Debug)]
pub struct StatsRt {
    pub page: StatsPage,
    pub users: Users,
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
        let users = Users::parse(&entries).map_err(|e| format!("stats users: {e}"))?;
        Ok(StatsRt {
            page: page.clone(),
            users,
            metrics_path,
        })
    }
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
    /// A route tests `req.ssl_sni`: a tcp session reads the ClientHello before it picks a
    /// backend.
    pub peek_hello: bool,
    pub stats: Option<Arc<StatsRt>>,
    /// The TLS of this frontend's TLS listeners.
    pub tls: Option<Arc<crate::tls::TlsRt>>,
    /// The names this frontend gets a certificate for by ACME, and the challenge it answers.
    pub acme: Option<crate::config::AcmeNames>,
    /// Serves only the stats page (the `[stats]` listener); anything else gets 404.
    pub stats_only: bool,
    /// Access log lines for this frontend.
    pub log: bool,
    pub dontlognull: bool,
    /// Peers allowed to send a PROXY header on the listeners that accept one; empty = any.
    pub accept_proxy_from: Vec<crate::route::Cidr>,
    /// Protocols a request may upgrade to (lower case); empty: Upgrade is dropped.
    pub upgrade: Vec<String>,
    pub state: Arc<FrontendState>,
    /// Request rules, run before routing.
    pub request_rules: RuleSet,
    /// Response rules, run after the backend's.
    pub response_rules: RuleSet,
    /// Error pages replacing ringlb's own.
    pub errors: ErrorPages,
    /// The per-client tracking table (`[frontend.X.track]`), shared by every worker and
    /// handed to the frontend of the same name at a reload (see [`track_table`]).
    pub track: Option<Arc<crate::track::Table>>,
    /// Connection rules (`reject`), evaluated when a connection opens; their index as target.
    pub connection_rules: Router<usize>,
    /// HTTP/2 settings and limits (`[frontend.X.h2]`).
    pub h2: crate::config::H2,
    /// Whether clients may speak HTTP/2 here (cleartext prior knowledge or ALPN "h2").
    pub h2_enabled: bool,
}

/// A listening address: its frontend (index), whether connections start with a TLS
/// handshake, and whether a PROXY protocol header comes before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bind {
    pub frontend: usize,
    pub tls: bool,
    pub accept_proxy: bool,
    /// The listener accepts a connection once its first data has arrived (`defer_accept`).
    pub defer_accept: bool,
}

/// Process-wide settings (`[global]`, `[log]`), as the workers, the checker and the control
/// thread read them.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalRt {
    /// Client connections the whole process accepts at once (after fitting the open-files
    /// limit).
    pub maxconn: u32,
    /// How long a drain lets sessions finish.
    pub grace: Duration,
    /// Percent by which health check intervals are spread.
    pub spread_checks: u8,
    pub workers: Workers,
    /// Access log settings, present when some frontend logs.
    pub access_log: Option<Log>,
    /// The levers (`tune_*`): the ring's are read when the workers start, `multishot_recv` for
    /// each new connection, `per_worker_counters` at each worker wake-up.
    pub tune: crate::config::Tune,
}

impl GlobalRt {
    /// Worker threads to run on `cpus` (the CPUs this process may use).
    pub fn worker_count(&self, cpus: &[usize]) -> usize {
        match self.workers {
            Workers::Auto => cpus.len().max(1),
            Workers::Count(n) => n.max(1),
        }
    }
}

#[derive(Debug)]
pub struct Snapshot {
    /// Increases by one at every publish; workers rebuild their per-snapshot state on change.
    pub generation: u64,
    pub global: GlobalRt,
    pub frontends: Vec<FrontendRt>,
    pub backends: Vec<BackendRt>,
    /// Which frontend a listening address belongs to, and whether it speaks TLS.
    pub by_bind: HashMap<SocketAddr, Bind>,
    /// Some server is sent PROXY headers: sessions on wildcard listeners learn the address
    /// the client connected to (the header's destination).
    pub sends_proxy: bool,
    pub acme: AcmeRt,
}

/// ACME: the `[acme]` settings and the state kept across reloads (pending challenges, each
/// frontend's certificate status).
#[derive(Debug, Default)]
pub struct AcmeRt {
    pub config: Option<crate::config::Acme>,
    pub state: Arc<crate::state::AcmeState>,
    pub challenges: Arc<crate::tls::AlpnChallenges>,
}

impl Snapshot {
    /// Compiles `config`; state of servers and frontends that also exist in `prev` carries over.
    /// Fails only on what validation should have caught (a route naming an unknown ACL).
    pub fn compile(config: Config, prev: Option<&Snapshot>) -> Result<Snapshot, String> {
        let mut old_servers: HashMap<(&str, &str, SocketAddr), &Arc<ServerState>> = HashMap::new();
        let mut old_fronts: HashMap<&str, &Arc<FrontendState>> = HashMap::new();
        let mut old_backends: HashMap<&str, &Arc<BackendState>> = HashMap::new();
        if let Some(p) = prev {
            for b in &p.backends {
                old_backends.insert(b.name.as_str(), &b.counters);
                for s in &b.servers {
                    old_servers.insert((b.name.as_str(), s.name.as_str(), s.addr), &s.state);
                }
            }
            for f in &p.frontends {
                old_fronts.insert(f.name.as_str(), &f.state);
            }
        }
        let acme = AcmeRt {
            config: config.acme.clone(),
            state: prev.map(|p| p.acme.state.clone()).unwrap_or_default(),
            challenges: prev.map(|p| p.acme.challenges.clone()).unwrap_or_default(),
        };
        let mut client_tls = crate::tls::ClientConfigs::default();
        let mut backends: Vec<BackendRt> = Vec::with_capacity(config.backends.len());
        for b in &config.backends {
            let mut servers = Vec::with_capacity(b.servers.len());
            for s in &b.servers {
                let tls = match &s.tls {
                    Some(t) => {
                        let rt = client_tls
                            .compile(t, s.address.ip(), b.mode == Mode::Http)
                            .map_err(|d| d.to_string())?;
                        if !rt.verify {
                            crate::log::event(format_args!(
                                "warning: server {}/{}: TLS without certificate verification \
                                 (verify = \"none\")",
                                b.name, s.name
                            ));
                        }
                        Some(Arc::new(rt))
                    }
                    None => None,
                };
                servers.push(ServerRt {
                    name: s.name.clone(),
                    addr: s.address,
                    weight: s.weight,
                    maxconn: s.maxconn,
                    backup: s.backup,
                    cookie: s.cookie.clone(),
                    check: s.check.clone(),
                    tls,
                    send_proxy: s.send_proxy,
                    slowstart: s.slowstart,
                    maxqueue: s.maxqueue,
                    state: old_servers
                        .get(&(b.name.as_str(), s.name.as_str(), s.address))
                        .map(|a| Arc::clone(a))
                        .unwrap_or_else(|| {
                            let state = Arc::new(ServerState::default());
                            // A server a reload adds comes into service like one coming
                            // back up: slowly, when it has a slow start.
                            if prev.is_some() && !s.slowstart.is_zero() {
                                state.came_back();
                            }
                            state
                        }),
                });
            }
            let ring_servers: Vec<(&str, u32)> = b
                .servers
                .iter()
                .map(|s| (s.name.as_str(), s.weight))
                .collect();
            backends.push(BackendRt {
                name: b.name.clone(),
                mode: b.mode,
                ring: b.balance.ring(&ring_servers),
                balance: b.balance.clone(),
                maxqueue: b.maxqueue,
                counters: old_backends
                    .get(b.name.as_str())
                    .map(|a| Arc::clone(a))
                    .unwrap_or_default(),
                retries: b.retries,
                redispatch: b.redispatch,
                timeouts: b.timeouts,
                passive_errors: b.passive.errors,
                cookie: b.cookie.clone(),
                queue: Arc::default(),
                servers,
                request_rules: rule_set(&b.acls, &b.request_rules, "backend", &b.name)?,
                response_rules: rule_set(&b.acls, &b.response_rules, "backend", &b.name)?,
                errors: error_pages(&b.errorfiles)?,
            });
        }
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
                by_bind.insert(
                    *a,
                    Bind {
                        frontend: i,
                        tls: false,
                        accept_proxy: f.accept_proxy,
                        defer_accept: f.defer_accept,
                    },
                );
            }
            let tls = match &f.tls {
                Some(t) => {
                    for a in &t.binds {
                        by_bind.insert(
                            *a,
                            Bind {
                                frontend: i,
                                tls: true,
                                accept_proxy: t.accept_proxy,
                                defer_accept: f.defer_accept,
                            },
                        );
                    }
                    let tickets = prev
                        .and_then(|p| p.frontends.iter().find(|pf| pf.name == f.name))
                        .and_then(|pf| pf.tls.as_ref())
                        .map(|rt| rt.config.ticketer.clone())
                        .filter(|t| t.enabled());
                    let input = acme.config.as_ref().map(|a| crate::tls::AcmeInput {
                        state_dir: &a.state_dir,
                        frontend: &f.name,
                        challenges: &acme.challenges,
                    });
                    let rt = crate::tls::compile(t, tickets, input).map_err(|diags| {
                        diags
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join("\n")
                    })?;
                    Some(Arc::new(rt))
                }
                None => None,
            };
            let rules = f
                .routes
                .iter()
                .filter_map(|r| backend_idx.get(r.backend.as_str()).map(|&b| (&r.guard, b)));
            let router =
                Router::new(&f.acls, rules).map_err(|e| format!("frontend {}: {e}", f.name))?;
            let peek_hello = router.tests(|c| matches!(c, crate::route::Criterion::HelloSni(_)));
            frontends.push(FrontendRt {
                router,
                routed: !f.routes.is_empty(),
                peek_hello,
                stats: match &f.stats {
                    Some(p) => Some(Arc::new(StatsRt::new(p, false)?)),
                    None => None,
                },
                stats_only: false,
                acme: f.tls.as_ref().and_then(|t| t.acme.clone()),
                tls,
                log: f.log,
                dontlognull: f.dontlognull,
                accept_proxy_from: f.accept_proxy_from.clone(),
                upgrade: f.upgrade.clone(),
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
                request_rules: rule_set(&f.acls, &f.request_rules, "frontend", &f.name)?,
                response_rules: rule_set(&f.acls, &f.response_rules, "frontend", &f.name)?,
                errors: error_pages(&f.errorfiles)?,
                track: f.track.as_ref().map(|spec| {
                    let old = prev
                        .and_then(|p| p.frontends.iter().find(|pf| pf.name == f.name))
                        .and_then(|pf| pf.track.as_ref());
                    track_table(spec, old)
                }),
                connection_rules: Router::new(
                    &f.acls,
                    f.connection_rules.iter().enumerate().map(|(i, g)| (g, i)),
                )
                .map_err(|e| format!("frontend {}: {e}", f.name))?,
                h2: f.h2,
                h2_enabled: f.h2.cleartext
                    || f.tls
                        .as_ref()
                        .is_some_and(|t| t.alpn.iter().any(|p| p == "h2")),
            });
        }
        if let Some(l) = &config.stats {
            by_bind.insert(
                l.bind,
                Bind {
                    frontend: frontends.len(),
                    tls: false,
                    accept_proxy: false,
                    defer_accept: true,
                },
            );
            frontends.push(FrontendRt {
                router: Router::new(&[], std::iter::empty()).map_err(|e| e.to_string())?,
                routed: false,
                peek_hello: false,
                stats: Some(Arc::new(StatsRt::new(&l.page, true)?)),
                stats_only: true,
                tls: None,
                acme: None,
                log: false,
                dontlognull: false,
                accept_proxy_from: Vec::new(),
                upgrade: Vec::new(),
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
                request_rules: RuleSet::empty(),
                response_rules: RuleSet::empty(),
                errors: ErrorPages::default(),
                track: None,
                connection_rules: Router::empty(),
                h2: crate::config::defaults::H2,
                h2_enabled: false,
            });
        }
        let g = &config.global;
        let global = GlobalRt {
            maxconn: g.maxconn,
            grace: g.grace,
            spread_checks: g.spread_checks,
            workers: g.workers,
            tune: g.tune,
            access_log: config
                .frontends
                .iter()
                .any(|f| f.log)
                .then(|| config.log.clone()),
        };
        Ok(Snapshot {
            generation: prev.map(|p| p.generation + 1).unwrap_or(1),
            global,
            sends_proxy: backends
                .iter()
                .any(|b| b.servers.iter().any(|s| s.send_proxy.is_some())),
            frontends,
            backends,
            by_bind,
            acme,
        })
    }

    /// Every address any frontend listens on.
    pub fn bind_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.by_bind.keys().copied().collect();
        v.sort();
        v
    }
}

/// A frontend's tracking table: the one it had when nothing changed, else a new one holding
/// what the old one knew if the key is the same (a changed size or period), else an empty one.
#[allow(
    clippy::disallowed_methods,
    reason = "a new table starts its clock when the snapshot that holds it is compiled"
)]
fn track_table(
    spec: &crate::track::Spec,
    old: Option<&Arc<crate::track::Table>>,
) -> Arc<crate::track::Table> {
    let now = std::time::Instant::now();
    match old {
        Some(t) if t.spec() == spec => Arc::clone(t),
        Some(t) => Arc::new(
            crate::track::Table::carry(t, spec, now)
                .unwrap_or_else(|| crate::track::Table::new(spec, now)),
        ),
        None => Arc::new(crate::track::Table::new(spec, now)),
    }
}

/// Reads a file named by the config, at most `MAX_PAGE` bytes; an error names the config
/// place and the path.
fn read_named(
    path: &std::path::Path,
    what: &str,
    place: &crate::config::Place,
) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        place
            .diagnostic(format!("cannot read {what} \"{shown}\": {e}"))
            .to_string()
    })?;
    if meta.len() > MAX_PAGE as u64 {
        return Err(place
            .diagnostic(format!(
                "{what} \"{shown}\" has {} bytes, more than the {MAX_PAGE} allowed",
                meta.len()
            ))
            .to_string());
    }
    std::fs::read(path).map_err(|e| {
        place
            .diagnostic(format!("cannot read {what} \"{shown}\": {e}"))
            .to_string()
    })
}

/// A section's rules compiled, the body files of its `return`s read now (start and reload).
fn rule_set(acls: &[Acl], defs: &[RuleDef], kind: &str, name: &str) -> Result<RuleSet, String> {
    if defs.is_empty() {
        return Ok(RuleSet::empty());
    }
    let mut files: HashMap<std::path::PathBuf, Vec<u8>> = HashMap::new();
    for d in defs {
        if let crate::rules::Action::Return {
            body: Body::File(p),
            ..
        } = &d.rule.action
        {
            let bytes = read_named(p, "return body file", &d.place)?;
            files.insert(p.clone(), bytes);
        }
    }
    let rules: Vec<crate::rules::Rule> = defs.iter().map(|d| d.rule.clone()).collect();
    RuleSet::compile(acls, &rules, |p| files.get(p).cloned().unwrap_or_default())
        .map_err(|e| format!("{kind} {name}: {e}"))
}

/// A section's errorfiles, read and checked now (start and reload).
fn error_pages(files: &[ErrorFile]) -> Result<ErrorPages, String> {
    let mut pages = Vec::with_capacity(files.len());
    for f in files {
        let raw = read_named(&f.path, "errorfile", &f.place)?;
        let page = ErrorPage::parse(&raw).map_err(|e| {
            f.place
                .diagnostic(format!("errorfile \"{}\": {e}", f.path.display()))
                .to_string()
        })?;
        pages.push((f.status, page));
    }
    Ok(ErrorPages(pages))
}
