//! The data every renderer reads: one immutable snapshot of the process, its frontends and
//! its backends, taken by the caller at one instant.
//!
//! Durations and rates are already computed by whoever builds the snapshot (this room has no
//! clock): `since_change_s` is "seconds since the last state change", `rate` is "events in the
//! last elapsed second". Counters are cumulative since process start (or since the counter's
//! owner was created on reload), and never go backwards within one process.

use serde::Serialize;

/// A snapshot of the whole load balancer, as seen by the stats page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// `CARGO_PKG_VERSION` of the running binary, shown in the page header and metrics.
    pub version: String,
    /// Process id, so an operator can tell an old process from its successor during a reload.
    pub pid: u32,
    /// Seconds since this process started.
    pub uptime_s: u64,
    /// Wall-clock time the snapshot was taken (Unix seconds); shown as "updated at".
    pub now_unix_s: u64,
    /// Process-wide counters.
    pub process: ProcessStats,
    /// Frontends in configuration order.
    pub frontends: Vec<FrontendStats>,
    /// Backends in configuration order.
    pub backends: Vec<BackendStats>,
}

/// Process-wide counters (HAProxy's `show info`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessStats {
    /// Client connections open right now, all frontends and workers together.
    pub conns: u64,
    /// The process-wide connection limit (`global.maxconn`, possibly lowered to fit the
    /// open-files limit).
    pub maxconn: u64,
    /// Worker threads running (one ring each).
    pub workers: u32,
    /// Configuration reloads that were applied.
    pub reloads_ok: u64,
    /// Configuration reloads that were refused (the old configuration kept running).
    pub reloads_failed: u64,
    /// Access-log lines written.
    pub log_lines: u64,
    /// Access-log lines dropped because the log pipe was full: non-zero means the log is
    /// incomplete.
    pub log_dropped: u64,
    /// Increments on every applied reload; lets a scraper notice a configuration change.
    pub config_generation: u64,
}

/// Responses by status class. On a frontend these are the responses sent to clients
/// (including the ones ringlb generated itself); on a backend or server, the responses
/// received from servers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Responses {
    pub r1xx: u64,
    pub r2xx: u64,
    pub r3xx: u64,
    pub r4xx: u64,
    pub r5xx: u64,
    /// Status codes outside 100–599.
    pub other: u64,
}

impl Responses {
    /// `(class label, count)` in display order; the labels are the Prometheus `code` values.
    pub fn classes(&self) -> [(&'static str, u64); 6] {
        [
            ("1xx", self.r1xx),
            ("2xx", self.r2xx),
            ("3xx", self.r3xx),
            ("4xx", self.r4xx),
            ("5xx", self.r5xx),
            ("other", self.other),
        ]
    }

    /// All responses counted.
    pub fn total(&self) -> u64 {
        self.classes().iter().map(|(_, n)| n).sum()
    }
}

/// The protocol a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Http,
    Tcp,
}

impl Mode {
    /// The lower-case name HAProxy uses in its `mode` CSV column.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Http => "http",
            Mode::Tcp => "tcp",
        }
    }
}

/// One frontend (a set of listeners with their routing rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrontendStats {
    pub name: String,
    pub mode: Mode,
    /// Client connections open right now.
    pub cur_conns: u64,
    /// Highest `cur_conns` seen.
    pub max_conns: u64,
    /// The frontend's `maxconn`; 0 = no limit of its own.
    pub limit: u64,
    /// Client connections accepted since start.
    pub total_conns: u64,
    /// New client connections in the last elapsed second (HAProxy's session rate).
    pub conn_rate: u64,
    /// HTTP requests received (0 in TCP mode).
    pub requests: u64,
    /// HTTP requests in the last elapsed second.
    pub req_rate: u64,
    /// Bytes received from clients.
    pub bytes_in: u64,
    /// Bytes sent to clients.
    pub bytes_out: u64,
    /// Requests we rejected as invalid or too slow: 400/408/414/431…
    pub req_errors: u64,
    pub responses: Responses,
    /// Present when the frontend has TLS listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsStats>,
    /// Present when some listener of the frontend accepts PROXY protocol headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyStats>,
    /// Present when the frontend tracks clients (`[frontend.X.track]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<TrackStats>,
    /// Present when clients may speak HTTP/2 to the frontend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2: Option<H2Stats>,
}

