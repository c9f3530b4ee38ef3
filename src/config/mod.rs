//! Configuration: text → spanned TOML tree → validated [`Config`].
//!
//! This room is pure: no I/O except reading the file in [`load`], no clock, no threads.
//! Every error carries file, line and column and every error in a file is reported in one run
//! (see [`Diagnostic`]).
//!
//! It may import std, the TOML/serde crates and two pure rooms below it, whose vocabulary it
//! parses into (the order is deliberate: a room owns the types of what it does, and config is
//! the text → types step above them):
//! - `rules`: the header rules' actions ([`crate::rules::Rule`]), their conditions being
//!   `route`'s;
//! - `route`: the ACL and condition language ([`Acl`], [`Guard`] and the expression parser),
//!   checked here at load time so a running worker only ever sees valid conditions;
//! - `balance`: the algorithm names, re-exported as [`Balance`];
//! - `proxy_protocol`: the PROXY protocol versions, re-exported as [`ProxyVersion`].
//!
//! Nothing here imports `snapshot`, `proxy` or any room above them.
//!
//! Pipeline:
//! 1. `toml::de::DeTable::parse` turns the text into a tree whose every key and value has a span;
//! 2. [`parse`] walks that tree section by section, collecting [`Diagnostic`]s instead of stopping
//!    at the first one, applying `[defaults]` and the named constants in [`defaults`];
//! 3. cross-references (a frontend's `default_backend` names a backend, …) are checked last;
//! 4. the result, a [`Config`], is compiled into a runtime snapshot by the `snapshot` room.

mod acme;
pub mod defaults;
mod diag;
mod ha_tier;
mod log;
mod parse;

pub use acme::{Acme, AcmeChallenge, AcmeNames};
pub use diag::Diagnostic;
pub use ha_tier::{ActiveActive, Lvs, LvsScheduler};
pub use log::{Facility, Log, LogLevel, LogTarget};
pub use parse::tls::CIPHERSUITES;
pub use parse::{parse_str, parse_str_with, system_resolver};

/// Resolves a server's `HOST:PORT` (never an IP literal: those are parsed directly) to its
/// first address; `Ok(None)` when the name has no address.
pub type Resolver<'a> = &'a dyn Fn(&str) -> std::io::Result<Option<SocketAddr>>;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::balance::{Balance, HashBalance, HashKey, HashMethod};
pub use crate::proxy_protocol::Version as ProxyVersion;
use crate::route::{Acl, Cidr, Guard};

/// A validated configuration. Every field is resolved: defaults applied, names checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub global: Global,
    /// `[log]`; present with its defaults when the section is absent.
    pub log: Log,
    /// `[stats]`: a listener dedicated to the stats page and `/metrics`.
    pub stats: Option<StatsListener>,
    /// `[ha]`: the keepalived pair `ringlb ha render` writes a config for.
    pub ha: Option<Ha>,
    /// `[acme]`: the ACME server that issues certificates for the names TLS frontends list.
    pub acme: Option<Acme>,
    pub frontends: Vec<Frontend>,
    pub backends: Vec<Backend>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// Worker threads, one per core by default.
    pub workers: Workers,
    /// Process-wide cap on client connections; above it new connections wait in the kernel backlog.
    pub maxconn: u32,
    /// How long draining (shutdown, upgrade) waits for sessions in flight before closing them.
    pub grace: Duration,
    /// Random jitter, in percent (0–50), added to or removed from every check interval so
    /// that checks of many servers do not fire in lockstep.
    pub spread_checks: u8,
    /// User to switch to once listeners are bound (name or numeric id); `None` = stay.
    pub user: Option<String>,
    /// Group to switch to once listeners are bound (name or numeric id); `None` = stay.
    pub group: Option<String>,
    /// Unix socket of the runtime admin interface; `None` = no admin socket.
    pub admin_socket: Option<PathBuf>,
    /// Keep CAP_NET_BIND_SERVICE after dropping privileges, so that a reload can bind new
    /// ports below 1024.
    pub keep_bind_capability: bool,
    /// Where server state (admin state, runtime weights, health) is saved for the next start.
    pub state_file: StateFile,
    /// `tune_*`: the io_uring levers, each on by default and switchable alone to measure it.
    pub tune: Tune,
}

