//! Configuration: text → spanned TOML tree → validated [`Config`].
//!
//! This room is pure: no I/O except reading the file in [`load`], no clock, no threads.
//! It may import only std and the TOML/serde crates. Every error carries file, line and column
//! and every error in a file is reported in one run (see [`Diagnostic`]).
//!
//! Pipeline:
//! 1. `toml::de::DeTable::parse` turns the text into a tree whose every key and value has a span;
//! 2. [`parse`] walks that tree section by section, collecting [`Diagnostic`]s instead of stopping
//!    at the first one, applying `[defaults]` and the named constants in [`defaults`];
//! 3. cross-references (a frontend's `default_backend` names a backend, …) are checked last;
//! 4. the result, a [`Config`], is compiled into a runtime snapshot by `crate::snapshot`.

pub mod defaults;
mod diag;
mod parse;

pub use diag::Diagnostic;
pub use parse::parse_str;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// A validated configuration. Every field is resolved: defaults applied, names checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub global: Global,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// One worker per online CPU.
    Auto,
    Count(usize),
}

/// Every timeout ringlb knows. Frontends use `client`, `http_request`, `http_keep_alive`;
/// backends use `connect`, `server`, `queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub client: Duration,
    pub server: Duration,
    pub http_request: Duration,
    pub http_keep_alive: Duration,
    pub queue: Duration,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round robin.
    RoundRobin,
    /// Fewest requests in flight (counted across workers), ties broken round robin.
    LeastConn,
    /// Hash of the client address: a client sticks to a server while the server set is stable.
    Source,
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
