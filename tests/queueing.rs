//! Server `maxconn` and the queue in front of it: the limit holds across workers, queued
//! requests are served in turn, and a request that waits past `timeout queue` gets a 503.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::backend::Wire;
use common::conf::{http, srv, tcp};
use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Requests in progress at a backend and the most seen at once.
#[derive(Default)]
struct Concurrency {
    now: AtomicU64,
    peak: AtomicU64,
    served: AtomicU64,
}

/// An HTTP backend that counts requests in progress exactly: a request counts from its head
/// until just before its response is written, so ringlb cannot have learned that it ended.
fn counting_backend(delay: Duration) -> (RawBackend, Arc<Concurrency>) {
    let stats = Arc::new(Concurrency::default());
    let st = stats.clone();
    let b = RawBackend::start(move |s| {
        let Ok(mut out) = s.try_clone() else { return };
        let mut wire = Wire::new(s);
        while let Ok(Some(_)) = wire.read_head() {
            let n = st.now.fetch_add(1, Ordering::SeqCst) + 1;
            st.peak.fetch_max(n, Ordering::SeqCst);
            thread::sleep(delay);
            st.now.fetch_sub(1, Ordering::SeqCst);
            st.served.fetch_add(1, Ordering::SeqCst);
            if out
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                .is_err()
            {
                return;
            }
        }
    });
    (b, stats)
}

#[test]
fn server_maxconn_caps_concurrency_and_queued_requests_succeed() {
    let (web, stats) = counting_backend(Duration::from_millis(300));
    // two workers: the limit is shared, not per worker
    let lb = http()
        .workers(2)
        .server(srv("web", web.addr()).with("maxconn = 2"))
        .start();
    let addr = lb.addr;
    let clients: Vec<_> = (0..6)
        .map(|i| thread::spawn(move || http_get(addr, &format!("/{i}"), &[]).status))
        .collect();
    let statuses: Vec<u16> = clients
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    assert_eq!(statuses, [200; 6]);
    assert_eq!(stats.served.load(Ordering::SeqCst), 6);
    let peak = stats.peak.load(Ordering::SeqCst);
    assert!(
        peak <= 2,
        "backend saw {peak} requests at once with maxconn = 2"
    );
    assert_eq!(peak, 2, "the two slots were never used together");
}

#[test]
fn maxconn_counts_requests_on_keep_alive_clients_too() {
    let (web, stats) = counting_backend(Duration::from_millis(100));
    let lb = http()
        .workers(2)
        .server(srv("web", web.addr()).with("maxconn = 1"))
        .start();
    let addr = lb.addr;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Client::connect(addr).expect("connect");
                (0..3)
                    .map(|i| c.get(&format!("/{i}")).expect("request").status)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in clients {
        assert_eq!(t.join().expect("client thread"), [200; 3]);
    }
    assert_eq!(stats.served.load(Ordering::SeqCst), 12);
    assert_eq!(stats.peak.load(Ordering::SeqCst), 1);
}

#[test]
fn queue_timeout_is_503() {
    let web = Backend::start("web1");
    let lb = http()
        .backend("timeout = { queue = \"300ms\" }")
        .server(srv("web1", web.addr()).with("maxconn = 1"))
        .start();
    let addr = lb.addr;
    let slow = thread::spawn(move || http_get(addr, "/slow", &[("x-delay-ms", "2000")]).status);
    assert!(
        wait_until(Duration::from_secs(5), || web.requests() == 1),
        "the slow request never reached the backend"
    );
    let t = Instant::now();
    let mut c = Client::connect(addr).expect("connect");
    let r = c.get("/queued").expect("response");
    let waited = t.elapsed();
    assert_eq!(r.status, 503);
    assert!(r.backend().is_none());
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "503 after {waited:?}, queue timeout is 300ms"
    );
    assert_eq!(web.requests(), 1, "the queued request reached the backend");
    assert_eq!(slow.join().expect("slow client"), 200);
}