/// `[global] tune_*`: switches for the levers, each to be measured alone. The ring's own
/// (`ring_fd`, `direct_descriptors`, `loop_clock`, `batch_wait_us`) are read when the workers
/// start (start or binary upgrade) and a reload keeps the running values; `multishot_recv`
/// applies to connections opened after a reload, `per_worker_counters` within a worker's next
/// wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tune {
    /// `tune_ring_fd`: register the ring's own descriptor, so that `io_uring_enter` skips the
    /// file-table lookup.
    pub ring_fd: bool,
    /// `tune_direct_descriptors`: client and server sockets as direct descriptors in a per-worker
    /// fixed-file table (no file-table lookup and reference count per operation).
    pub direct_descriptors: bool,
    /// `tune_loop_clock`: timers read the clock once per loop iteration instead of at every
    /// timeout armed or polled.
    pub loop_clock: bool,
    /// `tune_multishot_recv`: plain HTTP client connections and pooled server connections
    /// keep one multishot receive armed instead of a receive per read.
    pub multishot_recv: bool,
    /// `tune_per_worker_counters`: the per-request counters are kept per worker and summed
    /// when read, instead of one shared atomic each.
    pub per_worker_counters: bool,
    /// `tune_multishot_accept`: one multishot accept per listener and worker instead of one
    /// accept submitted per connection.
    pub multishot_accept: bool,
    /// `tune_zero_copy_send`: relay sends of at least `zero_copy_min` bytes go zero-copy
    /// (`IORING_OP_SEND_ZC`). Off by default: measured on loopback, where the kernel copies
    /// anyway, it only adds a notification per send (docs/design.md).
    pub zero_copy_send: bool,
    /// `tune_zero_copy_min`: the smallest send, in bytes, that goes zero-copy.
    pub zero_copy_min: u32,
    /// `tune_batch_wait_us`: microseconds a worker about to sleep lets the kernel gather a
    /// batch of completions (`min_wait_usec`, Linux 6.12+); 0: it wakes at the first.
    pub batch_wait_us: u32,
}

impl Default for Tune {
    fn default() -> Self {
        Tune {
            ring_fd: true,
            direct_descriptors: true,
            loop_clock: true,
            multishot_recv: true,
            per_worker_counters: true,
            multishot_accept: true,
            zero_copy_send: defaults::TUNE_ZERO_COPY_SEND,
            zero_copy_min: defaults::TUNE_ZERO_COPY_MIN,
            batch_wait_us: defaults::TUNE_BATCH_WAIT_US,
        }
    }
}

/// `[global] state_file`: where the server state file lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StateFile {
    /// Not set: `$STATE_DIRECTORY/state` when systemd gives a state directory, else none.
    #[default]
    Default,
    /// `state_file = "none"`: nothing is saved or read.
    Off,
    Path(PathBuf),
}

