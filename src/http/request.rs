//! Request heads: parse with httparse, then apply the RFC 9112 rules it
//! leaves to us, so a head that parses has exactly one meaning.

use std::mem::MaybeUninit;

use super::fields::{
    check_head, header_name_error, header_slots, is_tchar, line_end, list_elements, offset_in,
    scan_fields, skip_empty_lines, ConnectionOptions,
};
use super::{ErrorKind, FieldSection, HttpError, Limits, Span, MAX_HEADERS};

/// Request method. Methods are case-sensitive (RFC 9110 §9.1): `get` is
/// `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Trace,
    Patch,
    Connect,
    /// Any other token; the span locates it in the request's buffer.
    Other(Span),
}

impl Method {
    fn from_token(token: &[u8], span: Span) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            b"CONNECT" => Method::Connect,
            _ => Method::Other(span),
        }
    }

    /// RFC 9110 §9.2.2: the proxy may retry these on another server when the
    /// first failed before answering.
    pub fn is_idempotent(self) -> bool {
        matches!(
            self,
            Method::Get
                | Method::Head
                | Method::Put
                | Method::Delete
                | Method::Options
                | Method::Trace
        )
    }

    /// The method's name; `buf` is needed only for `Other`.
    pub fn as_bytes<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        match self {
            Method::Get => b"GET",
            Method::Head => b"HEAD",
            Method::Post => b"POST",
            Method::Put => b"PUT",
            Method::Delete => b"DELETE",
            Method::Options => b"OPTIONS",
            Method::Trace => b"TRACE",
            Method::Patch => b"PATCH",
            Method::Connect => b"CONNECT",
            Method::Other(span) => span.get(buf),
        }
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither Content-Length nor Transfer-Encoding.
    None,
    Length(u64),
    Chunked,
}

/// Request-target form (RFC 9112 §3.2). Authority-form only goes with
/// CONNECT, which ringlb refuses, so it never appears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`
    Origin,
    /// `http://host/path`; its authority equals Host (checked).
    Absolute,
    /// `*`, OPTIONS only.
    Asterisk,
}

/// A parsed and validated request head. All positions are offsets into the
/// buffer given to [`parse_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Bytes of the head, empty line included: the body (or the next
    /// pipelined request) starts here.
    pub head_len: usize,
    /// Start of the request line; leading empty lines are skipped.
    pub line_start: usize,
    /// Start of the first field line, just past the request line's CRLF.
    pub headers_start: usize,
    pub method: Method,
    /// 0 or 1: HTTP/1.0 or HTTP/1.1.
    pub version_minor: u8,
    pub target: Span,
    pub target_form: TargetForm,
    /// The Host value, or for an HTTP/1.0 absolute-form request without
    /// Host, the target's authority. `None` only for HTTP/1.0 without both.
    pub host: Option<Span>,
    pub framing: BodyFraming,
    /// The client wants the connection kept after this exchange: HTTP/1.1
    /// unless `Connection: close`; HTTP/1.0 only with `keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1 (ignored on 1.0, RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// An Upgrade field was present. Forwarded only when
    /// [`upgrade_to`](Self::upgrade_to) allows it; dropped otherwise.
    pub upgrade: bool,
    /// Upgrade lists `h2c`: the proxy may refuse rather than silently
    /// answer in HTTP/1.1.
    pub upgrade_h2c: bool,
    pub header_count: usize,
    /// Connection options, for the hop-by-hop rewrite.
    pub(crate) conn: ConnectionOptions,
    /// Start of the last X-Forwarded-For line, where the rewrite appends.
    pub(crate) xff_line: Option<usize>,
}

impl RequestHead {
    /// Whether a message body follows the head.
    pub fn has_body(&self) -> bool {
        !matches!(self.framing, BodyFraming::None | BodyFraming::Length(0))
    }

    /// Whether this request's Upgrade may be forwarded, so that a `101` answer turns the
    /// connection into a tunnel: HTTP/1.1, `Connection: upgrade` with an Upgrade field, no
    /// body (the switch then happens right after the head, with nothing of the request left
    /// to frame), never `h2c`, and every protocol offered (its name, before any `/version`)
    /// in `allowed` (lower-case names). Anything else is forwarded as plain HTTP, Upgrade
    /// dropped.
    pub fn upgrade_to(&self, buf: &[u8], allowed: &[String]) -> bool {
        if self.version_minor != 1
            || !self.upgrade
            || !self.conn.upgrade
            || self.upgrade_h2c
            || self.has_body()
            || allowed.is_empty()
        {
            return false;
        }
        let fields = FieldSection::within(buf, self.headers_start..self.head_len);
        let mut offered = 0usize;
        for value in fields.values(b"upgrade") {
            for (_, protocol) in list_elements(value) {
                if protocol.is_empty() {
                    continue;
                }
                let name = protocol.split(|&b| b == b'/').next().unwrap_or(protocol);
                if !allowed
                    .iter()
                    .any(|a| name.eq_ignore_ascii_case(a.as_bytes()))
                {
                    return false;
                }
                offered += 1;
            }
        }
        offered > 0
    }
}

