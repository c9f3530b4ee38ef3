//! Every default value and every validation limit of the config, in one place.
//!
//! A value missing from a `[frontend.X]` / `[backend.X]` section is taken from `[defaults]`, and
//! when `[defaults]` does not set it either, from the constant here. `docs/config-reference.md`
//! quotes these values: change both together.

use std::time::Duration;

use super::{Balance, ConnectionMode, CookieMode, Facility, LogLevel, Mode, VrrpState, Workers};

/// Path `ringlb` reads when no `-c FILE` is given.
pub const CONFIG_PATH: &str = "/etc/ringlb/ringlb.toml";

// ---- [global] -------------------------------------------------------------------------------

/// One worker per online CPU: ringlb is thread-per-core, so more workers than cores only adds
/// context switches.
pub const WORKERS: Workers = Workers::Auto;
/// Upper bound for `workers = N`; each worker owns a ring and its buffers, so a typo such as
/// `workers = 10000` would exhaust memory before serving anything.
pub const MAX_WORKERS: usize = 1024;
/// Process-wide cap on client connections.
pub const GLOBAL_MAXCONN: u32 = 8_000;
/// How long a drain (shutdown, reload, upgrade) waits for sessions in flight.
pub const GRACE: Duration = Duration::from_secs(30);
/// Jitter on check intervals, in percent: enough to keep checks of many servers from
/// synchronising, small enough not to slow detection noticeably.
pub const SPREAD_CHECKS: u8 = 5;
/// Above 50 % an interval could shrink to half its value: that is no longer jitter.
pub const MAX_SPREAD_CHECKS: u8 = 50;
pub const KEEP_BIND_CAPABILITY: bool = false;
/// Zero-copy relay sends are off: on loopback (the only place measured) the kernel copies
/// anyway and each send costs a notification more (docs/design.md).
pub const TUNE_ZERO_COPY_SEND: bool = false;
/// Below 16 KiB the page pinning and the notification cost more than the copy they save
/// (the kernel's own MSG_ZEROCOPY documentation gives about 10 KiB as the break-even).
pub const TUNE_ZERO_COPY_MIN: u32 = 16 * 1024;
/// Off: a worker with nothing to run wakes at its first completion. Below full load a
/// batched wait holds the very completions clients and servers wait on, and the hold keeps
/// the worker under the saturation mark that would lift it; at full load it gained a few
/// percent (docs/design.md, "The batched wait at light load", with the measurements).
pub const TUNE_BATCH_WAIT_US: u32 = 0;
/// Bound of `tune_batch_wait_us`: a millisecond of added latency is already more than a
/// proxy should trade for fewer wake-ups.
pub const MAX_BATCH_WAIT_US: u32 = 1000;
/// Bounds of `tune_zero_copy_min`: a relay send is at most one receive buffer (32 KiB), so a
/// larger threshold would never be reached.
pub const MIN_ZERO_COPY_MIN: u32 = 1024;
pub const MAX_ZERO_COPY_MIN: u32 = 32 * 1024;
/// `sun_path` holds 108 bytes including the terminating NUL.
pub const MAX_UNIX_PATH: usize = 107;

// ---- [log] -----------------------------------------------------------------------------------

pub const LOG_FACILITY: Facility = Facility::Local0;
pub const LOG_LEVEL: LogLevel = LogLevel::Info;
pub const ANONYMIZE_IP: bool = false;
/// Bits kept when anonymising: a /24 and a /48 still tell networks apart for abuse reports.
pub const IPV4_MASK: u8 = 24;
pub const IPV6_MASK: u8 = 48;
/// Log lines buffered before new ones are dropped (and counted).
pub const LOG_QUEUE: u32 = 10_000;
pub const MAX_LOG_QUEUE: u32 = 1_000_000;
/// Port used by `udp://HOST` targets without a port.
pub const SYSLOG_PORT: u16 = 514;
/// Access logs are opt-in per frontend, as HAProxy's `option httplog`.
pub const FRONTEND_LOG: bool = false;
pub const DONTLOGNULL: bool = false;

// ---- [frontend.X.track] ---------------------------------------------------------------------

/// Entries of a tracking table: 65,536 clients in about 11.9 MB (87,392 slots of 136 bytes,
/// allocated when the table is made).
pub const TRACK_SIZE: u32 = 65_536;
/// An entry not seen for this long (and with no connection open) is gone.
pub const TRACK_EXPIRE: Duration = Duration::from_secs(600);
/// The period of every rate unless set.
pub const TRACK_PERIOD: Duration = Duration::from_secs(10);

// ---- stats -----------------------------------------------------------------------------------

/// Stats page path on a frontend's own listeners, HAProxy's well-known one.
pub const FRONTEND_STATS_URI: &str = "/haproxy?stats";
/// Stats page path on the dedicated `[stats]` listener.
pub const STATS_LISTENER_URI: &str = "/";
pub const STATS_REALM: &str = "ringlb statistics";
pub const STATS_ADMIN: bool = false;