/// A frontend's per-client tracking table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrackStats {
    /// What clients are known by: `src`, `hdr(NAME)`, `cookie(NAME)`.
    pub key: String,
    /// Most entries.
    pub size: u64,
    /// Live entries now.
    pub entries: u64,
    /// Memory the table holds.
    pub bytes: u64,
    /// Entries pushed out before they expired to make room.
    pub evictions: u64,
    /// Clients not tracked because their slots all had connections open.
    pub full: u64,
    /// Requests a rule testing a counter answered (deny, return, tarpit).
    pub denials: u64,
}

/// A frontend's HTTP/2: connections, streams, limits hit and GOAWAYs sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct H2Stats {
    pub connections: u64,
    pub streams: u64,
    /// Per limit name (`concurrent_streams`, `rapid_reset`, …), every limit listed.
    pub limits: Vec<(&'static str, u64)>,
    /// Per error code name, only codes sent at least once.
    pub goaway: Vec<(&'static str, u64)>,
    /// Request trailers dropped (the request had `content-length`).
    pub trailers_dropped: u64,
}

/// Connections a frontend closed at their PROXY protocol header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProxyStats {
    /// The header was malformed, too long, or late.
    pub failed: u64,
    /// The peer may not send one (`accept_proxy_from`).
    pub refused: u64,
}

/// A frontend's TLS: handshakes and certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsStats {
    pub handshakes: u64,
    /// Handshakes that resumed a session.
    pub resumed: u64,
    pub failed: u64,
    /// Sessions whose records the kernel runs after the handshake (kTLS).
    pub ktls: u64,
    /// Sessions whose records rustls runs in user space.
    pub userspace: u64,
    /// Hand-overs to kTLS that failed (the connection was lost).
    pub ktls_failed: u64,
    pub certificates: Vec<CertStats>,
    /// The certificate got by ACME for the frontend's `acme` names.
    pub acme: Option<AcmeStats>,
}

/// Where a frontend's ACME certificate stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AcmeStats {
    pub names: Vec<String>,
    /// "http-01" or "tls-alpn-01".
    pub challenge: String,
    /// No certificate was issued yet: a self-signed placeholder is served.
    pub placeholder: bool,
    /// Seconds the served (issued) certificate has left.
    pub expires_in_s: Option<u64>,
    /// Seconds until renewal is due (0: due now).
    pub renew_in_s: Option<u64>,
    /// Why the last attempt failed (cleared by a success).
    pub last_error: Option<String>,
    /// Attempts failed in a row.
    pub failures: u32,
    /// Seconds until the next attempt after a failure.
    pub next_attempt_in_s: Option<u64>,
    /// An attempt is running now.
    pub running: bool,
    pub issued_total: u64,
    pub failed_total: u64,
}

/// One certificate a frontend serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CertStats {
    pub path: String,
    pub names: Vec<String>,
    /// "ECDSA P-256", "RSA 2048", …
    pub key: String,
    /// Seconds until it expires (0 once expired).
    pub expires_in_s: u64,
}

/// A server's state as the balancer sees it.
///
/// The serialized form is internally tagged: `{"state":"GOING_DOWN","failed":1,"fall":3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerStatus {
    /// Health checks pass; takes traffic.
    Up,
    /// Health checks failed `fall` times in a row; takes no traffic.
    Down,
    /// Put in maintenance by an operator; takes no traffic and is not checked.
    Maint,
    /// Set to drain by an operator: keeps its sessions, gets no new ones.
    Drain,
    /// No health check configured: assumed up.
    NoCheck,
    /// Still up, but `failed` consecutive checks failed out of the `fall` that take it down.
    GoingDown { failed: u32, fall: u32 },
    /// Still down, but `ok` consecutive checks passed out of the `rise` that bring it up.
    GoingUp { ok: u32, rise: u32 },
}

