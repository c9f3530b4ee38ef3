//! ringlb: a thread-per-core io_uring HTTP/TCP load balancer.
//!
//! Rooms, lowest first. A room imports only rooms listed before it, and only those its own
//! `mod.rs` names; `docs/design.md` has the same table with what each room owns.
//! - `http`, `balance`, `stats`: pure (no I/O, no clock, no threads); import nothing of
//!   ringlb. `http` holds the one header-field scanner.
//! - `proxy_protocol`: the PROXY protocol header, parsed and encoded; pure, std only.
//! - `route` (→ http): ACLs and the router; pure.
//! - `rules` (→ route, http): header rules, redirects, deny/return answers, error pages;
//!   conditions evaluated by `route`'s router; pure.
//! - `config` (→ route, rules, balance): TOML → validated `Config`, parsed into the types of the
//!   rooms above; pure apart from reading the file.
//! - `runtime`, `system`: io_uring, buffers, timers, sockets; limits, privileges, fd handoff
//!   (`unsafe` lives only here).
//! - `state`: the mutable state every thread shares (server health and slots, counters,
//!   queue order), kept across reloads.
//! - `log` (→ config, state): the access log writer and the one event-line function,
//!   `log::event`.
//! - `tls` (→ config, log): certificates and settings compiled into rustls server configs.
//! - `snapshot` (→ config, route, rules, stats, state, tls): a validated config compiled into what
//!   workers run, pointing at `state`.
//! - `admin` (→ snapshot, state, stats, config, log): the admin socket protocol and commands,
//!   the stats model, server changes.
//! - `health` (→ config, runtime, snapshot, state, log): active checks and passive reports,
//!   the only writer of UP/DOWN.
//! - `transport` (→ runtime): how a session's bytes move (plain TCP, TLS in user space; kTLS
//!   and h2 streams beside them).
//! - `proxy`: per-session flows (HTTP, TCP), upstream pool, queues, retries.
//! - `worker` (→ proxy, transport, …): one thread per core with its ring, acceptors and
//!   sessions.
//! - `lifecycle` (→ any room above): the running `Process` in named phases (start, reload,
//!   upgrade, drain), signals, sd_notify.
//! - `import` (→ config, route): `ringlb import-haproxy`; `ha` (→ config, admin, log):
//!   keepalived.conf and hooks (`ringlb ha`); `demo`: the two built-in web nodes of
//!   `ringlb demo`; `cli`, `main.rs`: wiring and exit codes.
//!
//! Lints live in `Cargo.toml` (`[lints]`) and `.clippy.toml`, crate-wide. The pure rooms may
//! not read the clock, start threads or sleep (`disallowed-methods`); a room that does so by
//! design allows it at the top of its own `mod.rs`, with the reason.

pub mod admin;
pub mod balance;
pub mod cli;
pub mod config;
pub mod demo;
pub mod h2;
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
pub mod proxy_protocol;
pub mod route;
pub mod rules;
pub mod runtime;
pub mod snapshot;
pub mod state;
pub mod stats;
pub mod system;
pub mod tls;
pub mod transport;
pub mod worker;
