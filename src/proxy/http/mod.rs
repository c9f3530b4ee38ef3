//! The HTTP/1.1 session: read a request head, pick a server, forward head and body, relay the
//! response, and keep both sides alive when allowed — one request at a time, so pipelined
//! requests are answered in order.
//!
//! | file | job |
//! |---|---|
//! | `session.rs` | the connection loop: wait for a request, run it as one exchange, keep alive or close (lingering); [`Outcome`](crate::proxy::exchange::Outcome)s become ringlb's own answers there, in `Req::fail`, and every exchange is counted and logged there, in `Req::finish` |
//! | `input.rs` | receive staging: bytes received and not consumed, in a provided buffer or on the heap |
//! | `stats_page.rs` | the stats page and its admin form, answered before routing |
//! | `acme_challenge.rs` | ACME `http-01` answers for pending tokens, before rules and routing |
//! | `forward.rs` | request rules (a redirect/return answered, a deny refused) → route → backend's rules → persistence → head written once → server connection (queue, pool, connect, retry) → request body |
//! | `relay.rs` | response head (1xx relayed) → head written once → body → server connection back to the pool |
//! | `track.rs` | per-client tracking: the connection and each request counted in the frontend's table, the client's counters for the rules, the exchange's status and bytes at its end |
//! | `switch.rs` | after a `101` to an upgrade the request asked for: head to the client, then a byte tunnel (`proxy/tunnel.rs`) until it ends |
//!
//! The way of one request:
//! ```text
//! session::serve ─ wait_first_byte ─ exchange ─ request ─ read_head
//!     ├─ acme_challenge::wanted → acme_challenge::serve              (ringlb answers)
//!     ├─ stats_page::wanted → stats_page::serve                      (ringlb answers)
//!     └─ forward::forward ─ rules ─ route ─ rules ─ outgoing (write_request_head, rules, persist)
//!                         ─ send_request (upstream::connect, retry on a dead reused one)
//!                         ─ upload (rest of the body)
//!                         ─ relay::response ─ read_head ─ write_response_head ─ body ─ pool
//!                                           └─ 101 (upgrade asked) → switch::tunnel
//! exchange: Ok(Next) or Err(Outcome) → Req::fail (own answer) → Req::finish (counters, log)
//! ```
//!
//! Bodies are streamed in both directions: at most one provided buffer per direction is held
//! at a time, whatever the body size. Nothing ambiguous is forwarded: a head the codec rejects
//! gets its 4xx and the connection closes; a response the codec rejects becomes a 502 (before
//! any of it reached the client) or a cut connection (after).
//!
//! The client side is any [`Transport`](crate::transport::Transport): the session never asks
//! whether it is plain TCP, TLS or an HTTP/2 stream.

mod acme_challenge;
mod forward;
mod input;
mod relay;
mod session;
mod stats_page;
mod switch;
mod track;

use crate::http::Limits;

pub use session::{serve, serve_counted};

/// Head size limits (request line 8 KiB, head 16 KiB, 100 fields).
pub(crate) const LIMITS: Limits = Limits {
    max_request_line: 8 * 1024,
    max_head: 16 * 1024,
    max_headers: crate::http::MAX_HEADERS,
};

/// The path (and query) of an absolute-form target `scheme://authority/path?q`.
fn absolute_path(target: &[u8]) -> &[u8] {
    let after_scheme = match target.windows(3).position(|w| w == b"://") {
        Some(i) => target.get(i + 3..).unwrap_or(&[]),
        None => return target,
    };
    match after_scheme.iter().position(|&b| b == b'/' || b == b'?') {
        Some(i) => after_scheme.get(i..).unwrap_or(b"/"),
        None => b"/",
    }
}
