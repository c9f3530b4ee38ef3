//! Connection reuse on both sides, the `connection` modes, HTTP/1.0 clients, pipelining and
//! the keep-alive idle timeout.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::conf::{http, srv};
use common::*;
use std::time::{Duration, Instant};

#[test]
fn keep_alive_reuses_client_and_server_connections() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    for i in 0..25 {
        let r = c.get(&format!("/{i}")).expect("request");
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.header("x-path"), Some(format!("/{i}").as_str()));
        assert!(!r.closes(), "request {i} closed the client connection");
    }
    assert_eq!(web.requests(), 25);
    assert_eq!(web.connections(), 1, "server connection not reused");
    assert!(!c.is_closed(Duration::from_millis(200)));
    // still usable afterwards
    assert_eq!(c.get("/last").expect("request").status, 200);
}

#[test]
fn keep_alive_server_connection_shared_by_successive_clients() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    for i in 0..10 {
        assert_eq!(http_get(lb.addr, &format!("/{i}"), &[]).status, 200);
    }
    assert_eq!(web.requests(), 10);
    assert_eq!(web.connections(), 1, "pooled server connection not reused");
}

#[test]
fn server_close_keeps_client_open_and_closes_server_side() {
    let web = Backend::start("web1");
    let lb = http()
        .frontend("connection = \"server-close\"")
        .server(srv("web1", web.addr()))
        .start();
    let mut c = Client::connect(lb.addr).expect("connect");
    for i in 0..5 {
        let r = c.get(&format!("/{i}")).expect("request");
        assert_eq!(r.status, 200);
        assert!(!r.closes(), "client side must stay open");
    }
    assert_eq!(web.connections(), 5, "one server connection per request");
    // the backend was asked to close each one
    assert!(web
        .last_head()
        .to_ascii_lowercase()
        .contains("connection: close"));
    assert!(
        wait_until(Duration::from_secs(5), || web.active() == 0),
        "server connections left open: {}",
        web.active()
    );
    assert!(!c.is_closed(Duration::from_millis(100)));
}

#[test]
fn close_mode_closes_both_sides_after_each_response() {
    let web = Backend::start("web1");
    let lb = http()
        .frontend("connection = \"close\"")
        .server(srv("web1", web.addr()))
        .start();
    for _ in 0..3 {
        let mut c = Client::connect(lb.addr).expect("connect");
        // the client asks for keep-alive; the frontend overrides it
        let r = c.get("/").expect("request");
        assert_eq!(r.status, 200);
        assert!(r.closes(), "close mode must announce Connection: close");
        assert!(
            c.is_closed(Duration::from_secs(3)),
            "client connection not closed"
        );
    }
    assert_eq!(web.connections(), 3);
    assert!(wait_until(Duration::from_secs(5), || web.active() == 0));
}

#[test]
fn http10_client_without_keep_alive_gets_response_then_close() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send_raw(b"GET /old HTTP/1.0\r\n\r\n").expect("send");
    let r = c.read_response(false).expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "web1\n");
    assert!(
        c.is_closed(Duration::from_secs(3)),
        "HTTP/1.0 connection left open"
    );
    assert!(web.last_head().starts_with("GET /old HTTP/1."));
}

