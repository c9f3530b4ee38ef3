//! Which server answers: round robin with weights, leastconn, source affinity, backup servers.
//! Fake backends answer with their name (`X-Backend`), as in HAProxy's `balance-rr.vtc`.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::conf::{http, srv};
use common::*;
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::thread;
use std::time::Duration;

/// Who answered each of `n` fresh-connection GETs.
fn answers(addr: std::net::SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let r = http_get(addr, &format!("/{i}"), &[]);
            assert_eq!(r.status, 200, "request {i}");
            r.backend().expect("X-Backend").to_string()
        })
        .collect()
}

fn counts(seen: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for s in seen {
        *m.entry(s.as_str()).or_default() += 1;
    }
    m
}

#[test]
fn roundrobin_equal_weights_alternates() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let lb = http()
        .server(srv("a", a.addr()))
        .server(srv("b", b.addr()))
        .server(srv("c", c.addr()))
        .start();
    let seen = answers(lb.addr, 9);
    // every window of three consecutive picks names each server once
    for w in seen.chunks(3) {
        let set: HashSet<&String> = w.iter().collect();
        assert_eq!(set.len(), 3, "{seen:?}");
    }
}

#[test]
fn roundrobin_respects_weights_exactly() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let lb = http()
        .backend("balance = \"roundrobin\"")
        .server(srv("a", a.addr()).with("weight = 3"))
        .server(srv("b", b.addr()).with("weight = 2"))
        .server(srv("c", c.addr()).with("weight = 1"))
        .start();
    let seen = answers(lb.addr, 60);
    // smooth weighted round robin: every cycle of 6 picks holds exactly 3 a, 2 b, 1 c
    for (i, cycle) in seen.chunks(6).enumerate() {
        let c = counts(cycle);
        assert_eq!(
            (c.get("a"), c.get("b"), c.get("c")),
            (Some(&3), Some(&2), Some(&1)),
            "cycle {i}: {cycle:?}"
        );
        // smooth: the heavy server is never picked three times in a row inside a cycle
        assert!(
            !cycle.windows(3).any(|w| w.iter().all(|s| s == "a")),
            "not smooth: {cycle:?}"
        );
    }
    assert_eq!((a.requests(), b.requests(), c.requests()), (30, 20, 10));
}

#[test]
fn leastconn_sends_new_requests_to_the_idle_server() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let lb = http()
        .backend("balance = \"leastconn\"")
        .server(srv("a", a.addr()))
        .server(srv("b", b.addr()))
        .start();
    let addr = lb.addr;
    // one slow request keeps a server busy
    let slow = thread::spawn(move || http_get(addr, "/slow", &[("x-delay-ms", "1500")]));
    assert!(
        wait_until(Duration::from_secs(5), || a.requests() + b.requests() == 1),
        "the slow request never reached a backend"
    );
    let busy = if a.requests() == 1 { "a" } else { "b" };
    let idle = if busy == "a" { "b" } else { "a" };
    // while it runs, every short request goes to the other server
    for i in 0..6 {
        let r = http_get(addr, &format!("/quick{i}"), &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.backend(), Some(idle), "quick request {i}");
    }
    let r = slow.join().expect("slow client thread");
    assert_eq!(r.status, 200);
    assert_eq!(r.backend(), Some(busy));
}

#[test]
fn leastconn_balances_when_idle() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let lb = http()
        .backend("balance = \"leastconn\"")
        .server(srv("a", a.addr()))
        .server(srv("b", b.addr()))
        .start();
    // nothing in flight between sequential requests: ties rotate, both servers get traffic
    let c = counts(&answers(lb.addr, 10))
        .into_values()
        .collect::<Vec<_>>();
    assert_eq!(c, [5, 5]);
}

#[test]
fn source_is_sticky_per_client_address() {
    let servers = [
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    ];
    // two workers: affinity must not depend on which worker accepted the connection
    let mut site = http().workers(2).backend("balance = \"source\"");
    for s in &servers {
        site = site.server(srv(s.name(), s.addr()));
    }
    let lb = site.start();
    let mut chosen = Vec::new();
    for host in 2..=11u8 {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, host));
        let mut first: Option<String> = None;
        for i in 0..4 {
            // a new connection each time, so stickiness is not just keep-alive
            let mut c = Client::connect_from(lb.addr, ip).expect("connect from 127.0.0.x");
            let r = c
                .request("GET", &format!("/{i}"), &[("Connection", "close")], b"")
                .expect("request");
            assert_eq!(r.status, 200);
            let who = r.backend().expect("X-Backend").to_string();
            match &first {
                None => first = Some(who),
                Some(f) => assert_eq!(&who, f, "client {ip} moved"),
            }
        }
        chosen.push(first.expect("answered"));
    }
    // ten clients over three servers: the hash spreads them (deterministic for these IPs)
    let distinct: HashSet<&String> = chosen.iter().collect();
    assert!(distinct.len() >= 2, "all clients on one server: {chosen:?}");
}

#[test]
fn backup_server_is_idle_while_a_normal_server_is_up() {
    let (web, spare) = (Backend::start("web"), Backend::start("spare"));
    let lb = http()
        .server(srv("web", web.addr()))
        .server(srv("spare", spare.addr()).with("backup = true"))
        .start();
    assert!(answers(lb.addr, 10).iter().all(|s| s == "web"));
    assert_eq!(spare.requests(), 0);
}

/// Without health checks a server is never marked down (connect failures are retried and
/// answered 503, they do not change `up`), so the backup tier cannot be reached yet. This pins
/// today's behaviour: a refusing normal server does not hand traffic to the backup.
#[test]
fn backup_server_not_used_without_health_checks_even_if_normal_refuses() {
    let refusing = RefusingAddr::new();
    let spare = Backend::start("spare");
    let lb = http()
        .backend("retries = 1")
        .server(srv("web", refusing.addr()))
        .server(srv("spare", spare.addr()).with("backup = true"))
        .start();
    let r = http_get(lb.addr, "/", &[]);
    assert_eq!(r.status, 503);
    assert_eq!(spare.requests(), 0);
}

#[test]
fn weights_hold_with_several_workers_in_aggregate() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let lb = http()
        .workers(2)
        .server(srv("a", a.addr()).with("weight = 3"))
        .server(srv("b", b.addr()))
        .start();
    // each worker runs its own smooth round robin: over 80 requests spread on two workers the
    // split is 3:1 within a cycle's slack per worker
    let seen = answers(lb.addr, 80);
    let c = counts(&seen);
    let na = *c.get("a").unwrap_or(&0) as i64;
    assert!((na - 60).abs() <= 4, "{c:?}");
}
