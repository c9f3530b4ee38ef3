//! ringlb: a thread-per-core io_uring HTTP/TCP load balancer.
//!
//! Rooms, lowest first. A room imports only rooms listed before it, and only those its own
//! `mod.rs` names; `docs/design.md` has the same table with what each room owns.
//! - `http`, `balance`, `stats`: pure (no I/O, no clock, no threads); import nothing of
//!   ringlb. `http` holds the one header-field scanner.
//! - `route` (→ http): ACLs and the router; pure.
//! - `config` (→ route, balance): TOML → validated `Config`, parsed into the types of the
//!   rooms above; pure apart from reading the file.
//! - `runtime`, `system`: io_uring, buffers, timers, sockets; limits, privileges, fd handoff
//!   (`unsafe` lives only here); import nothing of ringlb.
//! - `log` (→ config): the access and event log writer thread.
//! - `snapshot` (→ config, route, log, stats): a validated config compiled into what workers
//!   run, and the shared server state.
//! - `transport` (→ runtime): how a session's bytes move (plain TCP today; TLS, kTLS, h2
//!   streams beside it).
//! - `health` (→ config, runtime, snapshot): the checker thread.
//! - `proxy` (→ balance, config, http, log, route, runtime, snapshot, stats, transport):
//!   per-session flows (HTTP, TCP), upstream pool, queues, retries.
//! - `worker` (→ config, log, proxy, runtime, snapshot, system): one thread per core.
//! - `lifecycle` (→ any room above): signals, reload, drain, upgrade, sd_notify, admin socket.
//! - `import` (→ config, route): `ringlb import-haproxy`; `ha` (→ config, lifecycle, log):
//!   keepalived.conf and hooks (`ringlb ha`); `demo`: the two built-in web nodes of
//!   `ringlb demo`; `cli`, `main.rs`: wiring and exit codes.
//!
//! Lints live in `Cargo.toml` (`[lints]`) and `.clippy.toml`, crate-wide. The pure rooms may
//! not read the clock, start threads or sleep (`disallowed-methods`); a room that does so by
//! design allows it at the top of its own `mod.rs`, with the reason.

pub mod balance;
pub mod cli;
pub mod config;
pub mod demo;
pub mod ha;
pub mod health;
pub mod http;
pub mod import;
pub mod lifecycle;
pub mod log;
#[allow(
    clippy::disallowed_methods,
    reason = "sessions time requests, connections and queues; stated here until the session rewrite gives proxy/mod.rs its own"
)]
pub mod proxy;
pub mod route;
pub mod runtime;
pub mod snapshot;
pub mod stats;
pub mod system;
pub mod transport;
pub mod worker;
