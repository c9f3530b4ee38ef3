//! Active and passive health checks against real servers: a server failing its check path
//! leaves the pool after `fall` checks and gets no request while down, comes back after
//! `rise`; checks are spread; backup servers take over; passive checks.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// A web node whose `/health` answers a status the test sets, and that records when it was
/// checked and how many other requests it served.
struct Node {
    raw: RawBackend,
    health: Arc<AtomicU16>,
    checks: Arc<Mutex<Vec<Instant>>>,
    served: Arc<std::sync::atomic::AtomicU64>,
}

impl Node {
    fn start(name: &'static str) -> Node {
        let health = Arc::new(AtomicU16::new(200));
        let checks = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (h, c, s) = (health.clone(), checks.clone(), served.clone());
        let raw = RawBackend::start(move |mut stream: TcpStream| {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut tmp) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).into_owned();
            let (status, body) = if head.starts_with("GET /health ") {
                c.lock().expect("lock").push(Instant::now());
                (h.load(Ordering::SeqCst), "health\n".to_string())
            } else {
                s.fetch_add(1, Ordering::SeqCst);
                (200, format!("{name}\n"))
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nX-Backend: {name}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
        Node {
            raw,
            health,
            checks,
            served,
        }
    }
    fn addr(&self) -> SocketAddr {
        self.raw.addr()
    }
    fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

fn config(port: u16, servers: &[(&str, SocketAddr, bool)], check: &str, extra: &str) -> String {
    let mut s = format!(
        "[global]\n{extra}\n[frontend.www]\nbind = \"127.0.0.1:{port}\"\ndefault_backend = \"web\"\n\
         [backend.web]\n{check}\n"
    );
    for (name, addr, backup) in servers {
        s.push_str(&format!(
            "[[backend.web.server]]\nname = \"{name}\"\naddress = \"{addr}\"\nbackup = {backup}\n"
        ));
    }
    s
}

const HTTP_CHECK: &str = "[backend.web.check]\ntype = \"http\"\npath = \"/health\"\n\
    expect_status = [\"200-399\"]\ninter = \"100ms\"\nfastinter = \"50ms\"\ndowninter = \"100ms\"\n\
    rise = 2\nfall = 3\ntimeout = \"500ms\"";

fn get_backend(addr: SocketAddr) -> String {
    let r = http_get(addr, "/", &[]);
    assert_eq!(r.status, 200, "status");
    r.body_str().trim().to_string()
}

#[test]
fn failing_check_takes_a_server_out_and_rise_brings_it_back() {
    let a = Node::start("a");
    let b = Node::start("b");
    let port = free_port();
    let lb = Ringlb::start(&config(
        port,
        &[("a", a.addr(), false), ("b", b.addr(), false)],
        HTTP_CHECK,
        "",
    ));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    // Both serve while healthy.
    let seen: Vec<String> = (0..10).map(|_| get_backend(addr)).collect();
    assert!(
        seen.iter().any(|s| s == "a") && seen.iter().any(|s| s == "b"),
        "{seen:?}"
    );

    let checks_before = a.checks.lock().expect("lock").len();
    a.health.store(500, Ordering::SeqCst);
    assert!(
        lb.wait_log(
            "server web/a is DOWN, reason: L7STS 500",
            Duration::from_secs(5)
        ),
        "DOWN logged:\n{}",
        lb.stderr()
    );
    let failed_checks = a.checks.lock().expect("lock").len() - checks_before;
    assert!(
        failed_checks >= 3,
        "went down after fall=3 failed checks, saw {failed_checks}"
    );
    let served_before = a.served();
    for _ in 0..40 {
        assert_eq!(get_backend(addr), "b", "no request reaches a DOWN server");
    }
    assert_eq!(a.served(), served_before);

    a.health.store(200, Ordering::SeqCst);
    assert!(
        lb.wait_log("server web/a is UP", Duration::from_secs(5)),
        "UP logged:\n{}",
        lb.stderr()
    );
    let seen: Vec<String> = (0..10).map(|_| get_backend(addr)).collect();
    assert!(seen.iter().any(|s| s == "a"), "a serves again: {seen:?}");
}

#[test]
fn checks_of_several_servers_are_spread() {
    let nodes: Vec<Node> = (0..6).map(|_| Node::start("n")).collect();
    let port = free_port();
    let names = ["n0", "n1", "n2", "n3", "n4", "n5"];
    let servers: Vec<(&str, SocketAddr, bool)> = names
        .iter()
        .zip(&nodes)
        .map(|(n, x)| (*n, x.addr(), false))
        .collect();
    let check = "[backend.web.check]\ntype = \"http\"\npath = \"/health\"\ninter = \"400ms\"";
    let _lb = Ringlb::start(&config(port, &servers, check, "spread_checks = 20"));
    assert!(wait_until(Duration::from_secs(5), || nodes
        .iter()
        .all(|n| n.checks.lock().expect("lock").len() >= 3)));
    let firsts: Vec<Instant> = nodes
        .iter()
        .map(|n| n.checks.lock().expect("lock")[0])
        .collect();
    let (min, max) = (
        firsts.iter().min().expect("min"),
        firsts.iter().max().expect("max"),
    );
    let spread = max.duration_since(*min);
    println!("first checks of 6 servers spread over {spread:?} (interval 400ms)");
    assert!(
        spread > Duration::from_millis(60),
        "first checks not in lockstep: {spread:?}"
    );
    // Intervals vary with spread_checks = 20 (±80ms around 400ms).
    let gaps: Vec<Duration> = nodes
        .iter()
        .flat_map(|n| {
            let c = n.checks.lock().expect("lock").clone();
            c.windows(2)
                .map(|w| w[1].duration_since(w[0]))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        gaps.iter()
            .all(|g| *g >= Duration::from_millis(300) && *g <= Duration::from_secs(2)),
        "{gaps:?}"
    );
    let distinct = gaps
        .iter()
        .map(|g| g.as_millis() / 10)
        .collect::<std::collections::HashSet<_>>();
    assert!(distinct.len() > 2, "intervals are jittered: {gaps:?}");
}

#[test]
fn backup_takes_over_when_every_normal_server_is_down() {
    let a = Node::start("a");
    let spare = Node::start("spare");
    let port = free_port();
    let lb = Ringlb::start(&config(
        port,
        &[("a", a.addr(), false), ("spare", spare.addr(), true)],
        HTTP_CHECK,
        "",
    ));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    for _ in 0..5 {
        assert_eq!(get_backend(addr), "a", "backup idle while a is up");
    }
    a.health.store(503, Ordering::SeqCst);
    assert!(lb.wait_log("server web/a is DOWN", Duration::from_secs(5)));
    for _ in 0..5 {
        assert_eq!(get_backend(addr), "spare");
    }
    a.health.store(200, Ordering::SeqCst);
    assert!(lb.wait_log("server web/a is UP", Duration::from_secs(5)));
    assert!(wait_until(Duration::from_secs(2), || get_backend(addr) == "a"));
}

#[test]
fn passive_errors_take_a_refusing_server_down_without_active_checks() {
    let b = Node::start("b");
    let dead = RefusingAddr::new();
    let port = free_port();
    let passive = "retries = 0\nredispatch = false\n[backend.web.passive]\nerrors = 3";
    let lb = Ringlb::start(&config(
        port,
        &[("dead", dead.addr(), false), ("b", b.addr(), false)],
        passive,
        "workers = 1",
    ));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut failures = 0;
    for _ in 0..20 {
        if http_get(addr, "/", &[]).status != 200 {
            failures += 1;
        }
    }
    assert!(
        lb.wait_log("server web/dead is DOWN", Duration::from_secs(2)),
        "{}",
        lb.stderr()
    );
    assert_eq!(failures, 3, "three failed requests took the server out");
    for _ in 0..10 {
        assert_eq!(get_backend(addr), "b");
    }
}
