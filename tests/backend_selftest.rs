//! Tests of the test helpers themselves: the fake backends and the clients in `common`, with no
//! ringlb involved. If these fail, every other integration test's verdict is suspect.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::{
    fnv, free_port, http_get, http_request, pattern, pattern_sum, raw_exchange, wait_until,
    Backend, Client, RawBackend, RefusingAddr,
};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

#[test]
fn default_answer_names_the_backend() {
    let b = Backend::start("web1");
    let r = http_get(b.addr(), "/hello", &[("X-Custom", "yes")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("server"), Some("web1"));
    assert_eq!(r.backend(), Some("web1"));
    assert_eq!(r.body_str(), "web1\n");
    assert_eq!(r.header("x-path"), Some("/hello"));
    assert!(r.closes(), "asked for Connection: close");
    assert!(b.last_head().starts_with("GET /hello HTTP/1.1\r\n"));
    assert!(b.last_head().contains("X-Custom: yes\r\n"));
    assert!(b.last_head().ends_with("\r\n\r\n"));
    assert_eq!(b.requests(), 1);
    assert_eq!(b.connections(), 1);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let b = Backend::start("ka");
    let mut c = Client::connect(b.addr()).expect("connect");
    for i in 0..5 {
        let r = c.get(&format!("/{i}")).expect("request");
        assert_eq!(r.status, 200);
        assert!(!r.closes());
    }
    assert_eq!(b.requests(), 5);
    assert_eq!(b.connections(), 1);
    assert_eq!(b.active(), 1);
    drop(c);
    assert!(wait_until(Duration::from_secs(2), || b.active() == 0));
}

#[test]
fn pipelined_requests_get_answers_in_order() {
    let b = Backend::start("pipe");
    let mut c = Client::connect(b.addr()).expect("connect");
    c.send_raw(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let a = c.read_response(false).expect("first");
    let bb = c.read_response(false).expect("second");
    assert_eq!(a.header("x-path"), Some("/a"));
    assert_eq!(bb.header("x-path"), Some("/b"));
}

#[test]
fn connection_close_and_http10_close_after_the_response() {
    let b = Backend::start("closer");
    let mut c = Client::connect(b.addr()).expect("connect");
    let r = c
        .request("GET", "/", &[("Connection", "close")], b"")
        .expect("request");
    assert!(r.closes());
    assert!(c.is_closed(Duration::from_secs(2)));

    let raw = raw_exchange(b.addr(), b"GET /old HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Connection: close\r\n"));
    assert!(text.ends_with("closer\n"));

    // HTTP/1.0 asking for keep-alive keeps the connection
    let mut c = Client::connect(b.addr()).expect("connect");
    c.send_raw(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .expect("send");
    let r = c.read_response(false).expect("response");
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert!(!c.is_closed(Duration::from_millis(300)));
}

#[test]
fn x_close_closes_after_the_response() {
    let b = Backend::start("xc");
    let mut c = Client::connect(b.addr()).expect("connect");
    let r = c
        .request("GET", "/", &[("x-close", "1")], b"")
        .expect("request");
    assert_eq!(r.status, 200);
    assert!(r.closes());
    assert!(c.is_closed(Duration::from_secs(2)));
}

#[test]
fn x_status_sets_the_status() {
    let b = Backend::start("st");
    let r = http_get(b.addr(), "/", &[("x-status", "503")]);
    assert_eq!(r.status, 503);
    assert_eq!(r.reason, "Service Unavailable");
    assert_eq!(r.body_str(), "st\n");
    let r = http_get(b.addr(), "/", &[("x-status", "204")]);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), None);
}

