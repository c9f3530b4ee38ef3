//! Per-client tracking on the way of a request: the connection is counted in the frontend's
//! table when it opens (a table keyed by `src`: `proxy/track.rs`) or at its first request
//! that carries the key (a header or cookie), the request is counted before the rules run,
//! and the exchange's status and bytes when it ends. The rules then see the client's counters.

use std::time::Instant;

use super::session::Req;
use crate::http::cookie::request_cookie;
use crate::http::{FieldSection, RequestHead};
use crate::proxy::client_ip;
use crate::proxy::track::open;
use crate::track::{Handle, Key, KeyKind, Sample, Table};
use crate::transport::Transport;

/// Counts the request of `r` in its client's entry and, when the frontend's rules test
/// counters, returns the client's values for them. `None` for a client not tracked (no
/// table, no key in the request, or a full table).
pub(super) fn request<T: Transport>(r: &mut Req<'_, T>, head: &RequestHead) -> Option<Sample> {
    let table = r.fe.track.as_ref()?;
    let now = table.ms(Instant::now());
    // An HTTP/2 stream runs as a session of its own: its client's entry is found for each
    // request (the h2 connection was counted when it opened, in a table keyed by `src`).
    if r.s.client.is_h2() {
        let key = match table.key_kind() {
            KeyKind::Src => Key::ip(client_ip(r.s.peer)),
            kind => Key::bytes(key_value(kind, r.input.slice(), head)?),
        };
        let handle = table.find(&key, now)?;
        return count_request(r, table, handle, now);
    }
    let conn = r.s.take_track();
    // The connection's entry, if it is still its client's in this snapshot's table.
    let counted = conn.as_ref().and_then(|c| c.entry_in(table));
    let handle = match table.key_kind() {
        KeyKind::Src => match counted {
            Some(h) => {
                r.s.set_track(conn);
                h
            }
            // No entry yet in this table (a reload made a new one): count the connection
            // there from now on.
            None => {
                drop(conn);
                let c = open(table, &Key::ip(client_ip(r.s.peer)), now);
                let h = c.as_ref().map(|c| c.handle);
                r.s.set_track(c);
                h?
            }
        },
        kind => {
            let Some(value) = key_value(kind, r.input.slice(), head) else {
                r.s.set_track(conn);
                return None;
            };
            let key = Key::bytes(value);
            if counted.is_some() {
                // The connection was counted at an earlier request (under the key that
                // request carried).
                r.s.set_track(conn);
                table.find(&key, now)?
            } else {
                drop(conn);
                let c = open(table, &key, now);
                let h = c.as_ref().map(|c| c.handle);
                r.s.set_track(c);
                h?
            }
        }
    };
    count_request(r, table, handle, now)
}

/// Counts the request in `handle`'s entry; the client's values when rules test them.
fn count_request<T>(r: &mut Req<'_, T>, table: &Table, handle: Handle, now: u64) -> Option<Sample> {
    table.request(handle, now);
    r.track = Some(handle);
    let tests = r.fe.request_rules.tests_tracking() || r.fe.response_rules.tests_tracking();
    tests.then(|| table.sample(handle, now))
}

/// The value of a header or cookie key in the request (none if missing or empty).
fn key_value<'b>(kind: &KeyKind, buf: &'b [u8], head: &RequestHead) -> Option<&'b [u8]> {
    let fields = buf.get(head.headers_start..head.head_len).unwrap_or(&[]);
    let value = match kind {
        KeyKind::Header(name) => FieldSection::new(fields).first(name.as_bytes()),
        KeyKind::Cookie(name) => request_cookie(fields, name.as_bytes()),
        KeyKind::Src => None,
    };
    value.filter(|v| !v.is_empty())
}

/// The exchange of `r` ended: its status and bytes go into the client's entry.
pub(super) fn finish<T>(r: &Req<'_, T>) {
    if let (Some(table), Some(h)) = (r.fe.track.as_ref(), r.track) {
        let now = table.ms(Instant::now());
        table.exchange(h, now, r.x.status, (r.x.bytes_in, r.x.bytes_out));
    }
}
