//! The responses ringlb sends on its own: a complete HTTP/1.1 message per
//! status, built at compile time, written with one copy.
//!
//! Each closes the connection (`Connection: close`): ringlb sends them when
//! it cannot or will not go on with the exchange.

/// Interim response the proxy sends when it answers `Expect: 100-continue`
/// itself.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Statuses [`error_response`] has a page for.
pub const ERROR_STATUSES: [u16; 18] = [
    400, 403, 404, 405, 408, 410, 413, 414, 421, 425, 429, 431, 500, 501, 502, 503, 504, 505,
];

/// The complete response ringlb sends for `status`; statuses it has no page
/// for get the 500 page.
pub fn error_response(status: u16) -> &'static [u8] {
    match status {
        400 => R400,
        403 => R403,
        404 => R404,
        405 => R405,
        408 => R408,
        410 => R410,
        413 => R413,
        414 => R414,
        421 => R421,
        425 => R425,
        429 => R429,
        431 => R431,
        500 => R500,
        501 => R501,
        502 => R502,
        503 => R503,
        504 => R504,
        505 => R505,
        _ => R500,
    }
}

/// A complete response ringlb makes itself with `body` (the stats page, its admin answers):
/// `extra` holds whole field lines (CRLF-terminated) to add; without `keep_alive` the
/// connection closes after it.
pub fn response(
    status: u16,
    content_type: &str,
    extra: &str,
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n{extra}{}\r\n",
        reason_phrase(status),
        body.len(),
        if keep_alive { "" } else { "Connection: close\r\n" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The reason phrase ringlb writes for `status`.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        400 => "Bad Request",
        405 => "Method Not Allowed",
        408 => "Request Time-out",
        410 => "Gone",
        413 => "Payload Too Large",
        421 => "Misdirected Request",
        425 => "Too Early",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => "",
    }
}

const R400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 90\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>400 Bad Request</h1>\nYour browser sent an invalid request.\n</body></html>\n";
const R403: &[u8] = b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 93\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n";
const R404: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 83\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>404 Not Found</h1>\nThe requested URL was not found.\n</body></html>\n";
const R405: &[u8] = b"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/html\r\nContent-Length: 147\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>405 Method Not Allowed</h1>\nA request was made of a resource using a request method not supported by that resource.\n</body></html>\n";
const R408: &[u8] = b"HTTP/1.1 408 Request Time-out\r\nContent-Type: text/html\r\nContent-Length: 110\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";
const R410: &[u8] = b"HTTP/1.1 410 Gone\r\nContent-Type: text/html\r\nContent-Length: 90\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>410 Gone</h1>\nThe resource is gone and will not come back.\n</body></html>\n";
const R413: &[u8] = b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/html\r\nContent-Length: 124\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>413 Payload Too Large</h1>\nThe request body is larger than the server is willing to process.\n</body></html>\n";
const R414: &[u8] = b"HTTP/1.1 414 URI Too Long\r\nContent-Type: text/html\r\nContent-Length: 119\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>414 URI Too Long</h1>\nThe request line is longer than the server is willing to process.\n</body></html>\n";
const R421: &[u8] = b"HTTP/1.1 421 Misdirected Request\r\nContent-Type: text/html\r\nContent-Length: 116\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>421 Misdirected Request</h1>\nThe request was sent to a server that cannot answer it.\n</body></html>\n";
const R425: &[u8] = b"HTTP/1.1 425 Too Early\r\nContent-Type: text/html\r\nContent-Length: 80\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>425 Too Early</h1>\nYour browser sent early data.\n</body></html>\n";
const R429: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/html\r\nContent-Length: 117\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>429 Too Many Requests</h1>\nYou have sent too many requests in a given amount of time.\n</body></html>\n";
const R431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/html\r\nContent-Length: 113\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>431 Request Header Fields Too Large</h1>\nThe request header section is too large.\n</body></html>\n";
const R500: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 97\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n";
const R501: &[u8] = b"HTTP/1.1 501 Not Implemented\r\nContent-Type: text/html\r\nContent-Length: 113\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>501 Not Implemented</h1>\nThe server does not support the requested functionality.\n</body></html>\n";
const R502: &[u8] = b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 107\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n";
const R503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 107\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n";
const R504: &[u8] = b"HTTP/1.1 504 Gateway Time-out\r\nContent-Type: text/html\r\nContent-Length: 92\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n";
const R505: &[u8] = b"HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/html\r\nContent-Length: 128\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n<html><body><h1>505 HTTP Version Not Supported</h1>\nThe server does not support the HTTP version of the request.\n</body></html>\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_response_is_a_well_framed_closing_response() {
        for status in ERROR_STATUSES {
            let raw = error_response(status);
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut res = httparse::Response::new(&mut headers);
            let head_len = match res.parse(raw) {
                Ok(httparse::Status::Complete(n)) => n,
                other => panic!("{status}: {other:?}"),
            };
            assert_eq!(res.code, Some(status));
            let field = |name: &str| {
                res.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| h.value)
            };
            let length: usize = std::str::from_utf8(field("content-length").unwrap())
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(length, raw.len() - head_len, "{status}");
            assert_eq!(field("connection"), Some(&b"close"[..]));
            assert_eq!(field("content-type"), Some(&b"text/html"[..]));
            assert_eq!(field("cache-control"), Some(&b"no-cache"[..]));
            let body = std::str::from_utf8(&raw[head_len..]).unwrap();
            assert!(body.contains(&format!("<h1>{status} ")), "{body}");
        }
    }

    #[test]
    fn unknown_status_falls_back_to_500_and_503_reads_like_haproxy() {
        assert_eq!(error_response(599), error_response(500));
        assert!(error_response(503)
            .ends_with(b"No server is available to handle this request.\n</body></html>\n"));
        assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
}
