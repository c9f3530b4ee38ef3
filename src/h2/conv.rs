//! RFC 9113 §8.2–8.3 conversions between h2 and the HTTP/1.1 heads ringlb's sessions read
//! and its servers speak.
//!
//! A request's header list becomes an HTTP/1.1 request head: `:authority` becomes `Host` (a
//! `Host` field is used only when `:authority` is absent), `cookie` fields are joined with
//! `"; "`, a body without `content-length` is sent chunked. A list the protocol calls
//! malformed (uppercase or invalid names, CR/LF/NUL in values, connection-specific fields,
//! `te` other than `trailers`, pseudo-fields after regular ones, repeated or missing
//! pseudo-fields) is refused: it never reaches an HTTP/1.1 parser that could read it another
//! way. A response head becomes an h2 header list without its connection-specific fields.

use crate::http::ResponseHead;

use super::hpack;

/// Why a request is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed (RFC 9113 §8.1.1): the stream is reset with PROTOCOL_ERROR.
    Malformed(&'static str),
    /// Well-formed but not served: answered with this status.
    Status(u16),
}

/// An h2 request as an HTTP/1.1 request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Request line and fields, ending with the empty line.
    pub head: Vec<u8>,
    /// `content-length`, which the DATA frames must add up to.
    pub content_length: Option<u64>,
    /// The body goes to the session chunk-encoded (no `content-length`, body expected).
    pub chunked: bool,
    /// A HEAD request (its response has no body whatever its fields say).
    pub head_method: bool,
}

/// Fields that only mean something on one HTTP/1.1 connection (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

/// Collects a request's fields as they are decoded.
#[derive(Default)]
pub struct RequestBuilder {
    method: Option<Vec<u8>>,
    scheme: Option<Vec<u8>>,
    authority: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    host: Option<Vec<u8>>,
    cookie: Vec<u8>,
    fields: Vec<u8>,
    content_length: Option<u64>,
    regular_seen: bool,
    error: Option<&'static str>,
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

fn valid_value(v: &[u8]) -> bool {
    let edge = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    !v.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') && !edge(v.first()) && !edge(v.last())
}

impl RequestBuilder {
    fn fail(&mut self, why: &'static str) {
        self.error.get_or_insert(why);
    }

    fn pseudo(&mut self, which: fn(&mut Self) -> &mut Option<Vec<u8>>, value: &[u8]) {
        if self.regular_seen {
            return self.fail("pseudo-header field after a regular field");
        }
        let slot = which(self);
        if slot.is_some() {
            return self.fail("repeated pseudo-header field");
        }
        *slot = Some(value.to_vec());
    }

