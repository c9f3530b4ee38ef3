//! The admin room: what an operator can ask of a running ringlb, and how the question travels.
//!
//! - [`protocol`]: the admin socket (a Unix stream socket, one command line per connection,
//!   result lines ending in `OK` or `ERROR <reason>`), its server side and the client used by
//!   `ringlb reload|upgrade|admin` and `ringlb ha check`;
//! - [`command`]: the grammar of a command line ([`Command`]) and the answers to those that
//!   read or change server state ([`answer`]); `reload` and `upgrade` are run by `lifecycle`;
//! - [`change`]: a change to one server ([`apply`]), also reached from the stats page's admin
//!   form ([`apply_form`]);
//! - `certs`: the answer of `show certs` (every certificate served, ACME status);
//! - [`collect`](mod@collect): the stats model (`crate::stats::StatsSnapshot`) read from a
//!   snapshot and the shared state, for the stats page and the `show` commands.
//!
//! Used by `lifecycle` (the socket and its commands), `proxy` (the stats page) and `ha` (the
//! client). May import `snapshot`, `state`, `stats`, `config`, `log` (admin actions are
//! events) and `system` (the binary's version); never `proxy`, `worker` or `lifecycle`.

#![allow(
    clippy::disallowed_methods,
    reason = "the admin socket runs on its own thread, and the stats model is dated when collected"
)]

mod certs;
pub mod change;
pub mod collect;
pub mod command;
pub mod protocol;

pub use change::{apply, apply_form, ServerChange};
pub use collect::collect;
pub use command::{answer, Command, StateCommand};
pub use protocol::{Reply, Request};
