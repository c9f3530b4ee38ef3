//! The answers rules make (redirects, `return`) and the error pages operators give
//! (`errorfile`): HAProxy's format, a complete HTTP response in a file.

use std::fmt;

use super::{Answer, RedirectTo};
use crate::http::{reason_phrase, response};

/// Largest errorfile accepted (HAProxy bounds it by its buffer size, 16 KiB by default).
pub const MAX_PAGE: usize = 64 * 1024;

/// An errorfile, checked and rewritten when the config is loaded: its status line and fields
/// as written (any line ending), `Content-Length` set to its body, `Connection: close` (ringlb
/// closes after its own errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    pub status: u16,
    pub bytes: Vec<u8>,
}

/// Why a file is not a usable error page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    TooLarge(usize),
    /// Not a complete HTTP/1.x response head (the parser's reason).
    Malformed(String),
    /// Its `Content-Length` and its body disagree.
    Length {
        said: u64,
        body: usize,
    },
    Chunked,
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::TooLarge(n) => write!(f, "{n} bytes, more than the {MAX_PAGE} allowed"),
            PageError::Malformed(why) => write!(
                f,
                "not a complete HTTP response (status line, header fields, empty line, body): {why}"
            ),
            PageError::Length { said, body } => write!(
                f,
                "its Content-Length says {said} but the body after the empty line has {body} bytes"
            ),
            PageError::Chunked => write!(
                f,
                "a chunked body cannot be sent as is; give the body plainly"
            ),
        }
    }
}

impl ErrorPage {
    /// Checks the contents of an errorfile.
    pub fn parse(raw: &[u8]) -> Result<ErrorPage, PageError> {
        if raw.len() > MAX_PAGE {
            return Err(PageError::TooLarge(raw.len()));
        }
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut fields);
        let head_len = match res.parse(raw) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return Err(PageError::Malformed(
                    "the head does not end with an empty line".into(),
                ))
            }
            Err(e) => return Err(PageError::Malformed(e.to_string())),
        };
        let status = res.code.unwrap_or(0);
        let body = raw.get(head_len..).unwrap_or(&[]);
        let mut out = format!(
            "HTTP/1.{} {status} {}\r\n",
            res.version.unwrap_or(1),
            res.reason.unwrap_or("")
        )
        .into_bytes();
        for h in res.headers.iter() {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                let said = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok());
                match said {
                    Some(n) if n == body.len() as u64 => continue,
                    Some(n) => {
                        return Err(PageError::Length {
                            said: n,
                            body: body.len(),
                        })
                    }
                    None => return Err(PageError::Malformed("invalid Content-Length".into())),
                }
            }
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                return Err(PageError::Chunked);
            }
            if name.eq_ignore_ascii_case(b"connection") || name.eq_ignore_ascii_case(b"keep-alive")
            {
                continue;
            }
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(
            format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(body);
        Ok(ErrorPage { status, bytes: out })
    }
}

/// The error pages of a frontend or backend, by the status they replace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorPages(pub Vec<(u16, ErrorPage)>);

impl ErrorPages {
    /// The page that replaces ringlb's own for `status`, if one was given.
    pub fn get(&self, status: u16) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, p)| p.bytes.as_slice())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the request looked like, for a redirect's `Location`.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Path and query as received (an absolute-form target reduced to them).
    pub path: &'a [u8],
    pub host: Option<&'a [u8]>,
    /// A HEAD request: the answer's head only (its Content-Length still the body's).
    pub head_only: bool,
}

impl Answer {
    /// The status it answers with.
    pub fn status(&self) -> u16 {
        match self {
            Answer::Deny(s) => *s,
            Answer::Return { status, .. } | Answer::Tarpit { status, .. } => *status,
            Answer::Redirect { code, .. } => *code,
        }
    }

    /// The complete response of a `return` or a redirect (a `deny` or a `tarpit` is ringlb's
    /// error page and is not built here: `None`). Without `keep_alive` it says `Connection: close`.
    pub fn response(&self, req: Target<'_>, keep_alive: bool) -> Option<Vec<u8>> {
        match self {
            Answer::Deny(_) | Answer::Tarpit { .. } => None,
            Answer::Return {
                status,
                content_type,
                body,
                retry_after,
            } => {
                let extra = match retry_after {
                    Some(s) => format!("Retry-After: {s}\r\n"),
                    None => String::new(),
                };
                let mut out = response(*status, content_type, &extra, body, keep_alive);
                if req.head_only {
                    out.truncate(out.len().saturating_sub(body.len()));
                }
                Some(out)
            }
            Answer::Redirect {
                to,
                code,
                drop_query,
            } => {
                let mut out =
                    format!("HTTP/1.1 {code} {}\r\nLocation: ", reason_phrase(*code)).into_bytes();
                location(to, *drop_query, req, &mut out);
                out.extend_from_slice(b"\r\nContent-Length: 0\r\nCache-Control: no-cache\r\n");
                if !keep_alive {
                    out.extend_from_slice(b"Connection: close\r\n");
                }
                out.extend_from_slice(b"\r\n");
                Some(out)
            }
        }
    }
}

/// Writes a redirect's `Location` value.
fn location(to: &RedirectTo, drop_query: bool, req: Target<'_>, out: &mut Vec<u8>) {
    let path = if drop_query {
        let end = req
            .path
            .iter()
            .position(|&b| b == b'?')
            .unwrap_or(req.path.len());
        req.path.get(..end).unwrap_or(req.path)
    } else {
        req.path
    };
    match to {
        RedirectTo::Location(l) => out.extend_from_slice(l.as_bytes()),
        RedirectTo::Prefix(p) => {
            // HAProxy: a prefix of exactly "/" inserts nothing; no "//" at the junction.
            let p = p.strip_suffix('/').unwrap_or(p);
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(path);
        }
        RedirectTo::Scheme(s) => {
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"://");
            out.extend_from_slice(req.host.unwrap_or(&[]));
            out.extend_from_slice(path);
        }
    }
}