impl ServerStatus {
    /// Alive: a server that holds sessions and answers checks (drain included).
    pub fn is_up(self) -> bool {
        matches!(
            self,
            ServerStatus::Up
                | ServerStatus::NoCheck
                | ServerStatus::Drain
                | ServerStatus::GoingDown { .. }
        )
    }

    /// Eligible for new sessions: what HAProxy counts in a backend's `act`/`bck`/`weight`.
    pub fn takes_traffic(self) -> bool {
        matches!(
            self,
            ServerStatus::Up | ServerStatus::NoCheck | ServerStatus::GoingDown { .. }
        )
    }

    /// The stable label used in metrics and CSS classes: `UP`, `DOWN`, `MAINT`, `DRAIN`,
    /// `NOCHECK`, `GOING_DOWN`, `GOING_UP`.
    pub fn label(self) -> &'static str {
        match self {
            ServerStatus::Up => "UP",
            ServerStatus::Down => "DOWN",
            ServerStatus::Maint => "MAINT",
            ServerStatus::Drain => "DRAIN",
            ServerStatus::NoCheck => "NOCHECK",
            ServerStatus::GoingDown { .. } => "GOING_DOWN",
            ServerStatus::GoingUp { .. } => "GOING_UP",
        }
    }

    /// Every label of [`ServerStatus::label`], for state-set metrics.
    pub const LABELS: [&'static str; 7] = [
        "UP",
        "DOWN",
        "MAINT",
        "DRAIN",
        "NOCHECK",
        "GOING_DOWN",
        "GOING_UP",
    ];

    /// HAProxy's status text: `UP`, `DOWN`, `MAINT`, `DRAIN`, `no check`, `UP 1/3` (going
    /// down after 1 of 3 failed checks), `DOWN 1/2` (going up after 1 of 2 good checks).
    pub fn haproxy_text(self) -> String {
        match self {
            ServerStatus::NoCheck => "no check".to_string(),
            ServerStatus::GoingDown { failed, fall } => format!("UP {failed}/{fall}"),
            ServerStatus::GoingUp { ok, rise } => format!("DOWN {ok}/{rise}"),
            other => other.label().to_string(),
        }
    }
}

/// The last health check of a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckInfo {
    /// `"L4"` (TCP connect) or `"L7"` (HTTP request).
    pub kind: &'static str,
    /// HAProxy-style result: `"L7OK 200"`, `"L7STS 500"`, `"L4TOUT"`,
    /// `"L4CON connection refused"`. The first word is the check status code.
    pub last_result: String,
    /// How long the last check took.
    pub last_duration_ms: u64,
    /// Failed checks since start (HAProxy's `chkfail`).
    pub checks_failed: u64,
    /// UP→DOWN transitions (HAProxy's `chkdown`).
    pub downs: u64,
}

impl CheckInfo {
    /// The status word of `last_result` (`L7OK`), for CSV `check_status`.
    pub fn status_code(&self) -> &str {
        self.last_result.split(' ').next().unwrap_or("")
    }

    /// The rest of `last_result` after the status word (`200`, `connection refused`).
    pub fn detail(&self) -> &str {
        match self.last_result.split_once(' ') {
            Some((_, rest)) => rest.trim(),
            None => "",
        }
    }

    /// The numeric code in the detail when it is one (HTTP status of an L7 check).
    pub fn code(&self) -> Option<u16> {
        self.detail().parse().ok()
    }
}

