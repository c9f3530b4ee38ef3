use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::{parse_request, parse_response, Limits, Method};
use super::{
    write_request_head, write_response_head, FieldEdit, IpText, NoEdit, RequestRewrite,
    ResponseRewrite,
};

/// An edit that looks at every line and changes none: the writer then goes line by line,
/// where with `NoEdit` it copies runs of kept lines. Both must write the same head.
struct LookOnly;

impl FieldEdit for LookOnly {}

const IP: &[u8] = b"192.0.2.7";

fn forward(raw: &[u8], opts: RequestRewrite<'_>) -> String {
    let head = parse_request(raw, &Limits::default()).unwrap().unwrap();
    let mut out = Vec::new();
    write_request_head(raw, &head, &opts, &NoEdit, &mut out);
    let mut line_by_line = Vec::new();
    write_request_head(raw, &head, &opts, &LookOnly, &mut line_by_line);
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&line_by_line)
    );
    // What we send must itself be a valid request with the same framing.
    let again = parse_request(&out, &Limits::default()).unwrap().unwrap();
    assert_eq!(again.framing, head.framing);
    assert_eq!(again.head_len, out.len());
    String::from_utf8(out).unwrap()
}

fn keep_alive() -> RequestRewrite<'static> {
    RequestRewrite {
        upstream_keep_alive: true,
        forwardfor: None,
        https: false,
        strip_expect: false,
        upgrade: false,
    }
}

fn relay(raw: &[u8], opts: ResponseRewrite) -> String {
    let head = parse_response(raw, Method::Get, &Limits::default())
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    write_response_head(raw, &head, &opts, &NoEdit, &mut out);
    let mut line_by_line = Vec::new();
    write_response_head(raw, &head, &opts, &LookOnly, &mut line_by_line);
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&line_by_line)
    );
    assert!(parse_response(&out, Method::Get, &Limits::default())
        .unwrap()
        .is_some());
    String::from_utf8(out).unwrap()
}

#[test]
fn plain_http11_request_is_forwarded_unchanged() {
    let raw = b"GET /a?b HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    assert_eq!(
        forward(raw, keep_alive()),
        "GET /a?b HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"
    );
}

