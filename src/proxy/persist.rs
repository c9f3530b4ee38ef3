//! Cookie persistence: which server a request's cookie names, what to change in the request
//! forwarded upstream, and what to add or rewrite in the response.
//!
//! - `insert`: ringlb sets `NAME=<server cookie>` itself (with `|last|first` timestamps when
//!   `maxidle`/`maxlife` apply); `indirect` hides it from the server and does not set it again
//!   on a client that already has the right one; `nocache` adds `Cache-Control: private`.
//! - `prefix`: the application's own cookie `NAME=v` leaves as `NAME=<server>~v` and comes
//!   back stripped.
//! - `rewrite`: the application's cookie `NAME` is rewritten to `NAME=<server>`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Cookie, CookieMode};
use crate::http::cookie::{self, RequestEdit, ResponseEdit};
use crate::snapshot::BackendRt;

/// What a request's cookie said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sticky {
    /// The server the cookie names (index in the backend), if valid and not expired.
    pub server: Option<usize>,
    /// When the client first got the cookie (insert mode with `maxlife`).
    pub first_seen: Option<u64>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads the persistence cookie from a request's field section.
pub fn read(be: &BackendRt, ck: &Cookie, fields: &[u8]) -> Sticky {
    let Some(value) = cookie::request_cookie(fields, ck.name.as_bytes()) else {
        return Sticky::default();
    };
    let (srv, first, last) = match ck.mode {
        CookieMode::Prefix => match value.iter().position(|&b| b == b'~') {
            Some(i) => (value.get(..i).unwrap_or(&[]), None, None),
            None => return Sticky::default(),
        },
        CookieMode::Insert | CookieMode::Rewrite => {
            let mut parts = value.split(|&b| b == b'|');
            let srv = parts.next().unwrap_or(&[]);
            let last = parts.next().and_then(hex);
            let first = parts.next().and_then(hex);
            (srv, first, last)
        }
    };
    let now = now_secs();
    if let (Some(maxidle), Some(last)) = (ck.maxidle, last) {
        if now.saturating_sub(last) > maxidle.as_secs() {
            return Sticky::default();
        }
    }
    if let (Some(maxlife), Some(first)) = (ck.maxlife, first) {
        if now.saturating_sub(first) > maxlife.as_secs() {
            return Sticky::default();
        }
    }
    // A cookie with dates is only valid if the dates the config asks for are there.
    if ck.mode == CookieMode::Insert
        && ((ck.maxidle.is_some() && last.is_none()) || (ck.maxlife.is_some() && first.is_none()))
    {
        return Sticky::default();
    }
    let server = be.servers.iter().position(|s| s.cookie.as_bytes() == srv);
    Sticky {
        server,
        first_seen: server.and(first),
    }
}

fn hex(b: &[u8]) -> Option<u64> {
    u64::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok()
}

/// Edits the request head forwarded upstream; `None` if unchanged.
pub fn edit_request(ck: &Cookie, sticky: &Sticky, be: &BackendRt, head: &[u8]) -> Option<Vec<u8>> {
    match ck.mode {
        CookieMode::Insert if ck.indirect => {
            cookie::edit_request(head, ck.name.as_bytes(), RequestEdit::Remove)
        }
        CookieMode::Prefix => {
            let srv = be.servers.get(sticky.server?)?;
            cookie::edit_request(
                head,
                ck.name.as_bytes(),
                RequestEdit::StripPrefix(srv.cookie.as_bytes()),
            )
        }
        _ => None,
    }
}

/// Edits the response head going to the client, for a response from server `chosen`.
pub fn edit_response(
    ck: &Cookie,
    sticky: &Sticky,
    be: &BackendRt,
    chosen: usize,
    head: &mut Vec<u8>,
) {
    let Some(srv) = be.servers.get(chosen) else {
        return;
    };
    match ck.mode {
        CookieMode::Prefix => {
            if let Some(h) = cookie::edit_set_cookie(
                head,
                ck.name.as_bytes(),
                ResponseEdit::Prefix(srv.cookie.as_bytes()),
            ) {
                *head = h;
            }
        }
        CookieMode::Rewrite => {
            if let Some(h) = cookie::edit_set_cookie(
                head,
                ck.name.as_bytes(),
                ResponseEdit::Replace(srv.cookie.as_bytes()),
            ) {
                *head = h;
            }
        }
        CookieMode::Insert => {
            let same = sticky.server == Some(chosen);
            // Dated cookies are refreshed so that `maxidle` counts from the last request.
            let dated = ck.maxidle.is_some() || ck.maxlife.is_some();
            if same && ck.indirect && !dated {
                return;
            }
            let now = now_secs();
            let mut line = format!("Set-Cookie: {}={}", ck.name, srv.cookie);
            if dated {
                let first = if same {
                    sticky.first_seen.unwrap_or(now)
                } else {
                    now
                };
                line.push_str(&format!("|{now:x}|{first:x}"));
            }
            line.push_str("; path=/");
            if let Some(d) = &ck.domain {
                line.push_str(&format!("; domain={d}"));
            }
            if ck.httponly {
                line.push_str("; HttpOnly");
            }
            if ck.secure {
                line.push_str("; Secure");
            }
            line.push_str("\r\n");
            if ck.nocache {
                line.push_str("Cache-Control: private\r\n");
            }
            cookie::append_fields(head, line.as_bytes());
        }
    }
}