/// Parses the request head at the start of `buf`.
///
/// `Ok(None)`: the head is incomplete and still within limits; call again
/// with more bytes. `Ok(Some(head))`: `buf[..head.head_len]` is the head.
/// `Err`: refuse the request with `err.status()` and close.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>, HttpError> {
    parse(buf, limits).map_err(HttpError::Downstream)
}

fn parse(buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>, ErrorKind> {
    let mut table = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let table = header_slots(&mut table, limits);
    let mut req = httparse::Request::new(&mut []);
    let parsed =
        httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut req, buf, table);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            check_partial_limits(buf, limits)?;
            return Ok(None);
        }
        Err(e) => return Err(map_error(buf, e)),
    };

    let line_start = skip_empty_lines(buf);
    let headers_start = line_end(buf, line_start).unwrap_or(head_len);
    if headers_start.saturating_sub(line_start) > limits.max_request_line {
        return Err(ErrorKind::UriTooLong);
    }
    check_head(buf, head_len, limits)?;

    let method_token = req.method.unwrap_or("").as_bytes();
    let method_start = offset_in(buf, method_token);
    let method = Method::from_token(
        method_token,
        Span {
            start: method_start,
            end: method_start + method_token.len(),
        },
    );
    if method == Method::Connect {
        // No tunnelling: 501 says "not implemented by this server", where
        // 405 would claim the target refuses it and owe an Allow field.
        return Err(ErrorKind::ConnectNotSupported);
    }
    let version_minor = req.version.unwrap_or(1);

    let path = req.path.unwrap_or("").as_bytes();
    let target_start = offset_in(buf, path);
    let target = Span {
        start: target_start,
        end: target_start + path.len(),
    };
    let (target_form, authority) = check_target(path, target_start, method)?;

    let f = scan_fields(buf, req.headers)?;
    if f.te_present && version_minor == 0 {
        return Err(ErrorKind::TransferEncodingHttp10);
    }

    let mut host = f.host;
    if let Some(span) = host {
        if !valid_authority(span.get(buf)) {
            return Err(ErrorKind::InvalidHost);
        }
    }
    if let Some(auth) = authority {
        match host {
            // The absolute-form authority is what a server uses (RFC 9112
            // §3.2.2); requiring Host to agree means ringlb and every server
            // behind it route the request the same way.
            Some(span) if !span.get(buf).eq_ignore_ascii_case(auth.get(buf)) => {
                return Err(ErrorKind::HostMismatch)
            }
            Some(_) => {}
            None => host = Some(auth),
        }
    }
    if version_minor == 1 && f.host.is_none() {
        return Err(ErrorKind::MissingHost);
    }

    let framing = if f.te_chunked {
        BodyFraming::Chunked
    } else if let Some(len) = f.content_length {
        BodyFraming::Length(len)
    } else {
        BodyFraming::None
    };
    let keep_alive = !f.conn.close && (version_minor == 1 || f.conn.keep_alive);

    Ok(Some(RequestHead {
        head_len,
        line_start,
        headers_start,
        method,
        version_minor,
        target,
        target_form,
        host,
        framing,
        keep_alive,
        expect_continue: version_minor == 1 && f.expect_continue,
        upgrade: f.upgrade,
        upgrade_h2c: f.upgrade_h2c,
        header_count: req.headers.len(),
        conn: f.conn,
        xff_line: f.xff_line,
    }))
}

/// An incomplete head may already be over a limit: say so now rather than
/// buffer more.
fn check_partial_limits(buf: &[u8], limits: &Limits) -> Result<(), ErrorKind> {
    let start = skip_empty_lines(buf);
    let line_len = match line_end(buf, start) {
        Some(end) => end - start,
        // No LF yet: the line is at least one byte longer than what we have.
        None => buf.len() - start + 1,
    };
    if line_len > limits.max_request_line {
        return Err(ErrorKind::UriTooLong);
    }
    if buf.len() > limits.max_head {
        return Err(ErrorKind::HeadTooLarge);
    }
    Ok(())
}

