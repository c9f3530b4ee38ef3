use super::super::{
    parse_response, ErrorKind, HttpError, Limits, Method, ResponseFraming, ResponseHead, Span,
};

fn parse_for(raw: &[u8], method: Method) -> Result<Option<ResponseHead>, HttpError> {
    parse_response(raw, method, &Limits::default())
}

fn ok(raw: &[u8]) -> ResponseHead {
    match parse_for(raw, Method::Get) {
        Ok(Some(head)) => head,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

/// The rule broken; always an upstream error answered with 502.
fn rejected(raw: &[u8]) -> ErrorKind {
    match parse_for(raw, Method::Get) {
        Err(e) => {
            assert!(e.is_upstream());
            assert_eq!(e.status(), 502);
            e.kind()
        }
        other => panic!("{:?} accepted: {other:?}", String::from_utf8_lossy(raw)),
    }
}

const NGINX_200: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello";
const CHUNKED_200: &[u8] =
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";

#[test]
fn content_length_response() {
    let h = ok(NGINX_200);
    assert_eq!(h.status, 200);
    assert_eq!(h.version_minor, 1);
    assert_eq!(h.framing, ResponseFraming::Length(5));
    assert!(h.keep_alive && !h.informational);
    assert_eq!(&NGINX_200[h.head_len..], b"hello");
    assert_eq!(h.header_count, 5);
}

#[test]
fn chunked_response() {
    let h = ok(CHUNKED_200);
    assert_eq!(h.framing, ResponseFraming::Chunked);
    assert!(h.keep_alive);
}

#[test]
fn no_length_means_until_close_and_no_keep_alive() {
    let h = ok(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
    assert_eq!(h.framing, ResponseFraming::UntilClose);
    assert!(!h.keep_alive);
}

#[test]
fn bodiless_statuses_and_head() {
    for status in [204, 304] {
        let raw = format!("HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n");
        assert_eq!(
            ok(raw.as_bytes()).framing,
            ResponseFraming::None,
            "{status}"
        );
    }
    let head = parse_for(NGINX_200, Method::Head).unwrap().unwrap();
    assert_eq!(head.framing, ResponseFraming::None);
    assert!(head.keep_alive);
    let head = parse_for(b"HTTP/1.1 200 OK\r\n\r\n", Method::Head)
        .unwrap()
        .unwrap();
    assert_eq!(head.framing, ResponseFraming::None);
    // A HEAD answer still has its framing fields checked.
    let bad = b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n";
    assert!(parse_for(bad, Method::Head).is_err());
}

#[test]
fn informational_then_final_response() {
    let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    let first = ok(raw);
    assert!(first.informational);
    assert_eq!((first.status, first.framing), (100, ResponseFraming::None));
    let rest = &raw[first.head_len..];
    let second = ok(rest);
    assert!(second.informational);
    assert_eq!(second.status, 103);
    let rest = &rest[second.head_len..];
    let last = ok(rest);
    assert_eq!(
        (last.status, last.framing, last.informational),
        (201, ResponseFraming::Length(0), false)
    );
    assert_eq!(last.head_len, rest.len());
}

#[test]
fn switching_protocols_ends_the_exchange_or_is_refused() {
    let raw =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00";
    let h = ok(raw);
    assert_eq!(
        (h.status, h.framing, h.informational, h.keep_alive),
        (101, ResponseFraming::None, false, false)
    );
    assert_eq!(
        h.head_len,
        raw.len() - 2,
        "frames after the head are not the head's"
    );
    let bare = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n";
    assert_eq!(rejected(bare), ErrorKind::UnexpectedSwitchingProtocols);
    let h2c = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
    assert_eq!(rejected(h2c), ErrorKind::UnexpectedSwitchingProtocols);
    let old = b"HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(rejected(old), ErrorKind::UnexpectedSwitchingProtocols);
}

#[test]
fn keep_alive_by_version_and_connection() {
    assert!(!ok(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").keep_alive);
    assert!(!ok(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    let h = ok(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    assert!(h.keep_alive);
    assert_eq!(h.version_minor, 0);
}

#[test]
fn missing_reason_phrase_is_accepted() {
    assert_eq!(ok(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").status, 200);
    assert_eq!(
        ok(b"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n").status,
        404
    );
}

#[test]
fn every_split_point_of_responses() {
    for raw in [NGINX_200, CHUNKED_200, b"HTTP/1.1 100 Continue\r\n\r\n"] {
        let full = ok(raw);
        for cut in 0..full.head_len {
            assert_eq!(
                parse_for(&raw[..cut], Method::Get),
                Ok(None),
                "cut at {cut}"
            );
        }
        for cut in full.head_len..=raw.len() {
            assert_eq!(ok(&raw[..cut]), full);
        }
    }
}

#[test]
fn rejects_ambiguous_framing() {
    let both = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(rejected(both), ErrorKind::LengthAndChunked);
    let differ = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
    assert_eq!(rejected(differ), ErrorKind::MultipleContentLength);
    let same = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(rejected(same), ErrorKind::MultipleContentLength);
    assert_eq!(
        rejected(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
        ErrorKind::InvalidContentLength
    );
    for te in ["chunked, gzip", "gzip", "chunked, chunked", ""] {
        let raw = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert_eq!(
            rejected(raw.as_bytes()),
            ErrorKind::InvalidTransferEncoding,
            "{te:?}"
        );
    }
    let te10 = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(rejected(te10), ErrorKind::TransferEncodingHttp10);
}

#[test]
fn rejects_malformed_lines() {
    assert_eq!(
        rejected(b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"),
        ErrorKind::InvalidHeaderValue
    );
    assert_eq!(
        rejected(b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"),
        ErrorKind::BadLineEnding
    );
    assert_eq!(
        rejected(b"HTTP/1.1 200 OK\r\nContent-Length: 0\n\n"),
        ErrorKind::BadLineEnding
    );
    assert_eq!(
        rejected(b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
        ErrorKind::ObsFold
    );
    assert_eq!(
        rejected(b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n"),
        ErrorKind::SpaceBeforeColon
    );
    assert_eq!(
        rejected(b"HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n"),
        ErrorKind::InvalidHeaderValue
    );
    assert_eq!(
        rejected(b"HTTP/1.1 200 O\x01K\r\n\r\n"),
        ErrorKind::InvalidStatus
    );
}

#[test]
fn rejects_bad_status_and_version() {
    assert_eq!(
        rejected(b"HTTP/1.1 099 Low\r\n\r\n"),
        ErrorKind::InvalidStatus
    );
    assert_eq!(
        rejected(b"HTTP/1.1 600 High\r\n\r\n"),
        ErrorKind::InvalidStatus
    );
    assert_eq!(
        rejected(b"HTTP/1.1 2000 OK\r\n\r\n"),
        ErrorKind::InvalidStatus
    );
    assert_eq!(
        rejected(b"HTTP/1.1 20 OK\r\n\r\n"),
        ErrorKind::InvalidStatus
    );
    assert_eq!(
        rejected(b"HTTP/2.0 200 OK\r\n\r\n"),
        ErrorKind::InvalidVersion
    );
    assert_eq!(rejected(b"ICY 200 OK\r\n\r\n"), ErrorKind::InvalidVersion);
}

#[test]
fn rejects_oversized_head() {
    let limits = Limits {
        max_head: 64,
        ..Limits::default()
    };
    let big = format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "b".repeat(100));
    let err = parse_response(big.as_bytes(), Method::Get, &limits).unwrap_err();
    assert_eq!(err, HttpError::Upstream(ErrorKind::HeadTooLarge));
    let err = parse_response(&big.as_bytes()[..80], Method::Get, &limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HeadTooLarge);
    let limits = Limits {
        max_headers: 1,
        ..Limits::default()
    };
    let err = parse_response(
        b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n",
        Method::Get,
        &limits,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyHeaders);
}

#[test]
fn head_method_other_span_does_not_matter() {
    let other = Method::Other(Span { start: 0, end: 4 });
    assert_eq!(
        parse_for(NGINX_200, other).unwrap().unwrap().framing,
        ResponseFraming::Length(5)
    );
}
