//! Receive buffers are a shared, bounded resource (512 per worker): sessions that wait — for
//! the rest of a slow head, in a queue, for a slow server — must not hold one, or enough
//! waiting sessions would starve everyone else.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn partial_heads_do_not_pin_receive_buffers() {
    let web = Backend::start("web1");
    let port = free_port();
    let _lb = Ringlb::start(&format!(
        "[global]\nworkers = 1\n[frontend.www]\nbind = \"127.0.0.1:{port}\"\ndefault_backend = \"web\"\n\
         [frontend.www.timeout]\nhttp_request = \"30s\"\n\
         [backend.web]\n[[backend.web.server]]\nname = \"web1\"\naddress = \"{}\"\n",
        web.addr()
    ));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // More slow clients than the worker has receive buffers, each with a head under way.
    let mut slow = Vec::new();
    for i in 0..700 {
        let mut s = TcpStream::connect(addr).expect("connect");
        write!(s, "GET /slow{i} HTTP/1.1\r\nHost: x\r\n").expect("partial head");
        slow.push(s);
    }
    // Everyone else is still served at once.
    let t = Instant::now();
    for _ in 0..20 {
        assert_eq!(http_get(addr, "/", &[]).status, 200);
    }
    let took = t.elapsed();
    println!("20 requests with 700 partial heads pending: {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "normal requests starved: {took:?}"
    );
    drop(slow);
}
