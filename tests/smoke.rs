//! The smallest end-to-end check: ringlb starts, reports READY=1, and balances two backends.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;
use common::*;

#[test]
fn serves_through_two_backends_round_robin() {
    let web1 = Backend::start("web1");
    let web2 = Backend::start("web2");
    let port = free_port();
    let lb = Ringlb::start(&format!(
        r#"
[global]
workers = 1
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
[backend.web]
[[backend.web.server]]
name = "web1"
address = "{}"
[[backend.web.server]]
name = "web2"
address = "{}"
"#,
        web1.addr(),
        web2.addr()
    ));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = http_get(addr, "/", &[]);
        assert_eq!(r.status, 200);
        seen.push(r.backend().unwrap_or_default().to_string());
    }
    assert_eq!(seen, ["web1", "web2", "web1", "web2"]);
    drop(lb);
}

/// `free_port` once gave one port to two listeners of a test (bind `:0`, close, and the kernel
/// handed the port out again). It now hands out each port once per process, never one that is
/// bound, and holds each one's lock so that another test process passes it by.
#[test]
fn free_port_never_hands_out_a_port_twice_nor_one_in_use() {
    let mut seen = std::collections::HashSet::new();
    // After each port, the test listens on the one the walk would give next, so the walk
    // meets a bound port every time and must pass it by. It binds that port only while it
    // holds the port's lock (else another test of this process may have been handed it
    // meanwhile), and lets the lock go once bound: the walk then gets the lock and must see
    // the port is in use. (Re-binding a port after it was handed out would race with
    // processes outside the lock protocol.)
    let locks = std::env::temp_dir().join("ringlb-test-ports");
    let mut bound = Vec::new();
    for _ in 0..300 {
        let p = free_port();
        assert!(seen.insert(p), "port {p} handed out twice");
        let next = p.wrapping_add(1);
        let Ok(lock) = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(locks.join(next.to_string()))
        else {
            continue;
        };
        if !try_flock(&lock) {
            continue;
        }
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", next)) {
            bound.push(l);
        }
        drop(lock);
    }
    assert!(
        bound.len() > 100,
        "only {} ports next to handed-out ones could be bound",
        bound.len()
    );
    for l in &bound {
        let q = l.local_addr().unwrap().port();
        assert!(
            !seen.contains(&q),
            "port {q} was handed out while a listener had it"
        );
    }
    // Another process cannot take the lock of a port this one handed out.
    let p = free_port();
    let lock = std::env::temp_dir().join(format!("ringlb-test-ports/{p}"));
    let other = std::process::Command::new("python3")
        .args([
            "-c",
            "import fcntl, sys\nf = open(sys.argv[1], 'a')\ntry:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    sys.exit(3)",
        ])
        .arg(&lock)
        .status()
        .unwrap();
    assert_eq!(
        other.code(),
        Some(3),
        "another process got the lock of port {p}"
    );
}
