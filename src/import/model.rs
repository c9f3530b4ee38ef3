//! What the reader keeps of a haproxy.cfg: HAProxy's meaning, already in ringlb's units, before
//! any decision about where it goes in the TOML.
//!
//! Every value that means something different in ringlb carries its explanation ([`Noted`]),
//! which the emitter writes as a `#` comment above the key.

use super::lex::Line;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Http,
    Tcp,
}

impl Mode {
    pub(super) fn name(self) -> &'static str {
        match self {
            Mode::Http => "http",
            Mode::Tcp => "tcp",
        }
    }
}

/// Connection handling, ordered by strength: when a frontend and a backend disagree, HAProxy
/// applies the stronger (close > server-close > keep-alive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Conn {
    KeepAlive,
    ServerClose,
    Close,
}

impl Conn {
    pub(super) fn name(self) -> &'static str {
        match self {
            Conn::KeepAlive => "keep-alive",
            Conn::ServerClose => "server-close",
            Conn::Close => "close",
        }
    }
}

/// A value and, when ringlb's meaning differs from HAProxy's, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Noted<T> {
    pub(super) v: T,
    pub(super) note: Option<String>,
}

impl<T> Noted<T> {
    pub(super) fn plain(v: T) -> Self {
        Noted { v, note: None }
    }

    pub(super) fn with_note(v: T, note: impl Into<String>) -> Self {
        Noted {
            v,
            note: Some(note.into()),
        }
    }
}

/// HAProxy's timeouts, indexing [`Settings::timeouts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timeout {
    Connect,
    Client,
    Server,
    HttpRequest,
    HttpKeepAlive,
    Queue,
    Check,
    Tunnel,
}

impl Timeout {
    /// The ringlb key (`check` lives in `[backend.X.check] timeout`).
    pub(super) fn key(self) -> &'static str {
        match self {
            Timeout::Connect => "connect",
            Timeout::Client => "client",
            Timeout::Server => "server",
            Timeout::HttpRequest => "http_request",
            Timeout::HttpKeepAlive => "http_keep_alive",
            Timeout::Queue => "queue",
            Timeout::Check => "check",
            Timeout::Tunnel => "tunnel",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// Used by a frontend (else by a backend).
    pub(super) fn frontend(self) -> bool {
        matches!(
            self,
            Timeout::Client | Timeout::HttpRequest | Timeout::HttpKeepAlive
        )
    }
}

/// `option httpchk` / `http-check send`: the request of an http check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HttpChk {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) host: Option<String>,
}

/// `cookie NAME …` of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CookieSpec {
    pub(super) name: String,
    pub(super) mode: &'static str,
    pub(super) indirect: bool,
    pub(super) nocache: bool,
    pub(super) httponly: bool,
    pub(super) secure: bool,
    pub(super) domain: Option<String>,
    pub(super) maxidle: Option<u64>,
    pub(super) maxlife: Option<u64>,
}

/// `stats …` lines of a section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct StatsSpec {
    pub(super) enable: bool,
    pub(super) uri: Option<String>,
    pub(super) realm: Option<String>,
    /// `NAME:PASSWORD`, in file order.
    pub(super) users: Vec<String>,
    pub(super) refresh: Option<u64>,
    pub(super) admin: Option<Noted<bool>>,
}