    /// One decoded field.
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if !valid_value(value) {
            return self.fail("invalid field value");
        }
        match name {
            b":method" => return self.pseudo(|s| &mut s.method, value),
            b":scheme" => return self.pseudo(|s| &mut s.scheme, value),
            b":authority" => return self.pseudo(|s| &mut s.authority, value),
            b":path" => return self.pseudo(|s| &mut s.path, value),
            _ if name.first() == Some(&b':') => return self.fail("unknown pseudo-header field"),
            _ => {}
        }
        self.regular_seen = true;
        if !valid_name(name) {
            return self.fail("invalid field name");
        }
        if CONNECTION_SPECIFIC.contains(&name) {
            return self.fail("connection-specific field");
        }
        match name {
            b"te" if value != b"trailers" => self.fail("te other than trailers"),
            b"te" => {}
            b"host" => {
                if self.host.is_some() {
                    return self.fail("repeated host");
                }
                self.host = Some(value.to_vec());
            }
            b"cookie" => {
                if !self.cookie.is_empty() {
                    self.cookie.extend_from_slice(b"; ");
                }
                self.cookie.extend_from_slice(value);
            }
            _ => {
                if name == b"content-length" {
                    let n = std::str::from_utf8(value)
                        .ok()
                        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse::<u64>().ok());
                    match (n, self.content_length) {
                        (None, _) => return self.fail("invalid content-length"),
                        (Some(a), Some(b)) if a != b => {
                            return self.fail("conflicting content-length")
                        }
                        (Some(_), Some(_)) => return,
                        (Some(a), None) => self.content_length = Some(a),
                    }
                }
                self.line(name, value);
            }
        }
    }

    fn line(&mut self, name: &[u8], value: &[u8]) {
        self.fields.extend_from_slice(name);
        self.fields.extend_from_slice(b": ");
        self.fields.extend_from_slice(value);
        self.fields.extend_from_slice(b"\r\n");
    }

    /// The HTTP/1.1 head; `end_stream`: the HEADERS frame ended the stream (no body).
    pub fn finish(mut self, end_stream: bool) -> Result<Request, Refusal> {
        if let Some(why) = self.error {
            return Err(Refusal::Malformed(why));
        }
        let Some(method) = self.method.take() else {
            return Err(Refusal::Malformed("missing :method"));
        };
        if method == b"CONNECT" {
            // Extended CONNECT (RFC 8441) is not offered; plain CONNECT is not proxied.
            return Err(Refusal::Status(405));
        }
        if !valid_name(&method.to_ascii_lowercase()) {
            return Err(Refusal::Malformed("invalid :method"));
        }
        let (Some(path), Some(scheme)) = (self.path.take(), self.scheme.take()) else {
            return Err(Refusal::Malformed("missing :path or :scheme"));
        };
        let path_ok = path.first() == Some(&b'/') || (path == b"*" && method == b"OPTIONS");
        if !path_ok || path.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(Refusal::Malformed("invalid :path"));
        }
        if scheme != b"http" && scheme != b"https" {
            return Err(Refusal::Malformed("unknown :scheme"));
        }
        let host = match (self.authority.take(), self.host.take()) {
            (Some(a), _) => a,
            (None, Some(h)) => h,
            (None, None) => return Err(Refusal::Status(400)),
        };
        if host.is_empty() || host.iter().any(|&b| b <= b' ' || b == b'@' || b == 0x7f) {
            return Err(Refusal::Malformed("invalid :authority"));
        }
        if end_stream && self.content_length.is_some_and(|n| n > 0) {
            return Err(Refusal::Malformed("content-length without DATA"));
        }
        let chunked = !end_stream && self.content_length.is_none();
        let mut head = Vec::with_capacity(64 + path.len() + host.len() + self.fields.len());
        head.extend_from_slice(&method);
        head.push(b' ');
        head.extend_from_slice(&path);
        head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        head.extend_from_slice(&host);
        head.extend_from_slice(b"\r\n");
        head.extend_from_slice(&self.fields);
        if !self.cookie.is_empty() {
            head.extend_from_slice(b"cookie: ");
            head.extend_from_slice(&self.cookie);
            head.extend_from_slice(b"\r\n");
        }
        if chunked {
            head.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        head.extend_from_slice(b"\r\n");
        Ok(Request {
            head,
            content_length: self.content_length,
            chunked,
            head_method: method == b"HEAD",
        })
    }
}

/// Fields a request's trailers may not carry, though well-formed: what RFC 9110 §6.5.1 says is
/// needed before the content (framing, routing, authentication, request modifiers, content
/// format), which an HTTP/1.1 server could act on if it merged trailers into the head.
const NOT_IN_TRAILERS: [&[u8]; 18] = [
    b"content-length",
    b"trailer",
    b"host",
    b"authorization",
    b"proxy-authorization",
    b"cookie",
    b"expect",
    b"max-forwards",
    b"range",
    b"if-match",
    b"if-none-match",
    b"if-modified-since",
    b"if-unmodified-since",
    b"if-range",
    b"content-type",
    b"content-encoding",
    b"content-range",
    b"content-location",
];

/// Collects a request's trailers (a header block with END_STREAM after the request's) as an
/// HTTP/1.1 trailer section: `name: value` lines, for the end of a chunked body.
#[derive(Default)]
pub struct TrailerBuilder {
    section: Vec<u8>,
    error: Option<&'static str>,
}

