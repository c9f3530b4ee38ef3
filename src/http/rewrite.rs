//! Writing the heads ringlb forwards: start line as received, field lines
//! copied verbatim minus hop-by-hop ones, then ringlb's own fields.
//!
//! Works on heads validated by `parse_request`/`parse_response` (whole
//! CRLF lines, one colon per field line), in one pass, allocating nothing
//! but growth of `out`.

use std::io::Write as _;
use std::net::IpAddr;

use super::fields::{classify, Field};
use super::section::{FieldLine, FieldSection};
use super::{RequestHead, ResponseHead};

/// How to forward a request upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestRewrite<'a> {
    /// Keep the server connection for another request. HTTP/1.1 requests
    /// say nothing (persistent is the default, and every HTTP/1.1 server
    /// honours it); HTTP/1.0 requests get `Connection: keep-alive`. `false`
    /// sends `Connection: close`.
    pub upstream_keep_alive: bool,
    /// The client address ([`IpText::as_bytes`]) to add to X-Forwarded-For;
    /// `Some` also replaces any X-Forwarded-Proto with the client's scheme.
    pub forwardfor: Option<&'a [u8]>,
    /// The client connection is TLS: X-Forwarded-Proto says `https`.
    pub https: bool,
    /// Drop `Expect`: the proxy answered `100 Continue` itself, or will not
    /// wait for the server's.
    pub strip_expect: bool,
    /// Forward the client's Upgrade (the proxy decided to tunnel if the
    /// server switches, [`RequestHead::upgrade_to`]): its Upgrade lines go
    /// on and the head ends with `Connection: upgrade` in place of any
    /// keep-alive or close option. Otherwise Upgrade is dropped as the
    /// hop-by-hop field it is.
    pub upgrade: bool,
}

/// Edits of a head's field lines made while it is written — persistence cookies, header
/// rules (`crate::rules`) — so that a head is written once, with every edit in place, and never parsed
/// again.
pub trait FieldEdit {
    /// Called for each field line about to be forwarded: writes its replacement (whole lines
    /// with CRLF, or nothing to drop it) into `out` and returns true, or returns false to
    /// forward it as it is.
    fn line(&self, _f: &FieldLine<'_>, _out: &mut Vec<u8>) -> bool {
        false
    }

    /// Writes field lines (each ending in CRLF) to add after the forwarded ones.
    fn append(&self, _out: &mut Vec<u8>) {}

    /// Called with the start line (CRLF included): writes its replacement and returns true,
    /// or returns false to forward it as it is (a rule that sets the path or query).
    fn start(&self, _line: &[u8], _out: &mut Vec<u8>) -> bool {
        false
    }

    /// Whether the edit writes field `name` (lowercase) itself, so that ringlb does not add
    /// its own (a rule setting X-Forwarded-Proto wins over `forwardfor`'s).
    fn owns(&self, _name: &[u8]) -> bool {
        false
    }

    /// Whether [`FieldEdit::line`] may replace a line; `false` lets the writer copy runs of
    /// kept lines at once instead of asking line by line.
    fn edits_lines(&self) -> bool {
        true
    }
}

/// No edit: the head goes as the rewrite options alone make it.
pub struct NoEdit;

impl FieldEdit for NoEdit {
    fn edits_lines(&self) -> bool {
        false
    }
}

/// Writes the field lines a head keeps: through the edits when they edit lines, else as few
/// copies (consecutive kept lines, adjacent in the received head, go out in one).
struct Runs<'b, 'e> {
    buf: &'b [u8],
    /// The edits, when they edit lines (each line then goes through them).
    edits: Option<&'e dyn FieldEdit>,
    /// The kept bytes not written yet.
    pending: std::ops::Range<usize>,
}

impl<'b, 'e> Runs<'b, 'e> {
    fn new(buf: &'b [u8], edits: &'e dyn FieldEdit) -> Self {
        Runs {
            buf,
            edits: edits.edits_lines().then_some(edits),
            pending: 0..0,
        }
    }

