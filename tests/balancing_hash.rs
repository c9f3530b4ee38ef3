//! Hash balancing end to end: the same URI (path), URL parameter, header or cookie goes to the
//! same server on every connection and every worker, while different keys spread; requests
//! without the key go round robin. And `random(2)` sends new requests away from the server
//! holding requests in flight.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::backend::Wire;
use common::conf::{http, srv};
use common::*;
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Farm {
    lb: common::conf::Lb,
    _web: Vec<Backend>,
}

fn farm(balance: &str, extra: &[&str]) -> Farm {
    let web: Vec<Backend> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| Backend::start(n))
        .collect();
    let mut site = http()
        .workers(2)
        .backend(&format!("balance = \"{balance}\""));
    for l in extra {
        site = site.backend(l);
    }
    for w in &web {
        site = site.server(srv(w.name(), w.addr()));
    }
    Farm {
        lb: site.start(),
        _web: web,
    }
}

/// Who answers each request (a new connection each time: any worker may take it).
fn who(f: &Farm, path: &str, headers: &[(&str, &str)]) -> String {
    let r = http_get(f.lb.addr, path, headers);
    assert_eq!(r.status, 200, "{path}");
    r.backend().expect("X-Backend").to_string()
}

/// Sends each key three times through `request`; every key sticks to one server and the keys
/// spread over at least three of the four.
fn assert_sticky(f: &Farm, request: impl Fn(usize, usize) -> (String, Vec<(String, String)>)) {
    let mut owners: BTreeMap<usize, String> = BTreeMap::new();
    for key in 0..40 {
        for round in 0..3 {
            let (path, headers) = request(key, round);
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let got = who(f, &path, &h);
            let first = owners.entry(key).or_insert_with(|| got.clone());
            assert_eq!(*first, got, "key {key} moved on round {round}");
        }
    }
    let used: HashSet<&String> = owners.values().collect();
    assert!(
        used.len() >= 3,
        "40 keys on {} servers: {owners:?}",
        used.len()
    );
}

#[test]
fn uri_sticks_by_path_and_ignores_the_query() {
    let f = farm("uri", &["hash_type = \"consistent\""]);
    // the query changes every round: `uri` hashes the path only
    assert_sticky(&f, |k, round| (format!("/obj/{k}?v={round}"), vec![]));
}

#[test]
fn uri_whole_map_based_sticks_by_path_and_query() {
    let f = farm("uri whole", &["hash_type = \"map-based\""]);
    assert_sticky(&f, |k, _| (format!("/same/path?id={k}"), vec![]));
}

#[test]
fn uri_depth_sticks_by_directory() {
    let f = farm("uri depth 1", &[]);
    // every file of a directory goes where the directory goes
    assert_sticky(&f, |k, round| (format!("/dir{k}/file{round}.png"), vec![]));
}

#[test]
fn url_param_sticks_whatever_the_path() {
    let f = farm("url_param(user)", &[]);
    assert_sticky(&f, |k, round| {
        (format!("/page/{round}?lang=en&user=u{k}"), vec![])
    });
}

