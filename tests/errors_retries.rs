//! Error statuses ringlb generates (502, 503, 504, 408) and the retry / redispatch loop.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::backend::Wire;
use common::conf::{http, srv};
use common::*;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A backend that reads one request head, then runs `then` on the socket.
fn after_head(then: impl Fn(&mut TcpStream) + Send + Sync + 'static) -> RawBackend {
    RawBackend::start(move |s| {
        let Ok(mut out) = s.try_clone() else { return };
        let mut wire = Wire::new(s);
        if let Ok(Some(_)) = wire.read_head() {
            then(&mut out);
        }
    })
}

/// Asserts ringlb's own error page: the status, no backend name, the connection closed.
fn assert_generated(addr: std::net::SocketAddr, status: u16) -> Response {
    let mut c = Client::connect(addr).expect("connect");
    let r = c.get("/").expect("response");
    assert_eq!(r.status, status, "{:?}", r.headers);
    assert!(r.backend().is_none());
    assert!(c.is_closed(Duration::from_secs(3)), "connection left open");
    r
}

#[test]
fn garbage_response_is_502() {
    let bad = after_head(|s| {
        let _ = s.write_all(b"this is not http\r\n\r\n");
    });
    let lb = http().server(srv("bad", bad.addr())).start();
    assert_generated(lb.addr, 502);
}

#[test]
fn invalid_status_line_is_502() {
    let bad = after_head(|s| {
        let _ = s.write_all(b"HTTP/1.1 2000 Huge\r\nContent-Length: 0\r\n\r\n");
    });
    let lb = http().server(srv("bad", bad.addr())).start();
    assert_generated(lb.addr, 502);
}

#[test]
fn ambiguous_response_framing_is_502() {
    let bad = after_head(|s| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        );
    });
    let lb = http().server(srv("bad", bad.addr())).start();
    assert_generated(lb.addr, 502);
}

#[test]
fn reset_after_reading_is_502() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let r = c
        .request("GET", "/", &[("x-reset", "1")], b"")
        .expect("response");
    assert_eq!(r.status, 502);
    assert!(c.is_closed(Duration::from_secs(3)));
    // a GET on a fresh connection is not replayed: the server saw it once
    assert_eq!(web.requests(), 1);
}

#[test]
fn close_without_answer_is_502() {
    let bad = after_head(|s| {
        let _ = s.shutdown(Shutdown::Both);
    });
    let lb = http().server(srv("bad", bad.addr())).start();
    assert_generated(lb.addr, 502);
}

#[test]
fn response_cut_short_closes_client_without_more_bytes() {
    // headers promise 1000 bytes, 10 come, then the server closes: the client must see the
    // connection end, not a completed response
    let bad = after_head(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
        let _ = s.shutdown(Shutdown::Both);
    });
    let lb = http().server(srv("bad", bad.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let err = c
        .get("/")
        .expect_err("a truncated body must not look complete");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
}

#[test]
fn all_servers_refusing_is_503() {
    let (a, b) = (RefusingAddr::new(), RefusingAddr::new());
    let lb = http()
        .backend("redispatch = true")
        .server(srv("a", a.addr()))
        .server(srv("b", b.addr()))
        .start();
    let t = Instant::now();
    assert_generated(lb.addr, 503);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn hanging_server_is_504_after_timeout_server() {
    let web = Backend::start("web1");
    let lb = http()
        .backend("timeout = { server = \"300ms\" }")
        .server(srv("web1", web.addr()))
        .start();
    let t = Instant::now();
    let mut c = Client::connect(lb.addr).expect("connect");
    let r = c
        .request("GET", "/", &[("x-hang", "1")], b"")
        .expect("response");
    let took = t.elapsed();
    assert_eq!(r.status, 504);
    assert!(c.is_closed(Duration::from_secs(3)));
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "504 after {took:?}"
    );
}

#[test]
fn partial_head_is_408_after_timeout_http_request() {
    let web = Backend::start("web1");
    let lb = http()
        .frontend("timeout = { http_request = \"300ms\" }")
        .server(srv("web1", web.addr()))
        .start();
    let t = Instant::now();
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send_raw(b"GET / HTTP/1.1\r\nHost: a\r\n").expect("send");
    let r = c.read_response(false).expect("response");
    let took = t.elapsed();
    assert_eq!(r.status, 408);
    assert!(c.is_closed(Duration::from_secs(3)));
    assert!(took < Duration::from_secs(5), "408 after {took:?}");
    assert_eq!(web.requests(), 0);
}

#[test]
fn slowloris_trickle_does_not_extend_http_request_timeout() {
    // one byte every 100 ms keeps the socket busy but the head never completes in time
    let web = Backend::start("web1");
    let lb = http()
        .frontend("timeout = { http_request = \"500ms\" }")
        .server(srv("web1", web.addr()))
        .start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let head =
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let t = Instant::now();
    for b in head.iter() {
        if c.send_raw(&[*b]).is_err() || t.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "ringlb kept reading a trickled head for {:?}",
        t.elapsed()
    );
    let r = c.read_response(false).expect("response");
    assert_eq!(r.status, 408);
    assert_eq!(web.requests(), 0);
}

#[test]
fn redispatch_moves_retries_to_a_working_server() {
    let refusing = RefusingAddr::new();
    let web = Backend::start("web2");
    let lb = http()
        .backend("redispatch = true")
        .backend("retries = 1")
        .server(srv("dead", refusing.addr()))
        .server(srv("web2", web.addr()))
        .start();
    for i in 0..10 {
        let r = http_get(lb.addr, &format!("/{i}"), &[]);
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.backend(), Some("web2"));
    }
}

