//! Head parsing errors: one small `Copy` value that says whose fault it is
//! (downstream client or upstream server), which rule was broken, and which
//! status ringlb answers with.

use std::fmt;

/// Which rule a head broke. The same rule can be broken by a client or by a
/// server; [`HttpError`] records which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Request line longer than `Limits::max_request_line`.
    UriTooLong,
    /// Head longer than `Limits::max_head`.
    HeadTooLarge,
    /// More header fields than `Limits::max_headers`.
    TooManyHeaders,
    /// Method is empty or has a byte outside tchar.
    InvalidMethod,
    /// Request target empty, with a control byte, space, `#` or non-ASCII
    /// byte, or in a form its method does not allow.
    InvalidTarget,
    /// Not `HTTP/1.0` or `HTTP/1.1`, and not recognisably another version.
    InvalidVersion,
    /// A well-formed `HTTP/x.y` that is not 1.0 or 1.1 (e.g. HTTP/2 preface).
    VersionNotSupported,
    /// A line ended with LF alone, or a CR not followed by LF.
    BadLineEnding,
    /// A field name with a byte outside tchar.
    InvalidHeaderName,
    /// Whitespace between a field name and its colon (RFC 9112 §5.1).
    SpaceBeforeColon,
    /// A field line starting with SP or HTAB (obs-fold, RFC 9112 §5.2).
    ObsFold,
    /// A field value with a control byte other than HTAB.
    InvalidHeaderValue,
    /// Content-Length and Transfer-Encoding in one message.
    LengthAndChunked,
    /// More than one Content-Length field line.
    MultipleContentLength,
    /// Content-Length not 1*DIGIT or beyond u64.
    InvalidContentLength,
    /// Transfer-Encoding whose final coding is not `chunked`, that repeats
    /// `chunked`, or has an empty or non-token element.
    InvalidTransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1).
    TransferEncodingHttp10,
    /// HTTP/1.1 request without Host.
    MissingHost,
    /// More than one Host field line.
    MultipleHost,
    /// Host value empty or not `uri-host [":" port]`.
    InvalidHost,
    /// Absolute-form target whose authority differs from Host.
    HostMismatch,
    /// CONNECT: ringlb does not tunnel.
    ConnectNotSupported,
    /// Connection lists more header names than ringlb tracks.
    TooManyConnectionOptions,
    /// Connection names Content-Length, Transfer-Encoding or Host, which a
    /// hop must never drop (dropping them would change the framing).
    ConnectionNamesFraming,
    /// Response status line malformed, or status outside 100..=599.
    InvalidStatus,
    /// 101 Switching Protocols without an Upgrade field, to `h2c`, over
    /// HTTP/1.0, or (decided by the proxy) in answer to a request whose
    /// Upgrade ringlb did not forward: the server answers something that was
    /// not asked.
    UnexpectedSwitchingProtocols,
}

impl ErrorKind {
    /// Status ringlb answers a client with when the client broke this rule.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::UriTooLong => 414,
            ErrorKind::HeadTooLarge | ErrorKind::TooManyHeaders => 431,
            ErrorKind::VersionNotSupported => 505,
            ErrorKind::ConnectNotSupported => 501,
            _ => 400,
        }
    }

    /// Short text for logs.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorKind::UriTooLong => "request line too long",
            ErrorKind::HeadTooLarge => "header section too large",
            ErrorKind::TooManyHeaders => "too many header fields",
            ErrorKind::InvalidMethod => "invalid method",
            ErrorKind::InvalidTarget => "invalid request target",
            ErrorKind::InvalidVersion => "invalid HTTP version",
            ErrorKind::VersionNotSupported => "HTTP version not supported",
            ErrorKind::BadLineEnding => "line not ended by CRLF (bare CR or LF)",
            ErrorKind::InvalidHeaderName => "invalid header field name",
            ErrorKind::SpaceBeforeColon => "whitespace between field name and colon",
            ErrorKind::ObsFold => "obsolete line folding",
            ErrorKind::InvalidHeaderValue => "control byte in header field value",
            ErrorKind::LengthAndChunked => "both Content-Length and Transfer-Encoding",
            ErrorKind::MultipleContentLength => "more than one Content-Length",
            ErrorKind::InvalidContentLength => "invalid Content-Length",
            ErrorKind::InvalidTransferEncoding => {
                "Transfer-Encoding not ending in a single chunked"
            }
            ErrorKind::TransferEncodingHttp10 => "Transfer-Encoding in an HTTP/1.0 message",
            ErrorKind::MissingHost => "missing Host",
            ErrorKind::MultipleHost => "more than one Host",
            ErrorKind::InvalidHost => "invalid Host",
            ErrorKind::HostMismatch => "absolute-form target disagrees with Host",
            ErrorKind::ConnectNotSupported => "CONNECT not supported",
            ErrorKind::TooManyConnectionOptions => "too many Connection options",
            ErrorKind::ConnectionNamesFraming => "Connection names a framing field",
            ErrorKind::InvalidStatus => "invalid status line",
            ErrorKind::UnexpectedSwitchingProtocols => "unexpected 101 Switching Protocols",
        }
    }
}

/// A head ringlb refuses, and whose fault that is.
///
/// `Downstream` errors come from [`parse_request`](super::parse_request): the
/// proxy answers with [`status`](Self::status) and closes. `Upstream` errors
/// come from [`parse_response`](super::parse_response): the server is at
/// fault, the client gets 502, the upstream connection is not reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpError {
    Downstream(ErrorKind),
    Upstream(ErrorKind),
}

impl HttpError {
    /// Status to answer the client with.
    pub fn status(self) -> u16 {
        match self {
            HttpError::Downstream(kind) => kind.status(),
            HttpError::Upstream(_) => 502,
        }
    }

    /// Short text for logs.
    pub fn reason(self) -> &'static str {
        self.kind().reason()
    }

    pub fn kind(self) -> ErrorKind {
        match self {
            HttpError::Downstream(kind) | HttpError::Upstream(kind) => kind,
        }
    }

    pub fn is_upstream(self) -> bool {
        matches!(self, HttpError::Upstream(_))
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = if self.is_upstream() {
            "upstream"
        } else {
            "client"
        };
        write!(f, "{side}: {}", self.reason())
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_errors_are_502_whatever_the_rule() {
        assert_eq!(HttpError::Upstream(ErrorKind::HeadTooLarge).status(), 502);
        assert_eq!(HttpError::Downstream(ErrorKind::HeadTooLarge).status(), 431);
        assert_eq!(HttpError::Downstream(ErrorKind::UriTooLong).status(), 414);
        assert_eq!(
            HttpError::Downstream(ErrorKind::LengthAndChunked).reason(),
            "both Content-Length and Transfer-Encoding"
        );
        assert!(std::mem::size_of::<HttpError>() <= 2);
    }
}