fn map_error(buf: &[u8], e: httparse::Error) -> ErrorKind {
    match e {
        httparse::Error::HeaderName => header_name_error(buf),
        httparse::Error::HeaderValue => ErrorKind::InvalidHeaderValue,
        httparse::Error::NewLine => ErrorKind::BadLineEnding,
        httparse::Error::TooManyHeaders => ErrorKind::TooManyHeaders,
        httparse::Error::Version => version_error(buf),
        httparse::Error::Token | httparse::Error::Status => {
            let line = buf.get(skip_empty_lines(buf)..).unwrap_or(&[]);
            let method_len = line.iter().take_while(|&&b| is_tchar(b)).count();
            if method_len == 0 || line.get(method_len) != Some(&b' ') {
                ErrorKind::InvalidMethod
            } else {
                ErrorKind::InvalidTarget
            }
        }
    }
}

/// `HTTP/<digit>` other than 1, or `HTTP/1.<digit>` other than 0 and 1, is
/// a version we do not speak (505); anything else is not a version (400).
/// Looks only at bytes httparse had when it failed, so the answer does not
/// depend on how the head was split across reads.
fn version_error(buf: &[u8]) -> ErrorKind {
    let line = buf.get(skip_empty_lines(buf)..).unwrap_or(&[]);
    let rest = line.splitn(3, |&b| b == b' ').nth(2).unwrap_or(&[]);
    let version_len = rest
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(rest.len());
    let version = rest.get(..version_len).unwrap_or(&[]);
    if version.contains(&b' ') {
        // `GET /a b HTTP/1.1`: the space was in the target.
        return ErrorKind::InvalidTarget;
    }
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, rest @ ..] if major.is_ascii_digit() => {
            if *major != b'1' {
                return ErrorKind::VersionNotSupported;
            }
            match rest {
                [b'.', minor, ..] if minor.is_ascii_digit() => ErrorKind::VersionNotSupported,
                _ => ErrorKind::InvalidVersion,
            }
        }
        _ => ErrorKind::InvalidVersion,
    }
}

/// Checks what httparse lets through in a target (it accepts any visible
/// byte and UTF-8): non-ASCII and `#` are refused, and the form must suit
/// the method. Returns the form and, for absolute-form, the authority span.
fn check_target(
    target: &[u8],
    start: usize,
    method: Method,
) -> Result<(TargetForm, Option<Span>), ErrorKind> {
    // A fragment never goes on the wire (RFC 9112 §3.2); servers disagree
    // on where a path with `#` ends.
    if target
        .iter()
        .any(|&b| b >= 0x80 || b == b'#' || b <= b' ' || b == 0x7f)
    {
        return Err(ErrorKind::InvalidTarget);
    }
    match target.first() {
        Some(b'/') => return Ok((TargetForm::Origin, None)),
        Some(b'*') if target.len() == 1 => {
            return if method == Method::Options {
                Ok((TargetForm::Asterisk, None))
            } else {
                Err(ErrorKind::InvalidTarget)
            };
        }
        _ => {}
    }
    let after_scheme = if starts_with_ignore_case(target, b"http://") {
        7
    } else if starts_with_ignore_case(target, b"https://") {
        8
    } else {
        return Err(ErrorKind::InvalidTarget);
    };
    let rest = target.get(after_scheme..).unwrap_or(&[]);
    let auth_len = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let authority = rest.get(..auth_len).unwrap_or(&[]);
    // userinfo is deprecated and a classic way to disguise the real host
    // (RFC 9110 §4.2.4): refused, which valid_authority does as `@` is not
    // an authority byte.
    if !valid_authority(authority) {
        return Err(ErrorKind::InvalidTarget);
    }
    let auth_start = start + after_scheme;
    Ok((
        TargetForm::Absolute,
        Some(Span {
            start: auth_start,
            end: auth_start + auth_len,
        }),
    ))
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2), non-empty host,
/// port 1 to 5 digits up to 65535 when present.
pub(crate) fn valid_authority(value: &[u8]) -> bool {
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(close) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = value.get(1..close).unwrap_or(&[]);
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
        {
            return false;
        }
        match value.get(close + 1..).unwrap_or(&[]) {
            [] => return true,
            [b':', port @ ..] => (&b"x"[..], Some(port)),
            _ => return false,
        }
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(colon) => (
                value.get(..colon).unwrap_or(&[]),
                Some(value.get(colon + 1..).unwrap_or(&[])),
            ),
            None => (value, None),
        }
    };
    if host.is_empty() || !valid_reg_name(host) {
        return false;
    }
    match port {
        None => true,
        Some(p) => {
            !p.is_empty()
                && p.len() <= 5
                && p.iter().all(u8::is_ascii_digit)
                && p.iter()
                    .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
                    <= 65535
        }
    }
}

fn valid_reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = host.get(i) {
        if b == b'%' {
            let hex = host.get(i + 1..i + 3).unwrap_or(&[]);
            if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            i += 3;
        } else if is_unreserved(b) || is_sub_delim(b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
