use super::super::{
    parse_request, BodyFraming, ErrorKind, HttpError, Limits, Method, RequestHead, TargetForm,
};

fn parse(raw: &[u8]) -> Result<Option<RequestHead>, HttpError> {
    parse_request(raw, &Limits::default())
}

fn ok(raw: &[u8]) -> RequestHead {
    match parse(raw) {
        Ok(Some(head)) => head,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

/// The rule broken, checking the status it maps to on the way.
fn rejected(raw: &[u8], status: u16) -> ErrorKind {
    match parse(raw) {
        Err(e) => {
            assert!(!e.is_upstream());
            assert_eq!(
                e.status(),
                status,
                "{:?}: {e:?}",
                String::from_utf8_lossy(raw)
            );
            e.kind()
        }
        other => panic!("{:?} accepted: {other:?}", String::from_utf8_lossy(raw)),
    }
}

fn with_fields(fields: &str) -> Vec<u8> {
    format!("POST /upload HTTP/1.1\r\nHost: example.com\r\n{fields}\r\n").into_bytes()
}

const CURL: &[u8] =
    b"GET /index.html?q=1 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
const WRK: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const BROWSER: &[u8] = b"GET /app/page?id=42&x=%20y HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Cookie: a=b; c=\xc3\xa9\r\n\r\n";

#[test]
fn curl_get() {
    let h = ok(CURL);
    assert_eq!(h.head_len, CURL.len());
    assert_eq!(h.method, Method::Get);
    assert_eq!(h.version_minor, 1);
    assert_eq!(h.target.get(CURL), b"/index.html?q=1");
    assert_eq!(h.target_form, TargetForm::Origin);
    assert_eq!(h.host.unwrap().get(CURL), b"localhost:8080");
    assert_eq!(h.framing, BodyFraming::None);
    assert!(h.keep_alive && !h.expect_continue && !h.upgrade && !h.has_body());
    assert_eq!(h.header_count, 3);
    assert_eq!(h.line_start, 0);
    assert_eq!(&CURL[h.headers_start..h.headers_start + 5], b"Host:");
}

#[test]
fn wrk_and_browser_requests() {
    let h = ok(WRK);
    assert_eq!(h.head_len, WRK.len());
    assert!(h.keep_alive);
    let h = ok(BROWSER);
    assert_eq!(h.head_len, BROWSER.len());
    assert_eq!(h.header_count, 9);
    assert!(h.keep_alive);
    assert!(!h.upgrade, "Upgrade-Insecure-Requests is not Upgrade");
}

#[test]
fn post_with_content_length() {
    let raw = b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world";
    let h = ok(raw);
    assert_eq!(h.framing, BodyFraming::Length(11));
    assert_eq!(&raw[h.head_len..], b"hello world");
    assert!(h.has_body());
}

#[test]
fn chunked_post_and_codings_before_chunked() {
    assert_eq!(
        ok(&with_fields("Transfer-Encoding: chunked\r\n")).framing,
        BodyFraming::Chunked
    );
    assert_eq!(
        ok(&with_fields("Transfer-Encoding: CHUNKED\r\n")).framing,
        BodyFraming::Chunked
    );
    assert_eq!(
        ok(&with_fields("Transfer-Encoding: gzip, chunked\r\n")).framing,
        BodyFraming::Chunked
    );
    // Two lines form one list: "gzip, chunked".
    let two = with_fields("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n");
    assert_eq!(ok(&two).framing, BodyFraming::Chunked);
}

#[test]
fn keep_alive_intent_by_version_and_connection() {
    assert!(ok(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
    assert!(ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
    assert!(
        !ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n").keep_alive
    );
}

#[test]
fn http10_needs_no_host() {
    let h = ok(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.version_minor, 0);
    assert_eq!(h.host, None);
}

#[test]
fn pipelined_requests_split_at_head_len() {
    let raw = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: a\r\n\r\n";
    let first = ok(raw);
    assert_eq!(first.target.get(raw), b"/a");
    let rest = &raw[first.head_len..];
    let second = ok(rest);
    assert_eq!(second.method, Method::Post);
    assert_eq!(second.framing, BodyFraming::Length(2));
    let rest = &rest[second.head_len + 2..];
    let third = ok(rest);
    assert_eq!(third.target.get(rest), b"/c");
    assert_eq!(third.head_len, rest.len());
}

#[test]
fn leading_empty_line_is_skipped() {
    let raw = b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let h = ok(raw);
    assert_eq!(h.line_start, 2);
    assert_eq!(h.head_len, raw.len());
    assert_eq!(
        rejected(b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::BadLineEnding
    );
}

#[test]
fn every_split_point_of_valid_requests() {
    let chunked = with_fields("Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n");
    for raw in [
        CURL,
        WRK,
        BROWSER,
        &chunked[..],
        b"\r\nOPTIONS * HTTP/1.0\r\n\r\n",
    ] {
        let full = ok(raw);
        for cut in 0..raw.len() {
            assert_eq!(parse(&raw[..cut]), Ok(None), "cut at {cut}");
        }
        // Trailing bytes (a body, a pipelined request) change nothing.
        let mut longer = raw.to_vec();
        longer.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(ok(&longer), full);
    }
}

#[test]
fn every_split_point_of_invalid_requests_never_accepts() {
    let cases: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
    ];
    for raw in cases {
        let full = parse(raw).unwrap_err();
        for cut in 0..raw.len() {
            match parse(&raw[..cut]) {
                Ok(None) => {}
                Err(e) => assert_eq!(e, full, "cut at {cut}"),
                Ok(Some(h)) => panic!("prefix {cut} accepted: {h:?}"),
            }
        }
    }
}

#[test]
fn rejects_content_length_with_transfer_encoding() {
    let raw = with_fields("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n");
    assert_eq!(rejected(&raw, 400), ErrorKind::LengthAndChunked);
    let raw = with_fields("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n");
    assert_eq!(rejected(&raw, 400), ErrorKind::LengthAndChunked);
}

#[test]
fn rejects_several_content_lengths_even_identical() {
    let differ = with_fields("Content-Length: 5\r\nContent-Length: 6\r\n");
    assert_eq!(rejected(&differ, 400), ErrorKind::MultipleContentLength);
    let same = with_fields("Content-Length: 5\r\nContent-Length: 5\r\n");
    assert_eq!(rejected(&same, 400), ErrorKind::MultipleContentLength);
    let list = with_fields("Content-Length: 5, 5\r\n");
    assert_eq!(rejected(&list, 400), ErrorKind::InvalidContentLength);
}

#[test]
fn rejects_content_length_that_is_not_plain_digits() {
    for value in [
        "+5",
        "-1",
        "5 5",
        "",
        "0x5",
        "5a",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let raw = with_fields(&format!("Content-Length: {value}\r\n"));
        assert_eq!(
            rejected(&raw, 400),
            ErrorKind::InvalidContentLength,
            "{value:?}"
        );
    }
    // Surrounding whitespace is OWS, not part of the value.
    assert_eq!(
        ok(&with_fields("Content-Length:  7 \r\n")).framing,
        BodyFraming::Length(7)
    );
}

#[test]
fn rejects_transfer_encoding_not_ending_in_single_chunked() {
    for value in [
        "chunked, gzip",
        "chunked, chunked",
        "xchunked",
        "chunkedx",
        "",
        "gzip",
        "chunked;q=1",
        "gzip,,chunked",
        "\"chunked\"",
    ] {
        let raw = with_fields(&format!("Transfer-Encoding: {value}\r\n"));
        assert_eq!(
            rejected(&raw, 400),
            ErrorKind::InvalidTransferEncoding,
            "{value:?}"
        );
    }
    let twice = with_fields("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n");
    assert_eq!(rejected(&twice, 400), ErrorKind::InvalidTransferEncoding);
}

#[test]
fn rejects_transfer_encoding_in_http10() {
    let raw = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(rejected(raw, 400), ErrorKind::TransferEncodingHttp10);
}

#[test]
fn rejects_bare_cr_anywhere() {
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
        ErrorKind::InvalidHeaderValue
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
        ErrorKind::BadLineEnding
    );
    assert_eq!(
        rejected(b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidTarget
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400),
        ErrorKind::BadLineEnding
    );
}

#[test]
fn rejects_lf_only_line_endings() {
    assert_eq!(
        rejected(b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
        ErrorKind::BadLineEnding
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
        ErrorKind::BadLineEnding
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
        ErrorKind::BadLineEnding
    );
}

#[test]
fn rejects_control_bytes_in_fields_but_not_htab() {
    for value in [&b"a\x00b"[..], b"a\x01b", b"a\x7fb", b"a\x1bb"] {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Test: ".to_vec();
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            rejected(&raw, 400),
            ErrorKind::InvalidHeaderValue,
            "{value:?}"
        );
    }
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX\x00Y: b\r\n\r\n", 400),
        ErrorKind::InvalidHeaderName
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX(Y: b\r\n\r\n", 400),
        ErrorKind::InvalidHeaderName
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400),
        ErrorKind::InvalidHeaderName
    );
    let h = ok(b"GET / HTTP/1.1\r\nHost: a\r\nX-Tab: a\tb\r\nX-Utf8: \xc3\xa9\r\n\r\n");
    assert_eq!(h.header_count, 3);
}

#[test]
fn rejects_whitespace_before_colon() {
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ErrorKind::SpaceBeforeColon
    );
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n";
    assert_eq!(rejected(raw, 400), ErrorKind::SpaceBeforeColon);
}

#[test]
fn rejects_obs_fold() {
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
        ErrorKind::ObsFold
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400),
        ErrorKind::ObsFold
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
        ErrorKind::ObsFold
    );
}