/// Options of a `server` or `default-server` line that ringlb knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ServerOpts {
    pub(super) check: bool,
    pub(super) inter: Option<u64>,
    pub(super) fastinter: Option<u64>,
    pub(super) downinter: Option<u64>,
    pub(super) rise: Option<u32>,
    pub(super) fall: Option<u32>,
    pub(super) weight: Option<u32>,
    pub(super) maxconn: Option<u32>,
    pub(super) cookie: Option<String>,
    pub(super) backup: bool,
    pub(super) disabled: bool,
    /// `ssl`: TLS to the server.
    pub(super) ssl: bool,
    /// `send-proxy` → `"v1"`, `send-proxy-v2` → `"v2"`.
    pub(super) send_proxy: Option<&'static str>,
    /// `check-send-proxy`.
    pub(super) check_send_proxy: bool,
    /// `verify none|required`; `None`: the global `ssl-server-verify` (HAProxy's default:
    /// required).
    pub(super) verify: Option<bool>,
    /// `ca-file FILE` (`@system-ca`: the system roots).
    pub(super) ca_file: Option<String>,
    /// `sni str(NAME)` → `Ok(NAME)`; any other expression (`req.hdr(host)`, …) → `Err` with
    /// it: ringlb sends one fixed name per server.
    pub(super) sni: Option<Result<String, String>>,
    /// `crt FILE`: the client certificate.
    pub(super) crt: Option<String>,
    /// `slowstart TIME`, µs.
    pub(super) slowstart: Option<u64>,
    /// `maxqueue N`.
    pub(super) maxqueue: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServerSpec {
    pub(super) line: usize,
    pub(super) name: String,
    /// `IP:PORT` or `HOST:PORT`, IPv6 in brackets.
    pub(super) address: String,
    pub(super) opts: ServerOpts,
    pub(super) notes: Vec<String>,
}

/// Everything a `defaults` section passes on to the proxies after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) mode: Option<Mode>,
    pub(super) balance: Option<Noted<String>>,
    /// `hash-type consistent|map-based` (HAProxy's default: map-based).
    pub(super) hash_type: Option<Noted<&'static str>>,
    /// `hash-balance-factor N`.
    pub(super) hash_balance_factor: Option<u32>,
    pub(super) retries: Option<u32>,
    pub(super) redispatch: Option<Noted<bool>>,
    pub(super) maxconn: Option<u32>,
    pub(super) forwardfor: Option<Noted<bool>>,
    pub(super) connection: Option<Noted<Conn>>,
    /// Has a `log` line (`log global` or a target); `Some(false)` after `no log`.
    pub(super) log: Option<bool>,
    /// `option httplog` (true) or `option tcplog` (false), for a note on the format.
    pub(super) log_format: Option<bool>,
    pub(super) dontlognull: Option<bool>,
    pub(super) timeouts: [Option<Noted<u64>>; 8],
    pub(super) httpchk: Option<Noted<HttpChk>>,
    /// `http-check expect`: inclusive status ranges.
    pub(super) expect: Option<Noted<Vec<(u16, u16)>>>,
    pub(super) cookie: Option<Noted<CookieSpec>>,
    pub(super) stats: StatsSpec,
    pub(super) default_server: ServerOpts,
    pub(super) default_backend: Option<String>,
    /// `errorfile STATUS PATH`, the last one of a status winning.
    pub(super) errorfiles: Vec<(u16, String)>,
}

impl Settings {
    pub(super) fn timeout(&self, t: Timeout) -> Option<&Noted<u64>> {
        self.timeouts.get(t.index()).and_then(Option::as_ref)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    pub(super) fn has_front(self) -> bool {
        matches!(self, Kind::Frontend | Kind::Listen)
    }

    pub(super) fn has_back(self) -> bool {
        matches!(self, Kind::Backend | Kind::Listen)
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }
}

/// A `frontend`, `backend` or `listen` section. ACLs and rules are kept as written: they are
/// translated once the section's mode is known.
#[derive(Debug, Clone)]
pub(super) struct Proxy {
    pub(super) kind: Kind,
    pub(super) name: String,
    pub(super) line: usize,
    pub(super) s: Settings,
    pub(super) binds: Vec<Noted<String>>,
    /// Per plain `bind` line: its line number and whether it has `accept-proxy`.
    pub(super) accept_proxy: Vec<(usize, bool)>,
    /// The plain `bind` lines with `proto h2` (h2 with prior knowledge).
    pub(super) h2_binds: Vec<usize>,
    /// The first `bind` line (plain or TLS) with `defer-accept`.
    pub(super) defer_accept: Option<usize>,
    /// `acl NAME …` lines: the line and the words after `acl`.
    pub(super) acls: Vec<Line>,
    /// `use_backend …` lines.
    pub(super) uses: Vec<Line>,
    /// Header rules as written, in file order: `http-request`, `http-response`, `redirect`,
    /// `block` and the pre-1.6 `req*` / `rsp*` lines.
    pub(super) rules: Vec<Line>,
    pub(super) servers: Vec<ServerSpec>,
    /// The `bind … ssl` lines, merged: `[frontend.X.tls]`.
    pub(super) tls: Option<TlsSpec>,
    /// `stick-table …`: a table this section's trackers (or another's, `table NAME`) use.
    pub(super) stick_table: Option<Line>,
    /// `tcp-request connection track-scN …` and `http-request track-scN …` lines.
    pub(super) tracks: Vec<Line>,
    /// `tcp-request connection reject [if|unless …]` lines.
    pub(super) conn_rules: Vec<Line>,
}

/// TLS settings of a `bind … ssl` line or of `global` `ssl-default-bind-*`; `None` = not
/// set there. A cipher list that is empty stands for ringlb's defaults (the note says why).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TlsOpts {
    /// `"1.2"` or `"1.3"`.
    pub(super) min_version: Option<Noted<&'static str>>,
    /// `ciphers`: the TLS 1.2 suites ringlb knows, as written.
    pub(super) tls12: Option<Noted<Vec<String>>>,
    /// `ciphersuites`: the TLS 1.3 suites ringlb knows, as written.
    pub(super) tls13: Option<Noted<Vec<String>>>,
    pub(super) alpn: Option<Noted<Vec<String>>>,
    /// `no-tls-tickets` → `Some(false)`.
    pub(super) tickets: Option<bool>,
}

