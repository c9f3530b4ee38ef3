//! ringlb: a thread-per-core io_uring HTTP/TCP load balancer.
//!
//! Rooms, lower ones never importing higher ones:
//! - `config`, `http`, `route`, `balance`, `stats`: pure (no I/O, no clock, no threads);
//! - `runtime`, `system`: io_uring, buffers, timers, sockets; limits and kernel checks
//!   (`unsafe` lives only here);
//! - `state`: the mutable state every thread shares (server health and slots, counters,
//!   queue order), kept across reloads;
//! - `log`: access log writer and the one event-line function, `log::event`;
//! - `snapshot`: a validated config compiled into what workers run, pointing at `state`;
//! - `admin`: the admin socket protocol and commands, the stats model, server changes;
//! - `health`: active checks and passive reports, the only writer of UP/DOWN;
//! - `transport`: how a session's bytes move (plain TCP today; TLS, kTLS, h2 streams beside it);
//! - `proxy`: per-session flows (HTTP, TCP), upstream pool, queues, retries;
//! - `worker`: one thread per core with its ring, acceptors and sessions;
//! - `lifecycle`: the running `Process` in named phases (start, reload, upgrade, drain),
//!   signals, sd_notify; `cli`, `main.rs`: wiring;
//! - `demo`: the two built-in web nodes of `ringlb demo`;
//! - `import`: `ringlb import-haproxy`;
//! - `ha`: keepalived.conf from `[ha]`, keepalived's check and notify hooks (`ringlb ha`).

pub mod admin;
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
pub mod proxy;
pub mod route;
pub mod runtime;
pub mod snapshot;
pub mod state;
pub mod stats;
pub mod system;
pub mod tls;
pub mod transport;
pub mod worker;
