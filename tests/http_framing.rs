//! Strict request framing: every ambiguous or malformed head is answered with its 4xx, the
//! connection closes, and the backend never sees a byte of it (request smuggling defence).

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::conf::{http, srv};
use common::*;
use std::time::Duration;

/// Sends `raw` (all in one write) and checks: the answer is `status`, the connection closes,
/// the backend got no request.
fn assert_rejected(raw: &[u8], status: u16) {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send_raw(raw).expect("send");
    let r = c
        .read_response(false)
        .unwrap_or_else(|e| panic!("no response to {:?}: {e}", String::from_utf8_lossy(raw)));
    assert_eq!(r.status, status, "for {:?}", String::from_utf8_lossy(raw));
    assert!(r.backend().is_none(), "answered by a backend");
    assert!(
        c.is_closed(Duration::from_secs(3)),
        "connection left open after {status}"
    );
    assert_eq!(web.requests(), 0, "the backend saw the rejected request");
    assert_eq!(web.connections(), 0, "ringlb connected to the backend");
}

/// A valid request the same site accepts, so each rejection is known to come from the defect.
#[test]
fn baseline_request_is_accepted() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send_raw(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        .expect("send");
    let r = c.read_response(false).expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-body-len"), Some("5"));
}

#[test]
fn content_length_with_transfer_encoding() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn transfer_encoding_with_content_length_after() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn differing_content_lengths() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    );
}

#[test]
fn content_length_list_with_differing_values() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!",
        400,
    );
}

#[test]
fn content_length_not_a_number() {
    for cl in [
        "5x",
        "-1",
        "+5",
        "0x5",
        "",
        "5 5",
        "99999999999999999999999",
    ] {
        assert_rejected(
            format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {cl}\r\n\r\nhello").as_bytes(),
            400,
        );
    }
}

#[test]
fn transfer_encoding_not_ending_in_chunked() {
    for te in [
        "gzip",
        "chunked, gzip",
        "chunked, chunked",
        "identity",
        "chunked;x=1",
        "xchunked",
    ] {
        assert_rejected(
            format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n")
                .as_bytes(),
            400,
        );
    }
}

#[test]
fn transfer_encoding_in_http10() {
    assert_rejected(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn bad_chunk_size() {
    for size in ["zz", "-1", "", "1 2", "ffffffffffffffffff"] {
        assert_rejected(
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nhello\r\n0\r\n\r\n"
            )
            .as_bytes(),
            400,
        );
    }
}

#[test]
fn bare_cr_in_header() {
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400);
}

#[test]
fn bare_cr_ending_a_line() {
    assert_rejected(b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
}

#[test]
fn nul_in_header_value() {
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 400);
}

#[test]
fn control_byte_in_header_value() {
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", 400);
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n", 400);
}

#[test]
fn bad_header_name() {
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", 400);
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400);
}

#[test]
fn whitespace_before_colon() {
    assert_rejected(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\nhello",
        400,
    );
}

#[test]
fn obs_fold() {
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400);
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400);
}

#[test]
fn missing_host_on_http11() {
    assert_rejected(b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400);
}

#[test]
fn two_hosts() {
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
}

#[test]
fn bad_method_characters() {
    assert_rejected(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_rejected(b"GE@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_rejected(b"GET\x01 / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

#[test]
fn bad_request_line() {
    assert_rejected(b"GET /\r\nHost: a\r\n\r\n", 400);
    assert_rejected(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_rejected(b"GET / a HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_rejected(b"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400);
}

#[test]
fn request_line_too_long() {
    let path = "/".to_string() + &"a".repeat(9 * 1024);
    assert_rejected(
        format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        414,
    );
}

#[test]
fn request_line_too_long_before_its_end_arrives() {
    // no CRLF yet: ringlb must not wait for the end of an oversized line
    let path = "/".to_string() + &"a".repeat(9 * 1024);
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send_raw(format!("GET {path}").as_bytes()).expect("send");
    let r = c.read_response(false).expect("response");
    assert_eq!(r.status, 414);
    assert_eq!(web.requests(), 0);
}

#[test]
fn header_section_too_large() {
    let big = "b".repeat(20 * 1024);
    assert_rejected(
        format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n").as_bytes(),
        431,
    );
}

#[test]
fn too_many_small_headers() {
    let mut raw = "GET / HTTP/1.1\r\nHost: a\r\n".to_string();
    for i in 0..2000 {
        raw.push_str(&format!("X-{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    assert_rejected(raw.as_bytes(), 431);
}

#[test]
fn unsupported_http_version() {
    assert_rejected(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
}

#[test]
fn rejected_request_after_a_good_one_on_keep_alive() {
    // the defect arrives in the second request of a connection: the first is served, the
    // second rejected, and only the first reaches the backend
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    assert_eq!(c.get("/ok").expect("first").status, 200);
    c.send_raw(
        b"POST /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .expect("send");
    let r = c.read_response(false).expect("response");
    assert_eq!(r.status, 400);
    assert!(c.is_closed(Duration::from_secs(3)));
    assert_eq!(web.requests(), 1);
}

#[test]
fn smuggled_request_in_body_is_not_a_second_request() {
    // a well-framed body that looks like a request is body, nothing more
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let inner = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut c = Client::connect(lb.addr).expect("connect");
    let r = c.request("POST", "/outer", &[], inner).expect("request");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-body-len"),
        Some(inner.len().to_string().as_str())
    );
    assert_eq!(web.requests(), 1);
}