#[test]
fn host_rules() {
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\n\r\n", 400),
        ErrorKind::MissingHost
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        ErrorKind::MultipleHost
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400),
        ErrorKind::MultipleHost
    );
    for bad in [
        "", "a b", "a/b", "user@a", "a:", "a:99999", "a:8o", "[::1", "[]", "a:1:2", "%zz", "a\\b",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        assert_eq!(
            rejected(raw.as_bytes(), 400),
            ErrorKind::InvalidHost,
            "{bad:?}"
        );
    }
    for good in [
        "a",
        "example.com:443",
        "127.0.0.1",
        "[::1]:8080",
        "xn--bcher-kva.example",
        "a:65535",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
        assert_eq!(
            ok(raw.as_bytes()).host.unwrap().get(raw.as_bytes()),
            good.as_bytes()
        );
    }
    // Empty Host is refused on HTTP/1.0 too.
    assert_eq!(
        rejected(b"GET / HTTP/1.0\r\nHost:\r\n\r\n", 400),
        ErrorKind::InvalidHost
    );
}

#[test]
fn absolute_form_must_agree_with_host() {
    let raw = b"GET http://Example.com:8080/p?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n";
    let h = ok(raw);
    assert_eq!(h.target_form, TargetForm::Absolute);
    assert_eq!(h.target.get(raw), b"http://Example.com:8080/p?q");
    assert_eq!(h.host.unwrap().get(raw), b"example.com:8080");
    let raw = b"GET http://evil.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_eq!(rejected(raw, 400), ErrorKind::HostMismatch);
    // Without Host only HTTP/1.0 passes, and the authority becomes the host.
    let raw = b"GET https://a.example HTTP/1.0\r\n\r\n";
    assert_eq!(ok(raw).host.unwrap().get(raw), b"a.example");
    assert_eq!(
        rejected(b"GET http://a/ HTTP/1.1\r\n\r\n", 400),
        ErrorKind::MissingHost
    );
}