#[test]
fn without_redispatch_retries_stay_on_the_chosen_server() {
    // retries = 1: the first attempt and the one retry both go to the server the balancer
    // chose; a refusing server therefore yields 503 for the requests it was given
    let refusing = RefusingAddr::new();
    let web = Backend::start("web2");
    let lb = http()
        .backend("redispatch = false")
        .backend("retries = 1")
        .server(srv("dead", refusing.addr()))
        .server(srv("web2", web.addr()))
        .start();
    let statuses: Vec<u16> = (0..6)
        .map(|i| http_get(lb.addr, &format!("/{i}"), &[]).status)
        .collect();
    // round robin alternates; each request that picked "dead" fails after its retry
    assert_eq!(
        statuses.iter().filter(|&&s| s == 503).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(web.requests(), 3);
}

#[test]
fn no_retries_no_redispatch_fails_fast() {
    let refusing = RefusingAddr::new();
    let lb = http()
        .backend("retries = 0")
        .backend("redispatch = true")
        .server(srv("dead", refusing.addr()))
        .start();
    assert_generated(lb.addr, 503);
}

#[test]
fn dead_pooled_connection_is_replaced_for_idempotent_requests() {
    // The server answers keep-alive, then closes every connection right after the response
    // without saying so. A GET that draws such a pooled connection must be replayed on a new
    // one, never answered with an error.
    let seen = Arc::new(AtomicU64::new(0));
    let count = seen.clone();
    let web = RawBackend::start(move |s| {
        let Ok(mut out) = s.try_clone() else { return };
        let mut wire = Wire::new(s);
        if let Ok(Some(_)) = wire.read_head() {
            count.fetch_add(1, Ordering::SeqCst);
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            let _ = out.shutdown(Shutdown::Both);
        }
    });
    let lb = http().server(srv("flaky", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    for i in 0..30 {
        let r = c.get(&format!("/{i}")).expect("request");
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.body_str(), "ok");
    }
    assert_eq!(seen.load(Ordering::SeqCst), 30);
}

#[test]
fn error_response_is_well_formed_http() {
    let refusing = RefusingAddr::new();
    let lb = http()
        .backend("retries = 0")
        .server(srv("dead", refusing.addr()))
        .start();
    let raw = raw_exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let cl: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().expect("numeric content-length"))
        })
        .expect("content-length");
    assert_eq!(body.len(), cl);
}

#[test]
fn expect_100_continue_to_refusing_server_gets_503_not_100() {
    let refusing = RefusingAddr::new();
    let lb = http()
        .backend("retries = 0")
        .server(srv("dead", refusing.addr()))
        .start();
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send_raw(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .expect("send head");
    // the body is never sent: the client must not be invited to send it
    let r = c.read_head_only().expect("response");
    assert_eq!(r.status, 503);
}

#[test]
fn http10_client_never_gets_100_continue() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send_raw(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        .expect("send");
    let r = c.read_response(false).expect("response");
    assert_eq!(r.status, 200);
    assert!(r.interim.is_empty(), "HTTP/1.0 client got {:?}", r.interim);
    assert_eq!(r.header("x-body-len"), Some("5"));
}

#[test]
fn client_silent_mid_body_is_408_and_server_connection_dropped() {
    let web = Backend::start("web1");
    let lb = http()
        .frontend("timeout = { client = \"300ms\" }")
        .server(srv("web1", web.addr()))
        .start();
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send_raw(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        .expect("send");
    let t = Instant::now();
    let r = c.read_response(false).expect("response");
    assert_eq!(r.status, 408);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // the server got a partial request: that connection must be closed, never reused
    assert!(
        wait_until(Duration::from_secs(5), || web.active() == 0),
        "server connection with a partial request left open"
    );
    assert_eq!(http_get(lb.addr, "/next", &[]).status, 200);
    assert_eq!(web.connections(), 2);
}

#[test]
fn client_abort_mid_download_closes_server_connection() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    {
        let mut c = Client::connect(lb.addr).expect("connect");
        c.send("GET", "/big", &[("x-size", "1073741824")], b"")
            .expect("send");
        let head = c.read_head_only().expect("head");
        assert_eq!(head.status, 200);
        // dropped here, with most of the body unread
    }
    // the half-sent response makes the server connection unusable: it must be closed
    assert!(
        wait_until(Duration::from_secs(10), || web.active() == 0),
        "server connection still open after the client left"
    );
    let r = http_get(lb.addr, "/", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "web1\n");
}
