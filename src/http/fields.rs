//! Header field rules shared by requests and responses: which fields matter
//! to a hop, how Content-Length, Transfer-Encoding and Connection are read,
//! and the checks `httparse` leaves to us (LF-only line endings).

use super::section::{is_ows, trim_ows};
use std::mem::MaybeUninit;

use super::{ErrorKind, Limits, Span, MAX_HEADERS};

/// Fields the codec acts on. Everything else is `Other` and relayed as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    ContentLength,
    TransferEncoding,
    Host,
    Connection,
    KeepAlive,
    ProxyConnection,
    Te,
    Upgrade,
    Http2Settings,
    Expect,
    Trailer,
    XForwardedFor,
    XForwardedProto,
    Other,
}

impl Field {
    /// Hop-by-hop fields ringlb always drops when forwarding, in either
    /// direction. `Transfer-Encoding` is not among them: ringlb relays
    /// chunked bodies byte for byte, so the framing field travels with them.
    /// `Trailer` is not either: it announces trailer fields we relay too.
    pub(crate) fn always_hop_by_hop(self) -> bool {
        matches!(
            self,
            Field::Connection
                | Field::KeepAlive
                | Field::ProxyConnection
                | Field::Te
                | Field::Upgrade
                | Field::Http2Settings
        )
    }
}

/// Case-insensitive name lookup, by length first: most field names (Date, Server,
/// Content-Type, Accept…) have a length no known field has and cost one `match`; a length
/// has at most two candidates, compared byte by byte. Every head's fields go through here
/// twice (parse, rewrite), on both legs of a request.
pub(crate) fn classify(name: &[u8]) -> Field {
    let candidates: &[(&[u8], Field)] = match name.len() {
        2 => &[(b"te", Field::Te)],
        4 => &[(b"host", Field::Host)],
        6 => &[(b"expect", Field::Expect)],
        7 => &[(b"upgrade", Field::Upgrade), (b"trailer", Field::Trailer)],
        10 => &[
            (b"connection", Field::Connection),
            (b"keep-alive", Field::KeepAlive),
        ],
        14 => &[
            (b"content-length", Field::ContentLength),
            (b"http2-settings", Field::Http2Settings),
        ],
        15 => &[(b"x-forwarded-for", Field::XForwardedFor)],
        16 => &[(b"proxy-connection", Field::ProxyConnection)],
        17 => &[
            (b"transfer-encoding", Field::TransferEncoding),
            (b"x-forwarded-proto", Field::XForwardedProto),
        ],
        _ => return Field::Other,
    };
    candidates
        .iter()
        .find(|(known, _)| name.eq_ignore_ascii_case(known))
        .map_or(Field::Other, |&(_, field)| field)
}

/// How many extra field names one head's Connection fields may list. Real
/// clients list at most one or two (`Upgrade, HTTP2-Settings`); a fixed table
/// keeps heads `Copy` and the rewrite allocation-free.
pub(crate) const MAX_CONNECTION_OPTIONS: usize = 8;

/// What the Connection field(s) of a head say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConnectionOptions {
    /// `close` listed: this connection ends after this message.
    pub(crate) close: bool,
    /// `keep-alive` listed: an HTTP/1.0 peer wants a persistent connection.
    pub(crate) keep_alive: bool,
    /// `upgrade` listed: the Upgrade field is meant for this hop (RFC 9110 §7.8).
    pub(crate) upgrade: bool,
    /// Extra names: fields that are hop-by-hop for this message only.
    named: [Span; MAX_CONNECTION_OPTIONS],
    named_len: u8,
}

impl ConnectionOptions {
    fn add_value(&mut self, value: &[u8], value_start: usize) -> Result<(), ErrorKind> {
        for (offset, token) in list_elements(value) {
            if token.is_empty() {
                // RFC 9110 §5.6.1: empty list elements are ignored.
                continue;
            }
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
                continue;
            }
            if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
                continue;
            }
            if token.eq_ignore_ascii_case(b"upgrade") {
                self.upgrade = true;
                continue;
            }
            match classify(token) {
                Field::ContentLength | Field::TransferEncoding | Field::Host => {
                    return Err(ErrorKind::ConnectionNamesFraming)
                }
                // Dropped anyway, or (X-Forwarded-For) never dropped: ringlb
                // appends the client address to it.
                f if f.always_hop_by_hop() || f == Field::XForwardedFor => {}
                _ => {
                    let slot = self
                        .named
                        .get_mut(usize::from(self.named_len))
                        .ok_or(ErrorKind::TooManyConnectionOptions)?;
                    let start = value_start + offset;
                    *slot = Span {
                        start,
                        end: start + token.len(),
                    };
                    self.named_len += 1;
                }
            }
        }
        Ok(())
    }

    /// Whether Connection listed `name`, making it hop-by-hop.
    pub(crate) fn names(&self, buf: &[u8], name: &[u8]) -> bool {
        self.named
            .iter()
            .take(usize::from(self.named_len))
            .any(|span| span.get(buf).eq_ignore_ascii_case(name))
    }
}