#[test]
fn queued_request_proceeds_when_a_slot_frees() {
    let web = Backend::start("web1");
    let lb = http()
        .backend("timeout = { queue = \"5s\" }")
        .server(srv("web1", web.addr()).with("maxconn = 1"))
        .start();
    let addr = lb.addr;
    let slow = thread::spawn(move || http_get(addr, "/slow", &[("x-delay-ms", "400")]));
    assert!(wait_until(Duration::from_secs(5), || web.requests() == 1));
    let t = Instant::now();
    let r = http_get(addr, "/queued", &[]);
    assert_eq!(r.status, 200);
    // served right after the slow one ended, not at the queue timeout
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(slow.join().expect("slow client").status, 200);
}

#[test]
fn tcp_server_maxconn_queues_connections() {
    // tcp mode: maxconn counts connections; the second waits until the first ends
    let web = RawBackend::echo();
    let lb = tcp()
        .backend("timeout = { queue = \"5s\" }")
        .server(srv("echo", web.addr()).with("maxconn = 1"))
        .start();
    let mut first = TcpStream::connect(lb.addr).expect("connect first");
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    first.write_all(b"one").expect("write");
    let mut buf = [0u8; 3];
    first.read_exact(&mut buf).expect("echo one");
    let addr = lb.addr;
    let second = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect second");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(b"two").expect("write");
        let mut buf = [0u8; 3];
        s.read_exact(&mut buf).expect("echo two");
        buf
    });
    // the second connection is accepted by ringlb but not forwarded while the first lives
    assert!(
        !wait_until(Duration::from_millis(300), || web.connections() > 1),
        "maxconn = 1 exceeded"
    );
    first.shutdown(Shutdown::Write).expect("shutdown");
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).expect("first ends");
    assert_eq!(&second.join().expect("second client"), b"two");
    assert_eq!(web.connections(), 2);
}

/// Every way a request can end frees its server slot: with `maxconn = 1`, a normal request
/// right after each failure is served at once instead of waiting for the queue timeout.
#[test]
fn failed_requests_release_their_slot() {
    let web = Backend::start("web1");
    let lb = http()
        .backend("timeout = { server = \"300ms\", queue = \"1s\" }")
        .server(srv("web1", web.addr()).with("maxconn = 1"))
        .start();
    // A slot still held makes the probe wait in the queue and get a 503 at `timeout queue`.
    let check = |what: &str| {
        let r = http_get(lb.addr, "/probe", &[]);
        assert_eq!(r.status, 200, "after {what} the slot was held");
    };
    check("nothing");
    assert_eq!(http_get(lb.addr, "/", &[("x-reset", "1")]).status, 502);
    check("a reset (502)");
    assert_eq!(http_get(lb.addr, "/", &[("x-hang", "1")]).status, 504);
    check("a server timeout (504)");
    {
        let mut c = Client::connect(lb.addr).expect("connect");
        c.send("GET", "/", &[("x-size", "100000000")], b"")
            .expect("send");
        assert_eq!(c.read_head_only().expect("head").status, 200);
    }
    check("a client abort mid-response");
    {
        // the client leaves while its request waits for the server
        let mut c = Client::connect(lb.addr).expect("connect");
        c.send("GET", "/", &[("x-delay-ms", "200")], b"")
            .expect("send");
        assert!(wait_until(Duration::from_secs(5), || web.active() >= 1));
    }
    // Every server connection closes: the aborted one, and the pooled ones at their idle age.
    assert!(wait_until(Duration::from_secs(20), || web.active() == 0));
    check("a client abort while waiting");
}

#[test]
fn client_leaving_the_queue_does_not_leak_a_slot() {
    let web = Backend::start("web1");
    let lb = http()
        .backend("timeout = { queue = \"5s\" }")
        .server(srv("web1", web.addr()).with("maxconn = 1"))
        .start();
    let addr = lb.addr;
    let slow = thread::spawn(move || http_get(addr, "/slow", &[("x-delay-ms", "500")]).status);
    assert!(wait_until(Duration::from_secs(5), || web.requests() == 1));
    {
        // queued behind the slow one, then gone
        let mut c = Client::connect(addr).expect("connect");
        c.send("GET", "/gone", &[], b"").expect("send");
    }
    assert_eq!(slow.join().expect("slow client"), 200);
    let t = Instant::now();
    assert_eq!(http_get(addr, "/after", &[]).status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}