impl TrailerBuilder {
    /// One decoded field.
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let why = if name.first() == Some(&b':') {
            // RFC 9113 §8.1: trailers carry no pseudo-header fields.
            Some("pseudo-header field in trailers")
        } else if !valid_name(name) {
            Some("invalid field name")
        } else if !valid_value(value)
            || value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f)
        {
            Some("invalid field value")
        } else if CONNECTION_SPECIFIC.contains(&name) || name == b"te" {
            Some("connection-specific field")
        } else if NOT_IN_TRAILERS.contains(&name) {
            Some("field not allowed in trailers")
        } else {
            None
        };
        if let Some(why) = why {
            self.error = Some(why);
            return;
        }
        self.section.extend_from_slice(name);
        self.section.extend_from_slice(b": ");
        self.section.extend_from_slice(value);
        self.section.extend_from_slice(b"\r\n");
    }

    /// The trailer section (without the empty line that ends it), or why it is refused.
    pub fn finish(self) -> Result<Vec<u8>, &'static str> {
        match self.error {
            Some(why) => Err(why),
            None => Ok(self.section),
        }
    }
}

/// Fields an HTTP/1.1 response has that an h2 response must not (RFC 9113 §8.2.2).
const RESPONSE_DROPPED: [&[u8]; 7] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
    b"te",
    b"http2-settings",
];