#[test]
fn upstream_close_is_explicit() {
    let raw = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let opts = RequestRewrite {
        upstream_keep_alive: false,
        ..keep_alive()
    };
    assert_eq!(
        forward(raw, opts),
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn http10_kept_alive_upstream_says_so() {
    let raw = b"GET / HTTP/1.0\r\nConnection: close\r\n\r\n";
    assert_eq!(
        forward(raw, keep_alive()),
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn hop_by_hop_fields_are_removed_framing_kept() {
    let raw = b"POST /u HTTP/1.1\r\n\
Host: x\r\n\
Connection: keep-alive, X-Secret, Upgrade, HTTP2-Settings\r\n\
Keep-Alive: timeout=5\r\n\
Proxy-Connection: keep-alive\r\n\
TE: trailers\r\n\
Upgrade: h2c\r\n\
HTTP2-Settings: AAMAAABk\r\n\
x-secret: 1\r\n\
Trailer: Expires\r\n\
Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\
Transfer-Encoding: chunked\r\n\
X-Keep: 2\r\n\r\n";
    assert_eq!(
        forward(raw, keep_alive()),
        "POST /u HTTP/1.1\r\n\
Host: x\r\n\
Trailer: Expires\r\n\
Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\
Transfer-Encoding: chunked\r\n\
X-Keep: 2\r\n\r\n"
    );
}

#[test]
fn xfp_says_https_for_a_tls_client() {
    let raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: http\r\n\r\n";
    let opts = RequestRewrite {
        forwardfor: Some(IP),
        https: true,
        ..keep_alive()
    };
    assert_eq!(
        forward(raw, opts),
        "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n"
    );
}

#[test]
fn xff_is_appended_to_the_last_line_and_xfp_replaced() {
    let raw = b"GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1\r\nHost: x\r\nx-forwarded-for: 10.0.0.2 \r\nX-Forwarded-Proto: https\r\n\r\n";
    let opts = RequestRewrite {
        forwardfor: Some(IP),
        ..keep_alive()
    };
    assert_eq!(
        forward(raw, opts),
        "GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1\r\nHost: x\r\nx-forwarded-for: 10.0.0.2, 192.0.2.7\r\nX-Forwarded-Proto: http\r\n\r\n"
    );
}

#[test]
fn xff_is_added_when_absent() {
    let raw = b"GET / HTTP/1.0\r\n\r\n";
    let opts = RequestRewrite {
        forwardfor: Some(IP),
        https: false,
        upstream_keep_alive: false,
        strip_expect: false,
        upgrade: false,
    };
    assert_eq!(
        forward(raw, opts),
        "GET / HTTP/1.0\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn xff_empty_value_gets_the_address_alone() {
    let raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For:\r\n\r\n";
    let opts = RequestRewrite {
        forwardfor: Some(IP),
        ..keep_alive()
    };
    assert_eq!(
        forward(raw, opts),
        "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n\r\n"
    );
}

#[test]
fn connection_cannot_remove_xff() {
    let raw = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: X-Forwarded-For\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n";
    let opts = RequestRewrite {
        forwardfor: Some(IP),
        ..keep_alive()
    };
    assert_eq!(
        forward(raw, opts),
        "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1, 192.0.2.7\r\nX-Forwarded-Proto: http\r\n\r\n"
    );
}

#[test]
fn expect_is_kept_or_stripped() {
    let raw = b"PUT /f HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    assert_eq!(
        forward(raw, keep_alive()),
        std::str::from_utf8(raw).unwrap()
    );
    let opts = RequestRewrite {
        strip_expect: true,
        ..keep_alive()
    };
    assert_eq!(
        forward(raw, opts),
        "PUT /f HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
    );
}

#[test]
fn leading_empty_lines_are_not_forwarded() {
    let raw = b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(
        forward(raw, keep_alive()),
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    );
}

#[test]
fn output_is_appended_not_replaced() {
    let raw = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let head = parse_request(raw, &Limits::default()).unwrap().unwrap();
    let mut out = b"previous".to_vec();
    write_request_head(raw, &head, &keep_alive(), &NoEdit, &mut out);
    assert_eq!(out, b"previousGET / HTTP/1.1\r\nHost: x\r\n\r\n");
}

#[test]
fn response_to_http11_client_kept_alive() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\n\r\nok";
    let opts = ResponseRewrite {
        client_keep_alive: true,
        client_version_minor: 1,
        dechunk: false,
    };
    assert_eq!(
        relay(raw, opts),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    );
}

#[test]
fn response_to_http10_client_kept_alive_or_closed() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let opts = ResponseRewrite {
        client_keep_alive: true,
        client_version_minor: 0,
        dechunk: false,
    };
    assert_eq!(
        relay(raw, opts),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
    );
    let opts = ResponseRewrite {
        client_keep_alive: false,
        ..opts
    };
    assert_eq!(
        relay(raw, opts),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn response_hop_by_hop_and_connection_named_fields_removed() {
    let raw = b"HTTP/1.1 200 OK\r\nConnection: close, X-Internal\r\nX-Internal: a\r\nUpgrade: h2,h2c\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nServer: web1\r\n\r\n";
    let opts = ResponseRewrite {
        client_keep_alive: true,
        client_version_minor: 1,
        dechunk: false,
    };
    assert_eq!(
        relay(raw, opts),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nServer: web1\r\n\r\n"
    );
    let opts = ResponseRewrite {
        dechunk: true,
        client_version_minor: 0,
        ..opts
    };
    let out = {
        let head = parse_response(raw, Method::Get, &Limits::default())
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        write_response_head(raw, &head, &opts, &NoEdit, &mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nServer: web1\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn ip_text_forms() {
    assert_eq!(
        IpText::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))).as_bytes(),
        IP
    );
    let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    assert_eq!(IpText::new(IpAddr::V6(v6)).as_bytes(), b"2001:db8::1");
    let mapped: Ipv6Addr = "::ffff:10.1.2.3".parse().unwrap();
    assert_eq!(IpText::new(IpAddr::V6(mapped)).as_bytes(), b"10.1.2.3");
    let longest: Ipv6Addr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe".parse().unwrap();
    assert_eq!(
        IpText::new(IpAddr::V6(longest)).as_bytes(),
        b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"
    );
}

/// IPv4 text is written digit by digit: every octet value, in every position, reads as the
/// standard library writes it.
#[test]
fn ip_text_v4_matches_std_for_every_octet() {
    for o in 0..=255u8 {
        for ip in [
            Ipv4Addr::new(o, 0, 9, 255),
            Ipv4Addr::new(10, o, 100, 1),
            Ipv4Addr::new(255, 99, o, 0),
            Ipv4Addr::new(1, 200, 30, o),
        ] {
            assert_eq!(
                IpText::new(IpAddr::V4(ip)).as_bytes(),
                ip.to_string().as_bytes()
            );
        }
    }
}

/// Cheap in-tree stand-in for the fuzz target: mutated heads never panic,
/// and whatever parses is forwarded as a head that parses to the same
/// framing, method and target.
#[test]
fn mutated_requests_never_panic_and_rewrite_round_trips() {
    const SEED: &[u8] = b"POST http://x/a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\nTransfer-Encoding: gzip, chunked\r\nX-Forwarded-For: 10.0.0.1\r\nExpect: 100-continue\r\n\r\n0\r\n\r\n";
    const BYTES: &[u8] = b"\r\n :,;\t\x00\x7f\x80aGHTP/.01fChunked-";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut accepted = 0;
    for _ in 0..5000 {
        let mut buf = SEED.to_vec();
        for _ in 0..1 + next(3) {
            let at = next(buf.len());
            match next(3) {
                0 => buf[at] = BYTES[next(BYTES.len())],
                1 => buf.insert(at, BYTES[next(BYTES.len())]),
                _ => {
                    buf.remove(at);
                }
            }
        }
        let Ok(Some(head)) = parse_request(&buf, &Limits::default()) else {
            continue;
        };
        accepted += 1;
        let mut out = Vec::new();
        let opts = RequestRewrite {
            forwardfor: Some(IP),
            https: false,
            strip_expect: true,
            upstream_keep_alive: true,
            upgrade: false,
        };
        write_request_head(&buf, &head, &opts, &NoEdit, &mut out);
        let again = parse_request(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(again.framing, head.framing);
        assert_eq!(again.method.as_bytes(&out), head.method.as_bytes(&buf));
        assert_eq!(again.target.get(&out), head.target.get(&buf));
        assert_eq!(again.head_len, out.len());
    }
    assert!(accepted > 100, "only {accepted} mutations parsed");
}

#[test]
fn upgrade_is_forwarded_only_when_allowed() {
    let raw = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n";
    assert_eq!(
        forward(raw, keep_alive()),
        "GET /ws HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: k\r\n\r\n"
    );
    let opts = RequestRewrite {
        upgrade: true,
        upstream_keep_alive: false,
        ..keep_alive()
    };
    assert_eq!(
        forward(raw, opts),
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nConnection: upgrade\r\n\r\n"
    );
}

#[test]
fn switching_protocols_keeps_its_upgrade() {
    let raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: a\r\n\r\n";
    let opts = ResponseRewrite {
        client_keep_alive: true,
        client_version_minor: 1,
        dechunk: false,
    };
    assert_eq!(
        relay(raw, opts),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: a\r\nConnection: upgrade\r\n\r\n"
    );
}