// ---- frontends -------------------------------------------------------------------------------

/// Per-frontend connection cap; the effective default is `min(this, [global] maxconn)`.
pub const FRONTEND_MAXCONN: u32 = 8_000;
/// Any `maxconn` (global, frontend, server) above this is rejected: every connection costs at
/// least two file descriptors, and Linux's default `fs.nr_open` is 1 048 576.
pub const MAX_MAXCONN: u32 = 1_000_000;
/// Frontends and backends speak HTTP unless told otherwise.
pub const MODE: Mode = Mode::Http;
/// Keep both sides open between requests, as HAProxy does by default.
pub const CONNECTION: ConnectionMode = ConnectionMode::KeepAlive;
/// Add `X-Forwarded-For`: backends behind a load balancer almost always want the client address.
pub const FORWARDFOR: bool = true;

/// TLS listeners accept 1.2 and 1.3 (1.0 and 1.1 are never offered).
pub const TLS_MIN_VERSION: crate::config::TlsVersion = crate::config::TlsVersion::Tls12;

/// Session tickets on: resumption costs a fraction of a full handshake.
pub const TLS_SESSION_TICKETS: bool = true;

/// kTLS where the kernel has it: the kernel encrypts, an idle connection holds no TLS state.
pub const TLS_KTLS: crate::config::Ktls = crate::config::Ktls::Auto;

/// HTTP/2 on plain listeners only when asked; limits close to HAProxy's and nginx's defaults.
pub const H2: crate::config::H2 = crate::config::H2 {
    cleartext: false,
    // nginx `http2_max_concurrent_streams`, HAProxy `tune.h2.max-concurrent-streams`.
    max_concurrent_streams: 100,
    // RFC 9113's initial window.
    initial_window_size: 65_535,
    // RFC 7541's default table.
    header_table_size: 4_096,
    // As large as the HTTP/1.1 head limit, so a request fits either way.
    max_header_list_size: 16_384,
    max_continuation_frames: 32,
    max_resets: 200,
    max_settings: 100,
    max_pings: 100,
    flood_window: Duration::from_secs(10),
    idle_timeout: Duration::from_secs(60),
    request_timeout: Duration::from_secs(10),
    zero_window_timeout: Duration::from_secs(30),
};

// ---- backends --------------------------------------------------------------------------------

pub const BALANCE: Balance = Balance::RoundRobin;
/// `balance = "random"` draws two servers (HAProxy's default): the power of two choices.
pub const RANDOM_DRAWS: u32 = 2;
/// More draws approach leastconn; beyond a handful they only cost time.
pub const MAX_RANDOM_DRAWS: u32 = 100;
/// Bounded load of consistent hashing, percent; above 10× the bound never binds in practice.
pub const MAX_HASH_BALANCE_FACTOR: u32 = 1000;
/// Slow start longer than an hour is a mistake, not a ramp.
pub const MAX_SLOWSTART: Duration = Duration::from_secs(3600);
/// Extra connection attempts after the first one fails (HAProxy's default too).
pub const RETRIES: u32 = 3;
/// A larger `retries` only delays the error the client will get anyway.
pub const MAX_RETRIES: u32 = 100;
/// Retries stay on the chosen server unless the operator opts in.
pub const REDISPATCH: bool = false;

// ---- health checks, persistence ------------------------------------------------------------

pub const CHECK_INTER: Duration = Duration::from_secs(2);
/// HAProxy's defaults: two successes to come back, three failures to go down.
pub const CHECK_RISE: u32 = 2;
pub const CHECK_FALL: u32 = 3;
/// More would take minutes to react, which no operator means.
pub const MAX_RISE_FALL: u32 = 1_000;
pub const CHECK_METHOD: &str = "GET";
pub const CHECK_PATH: &str = "/";
/// 2xx and 3xx: a redirect to a login page still means the application answers.
pub const CHECK_EXPECT_STATUS: super::StatusRange = super::StatusRange { lo: 200, hi: 399 };
/// Passive checks are opt-in: real traffic errors are often the client's fault.
pub const PASSIVE_ERRORS: u32 = 0;
pub const MAX_PASSIVE_ERRORS: u32 = 1_000;
pub const COOKIE_MODE: CookieMode = CookieMode::Insert;
pub const COOKIE_INDIRECT: bool = false;
pub const COOKIE_NOCACHE: bool = false;
pub const COOKIE_HTTPONLY: bool = false;
pub const COOKIE_SECURE: bool = false;

// ---- [ha] ------------------------------------------------------------------------------------