/// Elements of a comma-separated list value with surrounding OWS trimmed,
/// each with its offset inside `value`.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    value.split(|&b| b == b',').map(move |raw| {
        let lead = raw.iter().take_while(|&&b| is_ows(b)).count();
        let token = trim_ows(raw);
        let offset = start + lead;
        start += raw.len() + 1;
        (offset, token)
    })
}

/// RFC 9110 §5.6.2 tchar.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Content-Length value: 1*DIGIT, no sign, no inner space, no list, fits u64.
pub(crate) fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// What a head's fields say, gathered in one pass over httparse's table.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Fields {
    pub(crate) content_length: Option<u64>,
    /// A Transfer-Encoding field was present.
    pub(crate) te_present: bool,
    /// ... and its combined list ends with the only `chunked`.
    pub(crate) te_chunked: bool,
    pub(crate) host: Option<Span>,
    pub(crate) conn: ConnectionOptions,
    pub(crate) expect_continue: bool,
    pub(crate) upgrade: bool,
    pub(crate) upgrade_h2c: bool,
    /// Start of the last X-Forwarded-For line: where the rewrite appends.
    pub(crate) xff_line: Option<usize>,
}

/// Offset of `part` inside `buf`; `part` must be a sub-slice of `buf`, as
/// every slice httparse hands back is.
pub(crate) fn offset_in(buf: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

/// Reads the fields that decide framing and hop-by-hop handling, and rejects
/// the ambiguous ones. Version-dependent rules are left to the caller.
pub(crate) fn scan_fields(
    buf: &[u8],
    headers: &[httparse::Header<'_>],
) -> Result<Fields, ErrorKind> {
    let mut f = Fields::default();
    let mut te_bad = false;
    for h in headers {
        let value = h.value;
        match classify(h.name.as_bytes()) {
            Field::ContentLength => {
                if f.content_length.is_some() {
                    return Err(ErrorKind::MultipleContentLength);
                }
                f.content_length =
                    Some(parse_content_length(value).ok_or(ErrorKind::InvalidContentLength)?);
            }
            Field::TransferEncoding => {
                f.te_present = true;
                // Several lines form one list (RFC 9110 §5.3).
                for (_, coding) in list_elements(value) {
                    if f.te_chunked || coding.is_empty() || !coding.iter().all(|&b| is_tchar(b)) {
                        // Something after chunked, twice chunked, empty
                        // element or a parameter: all refused.
                        te_bad = true;
                    }
                    f.te_chunked = coding.eq_ignore_ascii_case(b"chunked");
                }
            }
            Field::Host => {
                if f.host.is_some() {
                    return Err(ErrorKind::MultipleHost);
                }
                let start = offset_in(buf, value);
                f.host = Some(Span {
                    start,
                    end: start + value.len(),
                });
            }
            Field::Connection => f.conn.add_value(value, offset_in(buf, value))?,
            Field::Expect => {
                f.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
            }
            Field::Upgrade => {
                f.upgrade = true;
                f.upgrade_h2c |= list_elements(value).any(|(_, p)| p.eq_ignore_ascii_case(b"h2c"));
            }
            Field::XForwardedFor => f.xff_line = Some(offset_in(buf, h.name.as_bytes())),
            _ => {}
        }
    }
    if f.te_present {
        if f.content_length.is_some() {
            return Err(ErrorKind::LengthAndChunked);
        }
        if te_bad || !f.te_chunked {
            return Err(ErrorKind::InvalidTransferEncoding);
        }
    }
    Ok(f)
}

/// httparse's header slots, as many as `limits` allows.
pub(crate) fn header_slots<'t, 'b>(
    table: &'t mut [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS],
    limits: &Limits,
) -> &'t mut [MaybeUninit<httparse::Header<'b>>] {
    table
        .get_mut(..limits.max_headers.min(MAX_HEADERS))
        .unwrap_or(&mut [])
}

/// What httparse leaves unchecked in a complete head of `head_len` bytes: its size and its
/// line endings.
pub(crate) fn check_head(buf: &[u8], head_len: usize, limits: &Limits) -> Result<(), ErrorKind> {
    if head_len > limits.max_head {
        return Err(ErrorKind::HeadTooLarge);
    }
    if !crlf_only(buf.get(..head_len).unwrap_or(&[])) {
        return Err(ErrorKind::BadLineEnding);
    }
    Ok(())
}

/// Every LF preceded by CR and every CR followed by LF. httparse accepts
/// LF-only line endings, which a server behind us may read differently.
pub(crate) fn crlf_only(head: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in head {
        if (b == b'\n') != (prev == b'\r') {
            return false;
        }
        prev = b;
    }
    prev != b'\r'
}

/// Leading empty lines (RFC 9112 §2.2 lets a server ignore them before a
/// request line; some clients send a CRLF after a POST body).
pub(crate) fn skip_empty_lines(buf: &[u8]) -> usize {
    let mut at = 0;
    while buf.get(at..at + 2) == Some(b"\r\n") {
        at += 2;
    }
    at
}

/// Offset just past the first LF at or after `from`.
pub(crate) fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    rest.iter().position(|&b| b == b'\n').map(|i| from + i + 1)
}