impl StateFile {
    /// The file to use, `state_directory` being systemd's `$STATE_DIRECTORY` (its first entry).
    pub fn resolve(&self, state_directory: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
        match self {
            StateFile::Off => None,
            StateFile::Path(p) => Some(p.clone()),
            StateFile::Default => {
                let dirs = state_directory?.to_str()?;
                let first = dirs.split(':').next().filter(|d| d.starts_with('/'))?;
                Some(PathBuf::from(first).join("state"))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// One worker per online CPU.
    Auto,
    Count(usize),
}

/// Every timeout ringlb knows. Frontends use `client`, `http_request`, `http_keep_alive`;
/// backends use `connect`, `server`, `queue`; both have `tunnel` (the shorter of the two
/// applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub client: Duration,
    pub server: Duration,
    pub http_request: Duration,
    pub http_keep_alive: Duration,
    pub queue: Duration,
    /// Inactivity (neither direction moved) of a connection switched to another protocol
    /// (WebSocket), after its `101`. See [`Timeouts::tunnel_for`].
    pub tunnel: Duration,
    /// Where `tunnel` was written (a section's own table, `[defaults]`, or nowhere).
    pub tunnel_origin: Origin,
}

/// Where a setting's value came from, least specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// ringlb's built-in default.
    Builtin,
    /// `[defaults]`.
    Defaults,
    /// The frontend's or backend's own section.
    Section,
}

impl Timeouts {
    /// The tunnel timeout of a connection through frontend `fe` to backend `be`: the most
    /// specific one written — the backend's own, else the frontend's own, else `[defaults]`,
    /// else the built-in default (HAProxy sets it per backend).
    pub fn tunnel_for(fe: &Timeouts, be: &Timeouts) -> Duration {
        if be.tunnel_origin >= fe.tunnel_origin {
            be.tunnel
        } else {
            fe.tunnel
        }
    }

    /// The inactivity limit of a TCP-mode connection: the tunnel timeout where one was written
    /// (HAProxy applies `timeout tunnel` to TCP too), else the longer of `client` and `server`.
    pub fn tcp_idle(fe: &Timeouts, be: &Timeouts) -> Duration {
        if fe.tunnel_origin == Origin::Builtin && be.tunnel_origin == Origin::Builtin {
            fe.client.max(be.server)
        } else {
            Timeouts::tunnel_for(fe, be)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Http,
    Tcp,
}

/// How connections are kept open, as HAProxy's `option http-keep-alive`,
/// `option http-server-close` and `option httpclose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionMode {
    /// Both sides stay open between requests.
    KeepAlive,
    /// The client side stays open; the server connection closes after each response.
    ServerClose,
    /// Both sides close after each response.
    Close,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Frontend {
    pub name: String,
    pub binds: Vec<SocketAddr>,
    pub mode: Mode,
    /// Name of a backend in [`Config::backends`] (checked).
    pub default_backend: String,
    pub maxconn: u32,
    pub timeouts: Timeouts,
    /// Append `X-Forwarded-For` (and set `X-Forwarded-Proto`) on requests (http mode).
    pub forwardfor: bool,
    pub connection: ConnectionMode,
    /// Write an access log line per request (http) or connection (tcp).
    pub log: bool,
    /// Do not log connections that sent no data (probes of other load balancers).
    pub dontlognull: bool,
    /// Protocol names (lower case) a request may upgrade to (`Upgrade:`), tunnelled after
    /// the server's `101`; never `h2c`. Empty: Upgrade is dropped.
    pub upgrade: Vec<String>,
    /// Named conditions, in file order; a name defined with several strings has one [`Acl`]
    /// per string (they are ORed).
    pub acls: Vec<Acl>,
    /// Ordered routes: the first whose guard holds picks the backend, else `default_backend`.
    pub routes: Vec<Route>,
    /// A stats page served on this frontend's listeners (http mode only).
    pub stats: Option<StatsPage>,
    /// TLS listeners of this frontend and what they serve.
    pub tls: Option<Tls>,
    /// Connections on the plain `bind`s start with a PROXY protocol header (v1 or v2) whose
    /// client address replaces the peer's.
    pub accept_proxy: bool,
    /// Peers allowed to send that header; empty = any. Others are refused.
    pub accept_proxy_from: Vec<Cidr>,
    /// Accept a connection when its first bytes arrive (`TCP_DEFER_ACCEPT`), so that the
    /// accept brings the request along; a client that sends nothing is accepted after one
    /// second. Default: on in http mode, where the client speaks first; off in tcp mode.
    pub defer_accept: bool,
    /// `[[frontend.X.request_rule]]`, in order; they run before routing.
    pub request_rules: Vec<RuleDef>,
    /// `[[frontend.X.response_rule]]`, in order; they run after the backend's.
    pub response_rules: Vec<RuleDef>,
    /// `[frontend.X.errorfile]`: pages replacing ringlb's own, by status.
    pub errorfiles: Vec<ErrorFile>,
    /// `[frontend.X.track]`: the per-client tracking table its rules test.
    pub track: Option<crate::track::Spec>,
    /// `[[frontend.X.connection_rule]]`, in order: the conditions (on the client address and
    /// its counters) under which a new connection is closed at once (`action = "reject"`).
    pub connection_rules: Vec<Guard>,
    /// `[frontend.X.h2]`: HTTP/2 on the plain listeners and the limits of every h2
    /// connection of this frontend (TLS listeners speak h2 when `alpn` offers it).
    pub h2: H2,
}

/// `[frontend.X.h2]`: HTTP/2 settings and the limits that keep an h2 connection from costing
/// more than one client should (Rapid Reset, CONTINUATION and PING/SETTINGS floods, HPACK
/// bombs, stalled windows). Defaults: [`H2::DEFAULT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2 {
    /// Plain listeners also take h2 with prior knowledge (a connection that opens with the
    /// h2 preface); HTTP/1.1 is still served there.
    pub cleartext: bool,
    /// Streams a client may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub max_concurrent_streams: u32,
    /// Each stream's receive window (`SETTINGS_INITIAL_WINDOW_SIZE`): what a client may send
    /// ahead of what its request's server has taken.
    pub initial_window_size: u32,
    /// HPACK dynamic table the client may make ringlb keep (`SETTINGS_HEADER_TABLE_SIZE`).
    pub header_table_size: u32,
    /// Decoded size of one header list (names + values + 32 per field, as RFC 9113 counts).
    pub max_header_list_size: u32,
    /// CONTINUATION frames one header block may have.
    pub max_continuation_frames: u32,
    /// Streams a client may reset per `flood_window` before the connection is closed
    /// (`ENHANCE_YOUR_CALM`).
    pub max_resets: u32,
    /// SETTINGS frames per `flood_window`.
    pub max_settings: u32,
    /// PING frames per `flood_window`.
    pub max_pings: u32,
    pub flood_window: std::time::Duration,
    /// A connection without open streams closes (GOAWAY) after this long.
    pub idle_timeout: std::time::Duration,
    /// The preface and every header block must be complete within this long.
    pub request_timeout: std::time::Duration,
    /// A response stalled on a zero flow-control window is reset after this long.
    pub zero_window_timeout: std::time::Duration,
}

/// A header rule as configured, with its place (a `return` body file is read at load and
/// reported there).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub rule: crate::rules::Rule,
    pub place: Place,
}

/// `STATUS = "PATH"` in an `errorfile` table: a file holding a complete HTTP response
/// (HAProxy's errorfile format), read and checked when the config is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorFile {
    pub status: u16,
    pub path: PathBuf,
    pub place: Place,
}