pub const HA_PRIORITY: u8 = 100;
pub const HA_STATE: VrrpState = VrrpState::Backup;
pub const HA_ADVERT_INT: Duration = Duration::from_secs(1);
/// VRRPv2 carries the advertisement interval in whole seconds in one byte.
pub const HA_MAX_ADVERT_INT: Duration = Duration::from_secs(255);
pub const HA_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// VRRP PASS authentication data is 8 bytes.
pub const HA_MAX_AUTH_PASS: usize = 8;
/// IFNAMSIZ is 16 including the terminating NUL.
pub const MAX_INTERFACE_NAME: usize = 15;
/// `[ha.active_active] priority`: this host's priority in the instance its peer leads (the
/// peer leads it with `[ha] priority`, 100 by default).
pub const HA_ACTIVE_ACTIVE_PRIORITY: u8 = 50;
/// `[ha.lvs] scheduler`: weighted least-connection, IPVS's own default.
pub const LVS_SCHEDULER: super::LvsScheduler = super::LvsScheduler::WeightedLeastConnection;
/// `[ha.lvs] check_path`: a GET of `/` through ringlb, so a host whose backends are all down
/// also leaves the tier.
pub const LVS_CHECK_PATH: &str = "/";

// ---- servers ---------------------------------------------------------------------------------

pub const WEIGHT: u32 = 1;
/// Weights are relative; 1..=256 is HAProxy's range and keeps smooth round robin's sums small.
pub const MIN_WEIGHT: u32 = 1;
pub const MAX_WEIGHT: u32 = 256;
/// 0 means no per-server limit.
pub const SERVER_MAXCONN: u32 = 0;
pub const BACKUP: bool = false;

// ---- timeouts --------------------------------------------------------------------------------

/// Time allowed to establish the TCP connection to a server.
pub const TIMEOUT_CONNECT: Duration = Duration::from_secs(5);
/// Client inactivity while ringlb expects data from the client.
pub const TIMEOUT_CLIENT: Duration = Duration::from_secs(30);
/// Server inactivity while ringlb expects data from the server.
pub const TIMEOUT_SERVER: Duration = Duration::from_secs(30);
/// Time allowed to receive a complete request head (slowloris protection).
pub const TIMEOUT_HTTP_REQUEST: Duration = Duration::from_secs(10);
/// Time an idle keep-alive client connection waits for its next request.
pub const TIMEOUT_HTTP_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Time a request may wait for a server slot (server `maxconn` reached) before a 503.
pub const TIMEOUT_QUEUE: Duration = Duration::from_secs(5);
/// Inactivity allowed on a tunnel (a WebSocket after its `101`): long, as HAProxy setups
/// usually set `timeout tunnel 1h`, since such connections idle between messages.
pub const TIMEOUT_TUNNEL: Duration = Duration::from_secs(3600);
/// Largest accepted duration (24 days, about HAProxy's 2^31 ms limit): longer timeouts are
/// almost certainly unit mistakes, and timers stay comfortably inside `u32` milliseconds.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 86_400);

/// All timeouts at their default values.
pub const TIMEOUTS: super::Timeouts = super::Timeouts {
    connect: TIMEOUT_CONNECT,
    client: TIMEOUT_CLIENT,
    server: TIMEOUT_SERVER,
    http_request: TIMEOUT_HTTP_REQUEST,
    http_keep_alive: TIMEOUT_HTTP_KEEP_ALIVE,
    queue: TIMEOUT_QUEUE,
    tunnel: TIMEOUT_TUNNEL,
    tunnel_origin: super::Origin::Builtin,
};

/// Protocols a request may upgrade to unless a frontend says otherwise.
pub const UPGRADE: &[&str] = &["websocket"];

// ---- names -----------------------------------------------------------------------------------

/// Longest frontend, backend or server name. Names appear in log lines and metric labels, so
/// they are limited to ASCII letters, digits, `-`, `_` and `.`.
pub const MAX_NAME_LEN: usize = 64;

/// TLS to servers verifies their certificates unless `verify = "none"`.
pub const SERVER_TLS_VERIFY: bool = true;

/// Active checks of a TLS server speak TLS unless `check_tls = false`.
pub const SERVER_TLS_CHECK: bool = true;

// ---- acme ------------------------------------------------------------------------------------

/// Where the account key and issued certificates live (the unit's `StateDirectory`).
pub const ACME_STATE_DIR: &str = "/var/lib/ringlb/acme";

/// The roots that verify the ACME server: the system's bundle (Debian's `ca-certificates`).
pub const ACME_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// First wait after a failed ACME attempt; doubles per failure up to [`ACME_RETRY_MAX`].
pub const ACME_RETRY_MIN: Duration = Duration::from_secs(60);

/// Longest wait between ACME attempts (unless the server's `Retry-After` says longer).
pub const ACME_RETRY_MAX: Duration = Duration::from_secs(6 * 3600);

/// The challenge a frontend answers unless `acme_challenge` says otherwise.
pub const ACME_CHALLENGE: super::AcmeChallenge = super::AcmeChallenge::Http01;

// ---- ha sync ---------------------------------------------------------------------------------

/// `[ha.sync] port`: ssh's.
pub const HA_SYNC_PORT: u16 = 22;
/// `[ha.sync] binary`: where the appliance and the Debian package install ringlb.
pub const HA_SYNC_BINARY: &str = "/usr/bin/ringlb";