/// One server of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerStats {
    pub name: String,
    /// `ip:port` (IPv6 in brackets) as configured.
    pub addr: String,
    pub status: ServerStatus,
    /// `None` when the server has no health check.
    pub check: Option<CheckInfo>,
    /// Seconds since the last status change (HAProxy's `lastchg`).
    pub since_change_s: u64,
    /// Total seconds spent DOWN since start.
    pub downtime_s: u64,
    /// Weight in force (0 = takes no new sessions): the configured one or an operator's,
    /// lowered while slow start ramps the server up (rounded up to whole units).
    pub weight: u32,
    /// Used only when no active server is up.
    pub backup: bool,
    /// Sessions on this server right now.
    pub cur: u64,
    /// Highest `cur` seen.
    pub max: u64,
    /// The server's `maxconn`; 0 = none.
    pub limit: u64,
    /// Sessions sent to this server since start.
    pub total: u64,
    /// Requests waiting for a slot on this server right now.
    pub queue_cur: u64,
    /// Highest `queue_cur` seen.
    pub queue_max: u64,
    /// New sessions in the last elapsed second.
    pub rate: u64,
    /// Bytes sent to the server (what the client sent in).
    pub bytes_in: u64,
    /// Bytes received from the server.
    pub bytes_out: u64,
    /// Failed connection attempts.
    pub conn_errors: u64,
    /// Invalid, truncated or timed-out responses.
    pub resp_errors: u64,
    /// Connection attempts retried on this server.
    pub retries: u64,
    /// Times a request was moved away from this server to another one.
    pub redispatches: u64,
    /// Requests answered 503 at once because this server's `maxqueue` was reached.
    pub queue_full: u64,
    pub responses: Responses,
}

/// One backend and its servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendStats {
    pub name: String,
    pub mode: Mode,
    /// Balancing algorithm as configured (`roundrobin`, `leastconn`, `uri`, `random(2)`, …).
    pub balance: String,
    /// At least one server takes traffic.
    pub up: bool,
    /// Servers in configuration order.
    pub servers: Vec<ServerStats>,
    /// Sessions on this backend right now.
    pub cur: u64,
    /// Highest `cur` seen.
    pub max: u64,
    /// Sessions sent to this backend since start.
    pub total: u64,
    /// Requests waiting for any server right now.
    pub queue_cur: u64,
    /// Highest `queue_cur` seen.
    pub queue_max: u64,
    /// New sessions in the last elapsed second.
    pub rate: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Failed connection attempts, including "no server available".
    pub conn_errors: u64,
    pub resp_errors: u64,
    pub retries: u64,
    pub redispatches: u64,
    /// Requests answered 503 at once because a `maxqueue` (the backend's or a server's) was
    /// reached.
    pub queue_full: u64,
    pub responses: Responses,
    /// Seconds since the backend last went up or down.
    pub since_change_s: u64,
    /// Total seconds with no server up.
    pub downtime_s: u64,
}

impl BackendStats {
    /// Active (non-backup) servers taking traffic: HAProxy's backend `act`.
    pub fn active_up(&self) -> usize {
        self.servers
            .iter()
            .filter(|s| !s.backup && s.status.takes_traffic())
            .count()
    }

    /// Backup servers taking traffic: HAProxy's backend `bck`.
    pub fn backup_up(&self) -> usize {
        self.servers
            .iter()
            .filter(|s| s.backup && s.status.takes_traffic())
            .count()
    }

    /// Sum of the weights of the servers that take traffic: HAProxy's backend `weight`.
    /// Backups count only when no active server is up, as they only serve then.
    pub fn effective_weight(&self) -> u64 {
        let use_backups = self.active_up() == 0;
        self.servers
            .iter()
            .filter(|s| s.status.takes_traffic() && s.backup == use_backups)
            .map(|s| u64::from(s.weight))
            .sum()
    }

    /// UP→DOWN transitions of all servers (shown in the backend row's `Dwn` column).
    pub fn server_downs(&self) -> u64 {
        self.servers
            .iter()
            .filter_map(|s| s.check.as_ref())
            .map(|c| c.downs)
            .sum()
    }

    /// `UP` or `DOWN`.
    pub fn status_text(&self) -> &'static str {
        if self.up {
            "UP"
        } else {
            "DOWN"
        }
    }
}
