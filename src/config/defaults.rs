//! Every default value and every validation limit of the config, in one place.
//!
//! A value missing from a `[frontend.X]` / `[backend.X]` section is taken from `[defaults]`, and
//! when `[defaults]` does not set it either, from the constant here. `docs/config-reference.md`
//! quotes these values: change both together.

use std::time::Duration;

use super::{Balance, ConnectionMode, Mode, Workers};

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

// ---- backends --------------------------------------------------------------------------------

pub const BALANCE: Balance = Balance::RoundRobin;
/// Extra connection attempts after the first one fails (HAProxy's default too).
pub const RETRIES: u32 = 3;
/// A larger `retries` only delays the error the client will get anyway.
pub const MAX_RETRIES: u32 = 100;
/// Retries stay on the chosen server unless the operator opts in.
pub const REDISPATCH: bool = false;

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
};

// ---- names -----------------------------------------------------------------------------------

/// Longest frontend, backend or server name. Names appear in log lines and metric labels, so
/// they are limited to ASCII letters, digits, `-`, `_` and `.`.
pub const MAX_NAME_LEN: usize = 64;