#[test]
fn x_delay_ms_delays_the_answer() {
    let b = Backend::start("slow");
    let start = Instant::now();
    let r = http_get(b.addr(), "/", &[("x-delay-ms", "300")]);
    assert_eq!(r.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn x_size_streams_the_pattern() {
    let b = Backend::start("big");
    let r = http_get(b.addr(), "/", &[("x-size", "1000000")]);
    assert_eq!(r.header("content-length"), Some("1000000"));
    assert_eq!(r.body, pattern(1_000_000));
    assert_eq!(r.body_sum, pattern_sum(1_000_000));
    let r = http_get(b.addr(), "/", &[("x-size", "0")]);
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.body.is_empty());
}

#[test]
fn large_download_without_keeping_the_body() {
    let b = Backend::start("huge");
    let n: u64 = 64 << 20;
    let mut c = Client::connect(b.addr()).expect("connect");
    c.keep_body(false);
    let r = c
        .request("GET", "/", &[("x-size", &n.to_string())], b"")
        .expect("request");
    assert!(r.body.is_empty());
    assert_eq!(r.body_len, n);
    assert_eq!(r.body_sum, pattern_sum(n));
}

#[test]
fn x_chunked_answers_chunked() {
    let b = Backend::start("chunky");
    let r = http_get(b.addr(), "/", &[("x-chunked", "1")]);
    assert!(r.chunked);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.body_str(), "chunky\n");
    let r = http_get(b.addr(), "/", &[("x-chunked", "1"), ("x-size", "200000")]);
    assert!(r.chunked);
    assert_eq!(r.body, pattern(200_000));
    // exact wire format of a small chunked answer
    let raw = raw_exchange(
        b.addr(),
        b"GET / HTTP/1.1\r\nx-chunked: 1\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.ends_with(b"\r\n\r\n7\r\nchunky\n\r\n0\r\n\r\n"));
}

#[test]
fn head_gets_headers_only() {
    let b = Backend::start("head");
    let r = http_request(b.addr(), "HEAD", "/", &[("x-size", "5000")], b"").expect("HEAD");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5000"));
    assert!(r.body.is_empty());
}

#[test]
fn x_echo_headers_returns_the_request_head() {
    let b = Backend::start("echo");
    let r = http_get(
        b.addr(),
        "/e",
        &[("x-echo-headers", "1"), ("X-Forwarded-For", "10.0.0.1")],
    );
    let body = r.body_str();
    assert!(body.starts_with("GET /e HTTP/1.1\r\n"), "{body}");
    assert!(body.contains("X-Forwarded-For: 10.0.0.1\r\n"));
    assert!(body.ends_with("\r\n\r\n"));
}

#[test]
fn upload_with_content_length_is_counted() {
    let b = Backend::start("up");
    let body = pattern(300_000);
    let r = http_request(b.addr(), "POST", "/up", &[], &body).expect("POST");
    assert_eq!(r.header("x-body-len"), Some("300000"));
    assert_eq!(
        r.header("x-body-sum"),
        Some(format!("{:x}", fnv(&body)).as_str())
    );
    // no body: length 0 and the sum of nothing
    let r = http_get(b.addr(), "/", &[]);
    assert_eq!(r.header("x-body-len"), Some("0"));
    assert_eq!(
        r.header("x-body-sum"),
        Some(format!("{:x}", fnv(b"")).as_str())
    );
}

#[test]
fn upload_chunked_is_counted() {
    let b = Backend::start("upc");
    let mut c = Client::connect(b.addr()).expect("connect");
    c.send_raw(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    .expect("send");
    let r = c.read_response(false).expect("response");
    assert_eq!(r.header("x-body-len"), Some("12"));
    let sum = format!("{:x}", fnv(b"hello world!"));
    assert_eq!(r.header("x-body-sum"), Some(sum.as_str()));
    // the connection is still usable after a chunked body
    assert_eq!(c.get("/next").expect("next").status, 200);
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let b = Backend::start("cont");
    let mut c = Client::connect(b.addr()).expect("connect");
    c.send(
        "PUT",
        "/",
        &[("Expect", "100-continue"), ("Content-Length", "4")],
        b"",
    )
    .expect("send head");
    let interim = c.read_head_only().expect("interim");
    assert_eq!(interim.status, 100);
    c.send_raw(b"data").expect("send body");
    let r = c.read_response(false).expect("final");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-body-len"), Some("4"));

    // a client that sends the body at once sees the 100 as an interim response
    let r =
        http_request(b.addr(), "POST", "/", &[("Expect", "100-continue")], b"abc").expect("POST");
    assert_eq!(r.interim, vec![100]);
    assert_eq!(r.header("x-body-len"), Some("3"));
}

#[test]
fn x_reset_resets_without_answering() {
    let b = Backend::start("rst");
    let mut s = TcpStream::connect(b.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nx-reset: 1\r\n\r\n")
        .expect("send");
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
        Ok(n) => panic!("expected a reset, read {n} bytes"),
    }
}

#[test]
fn x_hang_never_answers_until_stop() {
    let mut b = Backend::start("hang");
    let mut c = Client::connect(b.addr()).expect("connect");
    c.send("GET", "/", &[("x-hang", "1")], b"").expect("send");
    assert!(
        !c.is_closed(Duration::from_millis(300)),
        "hung connection must stay open"
    );
    assert_eq!(b.active(), 1);
    b.stop();
    assert!(
        c.is_closed(Duration::from_secs(2)),
        "stop closes hanging sockets"
    );
    assert_eq!(b.active(), 0);
}

#[test]
fn bad_request_gets_400_and_close() {
    let b = Backend::start("strict");
    let raw = raw_exchange(b.addr(), b"NONSENSE\r\n\r\n");
    assert!(
        raw.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let raw = raw_exchange(b.addr(), b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
    assert!(raw.starts_with(b"HTTP/1.1 400 "));
}

#[test]
fn counters_track_connections_and_activity() {
    let b = Backend::start("count");
    let c1 = Client::connect(b.addr()).expect("c1");
    let c2 = Client::connect(b.addr()).expect("c2");
    assert!(wait_until(Duration::from_secs(2), || b.active() == 2));
    assert_eq!(b.connections(), 2);
    assert_eq!(b.requests(), 0);
    drop((c1, c2));
    assert!(wait_until(Duration::from_secs(2), || b.active() == 0));
    assert_eq!(b.connections(), 2);
}

#[test]
fn backend_restarts_on_the_same_port() {
    let mut b = Backend::start("first");
    let addr = b.addr();
    b.stop();
    assert!(TcpStream::connect(addr).is_err());
    let b2 = Backend::start_on("second", addr);
    assert_eq!(http_get(addr, "/", &[]).backend(), Some("second"));
    drop(b2);
}

#[test]
fn raw_backend_runs_the_script() {
    let mut b = RawBackend::start(|mut s| {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhal");
        // and die mid-body
    });
    let raw = raw_exchange(b.addr(), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(raw, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhal");
    assert_eq!(b.connections(), 1);
    // the client helper reports the truncated body as an error
    let err = http_get_err(b.addr());
    assert_eq!(err, ErrorKind::UnexpectedEof);
    b.stop();
}

fn http_get_err(addr: std::net::SocketAddr) -> ErrorKind {
    match http_request(addr, "GET", "/", &[], b"") {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e.kind(),
    }
}

#[test]
fn raw_backend_stop_releases_held_connections() {
    let mut b = RawBackend::start(|mut s| {
        let mut buf = [0u8; 1024];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let mut c = Client::connect(b.addr()).expect("connect");
    assert!(wait_until(Duration::from_secs(2), || b.active() == 1));
    b.stop();
    assert!(c.is_closed(Duration::from_secs(2)));
    assert_eq!(b.active(), 0);
}

#[test]
fn echo_backend_echoes_until_half_close() {
    let b = RawBackend::echo();
    let mut s = TcpStream::connect(b.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s.write_all(b"ping\n").expect("send");
    s.shutdown(std::net::Shutdown::Write).expect("half close");
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read");
    assert_eq!(got, b"ping\n");
}

#[test]
fn refusing_addr_refuses() {
    let addr = RefusingAddr::new().addr();
    let err = TcpStream::connect(addr).expect_err("nothing listens");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn free_port_is_bindable() {
    let port = free_port();
    assert_ne!(port, 0);
    TcpListener::bind(("127.0.0.1", port)).expect("free port binds");
}