/// Explains httparse's `HeaderName` error: which rule the first bad field
/// line broke. Only runs on the error path.
pub(crate) fn header_name_error(buf: &[u8]) -> ErrorKind {
    let start = skip_empty_lines(buf);
    let mut at = match line_end(buf, start) {
        Some(at) => at,
        None => return ErrorKind::InvalidHeaderName,
    };
    while let Some(line) = buf.get(at..) {
        let name_len = line.iter().take_while(|&&b| is_tchar(b)).count();
        match line.get(name_len) {
            Some(b':') if name_len > 0 => {}
            Some(b' ' | b'\t') if name_len == 0 => return ErrorKind::ObsFold,
            Some(b' ' | b'\t') => return ErrorKind::SpaceBeforeColon,
            _ => return ErrorKind::InvalidHeaderName,
        }
        at = match line_end(buf, at) {
            Some(next) => next,
            None => break,
        };
    }
    ErrorKind::InvalidHeaderName
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_only_plain_digits() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"007"), Some(7));
        assert_eq!(
            parse_content_length(b"18446744073709551615"),
            Some(u64::MAX)
        );
        for bad in [
            &b""[..],
            b"+5",
            b"-5",
            b"5 5",
            b"5, 5",
            b"0x10",
            b"18446744073709551616",
            b"5\t",
        ] {
            assert_eq!(parse_content_length(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn classify_is_case_insensitive() {
        assert_eq!(classify(b"CONTENT-length"), Field::ContentLength);
        assert_eq!(classify(b"transfer-Encoding"), Field::TransferEncoding);
        assert_eq!(classify(b"Te"), Field::Te);
        assert_eq!(classify(b"X-Forwarded-Proto"), Field::XForwardedProto);
        assert_eq!(classify(b"Content-Lengths"), Field::Other);
    }

    /// Every known name is found in any case, and no other name is: names one byte off, of
    /// a neighbouring length, or the empty name.
    #[test]
    fn classify_knows_exactly_its_names() {
        let known: &[(&str, Field)] = &[
            ("te", Field::Te),
            ("host", Field::Host),
            ("expect", Field::Expect),
            ("upgrade", Field::Upgrade),
            ("trailer", Field::Trailer),
            ("connection", Field::Connection),
            ("keep-alive", Field::KeepAlive),
            ("content-length", Field::ContentLength),
            ("http2-settings", Field::Http2Settings),
            ("x-forwarded-for", Field::XForwardedFor),
            ("proxy-connection", Field::ProxyConnection),
            ("transfer-encoding", Field::TransferEncoding),
            ("x-forwarded-proto", Field::XForwardedProto),
        ];
        for &(name, field) in known {
            assert_eq!(classify(name.as_bytes()), field, "{name}");
            assert_eq!(classify(name.to_uppercase().as_bytes()), field, "{name}");
            for i in 0..name.len() {
                let mut off = name.as_bytes().to_vec();
                off[i] ^= 0x01;
                assert_eq!(classify(&off), Field::Other, "{off:?}");
            }
            assert_eq!(classify(format!("{name}x").as_bytes()), Field::Other);
            assert_eq!(classify(&name.as_bytes()[1..]), Field::Other);
        }
        for other in [
            "",
            "date",
            "server",
            "content-type",
            "x-forwarded-host",
            "t",
        ] {
            assert_eq!(classify(other.as_bytes()), Field::Other, "{other}");
        }
    }

    #[test]
    fn crlf_only_rejects_lone_lf_and_cr() {
        assert!(crlf_only(b"GET / HTTP/1.1\r\nA: b\r\n\r\n"));
        assert!(!crlf_only(b"GET / HTTP/1.1\nA: b\r\n\r\n"));
        assert!(!crlf_only(b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"));
        assert!(!crlf_only(b"A\r"));
    }

    #[test]
    fn list_elements_trim_ows_and_keep_offsets() {
        let v = b" close ,\tX-Foo,,";
        let got: Vec<(usize, &[u8])> = list_elements(v).collect();
        assert_eq!(
            got,
            vec![(1, &b"close"[..]), (9, b"X-Foo"), (15, b""), (16, b"")]
        );
    }
}