    /// Writes (or holds, to copy with the lines after it) the kept line `f`.
    fn keep(&mut self, f: &FieldLine<'_>, out: &mut Vec<u8>) {
        if let Some(edits) = self.edits {
            if !edits.line(f, out) {
                out.extend_from_slice(f.line);
            }
            return;
        }
        if self.pending.end != f.start || self.pending.is_empty() {
            self.flush(out);
            self.pending.start = f.start;
        }
        self.pending.end = f.end();
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            out.extend_from_slice(self.buf.get(self.pending.clone()).unwrap_or(&[]));
        }
        self.pending = 0..0;
    }
}

/// How to forward a response to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseRewrite {
    /// Keep the client connection. Must be `false` when the response body
    /// runs until close or is de-chunked: nothing else could delimit it.
    pub client_keep_alive: bool,
    /// The client's `version_minor`: an HTTP/1.0 client kept alive needs an
    /// explicit `Connection: keep-alive`.
    pub client_version_minor: u8,
    /// The proxy removes the chunked framing (HTTP/1.0 client): drop
    /// Transfer-Encoding and Trailer.
    pub dechunk: bool,
}

const XFF_NAME: &[u8] = b"X-Forwarded-For: ";
const XFP_HTTP: &[u8] = b"X-Forwarded-Proto: http\r\n";
const XFP_HTTPS: &[u8] = b"X-Forwarded-Proto: https\r\n";
const CONNECTION_CLOSE: &[u8] = b"Connection: close\r\n";
const CONNECTION_KEEP_ALIVE: &[u8] = b"Connection: keep-alive\r\n";
const CONNECTION_UPGRADE: &[u8] = b"Connection: upgrade\r\n";