/// `[frontend.X.tls]`: listeners that speak TLS, beside (or instead of) the plain `bind`s.
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub binds: Vec<SocketAddr>,
    /// Certificate files (chain and key, or with `key` apart) and directories of them, in
    /// order: the first certificate is the default unless `default_name` says otherwise.
    pub certificates: Vec<CertSource>,
    /// The name whose certificate answers clients that send no SNI or an unknown name.
    pub default_name: Option<String>,
    pub min_version: TlsVersion,
    /// Cipher suites allowed (TLS 1.3 and 1.2 names, IANA or OpenSSL spelling, checked);
    /// empty = ringlb's defaults (AEAD only).
    pub ciphersuites: Vec<String>,
    /// ALPN protocols offered, in preference order.
    pub alpn: Vec<String>,
    /// Resume sessions with tickets whose keys rotate and are shared by every worker.
    pub session_tickets: bool,
    /// Connections on these listeners start with a PROXY protocol header, read before the
    /// handshake (the frontend's `accept_proxy` unless set here).
    pub accept_proxy: bool,
    /// Hand the record layer to the kernel after the handshake where it can take it.
    pub ktls: Ktls,
    /// Names ringlb gets a certificate for from the `[acme]` server.
    pub acme: Option<AcmeNames>,
}

