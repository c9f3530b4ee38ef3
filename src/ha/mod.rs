//! High availability: a pair of ringlb hosts sharing virtual addresses through keepalived
//! (VRRP). ringlb does not speak VRRP itself; this room owns what keepalived needs from it:
//!
//! - [`render`]: the `[ha]` section → a complete, commented keepalived.conf. Pure: no I/O, the
//!   host-specific values (host name, binary and config paths) come in as arguments. One
//!   active-passive pair, an active-active pair (`[ha.active_active]`), or an IPVS director
//!   (`[ha.lvs]`, whose `virtual_server` blocks [`render_lvs`] writes).
//! - [`check`]: keepalived's track script (`ringlb ha check`), healthy when the running
//!   ringlb answers `status` with `OK` on its admin socket within 2 s.
//! - [`notify`]: keepalived's notify hook (`ringlb ha notify`), logging transitions.
//! - [`sync`](mod@sync): `ringlb ha sync`, pushing this config (with the peer's own `[ha]`) and
//!   the files it names to the peer over ssh, checked and reloaded there.
//! - [`command`]: the `ringlb ha …` arguments and exit codes.
//!
//! Imports `config` (the `[ha]` section), `rules` (files `return` rules name), `admin::protocol`
//! (the admin socket client) and `log`;
//! only `cli` and `main.rs` import this room.

#![allow(
    clippy::disallowed_methods,
    reason = "keepalived hooks: a timed admin-socket check and time-stamped notify lines"
)]

pub mod check;
pub mod command;
pub mod notify;
pub mod render;
pub mod render_lvs;
pub mod sync;

pub use command::{run, HaCommand};
pub use render::{render, RenderError, RenderOptions};
