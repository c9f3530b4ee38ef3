//! `maxqueue`: a request that would wait behind a full queue is answered 503 at once (while
//! the server's slot is still held, not at `timeout queue`), logged `SQ`, counted, and served
//! the backend's 503 errorfile; a server's own `maxqueue` bounds the requests waiting for it
//! in particular (persistence), and sends them elsewhere with `redispatch`.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::backend::Wire;
use common::*;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// A server named `name` that answers at once, except requests for `/hold`, which it answers
/// only once the gate opens; it counts the requests it has read.
struct Gated {
    server: RawBackend,
    open: Arc<AtomicBool>,
    seen: Arc<AtomicU64>,
}

impl Gated {
    fn start(name: &'static str) -> Gated {
        let open = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicU64::new(0));
        let (o, n) = (open.clone(), seen.clone());
        let server = RawBackend::start(move |s| {
            let Ok(mut out) = s.try_clone() else { return };
            let mut wire = Wire::new(s);
            while let Ok(Some(head)) = wire.read_head() {
                n.fetch_add(1, Ordering::SeqCst);
                if head.starts_with(b"GET /hold ") {
                    // the server is busy with this one until the test opens the gate
                    while !o.load(Ordering::SeqCst) {
                        thread::sleep(Duration::from_millis(5));
                    }
                }
                let r = format!(
                    "HTTP/1.1 200 OK\r\nX-Backend: {name}\r\nContent-Length: 3\r\n\r\nok\n"
                );
                if out.write_all(r.as_bytes()).is_err() {
                    return;
                }
            }
        });
        Gated { server, open, seen }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    fn requests(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    fn release(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// The value of the Prometheus sample whose line starts with `prefix`.
fn metric(stats: SocketAddr, prefix: &str) -> Option<u64> {
    let body = http_get(stats, "/metrics", &[]).body_str();
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

struct Site {
    lb: Ringlb,
    addr: SocketAddr,
    stats: SocketAddr,
}

fn site(backend_extra: &str, servers: &[(&str, SocketAddr, &str)]) -> Site {
    let (port, stats_port) = (free_port(), free_port());
    let page = unique_dir("maxqueue").join("503.http");
    std::fs::write(
        &page,
        "HTTP/1.0 503 Busy\nContent-Type: text/plain\n\nqueue full, come back soon\n",
    )
    .unwrap();
    let mut cfg = format!(
        r#"
[global]
workers = 2
[log]
target = "stdout"
[stats]
bind = "127.0.0.1:{stats_port}"
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
log = true
[backend.web]
timeout = {{ queue = "30s" }}
{backend_extra}
[backend.web.errorfile]
503 = "{}"
"#,
        page.display()
    );
    for (name, addr, extra) in servers {
        cfg.push_str(&format!(
            "[[backend.web.server]]\nname = \"{name}\"\naddress = \"{addr}\"\nmaxconn = 1\n{extra}\n"
        ));
    }
    let lb = Ringlb::start(&cfg);
    Site {
        lb,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        stats: SocketAddr::from(([127, 0, 0, 1], stats_port)),
    }
}

#[test]
fn backend_maxqueue_refuses_at_once_while_the_slot_is_held() {
    let web = Gated::start("web1");
    let s = site("maxqueue = 1", &[("web1", web.addr(), "")]);
    let addr = s.addr;
    let holder = thread::spawn(move || http_get(addr, "/hold", &[]));
    assert!(
        wait_until(Duration::from_secs(5), || web.requests() == 1),
        "the holding request never reached the server"
    );
    // the second request waits in the queue (timeout queue is 30s)
    let queued = thread::spawn(move || http_get(addr, "/queued", &[]));
    assert!(
        wait_until(Duration::from_secs(5), || metric(
            s.stats,
            "ringlb_backend_queue_current{backend=\"web\"}"
        ) == Some(1)),
        "the second request never queued"
    );
    // the third finds the queue at its bound: 503 now, with the backend's page
    let r = http_get(s.addr, "/over", &[]);
    assert_eq!(r.status, 503);
    assert_eq!(r.body_str(), "queue full, come back soon\n");
    assert!(r.backend().is_none());
    // ... while the slot is still held and the queued request still waits
    assert!(
        !queued.is_finished(),
        "the queued request ended before the 503"
    );
    assert_eq!(
        web.requests(),
        1,
        "only the holding request reached the server"
    );
    assert!(
        s.lb.wait_log(" SQ", Duration::from_secs(5)),
        "no SQ log line:\n{}",
        s.lb.stdout()
    );
    assert_eq!(
        metric(s.stats, "ringlb_backend_queue_full_total{backend=\"web\"}"),
        Some(1)
    );
    // releasing the slot serves the queued request
    web.release();
    assert_eq!(holder.join().expect("holder").status, 200);
    let r = queued.join().expect("queued client");
    assert_eq!(r.status, 200);
    assert_eq!(r.backend(), Some("web1"));
}

#[test]
fn server_maxqueue_bounds_requests_waiting_for_that_server() {
    let web2 = Backend::start("web2");
    let cookie = "[backend.web.cookie]\nname = \"SRV\"\nmode = \"insert\"";
    for redispatch in [false, true] {
        let web1 = Gated::start("web1");
        let extra = format!("redispatch = {redispatch}\n{cookie}");
        let s = site(
            &extra,
            &[
                ("web1", web1.addr(), "maxqueue = 1"),
                ("web2", web2.addr(), ""),
            ],
        );
        let pinned = [("cookie", "SRV=web1")];
        let addr = s.addr;
        let holder = thread::spawn(move || http_get(addr, "/hold", &pinned));
        assert!(wait_until(Duration::from_secs(5), || web1.requests() == 1));
        let queued = thread::spawn(move || http_get(addr, "/queued", &pinned));
        assert!(
            wait_until(Duration::from_secs(5), || metric(
                s.stats,
                "ringlb_server_queue_current{backend=\"web\",server=\"web1\"}"
            ) == Some(1)),
            "the pinned request never queued for web1"
        );
        let r = http_get(s.addr, "/over", &pinned);
        if redispatch {
            // persistence gives way: another server answers
            assert_eq!(r.status, 200);
            assert_eq!(r.backend(), Some("web2"));
        } else {
            assert_eq!(r.status, 503);
            assert_eq!(r.body_str(), "queue full, come back soon\n");
            assert!(s.lb.wait_log(" SQ", Duration::from_secs(5)));
            assert_eq!(
                metric(
                    s.stats,
                    "ringlb_server_queue_full_total{backend=\"web\",server=\"web1\"}"
                ),
                Some(1)
            );
        }
        assert!(!queued.is_finished(), "the queued request ended early");
        web1.release();
        assert_eq!(holder.join().expect("holder").status, 200);
        let r = queued.join().expect("queued client");
        assert_eq!((r.status, r.backend()), (200, Some("web1")));
    }
}
