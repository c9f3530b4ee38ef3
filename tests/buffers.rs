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

/// Sessions relaying a large response whose server then stalls, after sending what several
/// receive buffers held in one gathered send: with more such sessions than the worker has
/// buffers, each still gets its response's start and everyone else is still served.
#[test]
fn stalled_large_responses_do_not_pin_receive_buffers() {
    use std::io::Read;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let release = Arc::new(AtomicBool::new(false));
    let hold = release.clone();
    // Head and 60 KiB of a 1 MB body in one write (one loopback segment, two receive buffers
    // of 32 KiB delivered at once), then nothing
    // until the test ends.
    let stalling = RawBackend::start(move |s| {
        let Ok(mut out) = s.try_clone() else { return };
        let mut wire = common::backend::Wire::new(s);
        if let Ok(Some(_)) = wire.read_head() {
            let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n".to_vec();
            resp.extend_from_slice(&pattern(60 * 1024));
            if out.write_all(&resp).is_ok() {
                while !hold.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    });
    let web = Backend::start("web1");
    let port = free_port();
    let _lb = Ringlb::start(&format!(
        "[global]\nworkers = 1\n[frontend.www]\nbind = \"127.0.0.1:{port}\"\ndefault_backend = \"stall\"\n\
         [[frontend.www.route]]\nbackend = \"web\"\nif = \"{{ path_beg /web }}\"\n\
         [backend.stall]\n[[backend.stall.server]]\nname = \"stall\"\naddress = \"{}\"\n\
         [backend.web]\n[[backend.web.server]]\nname = \"web1\"\naddress = \"{}\"\n",
        stalling.addr(),
        web.addr()
    ));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // More stalled downloads than the worker has receive buffers, each past its first bytes.
    let mut stalled = Vec::new();
    for i in 0..800 {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(s, "GET /big{i} HTTP/1.1\r\nHost: x\r\n\r\n").expect("request");
        let mut first = [0u8; 12];
        s.read_exact(&mut first).expect("the response starts");
        assert_eq!(&first, b"HTTP/1.1 200");
        stalled.push(s);
    }
    // Everyone else is still served.
    for _ in 0..20 {
        assert_eq!(http_get(addr, "/web", &[]).status, 200);
    }
    release.store(true, Ordering::SeqCst);
    drop(stalled);
}