/// Where certificates come from: a PEM file or a directory of them.
#[derive(Debug, Clone, PartialEq)]
pub struct CertSource {
    pub path: std::path::PathBuf,
    /// The private key's file when it is not in `path` (nor in `path` + ".key").
    pub key: Option<std::path::PathBuf>,
    /// Where the config names it, for errors found when it is loaded.
    pub place: Place,
}

/// A place in a config file, for problems found after parsing (a certificate that does not
/// load is reported at the line that names it).
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl Place {
    pub fn diagnostic(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
            message: message.into(),
            help: None,
        }
    }
}

/// The lowest TLS version a listener accepts (1.0 and 1.1 are never offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// `ktls`: whether TLS sessions move to kernel TLS after their handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ktls {
    /// Where the kernel has the `tls` module and the suite is one it runs.
    Auto,
    /// Never: rustls keeps every session.
    Off,
}

/// `[[frontend.X.route]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Name of a backend in [`Config::backends`] (checked, same mode as the frontend).
    pub backend: String,
    /// Every ACL it names exists in [`Frontend::acls`] (checked).
    pub guard: Guard,
}

/// A stats page: `[frontend.X.stats]` or the page of `[stats]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsPage {
    /// Requests whose path starts with this are answered by the stats page.
    pub uri: String,
    /// Basic-auth realm shown by browsers.
    pub realm: String,
    /// Auto-refresh period of the HTML page; `None` = no refresh.
    pub refresh: Option<Duration>,
    /// Who may see the page; empty = anyone who reaches it.
    pub users: Vec<StatsUser>,
    /// Allow runtime actions (server up/down/drain, weight) over HTTP. Requires users.
    pub admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsUser {
    pub name: String,
    pub password: Password,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    Plain(String),
    /// A crypt(3) hash, `$5$…` (SHA-256) or `$6$…` (SHA-512), verified by the stats room.
    Crypt(String),
}

/// `[stats]`: a listener that serves only the stats page and Prometheus `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsListener {
    pub bind: SocketAddr,
    pub page: StatsPage,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub name: String,
    pub mode: Mode,
    pub balance: Balance,
    /// Extra connection attempts after the first one fails.
    pub retries: u32,
    /// Allow the last retry to go to another server.
    pub redispatch: bool,
    pub timeouts: Timeouts,
    pub servers: Vec<Server>,
    /// `[backend.X.check]` as written, before per-server overrides; `None` = no active
    /// checks (servers are up unless passive checks say otherwise). See [`Server::check`].
    pub check: Option<Check>,
    pub passive: Passive,
    /// Cookie persistence; `None` = none (http mode only).
    pub cookie: Option<Cookie>,
    /// `[backend.X.acl]`: named conditions for this backend's rules.
    pub acls: Vec<Acl>,
    /// `[[backend.X.request_rule]]`: run after the frontend's, once this backend is chosen.
    pub request_rules: Vec<RuleDef>,
    /// `[[backend.X.response_rule]]`: run before the frontend's.
    pub response_rules: Vec<RuleDef>,
    /// `[backend.X.errorfile]`: pages replacing ringlb's own (and the frontend's) for
    /// requests that reached this backend.
    pub errorfiles: Vec<ErrorFile>,
    /// Requests that may wait in the backend's queue (all workers together); beyond it, 503
    /// at once. 0 = no limit.
    pub maxqueue: u32,
}

