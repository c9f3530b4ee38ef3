//! Response heads from upstream servers: same strictness as requests, and
//! the response-side framing rules of RFC 9112 §6.3.

use std::mem::MaybeUninit;

use super::fields::{
    check_head, header_name_error, header_slots, line_end, scan_fields, skip_empty_lines,
    ConnectionOptions,
};
use super::request::BodyFraming;
use super::{ErrorKind, HttpError, Limits, Method, MAX_HEADERS};

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body: 1xx, 204, 304, or an answer to HEAD.
    None,
    Length(u64),
    Chunked,
    /// Neither Content-Length nor chunked: the body ends when the server
    /// closes, and so must the client connection.
    UntilClose,
}

impl From<BodyFraming> for ResponseFraming {
    fn from(f: BodyFraming) -> Self {
        match f {
            BodyFraming::None => ResponseFraming::None,
            BodyFraming::Length(n) => ResponseFraming::Length(n),
            BodyFraming::Chunked => ResponseFraming::Chunked,
        }
    }
}

/// A parsed and validated response head; offsets into the buffer given to
/// [`parse_response`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// Bytes of the head, empty line included.
    pub head_len: usize,
    /// Start of the status line (stray empty lines before it are skipped).
    pub line_start: usize,
    /// Start of the first field line.
    pub headers_start: usize,
    pub status: u16,
    /// 0 or 1.
    pub version_minor: u8,
    pub framing: ResponseFraming,
    /// The server keeps the connection after this response: HTTP/1.1
    /// unless `Connection: close`, HTTP/1.0 only with `keep-alive`, never
    /// when the body runs until close.
    pub keep_alive: bool,
    /// 1xx other than 101: relay it, then read the final response head.
    pub informational: bool,
    pub header_count: usize,
    pub(crate) conn: ConnectionOptions,
}

/// Parses the response head at the start of `buf`, sent in answer to a
/// request with `req_method` (HEAD responses have no body).
///
/// `Ok(None)`: incomplete, read more. `Err`: always `HttpError::Upstream`;
/// the client gets 502 and the server connection is dropped.
pub fn parse_response(
    buf: &[u8],
    req_method: Method,
    limits: &Limits,
) -> Result<Option<ResponseHead>, HttpError> {
    parse(buf, req_method, limits).map_err(HttpError::Upstream)
}

fn parse(
    buf: &[u8],
    req_method: Method,
    limits: &Limits,
) -> Result<Option<ResponseHead>, ErrorKind> {
    let mut table = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let table = header_slots(&mut table, limits);
    let mut res = httparse::Response::new(&mut []);
    let parsed =
        httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut res, buf, table);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head {
                return Err(ErrorKind::HeadTooLarge);
            }
            return Ok(None);
        }
        Err(e) => {
            return Err(match e {
                httparse::Error::HeaderName => header_name_error(buf),
                httparse::Error::HeaderValue => ErrorKind::InvalidHeaderValue,
                httparse::Error::NewLine => ErrorKind::BadLineEnding,
                httparse::Error::TooManyHeaders => ErrorKind::TooManyHeaders,
                httparse::Error::Version => ErrorKind::InvalidVersion,
                httparse::Error::Status | httparse::Error::Token => ErrorKind::InvalidStatus,
            })
        }
    };
    check_head(buf, head_len, limits)?;
    let line_start = skip_empty_lines(buf);
    let headers_start = line_end(buf, line_start).unwrap_or(head_len);

    let status = res.code.unwrap_or(0);
    if !(100..=599).contains(&status) {
        return Err(ErrorKind::InvalidStatus);
    }
    let version_minor = res.version.unwrap_or(1);

    let f = scan_fields(buf, res.headers)?;
    // A switch must say to what (RFC 9110 §15.2.2), over HTTP/1.1, and never to h2c: ringlb
    // does not forward that upgrade, so a server switching to it answers something else.
    if status == 101 && (!f.upgrade || f.upgrade_h2c || version_minor == 0) {
        return Err(ErrorKind::UnexpectedSwitchingProtocols);
    }
    if f.te_present && version_minor == 0 {
        return Err(ErrorKind::TransferEncodingHttp10);
    }

    // 101 ends the HTTP exchange: what follows its head is the new protocol.
    let informational = status < 200 && status != 101;
    let framing = if status < 200 || status == 204 || status == 304 || req_method == Method::Head {
        // Content-Length here describes the representation, not a body
        // (RFC 9110 §8.6); still validated above.
        ResponseFraming::None
    } else if f.te_chunked {
        ResponseFraming::Chunked
    } else if let Some(len) = f.content_length {
        ResponseFraming::Length(len)
    } else {
        ResponseFraming::UntilClose
    };
    let keep_alive = framing != ResponseFraming::UntilClose
        && status != 101
        && !f.conn.close
        && (version_minor == 1 || f.conn.keep_alive);

    Ok(Some(ResponseHead {
        head_len,
        line_start,
        headers_start,
        status,
        version_minor,
        framing,
        keep_alive,
        informational,
        header_count: res.headers.len(),
        conn: f.conn,
    }))
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