impl TlsOpts {
    /// These settings, each unset one taken from `base` (HAProxy: a bind's own setting wins
    /// over `ssl-default-bind-*`).
    pub(super) fn over(&self, base: &TlsOpts) -> TlsOpts {
        TlsOpts {
            min_version: self
                .min_version
                .clone()
                .or_else(|| base.min_version.clone()),
            tls12: self.tls12.clone().or_else(|| base.tls12.clone()),
            tls13: self.tls13.clone().or_else(|| base.tls13.clone()),
            alpn: self.alpn.clone().or_else(|| base.alpn.clone()),
            tickets: self.tickets.or(base.tickets),
        }
    }
}

/// The TLS listeners of a frontend: every `bind … ssl` line merged (ringlb has one
/// `[frontend.X.tls]` table per frontend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TlsSpec {
    /// The first `bind … ssl` line: its settings apply.
    pub(super) line: usize,
    pub(super) binds: Vec<String>,
    /// `crt` files and directories, in order (the first is the default certificate).
    pub(super) certificates: Vec<String>,
    /// `accept-proxy` on the first `bind … ssl` line.
    pub(super) accept_proxy: bool,
    pub(super) opts: TlsOpts,
    pub(super) notes: Vec<String>,
}

/// `log` target of `global` (and of proxies that name their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LogSpec {
    pub(super) target: String,
    pub(super) facility: String,
    pub(super) level: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Global {
    pub(super) maxconn: Option<u32>,
    pub(super) user: Option<String>,
    pub(super) group: Option<String>,
    pub(super) workers: Option<Noted<u32>>,
    pub(super) spread_checks: Option<u8>,
    pub(super) admin_socket: Option<Noted<String>>,
    pub(super) grace: Option<Noted<u64>>,
    pub(super) log: Option<Noted<LogSpec>>,
    /// `ssl-default-bind-*`: applied to every TLS frontend.
    pub(super) tls_defaults: TlsOpts,
    /// `crt-base`: where relative `crt` paths are.
    pub(super) crt_base: Option<String>,
    /// `ssl-server-verify none|required`: the default `verify` of servers with `ssl`.
    pub(super) server_verify: Option<bool>,
    /// `tune.h2.*` limits that map to `[frontend.X.h2]`, one per key.
    pub(super) h2: Vec<super::h2::Tune>,
    /// Comments for things dropped on purpose (`daemon`, `pidfile`).
    pub(super) notes: Vec<String>,
}

/// The whole file as read.
#[derive(Debug, Clone, Default)]
pub(super) struct Model {
    pub(super) global: Global,
    pub(super) proxies: Vec<Proxy>,
    /// The settings of the only `defaults` section, when there is exactly one and it comes
    /// before every proxy: it then becomes `[defaults]`. Otherwise each proxy says everything.
    pub(super) single_defaults: Option<Settings>,
}