/// Active health checking of a server. Durations are resolved (defaults applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub kind: CheckKind,
    /// Interval while the server is up and stable.
    pub inter: Duration,
    /// Interval while the server is changing state (between the first failure and `fall`, or
    /// the first success and `rise`).
    pub fastinter: Duration,
    /// Interval while the server is down.
    pub downinter: Duration,
    /// Consecutive successes that bring a down server up.
    pub rise: u32,
    /// Consecutive failures that take an up server down.
    pub fall: u32,
    /// Time allowed for one check (connect and, for http, the response status line).
    pub timeout: Duration,
    /// Send a PROXY protocol header first (`UNKNOWN` / `LOCAL`: a check has no client).
    pub send_proxy: Option<ProxyVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// A TCP connection that opens is a success.
    Tcp,
    Http(HttpCheck),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    pub method: String,
    pub path: String,
    /// `Host` header; `None` = the server's address.
    pub host: Option<String>,
    /// A status in any of these ranges is a success.
    pub expect_status: Vec<StatusRange>,
}

/// Inclusive range of HTTP status codes, 100–599.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub lo: u16,
    pub hi: u16,
}

impl StatusRange {
    pub fn contains(self, status: u16) -> bool {
        (self.lo..=self.hi).contains(&status)
    }
}

/// `[backend.X.passive]`: health learned from real traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passive {
    /// Consecutive connection failures or 5xx responses that mark a server down; 0 = off.
    pub errors: u32,
}

/// `[backend.X.cookie]`: persistence with a cookie naming the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub mode: CookieMode,
    /// Do not send the cookie again to a client that already has the right one, and remove
    /// it from requests forwarded to the server.
    pub indirect: bool,
    /// Add `Cache-Control: private` to responses that set the cookie, so caches do not share
    /// one client's server with everyone.
    pub nocache: bool,
    pub httponly: bool,
    pub secure: bool,
    pub domain: Option<String>,
    /// Idle time after which a client's cookie is ignored.
    pub maxidle: Option<Duration>,
    /// Age after which a client's cookie is ignored.
    pub maxlife: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// ringlb adds its own cookie.
    Insert,
    /// ringlb prefixes the application's cookie value with the server's value.
    Prefix,
    /// ringlb rewrites the value of a cookie the application sets.
    Rewrite,
}

/// `[ha]`: a VRRP instance (keepalived) moving virtual IPs between two ringlb hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ha {
    pub interface: String,
    pub virtual_ips: Vec<VirtualIp>,
    /// VRRP virtual router id, 1–255, unique on the network segment.
    pub router_id: u8,
    /// 1–254; the highest priority alive holds the addresses.
    pub priority: u8,
    pub state: VrrpState,
    /// Source address for unicast VRRP; only with `peers`.
    pub unicast_src: Option<IpAddr>,
    /// Unicast peers; empty = multicast VRRP.
    pub peers: Vec<IpAddr>,
    /// VRRP PASS authentication, at most 8 characters.
    pub auth_pass: Option<String>,
    pub advert_int: Duration,
    /// How often keepalived checks that ringlb is alive.
    pub check_interval: Duration,
    /// `[ha.sync]`: how `ringlb ha sync` reaches the peer.
    pub sync: Option<HaSync>,
    /// `[ha.active_active]`: a second VRRP instance, led by the peer, that this host backs up.
    pub active_active: Option<ActiveActive>,
    /// `[ha.lvs]`: this host is an IPVS director in front of ringlb hosts (direct routing).
    pub lvs: Option<Lvs>,
}