/// Encodes the response head at the start of `buf` (as [`crate::http::parse_response`] read
/// it into `head`) as an HPACK header block with the connection's `enc`.
pub fn response_block(
    buf: &[u8],
    head: &ResponseHead,
    enc: &mut hpack::Encoder,
    out: &mut Vec<u8>,
) {
    enc.start(out);
    hpack::encode_status(out, head.status);
    let fields = buf
        .get(head.headers_start..head.head_len)
        .unwrap_or_default();
    let mut name = Vec::new();
    for line in fields.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (n, rest) = line.split_at(colon);
        let value = crate::http::trim_ows(rest.get(1..).unwrap_or_default());
        name.clear();
        name.extend(n.iter().map(u8::to_ascii_lowercase));
        if name.is_empty() || RESPONSE_DROPPED.contains(&name.as_slice()) {
            continue;
        }
        enc.field(out, &name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_response, Method};

    fn build(fields: &[(&str, &str)], end: bool) -> Result<Request, Refusal> {
        let mut b = RequestBuilder::default();
        for (n, v) in fields {
            b.field(n.as_bytes(), v.as_bytes());
        }
        b.finish(end)
    }

    const BASE: [(&str, &str); 4] = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/a?b"),
    ];

    #[test]
    fn a_get_becomes_an_http11_head() {
        let mut f = BASE.to_vec();
        f.push(("cookie", "a=1"));
        f.push(("accept", "*/*"));
        f.push(("cookie", "b=2"));
        let r = build(&f, true).unwrap();
        assert_eq!(
            String::from_utf8(r.head).unwrap(),
            "GET /a?b HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\ncookie: a=1; b=2\r\n\r\n"
        );
        assert!(!r.chunked);
    }

    fn trailers(fields: &[(&str, &str)]) -> Result<String, &'static str> {
        let mut b = TrailerBuilder::default();
        for (n, v) in fields {
            b.field(n.as_bytes(), v.as_bytes());
        }
        b.finish().map(|s| String::from_utf8(s).unwrap())
    }

    #[test]
    fn trailers_become_an_http11_trailer_section() {
        assert_eq!(
            trailers(&[("x-checksum", "abc"), ("grpc-status", "0")]),
            Ok("x-checksum: abc\r\ngrpc-status: 0\r\n".to_owned())
        );
        assert_eq!(trailers(&[]), Ok(String::new()));
        for bad in [
            (":path", "/"),
            ("X-Upper", "1"),
            ("x-a", "a\rb"),
            ("x-a", "a\x01b"),
            ("connection", "close"),
            ("te", "trailers"),
            ("content-length", "5"),
            ("host", "example.com"),
        ] {
            assert!(trailers(&[("x-ok", "1"), bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_body_without_length_is_chunked() {
        let mut f = BASE.to_vec();
        f[0] = (":method", "POST");
        let r = build(&f, false).unwrap();
        assert!(r.chunked);
        assert!(String::from_utf8(r.head)
            .unwrap()
            .ends_with("transfer-encoding: chunked\r\n\r\n"));
        f.push(("content-length", "5"));
        let r = build(&f, false).unwrap();
        assert_eq!(r.content_length, Some(5));
        assert!(!r.chunked);
    }

    #[test]
    fn authority_wins_over_host() {
        let mut f = BASE.to_vec();
        f.push(("host", "other.example"));
        let r = build(&f, true).unwrap();
        let s = String::from_utf8(r.head).unwrap();
        assert!(s.contains("host: example.com\r\n") && !s.contains("other"));
        let f = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("host", "h"),
        ];
        let s = String::from_utf8(build(&f, true).unwrap().head).unwrap();
        assert!(s.contains("host: h\r\n"));
    }

    #[test]
    fn malformed_requests_are_refused() {
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![("connection", "keep-alive")],
            vec![("transfer-encoding", "chunked")],
            vec![("upgrade", "websocket")],
            vec![("te", "gzip")],
            vec![("X-Upper", "1")],
            vec![("x-a", "b\r\nx-injected: 1")],
            vec![("x-a", " padded")],
            vec![("x-a", "nul\0")],
            vec![(":unknown", "1")],
            vec![(":path", "/again")],
            vec![("content-length", "1x")],
            vec![("content-length", "1"), ("content-length", "2")],
        ];
        for extra in cases {
            let mut f = BASE.to_vec();
            f.extend(extra.iter().copied());
            assert!(
                matches!(build(&f, false), Err(Refusal::Malformed(_))),
                "{extra:?}"
            );
        }
        // A pseudo-field after a regular one.
        let f = [
            (":method", "GET"),
            (":scheme", "http"),
            ("accept", "*/*"),
            (":path", "/"),
        ];
        assert!(matches!(build(&f, true), Err(Refusal::Malformed(_))));
        // Missing :path, bad :path.
        assert!(build(&BASE[..3], true).is_err());
        let mut f = BASE.to_vec();
        f[3] = (":path", "no-slash");
        assert!(build(&f, true).is_err());
        f[3] = (":path", "/a b");
        assert!(build(&f, true).is_err());
        // te: trailers is allowed (and not forwarded as such).
        let mut f = BASE.to_vec();
        f.push(("te", "trailers"));
        assert!(build(&f, true).is_ok());
        // CONNECT is answered, not forwarded.
        let f = [(":method", "CONNECT"), (":authority", "a:443")];
        assert_eq!(build(&f, false), Err(Refusal::Status(405)));
        // Neither :authority nor host.
        let f = [(":method", "GET"), (":scheme", "http"), (":path", "/")];
        assert_eq!(build(&f, true), Err(Refusal::Status(400)));
    }

    #[test]
    fn content_length_with_end_stream_must_be_zero() {
        let mut f = BASE.to_vec();
        f.push(("content-length", "3"));
        assert!(build(&f, true).is_err());
    }

    #[test]
    fn response_heads_lose_connection_fields() {
        let raw = b"HTTP/1.1 200 OK\r\nServer: web1\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nX-A:  b \r\n\r\n";
        let limits = crate::http::Limits {
            max_request_line: 8192,
            max_head: 16384,
            max_headers: 100,
        };
        let head = parse_response(raw, Method::Get, &limits).unwrap().unwrap();
        let mut enc = hpack::Encoder::new();
        let mut d = hpack::Decoder::new(4096);
        // The second block is the same head as references to the client's table.
        let mut sizes = Vec::new();
        for _ in 0..2 {
            let mut block = Vec::new();
            response_block(raw, &head, &mut enc, &mut block);
            sizes.push(block.len());
            let mut got = Vec::new();
            d.decode(&block, 1 << 20, |n, v| {
                got.push(format!(
                    "{}={}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(v)
                ))
            })
            .unwrap();
            assert_eq!(got, vec![":status=200", "server=web1", "x-a=b"]);
        }
        assert_eq!(sizes[1], 3, "{sizes:?}");
    }
}