#[test]
fn http10_client_with_keep_alive_stays_open() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    for i in 0..3 {
        c.send_raw(format!("GET /{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes())
            .expect("send");
        let r = c.read_response(false).expect("response");
        assert_eq!(r.status, 200);
        assert!(
            r.header_all("connection")
                .iter()
                .any(|v| v.eq_ignore_ascii_case("keep-alive")),
            "HTTP/1.0 keep-alive must be confirmed explicitly: {:?}",
            r.headers
        );
        // an HTTP/1.0 client needs a length to find the end of the body
        assert_eq!(r.header("content-length"), Some("5"));
    }
    assert!(!c.is_closed(Duration::from_millis(200)));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let host = lb.addr.to_string();
    let mut batch = Vec::new();
    // the first is the slowest: a proxy answering out of order would be caught
    for (i, delay) in [(0, 300), (1, 0), (2, 100), (3, 0), (4, 0)] {
        batch.extend_from_slice(
            format!("GET /p{i} HTTP/1.1\r\nHost: {host}\r\nx-delay-ms: {delay}\r\n\r\n").as_bytes(),
        );
    }
    // one with a body in the middle of the pipeline, and a HEAD
    batch.extend_from_slice(
        format!("POST /p5 HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello").as_bytes(),
    );
    batch.extend_from_slice(format!("HEAD /p6 HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
    batch.extend_from_slice(format!("GET /p7 HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
    c.send_raw(&batch).expect("send pipeline");
    for i in 0..8 {
        let r = c.read_response(i == 6).expect("pipelined response");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-path"), Some(format!("/p{i}").as_str()));
        if i == 5 {
            assert_eq!(r.header("x-body-len"), Some("5"));
        }
    }
    assert!(!c.is_closed(Duration::from_millis(100)));
}

#[test]
fn idle_client_connection_closed_after_keep_alive_timeout() {
    let web = Backend::start("web1");
    let lb = http()
        .frontend("timeout = { http_keep_alive = \"300ms\" }")
        .server(srv("web1", web.addr()))
        .start();
    let mut c = Client::connect(lb.addr).expect("connect");
    assert_eq!(c.get("/").expect("request").status, 200);
    let t = Instant::now();
    assert!(c.is_closed(Duration::from_secs(5)), "idle connection kept");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
}

#[test]
fn connection_close_from_client_is_honoured() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let r = c
        .request("GET", "/", &[("Connection", "close")], b"")
        .expect("request");
    assert!(r.closes());
    assert!(c.is_closed(Duration::from_secs(3)));
    // the server side stays pooled: the client's choice is hop-by-hop
    assert_eq!(http_get(lb.addr, "/", &[]).status, 200);
    assert_eq!(web.connections(), 1);
}

#[test]
fn server_announcing_close_is_not_reused() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    for _ in 0..3 {
        let r = c
            .request("GET", "/", &[("x-close", "1")], b"")
            .expect("request");
        assert_eq!(r.status, 200);
        assert!(!r.closes(), "a server close must not close the client side");
    }
    assert_eq!(web.connections(), 3);
}

#[test]
fn many_concurrent_keep_alive_clients() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let lb = http()
        .workers(2)
        .server(srv("a", a.addr()))
        .server(srv("b", b.addr()))
        .start();
    let addr = lb.addr;
    let clients: Vec<_> = (0..32)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr).expect("connect");
                for i in 0..25 {
                    let r = c
                        .request("GET", &format!("/{t}/{i}"), &[("x-size", "3000")], b"")
                        .expect("request");
                    assert_eq!(r.status, 200);
                    assert_eq!(r.header("x-path"), Some(format!("/{t}/{i}").as_str()));
                    assert_eq!(r.body_len, 3000);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client thread");
    }
    assert_eq!(a.requests() + b.requests(), 32 * 25);
    // server connections are pooled: far fewer than requests
    assert!(
        a.connections() + b.connections() <= 64,
        "{} + {}",
        a.connections(),
        b.connections()
    );
}

/// With `tune_multishot_recv = false` (one receive per read), keep-alive and pipelining work
/// as with the default multishot receive, on the client and the server side.
#[test]
fn keep_alive_and_pipelining_work_with_single_receives() {
    let web = Backend::start("web1");
    let lb = http()
        .global("tune_multishot_recv = false")
        .server(srv("web1", web.addr()))
        .start();
    let mut c = Client::connect(lb.addr).expect("connect");
    for i in 0..10 {
        let r = c.get(&format!("/{i}")).expect("request");
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.header("x-path"), Some(format!("/{i}").as_str()));
    }
    assert_eq!(web.connections(), 1, "server connection not reused");
    let host = lb.addr.to_string();
    let mut batch = Vec::new();
    for i in 0..3 {
        batch.extend_from_slice(format!("GET /p{i} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
    }
    c.send_raw(&batch).expect("send pipeline");
    for i in 0..3 {
        let r = c.read_response(false).expect("pipelined response");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-path"), Some(format!("/p{i}").as_str()));
    }
}