/// `[ha.sync]`: the peer `ringlb ha sync` pushes this config (and its certificates) to, over
/// the system's `ssh`/`scp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaSync {
    /// ssh destination, `[USER@]HOST`.
    pub peer: String,
    pub port: u16,
    /// Private key ssh authenticates with (`ssh -i`).
    pub identity: PathBuf,
    /// The peer's host key, pinned (`UserKnownHostsFile`); `None` = ssh's own known hosts.
    pub known_hosts: Option<PathBuf>,
    /// The config file on the peer; `None` = the same path as this one's.
    pub config: Option<PathBuf>,
    /// The ringlb binary on the peer.
    pub binary: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtualIp {
    pub addr: IpAddr,
    pub prefix: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpState {
    Master,
    Backup,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub name: String,
    pub address: SocketAddr,
    pub weight: u32,
    /// Concurrent requests (http) or connections (tcp) sent to this server; 0 = no limit.
    pub maxconn: u32,
    /// Used only when no non-backup server is up.
    pub backup: bool,
    /// Persistence cookie value naming this server (default: its name).
    pub cookie: String,
    /// The backend's check with this server's overrides applied; `None` = not checked.
    pub check: Option<Check>,
    /// Every connection to this server starts with a PROXY protocol header naming the client
    /// (the backend's `send_proxy` unless the server sets its own).
    pub send_proxy: Option<ProxyVersion>,
    /// TLS to this server (`[backend.X.tls]` with this server's `tls` keys over it); `None` =
    /// plain TCP.
    pub tls: Option<ServerTls>,
    /// After coming back up (or being added or re-enabled), the server's weight ramps from
    /// almost 0 to its full value over this window; zero = at once.
    pub slowstart: Duration,
    /// Requests that may wait for this server in particular (persistence, a held retry) while
    /// it is at `maxconn`; beyond it, another server with `redispatch`, else 503 at once.
    /// 0 = no limit.
    pub maxqueue: u32,
}

/// TLS from ringlb to a server. Files are only named here; they are read when the config is
/// compiled and their problems reported at [`ServerTls::place`].
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTls {
    /// Check the server's certificate chain and name (`verify = "required"`, the default);
    /// `false` with `verify = "none"`.
    pub verify: bool,
    /// CA certificates (PEM) the server's chain must lead to; `None` = the system roots.
    pub ca_file: Option<PathBuf>,
    /// The name sent as SNI and checked in the server's certificate; `None` (a server given by
    /// IP address, no `sni`): no SNI, and the certificate must name the IP address.
    pub sni: Option<String>,
    /// A client certificate (chain, and its key unless `key` names it) for servers that ask.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Active health checks speak TLS too (`check_tls = false`: plain TCP/HTTP checks).
    pub check: bool,
    /// Where the config sets this up (the `tls` table), for problems found when it is loaded.
    pub place: Place,
    /// Where `ca_file` and `cert` are named, for problems with those files.
    pub ca_place: Option<Place>,
    pub cert_place: Option<Place>,
}

/// Reads and validates a config file. On failure every problem found is returned.
pub fn load(path: &Path) -> Result<Config, Vec<Diagnostic>> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, &name),
        Err(e) => Err(vec![Diagnostic::file(
            &name,
            format!("cannot read config: {e}"),
        )]),
    }
}

#[cfg(test)]
mod resolver_tests {
    use super::*;

    /// Pins that host names go through the resolver given to `parse_str_with` (the fuzzer
    /// relies on it to stay off the network), and that its answers and failures are reported.
    #[test]
    fn host_names_go_through_the_given_resolver() {
        let text = "[frontend.www]\nbind = \"127.0.0.1:80\"\ndefault_backend = \"web\"\n\
                    [backend.web]\n[[backend.web.server]]\nname = \"a\"\naddress = \"NAME:8080\"\n";
        let table = |hp: &str| -> std::io::Result<Option<SocketAddr>> {
            match hp {
                "web1.internal:8080" => Ok(Some(SocketAddr::from(([192, 0, 2, 9], 8080)))),
                "nowhere.internal:8080" => Ok(None),
                _ => Err(std::io::Error::other("no such host")),
            }
        };
        let ok = parse_str_with(&text.replace("NAME", "web1.internal"), "t.toml", &table);
        let cfg = ok.map_err(|d| format!("{d:?}"));
        assert_eq!(
            cfg.as_ref().map(|c| c.backends[0].servers[0].address),
            Ok(SocketAddr::from(([192, 0, 2, 9], 8080)))
        );
        let none = parse_str_with(&text.replace("NAME", "nowhere.internal"), "t.toml", &table);
        assert!(format!("{none:?}").contains("resolves to no address"));
        let err = parse_str_with(&text.replace("NAME", "broken.internal"), "t.toml", &table);
        assert!(format!("{err:?}").contains("cannot resolve server address"));
    }
}