#[test]
fn rejects_bad_absolute_forms() {
    for target in [
        "http://user@a/",
        "http:///x",
        "ftp://a/",
        "http:/a",
        "a.example/x",
        "foo",
        "http://a b/",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            rejected(raw.as_bytes(), 400),
            ErrorKind::InvalidTarget,
            "{target:?}"
        );
    }
}

#[test]
fn rejects_bad_targets() {
    assert_eq!(
        rejected(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidTarget
    );
    assert_eq!(
        rejected(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidTarget
    );
    assert_eq!(
        rejected(b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidTarget
    );
    assert_eq!(
        rejected(b"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidTarget
    );
    assert_eq!(
        rejected(b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidTarget
    );
    assert_eq!(
        rejected("GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes(), 400),
        ErrorKind::InvalidTarget
    );
    assert_eq!(
        rejected(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidTarget
    );
    assert_eq!(
        ok(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").target_form,
        TargetForm::Asterisk
    );
}

#[test]
fn rejects_methods_outside_tchar() {
    assert_eq!(
        rejected(b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidMethod
    );
    assert_eq!(
        rejected(b"G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidMethod
    );
    assert_eq!(
        rejected(b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidMethod
    );
    let raw = b"PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n";
    let h = ok(raw);
    assert_eq!(h.method.as_bytes(raw), b"PROPFIND");
    assert!(matches!(h.method, Method::Other(_)));
    // Methods are case-sensitive.
    assert!(matches!(
        ok(b"get / HTTP/1.1\r\nHost: a\r\n\r\n").method,
        Method::Other(_)
    ));
}

#[test]
fn method_idempotence() {
    let idempotent = [
        Method::Get,
        Method::Head,
        Method::Put,
        Method::Delete,
        Method::Options,
        Method::Trace,
    ];
    assert!(idempotent.iter().all(|m| m.is_idempotent()));
    let not = [
        Method::Post,
        Method::Patch,
        Method::Connect,
        Method::Other(Default::default()),
    ];
    assert!(not.iter().all(|m| !m.is_idempotent()));
    for (raw, m) in [
        (&b"DELETE"[..], Method::Delete),
        (b"PATCH", Method::Patch),
        (b"TRACE", Method::Trace),
        (b"HEAD", Method::Head),
        (b"PUT", Method::Put),
    ] {
        let mut req = raw.to_vec();
        req.extend_from_slice(b" / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(ok(&req).method, m);
    }
}

#[test]
fn connect_is_not_implemented() {
    assert_eq!(
        rejected(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501),
        ErrorKind::ConnectNotSupported
    );
}

#[test]
fn versions_other_than_1x() {
    assert_eq!(
        rejected(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ErrorKind::VersionNotSupported
    );
    assert_eq!(
        rejected(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ErrorKind::VersionNotSupported
    );
    assert_eq!(
        rejected(b"GET / HTTP/3\r\n", 505),
        ErrorKind::VersionNotSupported
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
        ErrorKind::VersionNotSupported
    );
    assert_eq!(
        rejected(b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidVersion
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidVersion
    );
    assert_eq!(
        rejected(b"GET / FOO\r\nHost: a\r\n\r\n", 400),
        ErrorKind::InvalidVersion
    );
    // HTTP/0.9 has no version: the target runs into the CR.
    assert_eq!(rejected(b"GET /\r\n\r\n", 400), ErrorKind::InvalidTarget);
}

#[test]
fn request_line_limit_414_complete_and_partial() {
    let limits = Limits {
        max_request_line: 64,
        ..Limits::default()
    };
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(100));
    let err = parse_request(long.as_bytes(), &limits).unwrap_err();
    assert_eq!((err.status(), err.kind()), (414, ErrorKind::UriTooLong));
    // No CRLF yet, but already longer than the limit.
    let err = parse_request(&long.as_bytes()[..70], &limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UriTooLong);
    // Exactly at the limit (CRLF included) passes.
    let line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(64 - 16));
    assert_eq!(line.len(), 64);
    let exact = format!("{line}Host: a\r\n\r\n");
    assert!(parse_request(exact.as_bytes(), &limits).unwrap().is_some());
    assert_eq!(parse_request(&line.as_bytes()[..63], &limits), Ok(None));
}

#[test]
fn head_limit_431_complete_and_partial() {
    let limits = Limits {
        max_head: 128,
        ..Limits::default()
    };
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(200)
    );
    let err = parse_request(big.as_bytes(), &limits).unwrap_err();
    assert_eq!((err.status(), err.kind()), (431, ErrorKind::HeadTooLarge));
    let err = parse_request(&big.as_bytes()[..150], &limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HeadTooLarge);
    assert_eq!(parse_request(&big.as_bytes()[..128], &limits), Ok(None));
    // Default limits: 16 KiB.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n",
        "b".repeat(17 * 1024)
    );
    assert_eq!(rejected(big.as_bytes(), 431), ErrorKind::HeadTooLarge);
}

#[test]
fn too_many_headers_431() {
    let mut raw = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..99 {
        raw.push_str(&format!("X-{i}: v\r\n"));
    }
    assert_eq!(ok(format!("{raw}\r\n").as_bytes()).header_count, 100);
    raw.push_str("X-Last: v\r\n\r\n");
    assert_eq!(rejected(raw.as_bytes(), 431), ErrorKind::TooManyHeaders);
    let limits = Limits {
        max_headers: 2,
        ..Limits::default()
    };
    let err = parse_request(
        b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n",
        &limits,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyHeaders);
}

#[test]
fn connection_may_not_name_framing_fields() {
    for name in ["Content-Length", "transfer-encoding", "Host"] {
        let raw = format!("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, {name}\r\n\r\n");
        assert_eq!(
            rejected(raw.as_bytes(), 400),
            ErrorKind::ConnectionNamesFraming,
            "{name}"
        );
    }
}

#[test]
fn connection_options_are_bounded() {
    let eight = (0..8)
        .map(|i| format!("X-{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let raw = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: {eight}, close, keep-alive, upgrade, te\r\n\r\n"
    );
    assert!(!ok(raw.as_bytes()).keep_alive);
    let raw = format!("GET / HTTP/1.1\r\nHost: a\r\nConnection: {eight}, X-9\r\n\r\n");
    assert_eq!(
        rejected(raw.as_bytes(), 400),
        ErrorKind::TooManyConnectionOptions
    );
}

#[test]
fn expect_continue_only_on_http11() {
    let raw = b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n";
    assert!(ok(raw).expect_continue);
    let raw = b"PUT /f HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    assert!(!ok(raw).expect_continue);
}

#[test]
fn upgrade_is_flagged_and_h2c_singled_out() {
    let ws = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    let h = ok(ws);
    assert!(h.upgrade && !h.upgrade_h2c);
    let h2c = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
    let h = ok(h2c);
    assert!(h.upgrade && h.upgrade_h2c);
}

#[test]
fn upgrade_to_needs_connection_upgrade_no_body_and_allowed_protocols() {
    let allowed = vec!["websocket".to_owned()];
    let yes = |raw: &[u8]| ok(raw).upgrade_to(raw, &allowed);
    assert!(yes(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n"
    ));
    assert!(yes(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket/13\r\nContent-Length: 0\r\n\r\n"
    ));
    // Upgrade not named by Connection.
    assert!(!yes(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"
    ));
    // A body: the switch would have to wait for it.
    assert!(!yes(
        b"POST /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\nhi"
    ));
    // HTTP/1.0 has no Upgrade.
    assert!(!yes(
        b"GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
    ));
    // One protocol not allowed, h2c never, nothing allowed.
    assert!(!yes(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket, foo\r\n\r\n"
    ));
    let h2c = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n";
    assert!(!ok(h2c).upgrade_to(h2c, &["h2c".to_owned()]));
    let ws = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert!(!ok(ws).upgrade_to(ws, &[]));
}

#[test]
fn offsets_hold_with_leading_crlf_and_other_methods() {
    let raw = b"\r\nDELETE /x HTTP/1.1\r\nHost: h\r\n\r\n";
    let h = ok(raw);
    assert_eq!(h.target.get(raw), b"/x");
    assert_eq!(h.host.unwrap().get(raw), b"h");
    assert_eq!(
        &raw[h.line_start..h.headers_start],
        b"DELETE /x HTTP/1.1\r\n"
    );
}
