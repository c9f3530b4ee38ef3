//! Per-client tracking (HAProxy's stick tables, kept simple): one [`Table`] per frontend that
//! has `[frontend.X.track]`, keyed by the client address, a header or a cookie, counting
//! concurrent connections and, over sliding windows, connections, requests, HTTP errors and
//! bytes in and out per client. Request rules test the counters (`sc_http_req_rate gt 100`).
//!
//! This room is pure and std-only: no I/O, no threads, no clock (callers pass `now`, as
//! milliseconds since the table's origin: [`Table::ms`] turns an `Instant` into them). Every
//! room above it may import it; `route` does, for the counter names its criteria test.
//!
//! - [`Counter`], [`Sample`]: what a condition can test, and one client's values of it;
//! - [`Key`]: what a client is known by (an address, or the first [`KEY_BYTES`] bytes of a
//!   header or cookie value);
//! - [`window`]: a rate over a sliding window in one atomic word and one more for the
//!   previous period;
//! - [`table`]: the table: a fixed array of slots shared by every worker, each key choosing
//!   between two buckets of 16 slots, no lock on a hit (see docs/design.md, "Per-client
//!   tracking").
//!
//! Invariants: a table never holds more than its `size` entries, holds `size` live clients
//! before it pushes one out, and never holds more memory than its slots allocated when it is
//! made (`size × 4/3` rounded up to 32, × [`table::SLOT_BYTES`]); nothing here panics or
//! allocates on the request path; counters saturate instead of wrapping.

pub mod table;
pub mod window;

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the tests start the table's clock and run two threads on one table"
)]
mod tests;

use std::net::IpAddr;
use std::time::Duration;

pub use table::{EntryView, Handle, Table, TableStats};

/// Bytes of a key kept and compared: a header or cookie value longer than this is tracked by
/// its first `KEY_BYTES` bytes (HAProxy's `len 32` for string tables).
pub const KEY_BYTES: usize = 32;

/// Shortest rate period: the window's epoch field counts periods, and one second keeps it
/// from wrapping for half a year.
pub const MIN_PERIOD: Duration = Duration::from_secs(1);

/// Most entries a table may be configured to hold.
pub const MAX_SIZE: u32 = 16 * 1024 * 1024;

/// A tracked value, as a condition names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Connections of this client open now.
    ConnCur,
    /// Connections opened over the connection-rate period.
    ConnRate,
    /// Requests over the request-rate period.
    ReqRate,
    /// Responses with a client-error status (4xx but 401 and 407, as HAProxy counts them)
    /// over the error-rate period.
    ErrRate,
    /// Request bytes received over the bytes-in period.
    BytesInRate,
    /// Response bytes sent over the bytes-out period.
    BytesOutRate,
}

/// Number of [`Counter`]s; rates are all but the first.
pub const COUNTERS: usize = 6;
/// Number of rate counters (each has its own period).
pub const RATES: usize = 5;

impl Counter {
    pub const ALL: [Counter; COUNTERS] = [
        Counter::ConnCur,
        Counter::ConnRate,
        Counter::ReqRate,
        Counter::ErrRate,
        Counter::BytesInRate,
        Counter::BytesOutRate,
    ];

    /// The fetch name in a condition (and in `show table`, without `sc_`).
    pub fn name(self) -> &'static str {
        match self {
            Counter::ConnCur => "conn_cur",
            Counter::ConnRate => "conn_rate",
            Counter::ReqRate => "http_req_rate",
            Counter::ErrRate => "http_err_rate",
            Counter::BytesInRate => "bytes_in_rate",
            Counter::BytesOutRate => "bytes_out_rate",
        }
    }

    /// `conn_cur` → `ConnCur`, …
    pub fn from_name(name: &str) -> Option<Counter> {
        Counter::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The rate slot (`None` for `ConnCur`).
    pub fn rate(self) -> Option<usize> {
        self.index().checked_sub(1)
    }
}

/// One client's values, indexed by [`Counter::index`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample(pub [u64; COUNTERS]);

impl Sample {
    pub fn get(&self, c: Counter) -> u64 {
        self.0.get(c.index()).copied().unwrap_or(0)
    }
}

/// What a table's clients are known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// The client address (after a PROXY header, the address it names).
    Src,
    /// The value of a request header (name stored lowercase); requests without it are not
    /// tracked.
    Header(String),
    /// The value of a request cookie; requests without it are not tracked.
    Cookie(String),
}

impl KeyKind {
    /// As the config writes it: `src`, `hdr(X-Api-Key)`, `cookie(session)`.
    pub fn shown(&self) -> String {
        match self {
            KeyKind::Src => "src".into(),
            KeyKind::Header(n) => format!("hdr({n})"),
            KeyKind::Cookie(n) => format!("cookie({n})"),
        }
    }
}

/// `[frontend.X.track]` as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub key: KeyKind,
    /// Most entries; beyond it the least recently seen entry of the key's two buckets goes.
    pub size: u32,
    /// An entry not seen for this long (and with no connection open) is gone.
    pub expire: Duration,
    /// The period of each rate, indexed by [`Counter::rate`].
    pub periods: [Duration; RATES],
}

/// A client's identity in a table: up to [`KEY_BYTES`] bytes, zero-padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(pub [u8; KEY_BYTES]);

impl Key {
    /// An address; IPv4 (and IPv4-mapped IPv6) as `::ffff:a.b.c.d`, so one client is one key
    /// whatever the listener's family.
    pub fn ip(ip: IpAddr) -> Key {
        let v6 = match ip.to_canonical() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let mut k = [0u8; KEY_BYTES];
        for (d, s) in k.iter_mut().zip(v6.octets()) {
            *d = s;
        }
        Key(k)
    }

    /// A header or cookie value: its first [`KEY_BYTES`] bytes.
    pub fn bytes(v: &[u8]) -> Key {
        let mut k = [0u8; KEY_BYTES];
        for (d, s) in k.iter_mut().zip(v) {
            *d = *s;
        }
        Key(k)
    }

    /// As `show table` prints it for a table of `kind`.
    pub fn shown(&self, kind: &KeyKind) -> String {
        match kind {
            KeyKind::Src => {
                let mut o = [0u8; 16];
                for (d, s) in o.iter_mut().zip(self.0) {
                    *d = s;
                }
                IpAddr::from(o).to_canonical().to_string()
            }
            _ => {
                let end = self.0.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                let raw = self.0.get(..end).unwrap_or(&[]);
                String::from_utf8_lossy(raw).into_owned()
            }
        }
    }
}

/// Whether a response status counts as an HTTP error of its client (HAProxy's default:
/// 4xx but 401 and 407, which are part of authentication).
pub fn is_client_error(status: u16) -> bool {
    (400..500).contains(&status) && status != 401 && status != 407
}
