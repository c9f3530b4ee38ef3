//! Per-client tracking when a connection opens, whatever it will speak (HTTP/1.1, HTTP/2,
//! TCP): a frontend whose table is keyed by the client address counts the connection in its
//! client's entry (`sc_conn_cur`, `sc_conn_rate`), then its connection rules decide whether
//! the connection is closed at once (HAProxy's `tcp-request connection track-sc0 src` and
//! `tcp-request connection reject`). A rejected connection has no session: the worker closes
//! the socket before any session state, TLS handshake or receive buffer exists for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::{client_ip, Local};
use crate::route::{NoHeaders, RequestView};
use crate::snapshot::FrontendRt;
use crate::track::{Handle, Key, KeyKind, Table};

/// A connection counted in a table's `conn_cur`; dropping it (the connection closes) takes it
/// off.
pub struct Tracked {
    pub(crate) table: Arc<Table>,
    pub(crate) handle: Handle,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let now = self.table.ms(Instant::now());
        self.table.conn_close(self.handle, now);
    }
}

impl Tracked {
    /// The client's entry, when it is still the client's in `table` (the same table: a
    /// reload may have made a new one).
    pub(crate) fn entry_in(&self, table: &Arc<Table>) -> Option<Handle> {
        (Arc::ptr_eq(&self.table, table) && table.holds(self.handle)).then_some(self.handle)
    }

    /// Counts the end of the connection's exchange (TCP mode: its bytes) in the client's
    /// entry.
    pub(crate) fn exchange(&self, status: u16, bytes: (u64, u64)) {
        let now = self.table.ms(Instant::now());
        self.table.exchange(self.handle, now, status, bytes);
    }
}

/// Counts a connection of the client known by `key` in `table`; `None` when the table does
/// not track it (full).
pub(crate) fn open(table: &Arc<Table>, key: &Key, now: u64) -> Option<Box<Tracked>> {
    let handle = table.find(key, now)?;
    table.conn_open(handle, now);
    Some(Box::new(Tracked {
        table: Arc::clone(table),
        handle,
    }))
}

/// What becomes of a new connection.
pub enum Admission {
    /// Serve it; counted in the client's entry when the frontend's table is keyed by `src`.
    Serve(Option<Box<Tracked>>),
    /// A connection rule rejected it: close it now (counted as a denial of the table, and
    /// logged).
    Reject,
}

/// A new connection of `peer` on `fe`: counted, then checked against the connection rules.
pub fn admit(fe: &FrontendRt, peer: Option<SocketAddr>, local: &Local) -> Admission {
    let Some(table) = fe.track.as_ref() else {
        return Admission::Serve(None);
    };
    let tracked = match table.key_kind() {
        KeyKind::Src => open(table, &Key::ip(client_ip(peer)), table.ms(Instant::now())),
        // Counted at its first request that carries the key.
        _ => None,
    };
    if fe.connection_rules.is_empty() {
        return Admission::Serve(tracked);
    }
    let sample = tracked
        .as_ref()
        .map(|t| table.sample(t.handle, table.ms(Instant::now())));
    let view = RequestView {
        method: b"",
        path: b"",
        host: None,
        src: client_ip(peer),
        headers: &NoHeaders,
        sni: None,
        hello_sni: None,
    };
    let mut rejected_by = None;
    // Connection rules test only the address and counters: no path, so no error.
    let _ = fe
        .connection_rules
        .each_match_tracked(&view, sample.as_ref(), |&i| {
            rejected_by = Some(i);
            false
        });
    match rejected_by {
        None => Admission::Serve(tracked),
        Some(rule) => {
            table.denied();
            local.connection_rejected(&fe.key, peer, rule);
            // Dropped here: the connection is counted in the rate and leaves `conn_cur`.
            drop(tracked);
            Admission::Reject
        }
    }
}