#[test]
fn header_sticks_and_a_missing_header_goes_round_robin() {
    let f = farm("hdr(X-Tenant)", &[]);
    assert_sticky(&f, |k, round| {
        (
            format!("/{round}"),
            vec![("X-Tenant".to_string(), format!("tenant-{k}"))],
        )
    });
    // without the header: every server in turn on one keep-alive connection (one worker)
    let mut c = Client::connect(f.lb.addr).expect("connect");
    let seen: HashSet<String> = (0..8)
        .map(|_| c.get("/").expect("response").backend().unwrap().to_string())
        .collect();
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[test]
fn cookie_sticks_by_its_value() {
    let f = farm("cookie(sid)", &[]);
    assert_sticky(&f, |k, round| {
        (
            format!("/cart/{round}"),
            vec![(
                "Cookie".to_string(),
                format!("theme=dark; sid=s{k}; x={round}"),
            )],
        )
    });
}

/// A backend that reads each request and never answers it, counting the requests it holds.
fn holding_backend() -> (RawBackend, Arc<AtomicU64>) {
    let held = Arc::new(AtomicU64::new(0));
    let h = held.clone();
    let b = RawBackend::start(move |s| {
        let mut wire = Wire::new(s.try_clone().expect("clone"));
        if let Ok(Some(_)) = wire.read_head() {
            h.fetch_add(1, Ordering::SeqCst);
            // hold until ringlb closes the connection
            let mut sink = [0u8; 64];
            let mut s = s;
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        }
    });
    (b, held)
}

#[test]
fn random_two_choices_send_new_requests_away_from_the_loaded_server() {
    let (mut slow, held) = holding_backend();
    let fast = Backend::start("fast");
    let lb = http()
        .workers(1)
        .backend("balance = \"random(2)\"")
        .backend("timeout = { server = \"60s\" }")
        .server(srv("slow", slow.addr()))
        .server(srv("fast", fast.addr()))
        .start();
    const N: u64 = 100;
    // Requests one at a time; each either stays held at `slow` (its in-flight count grows) or
    // is answered by `fast`. Plain random would send half of them to `slow`; two choices send
    // one there only when both draws pick it (a quarter) once it holds more than `fast`.
    let mut open = Vec::new();
    for i in 0..N {
        let (h0, f0) = (held.load(Ordering::SeqCst), fast.requests());
        let mut c = TcpStream::connect(lb.addr).expect("connect");
        c.write_all(format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .expect("send");
        assert!(
            wait_until(Duration::from_secs(5), || held.load(Ordering::SeqCst) > h0
                || fast.requests() > f0),
            "request {i} reached no server"
        );
        if fast.requests() > f0 {
            // read the answer: the request is over before the next one is balanced
            let mut wire = Wire::new(c);
            wire.read_head().expect("head").expect("a response");
        } else {
            open.push(c);
        }
    }
    let to_slow = held.load(Ordering::SeqCst);
    println!("random(2): {to_slow} of {N} requests went to the server holding them");
    assert_eq!(to_slow + fast.requests(), N);
    // expected about a quarter (25), plain random half (50)
    assert!(
        (1..=45).contains(&to_slow),
        "{to_slow} of {N} went to the loaded server"
    );
    drop(open);
    slow.stop();
}

/// A backend named `name` that answers `/probe…` at once (`X-Backend: NAME`) and holds any
/// other request until ringlb closes the connection, counting the requests it holds.
fn probe_or_hold(name: &'static str) -> (RawBackend, Arc<AtomicU64>) {
    let held = Arc::new(AtomicU64::new(0));
    let h = held.clone();
    let b = RawBackend::start(move |s| {
        let mut wire = Wire::new(s.try_clone().expect("clone"));
        let Ok(Some(head)) = wire.read_head() else {
            return;
        };
        let mut s = s;
        if head.starts_with(b"GET /probe") {
            let _ = s.write_all(
                format!("HTTP/1.1 200 OK\r\nX-Backend: {name}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            return;
        }
        h.fetch_add(1, Ordering::SeqCst);
        let mut sink = [0u8; 64];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    });
    (b, held)
}

/// Bounded-load consistent hashing through the binary: many keys that all belong to one
/// server, their requests held in flight, still spread so that after every request no server
/// holds more than `hash_balance_factor` / 100 × the average, rounded up (the bound
/// docs/config-reference.md gives: ceil(in flight × 1.5 / 4) here).
#[test]
fn bounded_load_keeps_hot_keys_under_the_balance_factor() {
    let names = ["a", "b", "c", "d"];
    let backends: Vec<(RawBackend, Arc<AtomicU64>)> =
        names.iter().map(|n| probe_or_hold(n)).collect();
    let mut site = http()
        .workers(2)
        .backend("balance = \"url_param(key)\"")
        .backend("hash_type = \"consistent\"")
        .backend("hash_balance_factor = 150")
        .backend("timeout = { server = \"60s\" }");
    for (n, (b, _)) in names.iter().zip(&backends) {
        site = site.server(srv(n, b.addr()));
    }
    let lb = site.start();
    // Keys whose owner is `a` while nothing is in flight.
    let hot: Vec<String> = (0..400)
        .map(|k| format!("k{k}"))
        .filter(|k| {
            let r = http_get(lb.addr, &format!("/probe?key={k}"), &[]);
            assert_eq!(r.status, 200);
            r.header("x-backend") == Some("a")
        })
        .take(12)
        .collect();
    assert_eq!(hot.len(), 12, "fewer than 12 of 400 keys on a: {hot:?}");
    // 48 requests for those keys, one at a time, each held where it lands.
    const N: u64 = 48;
    let count = |i: usize| backends[i].1.load(Ordering::SeqCst);
    let mut open = Vec::new();
    for n in 1..=N {
        let before: u64 = (0..4).map(count).sum();
        let key = &hot[(n as usize) % hot.len()];
        let mut c = TcpStream::connect(lb.addr).expect("connect");
        c.write_all(format!("GET /hold?key={key} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .expect("send");
        open.push(c);
        assert!(
            wait_until(Duration::from_secs(5), || (0..4).map(count).sum::<u64>()
                == before + 1),
            "request {n} reached no server"
        );
        let loads: Vec<u64> = (0..4).map(count).collect();
        let bound = (n * 150).div_ceil(100 * 4);
        let max = *loads.iter().max().unwrap();
        assert!(
            max <= bound,
            "after {n} requests in flight: {loads:?}, bound {bound}"
        );
    }
    let loads: Vec<u64> = (0..4).map(count).collect();
    println!("{N} requests of keys owned by a, held: a b c d = {loads:?}");
    assert_eq!(loads.iter().sum::<u64>(), N);
    // The owner took all it was allowed (ceil(48 × 1.5 / 4) = 18), the rest went on along
    // the ring.
    assert_eq!(loads[0], 18, "{loads:?}");
    drop(open);
}
