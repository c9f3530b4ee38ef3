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
use crate::http::{FieldEdit, FieldLine};
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

/// What persistence changes in a request's head as it is written upstream.
pub struct RequestEdits<'a> {
    name: &'a [u8],
    edit: Option<RequestEdit<'a>>,
}

impl FieldEdit for RequestEdits<'_> {
    fn line(&self, f: &FieldLine<'_>, out: &mut Vec<u8>) -> bool {
        match self.edit {
            Some(edit) if f.is(b"cookie") => cookie::rewrite_cookie_line(f, self.name, edit, out),
            _ => false,
        }
    }
}

/// The edits of a request whose cookie said `sticky`.
pub fn request_edits<'a>(ck: &'a Cookie, sticky: &Sticky, be: &'a BackendRt) -> RequestEdits<'a> {
    let edit = match ck.mode {
        // ringlb's own cookie is none of the server's business.
        CookieMode::Insert if ck.indirect => Some(RequestEdit::Remove),
        CookieMode::Prefix => sticky
            .server
            .and_then(|i| be.servers.get(i))
            .map(|srv| RequestEdit::StripPrefix(srv.cookie.as_bytes())),
        _ => None,
    };
    RequestEdits {
        name: ck.name.as_bytes(),
        edit,
    }
}

/// What persistence changes in a response's head as it is written to the client.
pub struct ResponseEdits<'a> {
    name: &'a [u8],
    edit: Option<ResponseEdit<'a>>,
    /// `Set-Cookie` (and `Cache-Control`) lines ringlb adds (insert mode).
    add: String,
}

impl FieldEdit for ResponseEdits<'_> {
    fn line(&self, f: &FieldLine<'_>, out: &mut Vec<u8>) -> bool {
        match self.edit {
            Some(edit) if f.is(b"set-cookie") => {
                cookie::rewrite_set_cookie_line(f, self.name, edit, out)
            }
            _ => false,
        }
    }

    fn append(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.add.as_bytes());
    }
}

/// The edits of a response from server `chosen` to a request whose cookie said `sticky`.
pub fn response_edits<'a>(
    ck: &'a Cookie,
    sticky: &Sticky,
    be: &'a BackendRt,
    chosen: usize,
) -> ResponseEdits<'a> {
    let mut edits = ResponseEdits {
        name: ck.name.as_bytes(),
        edit: None,
        add: String::new(),
    };
    let Some(srv) = be.servers.get(chosen) else {
        return edits;
    };
    match ck.mode {
        CookieMode::Prefix => edits.edit = Some(ResponseEdit::Prefix(srv.cookie.as_bytes())),
        CookieMode::Rewrite => edits.edit = Some(ResponseEdit::Replace(srv.cookie.as_bytes())),
        CookieMode::Insert => {
            let same = sticky.server == Some(chosen);
            // Dated cookies are refreshed so that `maxidle` counts from the last request.
            let dated = ck.maxidle.is_some() || ck.maxlife.is_some();
            if same && ck.indirect && !dated {
                return edits;
            }
            let now = now_secs();
            let line = &mut edits.add;
            line.push_str(&format!("Set-Cookie: {}={}", ck.name, srv.cookie));
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
        }
    }
    edits
}