/// Appends to `out` the head to send upstream for the request `head`
/// parsed from `buf`.
///
/// X-Forwarded-For: the client address is appended as `, ip` to the last
/// X-Forwarded-For line the client sent (one list, as the client wrote it),
/// or added as a new line when there was none. Connection options never
/// remove X-Forwarded-For.
pub fn write_request_head(
    buf: &[u8],
    head: &RequestHead,
    opts: &RequestRewrite<'_>,
    edits: &dyn FieldEdit,
    out: &mut Vec<u8>,
) {
    out.reserve(head.head_len + 96);
    let start = buf.get(head.line_start..head.headers_start).unwrap_or(&[]);
    if !edits.start(start, out) {
        out.extend_from_slice(start);
    }
    let mut xff_written = false;
    let mut runs = Runs::new(buf, edits);
    for f in FieldSection::within(buf, head.headers_start..head.head_len).lines() {
        let kind = classify(f.name);
        let keep = match kind {
            Field::Upgrade if opts.upgrade => true,
            k if k.always_hop_by_hop() => false,
            Field::Expect if opts.strip_expect => false,
            Field::XForwardedProto if opts.forwardfor.is_some() => false,
            Field::XForwardedFor => {
                // A rule that edits X-Forwarded-For sees the client's line first; ringlb's
                // address then goes on a line of its own.
                if let (Some(ip), Some(_)) =
                    (opts.forwardfor, head.xff_line.filter(|&s| s == f.start))
                {
                    if !edits.owns(b"x-forwarded-for") {
                        runs.flush(out);
                        append_to_list(f.line, ip, out);
                        xff_written = true;
                        continue;
                    }
                }
                true
            }
            Field::ContentLength | Field::TransferEncoding | Field::Host => true,
            _ => !head.conn.names(buf, f.name),
        };
        if keep {
            runs.keep(&f, out);
        }
    }
    runs.flush(out);
    edits.append(out);
    if let Some(ip) = opts.forwardfor {
        if !xff_written {
            out.extend_from_slice(XFF_NAME);
            out.extend_from_slice(ip);
            out.extend_from_slice(b"\r\n");
        }
        if !edits.owns(b"x-forwarded-proto") {
            out.extend_from_slice(if opts.https { XFP_HTTPS } else { XFP_HTTP });
        }
    }
    if opts.upgrade {
        out.extend_from_slice(CONNECTION_UPGRADE);
    } else if !opts.upstream_keep_alive {
        out.extend_from_slice(CONNECTION_CLOSE);
    } else if head.version_minor == 0 {
        out.extend_from_slice(CONNECTION_KEEP_ALIVE);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends to `out` the head to send to the client for the response `head`
/// parsed from `buf`. A `101 Switching Protocols` (relayed only when the
/// request asked for that upgrade) keeps its Upgrade field and says
/// `Connection: upgrade`; the connection is then a tunnel, so the keep-alive
/// options do not apply to it.
pub fn write_response_head(
    buf: &[u8],
    head: &ResponseHead,
    opts: &ResponseRewrite,
    edits: &dyn FieldEdit,
    out: &mut Vec<u8>,
) {
    out.reserve(head.head_len + 32);
    out.extend_from_slice(buf.get(head.line_start..head.headers_start).unwrap_or(&[]));
    let switching = head.status == 101;
    let mut runs = Runs::new(buf, edits);
    for f in FieldSection::within(buf, head.headers_start..head.head_len).lines() {
        let keep = match classify(f.name) {
            Field::Upgrade if switching => true,
            k if k.always_hop_by_hop() => false,
            Field::TransferEncoding | Field::Trailer if opts.dechunk => false,
            Field::ContentLength | Field::TransferEncoding | Field::XForwardedFor => true,
            _ => !head.conn.names(buf, f.name),
        };
        if keep {
            runs.keep(&f, out);
        }
    }
    runs.flush(out);
    if switching {
        out.extend_from_slice(CONNECTION_UPGRADE);
    } else if !opts.client_keep_alive || opts.dechunk {
        out.extend_from_slice(CONNECTION_CLOSE);
    } else if opts.client_version_minor == 0 {
        out.extend_from_slice(CONNECTION_KEEP_ALIVE);
    }
    // Added fields go last, as a server's own would (a `Set-Cookie` of persistence).
    edits.append(out);
    out.extend_from_slice(b"\r\n");
}

/// Writes field line `line` (CRLF included) with `, item` added to its value,
/// or `item` alone when the value is empty.
fn append_to_list(line: &[u8], item: &[u8], out: &mut Vec<u8>) {
    let body = line.strip_suffix(b"\r\n").unwrap_or(line);
    let trimmed_len = body.len()
        - body
            .iter()
            .rev()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
    let body = body.get(..trimmed_len).unwrap_or(body);
    out.extend_from_slice(body);
    if body.last() == Some(&b':') {
        out.push(b' ');
    } else {
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(item);
    out.extend_from_slice(b"\r\n");
}

/// An IP address as text, formatted once per client connection so each
/// request's X-Forwarded-For costs a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpText {
    text: [u8; 45],
    len: u8,
}

impl IpText {
    /// IPv4-mapped IPv6 addresses are written as IPv4.
    pub fn new(ip: IpAddr) -> Self {
        let mut text = [0u8; 45];
        let len = match ip.to_canonical() {
            // Every request of a frontend with `forwardfor` writes one: digits by hand, not
            // through the formatting machinery.
            IpAddr::V4(v4) => {
                let mut n = 0;
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        if let Some(t) = text.get_mut(n) {
                            *t = b'.';
                        }
                        n += 1;
                    }
                    let digits = [octet / 100, octet / 10 % 10, octet % 10];
                    let skip = if octet >= 100 {
                        0
                    } else if octet >= 10 {
                        1
                    } else {
                        2
                    };
                    for d in digits.iter().skip(skip) {
                        if let Some(t) = text.get_mut(n) {
                            *t = b'0' + d;
                        }
                        n += 1;
                    }
                }
                n
            }
            v6 => {
                let mut rest: &mut [u8] = &mut text;
                // 45 bytes hold the longest IPv6 text form; a failure would leave a
                // shorter text, never a panic.
                let _ = write!(rest, "{}", v6);
                45 - rest.len()
            }
        };
        IpText {
            text,
            len: len as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.text.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
