//! The ring's levers (`[global] tune_*`): ringlb serves the same with each one switched from
//! its default, the direct-descriptor lever really keeps client and server sockets out of the
//! process's descriptor table, except where a descriptor is needed (a wildcard listener whose
//! connections' local address goes into PROXY headers), and zero-copy sends relay large
//! bodies byte for byte in HTTP and TCP mode, also to clients that leave mid-body, and the
//! batched wait keeps timers on time and an idle worker asleep.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::conf::{http, srv};
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Each lever switched away from its default: off for those on by default, on for those off.
const LEVERS: [&str; 8] = [
    "tune_ring_fd = false",
    "tune_direct_descriptors = false",
    "tune_loop_clock = false",
    "tune_multishot_recv = false",
    "tune_per_worker_counters = false",
    "tune_zero_copy_send = true",
    "tune_multishot_accept = false",
    "tune_batch_wait_us = 50",
];

/// A one-worker HTTP site in front of `web`, with `global` lines added to `[global]`.
fn start(web: SocketAddr, global: &str) -> (Ringlb, SocketAddr) {
    let port = free_port();
    let toml = http().server(srv("web1", web)).toml(port).replacen(
        "[global]\n",
        &format!("[global]\n{global}\n"),
        1,
    );
    (
        Ringlb::start(&toml),
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
}

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn every_lever_off_alone_or_all_off_serves_the_same() {
    let all_off = LEVERS.join("\n");
    let settings: Vec<String> = std::iter::once(String::new())
        .chain(LEVERS.iter().map(|l| l.to_string()))
        .chain(std::iter::once(all_off))
        .collect();
    for global in &settings {
        let web = Backend::start("web1");
        let (mut lb, addr) = start(web.addr(), global);
        // Keep-alive: one client connection, one pooled server connection.
        let mut c = Client::connect(addr).expect("connect");
        for i in 0..20 {
            let r = c.get(&format!("/{i}")).expect("request");
            assert_eq!(r.status, 200, "[{global}] request {i}");
            assert_eq!(r.header("x-path"), Some(format!("/{i}").as_str()));
            assert!(!r.closes(), "[{global}] request {i} closed the connection");
        }
        // New connections, each closed after its answer.
        for i in 0..10 {
            let r = http_get(addr, &format!("/new{i}"), &[("connection", "close")]);
            assert_eq!(r.status, 200, "[{global}] new connection {i}");
        }
        assert_eq!(web.requests(), 30, "[{global}]");
        assert_eq!(
            web.connections(),
            1,
            "[{global}] the pooled server connection was not reused"
        );
        // A half-close from the client still gets its answer (shutdown on the ring).
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /half HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert!(got.starts_with(b"HTTP/1.1 200 "), "[{global}] half-close");
        drop(c);
        assert!(
            lb.stop().is_some_and(|s| s.success()),
            "[{global}] clean exit"
        );
    }
}

/// With direct descriptors, 20 idle keep-alive clients (and their pooled server connection)
/// add no descriptor to the process; without them, each client adds one.
#[test]
fn direct_descriptors_keep_sockets_out_of_the_descriptor_table() {
    let web = Backend::start("web1");
    let mut counts = Vec::new();
    for global in ["", "tune_direct_descriptors = false"] {
        let (mut lb, addr) = start(web.addr(), global);
        // One request first, on a connection kept open through both counts: the pooled
        // server connection exists before the count, and no closing connection (whose
        // descriptor ringlb may still hold at the first count) skews it.
        let mut warm = Client::connect(addr).expect("connect");
        assert_eq!(warm.get("/warm").expect("request").status, 200);
        let before = open_fds(lb.pid());
        let mut clients = Vec::new();
        for i in 0..20 {
            let mut c = Client::connect(addr).expect("connect");
            assert_eq!(c.get(&format!("/{i}")).expect("request").status, 200);
            clients.push(c);
        }
        let after = open_fds(lb.pid());
        counts.push(after.saturating_sub(before));
        drop(clients);
        drop(warm);
        assert!(lb.stop().is_some_and(|s| s.success()));
    }
    if counts[1] < 20 {
        panic!(
            "without direct descriptors 20 clients added only {} descriptors",
            counts[1]
        );
    }
    if counts[0] >= 20 {
        eprintln!(
            "skipped: this kernel gave no direct descriptors (Linux 5.19+ needed); {} added",
            counts[0]
        );
        return;
    }
    assert!(counts[0] <= 2, "direct descriptors: {counts:?}");
}

/// A wildcard listener whose servers get PROXY headers needs each connection's local address
/// (`getsockname`): its connections keep ordinary descriptors, and the header names the
/// address the client connected to.
#[test]
fn a_wildcard_listener_sending_proxy_headers_names_the_local_address() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = server.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        while !got.ends_with(b"hello") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        *s2.lock().unwrap() = got;
        let _ = s.write_all(b"bye");
    });
    let port = free_port();
    let toml = format!(
        "[global]\nworkers = 1\n\n[frontend.www]\nbind = \"0.0.0.0:{port}\"\nmode = \"tcp\"\n\
         default_backend = \"web\"\n\n[backend.web]\nmode = \"tcp\"\nsend_proxy = \"v1\"\n\n\
         [[backend.web.server]]\nname = \"s\"\naddress = \"{server_addr}\"\n"
    );
    let mut lb = Ringlb::start(&toml);
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let client = c.local_addr().unwrap();
    c.write_all(b"hello").unwrap();
    let mut got = Vec::new();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = c.read_to_end(&mut got);
    assert_eq!(got, b"bye");
    // The tunnel ends when both sides have closed.
    drop(c);
    let header = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert_eq!(
        header,
        format!(
            "PROXY TCP4 127.0.0.1 127.0.0.1 {} {port}\r\nhello",
            client.port()
        )
    );
    assert!(lb.stop().is_some_and(|s| s.success()));
}

/// Mixed load (new and kept-alive connections, GET and POST, half-closes) on two workers,
/// with and without direct descriptors: every request is answered. Pins a bug where a
/// shutdown sent and forgotten on a direct descriptor ran after the close, on the next
/// connection accepted into the same slot.
#[test]
fn load_on_two_workers_loses_nothing_with_each_setting() {
    for global in ["", "tune_direct_descriptors = false"] {
        let web1 = Backend::start("web1");
        let web2 = Backend::start("web2");
        let port = free_port();
        let toml = http()
            .workers(2)
            .server(srv("web1", web1.addr()))
            .server(srv("web2", web2.addr()))
            .toml(port)
            .replacen("[global]\n", &format!("[global]\n{global}\n"), 1);
        let mut lb = Ringlb::start(&toml);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let load = common::load::Load::start(addr, 4, Duration::from_secs(60));
        let before = load.requests();
        assert!(wait_until(Duration::from_secs(20), || load.requests() >= before + 5000));
        let report = load.finish();
        println!(
            "[{global}] {} requests on {} connections, {} failed",
            report.requests, report.connections, report.failures
        );
        assert_eq!(report.failures, 0, "[{global}] {:?}", report.samples);
        assert!(lb.stop().is_some_and(|s| s.success()));
    }
}

/// Connections waiting in the accept queue of the listener `addr` (`ss`'s `Recv-Q` of a
/// listening socket).
fn accept_queue(addr: SocketAddr) -> usize {
    let out = std::process::Command::new("ss")
        .arg("-Hltn")
        .output()
        .expect("ss runs (iproute2)");
    let local = addr.to_string();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(3) == Some(&local.as_str())).then(|| f.get(1)?.parse::<usize>().ok())?
        })
        .sum()
}

/// A request on `c` whose answer is the request head as the server got it: the
/// `X-Forwarded-For` ringlb added, i.e. the peer address it took from the accept.
fn forwarded_for(c: &mut Client, path: &str) -> String {
    let r = c
        .request("GET", path, &[("x-echo-headers", "1")], b"")
        .expect("request");
    assert_eq!(r.status, 200, "{path}");
    r.body_str()
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-forwarded-for")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default()
}

/// With multishot accept on, a worker at `maxconn` takes no more connections: the extra ones
/// wait in the kernel's accept queue (not accepted and dropped, not reset) and are answered
/// once a connection closes. (Within a listener's backlog of the limit the worker takes
/// connections one at a time: a multishot accept could take a whole queue at once.)
#[test]
fn at_maxconn_multishot_accept_leaves_extra_connections_in_the_backlog() {
    const MAX: usize = 24;
    const EXTRA: usize = 4;
    let web = Backend::start("web1");
    // The frontend's maxconn, under the process's: the fixed-file table (sized by the
    // process's) has room for a whole accept queue, so the multishot accept takes direct
    // descriptors.
    let port = free_port();
    let toml = http()
        .frontend(&format!("maxconn = {MAX}"))
        .server(srv("web1", web.addr()))
        .toml(port)
        .replacen("[global]\n", "[global]\ntune_multishot_accept = true\n", 1);
    let mut lb = Ringlb::start(&toml);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut holders = Vec::new();
    for i in 0..MAX {
        // Each from its own loopback address, so that a peer address mixed up between
        // connections accepted together shows.
        let src = std::net::IpAddr::from([127, 0, 1, i as u8 + 1]);
        let mut c = Client::connect_from(addr, src).expect("connect");
        assert_eq!(forwarded_for(&mut c, &format!("/hold{i}")), src.to_string());
        holders.push(c);
    }
    let extra: Vec<std::net::TcpStream> = (0..EXTRA)
        .map(|i| {
            let mut s = std::net::TcpStream::connect(addr).expect("connect (backlog)");
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.write_all(
                format!("GET /extra{i} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
            s
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || accept_queue(addr) == EXTRA),
        "the extra connections wait in the accept queue (ss shows {})",
        accept_queue(addr)
    );
    // The worker has gone round its loop since (this answer), and still took none of them.
    assert_eq!(forwarded_for(&mut holders[0], "/again"), "127.0.1.1");
    assert_eq!(
        accept_queue(addr),
        EXTRA,
        "a worker at maxconn accepted more"
    );
    assert_eq!(
        web.requests() as usize,
        MAX + 1,
        "no extra request reached the server"
    );
    // One slot frees: the extra connections are answered one after the other (each closes).
    drop(holders.pop());
    for (i, mut s) in extra.into_iter().enumerate() {
        let mut got = Vec::new();
        let read = s.read_to_end(&mut got);
        assert!(
            read.is_ok() && got.starts_with(b"HTTP/1.1 200 "),
            "extra connection {i}: {read:?} {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    // Below the limit again, new connections are taken with their own peer address.
    drop(holders);
    for i in 0..10u8 {
        let src = std::net::IpAddr::from([127, 0, 2, i + 1]);
        let mut c = Client::connect_from(addr, src).expect("connect");
        assert_eq!(
            forwarded_for(&mut c, &format!("/after{i}")),
            src.to_string()
        );
    }
    assert!(lb.stop().is_some_and(|s| s.success()));
}

/// Connections a multishot accept takes together (here 40 clients connecting at once, each
/// from its own loopback address, on two workers) each carry their own peer address: the
/// kernel writes one address place for all, so ringlb asks each connection on the ring
/// (`SO_PEERNAME`; a direct descriptor has no `getpeername`).
#[test]
fn multishot_accept_gives_each_connection_its_own_peer_address() {
    const CLIENTS: u8 = 40;
    let web = Backend::start("web1");
    let port = free_port();
    let toml = http()
        .workers(2)
        .server(srv("web1", web.addr()))
        .toml(port)
        .replacen("[global]\n", "[global]\ntune_multishot_accept = true\n", 1);
    let mut lb = Ringlb::start(&toml);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for round in 0..3u8 {
        let start = Arc::new(std::sync::Barrier::new(usize::from(CLIENTS)));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let start = start.clone();
                std::thread::spawn(move || {
                    let src = std::net::IpAddr::from([127, 0, 3 + round, i + 1]);
                    start.wait();
                    let mut c = Client::connect_from(addr, src).expect("connect");
                    (src, forwarded_for(&mut c, &format!("/r{round}c{i}")))
                })
            })
            .collect();
        for c in clients {
            let (src, seen) = c.join().expect("client thread");
            assert_eq!(seen, src.to_string(), "round {round}");
        }
    }
    assert!(
        !lb.stderr().contains("no multishot accept"),
        "this kernel refused multishot accept: {}",
        lb.stderr()
    );
    assert!(lb.stop().is_some_and(|s| s.success()));
}

/// The zero-copy settings compared: the default (copies), zero-copy from the default
/// threshold, and zero-copy on ordinary descriptors.
const ZERO_COPY: [&str; 3] = [
    "",
    "tune_zero_copy_send = true",
    "tune_zero_copy_send = true\ntune_zero_copy_min = \"4k\"\ntune_direct_descriptors = false",
];

/// Says, without failing, when the kernel refused zero-copy sends (then only copies ran).
fn note_refusal(lb: &Ringlb, global: &str) {
    if lb.stderr().contains("zero-copy send refused") {
        eprintln!("[{global}] this kernel refused zero-copy sends: the copies were tested");
    }
}

/// A body in `n`-byte chunks of chunked framing.
fn chunked(body: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(n) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Large and small response bodies (Content-Length and chunked) and large request bodies
/// (Content-Length and chunked) arrive byte for byte with zero-copy sends on and off, on one
/// keep-alive connection.
#[test]
fn zero_copy_http_bodies_arrive_byte_for_byte() {
    let web = Backend::start("web1");
    for global in ZERO_COPY {
        let (mut lb, addr) = start(web.addr(), global);
        let mut c = Client::connect(addr).expect("connect");
        c.keep_body(false);
        // Above the threshold (the relay sends whole receive buffers), and below it.
        for size in [3 << 20, 5000, 100] {
            for chunk in ["0", "1"] {
                let s = size.to_string();
                let r = c
                    .request("GET", "/", &[("x-size", &s), ("x-chunked", chunk)], b"")
                    .expect("response");
                assert_eq!(r.status, 200, "[{global}] {size} chunked={chunk}");
                assert_eq!(r.chunked, chunk == "1", "[{global}] framing kept");
                assert_eq!(r.body_len, size as u64, "[{global}] {size} chunked={chunk}");
                assert_eq!(r.body_sum, pattern_sum(size as u64), "[{global}] {size}");
            }
        }
        // Request bodies: client to server through the same sends.
        let up = pattern(2 << 20);
        let r = c.request("POST", "/up", &[], &up).expect("upload");
        assert_eq!(r.header("x-body-len"), Some("2097152"), "[{global}]");
        assert_eq!(
            r.header("x-body-sum"),
            Some(format!("{:x}", fnv(&up)).as_str()),
            "[{global}] upload checksum"
        );
        let framed = chunked(&up, 40_000);
        let r = c
            .request("POST", "/up", &[("transfer-encoding", "chunked")], &framed)
            .expect("chunked upload");
        assert_eq!(r.header("x-body-len"), Some("2097152"), "[{global}]");
        assert_eq!(
            r.header("x-body-sum"),
            Some(format!("{:x}", fnv(&up)).as_str()),
            "[{global}] chunked upload checksum"
        );
        note_refusal(&lb, global);
        drop(c);
        assert!(
            lb.stop().is_some_and(|s| s.success()),
            "[{global}] clean exit"
        );
    }
}

/// TCP mode: a 16 MiB stream each way at once, and a few bytes below the threshold, are
/// relayed byte for byte with zero-copy sends on and off.
#[test]
fn zero_copy_tcp_streams_arrive_byte_for_byte() {
    let echo = RawBackend::echo();
    for global in ZERO_COPY {
        eprintln!("setting [{global}]");
        let port = free_port();
        let toml = common::conf::tcp()
            .server(srv("echo", echo.addr()))
            .toml(port)
            .replacen("[global]\n", &format!("[global]\n{global}\n"), 1);
        let mut lb = Ringlb::start(&toml);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"hi").unwrap();
        let mut small = [0u8; 2];
        s.read_exact(&mut small).unwrap();
        assert_eq!(&small, b"hi", "[{global}] below the threshold");
        let n: usize = 16 << 20;
        let mut writer = s.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let block = pattern(64 * 1024);
            let mut left = n;
            while left > 0 {
                let k = left.min(block.len());
                writer.write_all(&block[..k]).unwrap();
                left -= k;
            }
            writer.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let (mut len, mut sum) = (0u64, Fnv::new());
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let k = s.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            sum.update(&buf[..k]);
            len += k as u64;
        }
        sender.join().unwrap();
        assert_eq!(len, n as u64, "[{global}]");
        assert_eq!(sum.value(), pattern_sum(n as u64), "[{global}]");
        note_refusal(&lb, global);
        assert!(
            lb.stop().is_some_and(|s| s.success()),
            "[{global}] clean exit"
        );
    }
}

/// Twelve clients that each send `request`, read the first 256 KiB of what comes back (`check`
/// looks at it) and leave while more is on its way: every other one resets at once (linger 0),
/// the others close with bytes unread (a reset on the way out). Then every server connection
/// must be let go (`active` falls to 0).
fn leave_mid_body(
    addr: SocketAddr,
    request: &[u8],
    check: impl Fn(usize, &[u8]),
    active: impl Fn() -> u64,
) {
    for i in 0..12 {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(request).unwrap();
        let mut got = vec![0u8; 256 * 1024];
        s.read_exact(&mut got).unwrap();
        check(i, &got);
        if i % 2 == 0 {
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        drop(s);
    }
    assert!(
        wait_until(Duration::from_secs(20), || active() == 0),
        "server connections still open: {}",
        active()
    );
}

/// Clients that leave in the middle of a large body (closing, or resetting with unread bytes)
/// while zero-copy sends are in flight: ringlb lets go of every server connection, keeps
/// serving large bodies correctly, and exits cleanly — in HTTP and in TCP mode.
#[test]
fn zero_copy_clients_leaving_mid_body_leak_nothing() {
    let global = "tune_zero_copy_send = true";
    let web = Backend::start("web1");
    let (mut lb, addr) = start(web.addr(), global);
    let request = b"GET /big HTTP/1.1\r\nhost: a\r\nx-size: 67108864\r\n\r\n";
    leave_mid_body(addr, request, |_, _| {}, || web.active());
    let r = http_get(addr, "/after", &[("x-size", "4194304")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body_sum, pattern_sum(4 << 20));
    note_refusal(&lb, global);
    assert!(lb.stop().is_some_and(|s| s.success()), "clean exit (HTTP)");

    // TCP mode: the server pours bytes until the client is gone.
    let pour = RawBackend::start(|mut s| {
        let block = pattern(64 * 1024);
        while s.write_all(&block).is_ok() {}
    });
    let port = free_port();
    let toml = common::conf::tcp()
        .server(srv("pour", pour.addr()))
        .toml(port)
        .replacen("[global]\n", &format!("[global]\n{global}\n"), 1);
    let mut lb = Ringlb::start(&toml);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let check = |i: usize, got: &[u8]| assert_eq!(got, pattern(256 * 1024), "stream {i}");
    leave_mid_body(addr, b"", check, || pour.active());
    note_refusal(&lb, global);
    assert!(lb.stop().is_some_and(|s| s.success()), "clean exit (TCP)");
}

/// The batched wait (`tune_batch_wait_us`, off by default): a worker waits for a batch of
/// completions, or for fewer once the minimum wait has passed.
const BATCHED: &str = "tune_batch_wait_us = 50";

/// Voluntary context switches of the worker threads of process `pid` (each sleep in the
/// kernel is one).
fn worker_sleeps(pid: u32) -> u64 {
    let mut n = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = t.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("ringlb-w") {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        n += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    n
}

/// An idle worker with the batched wait sleeps: a minimum wait that ended the wait each time
/// (the kernel takes one without an overall deadline as the whole timeout) would wake it
/// every 50 µs, 20,000 times a second. The worker's own timers give every wait a deadline
/// here; `runtime::tests::a_batched_wait_without_timers_sleeps_until_a_completion` pins the
/// case without one.
#[test]
fn a_batched_wait_leaves_an_idle_worker_asleep() {
    let web = Backend::start("web1");
    let (mut lb, addr) = start(web.addr(), BATCHED);
    assert_eq!(http_get(addr, "/", &[]).status, 200);
    let before = worker_sleeps(lb.pid());
    // Measuring what an idle second does: the sleep is the thing measured, not a wait for
    // an event.
    std::thread::sleep(Duration::from_secs(1));
    let woke = worker_sleeps(lb.pid()) - before;
    assert!(
        woke < 1000,
        "an idle worker woke {woke} times in a second with the batched wait"
    );
    assert!(lb.stop().is_some_and(|s| s.success()));
}

/// With the batched wait, a timer still ends the wait at its deadline: an idle keep-alive
/// connection is closed after `http_keep_alive`, not when a batch of completions comes.
#[test]
fn a_batched_wait_still_fires_timers() {
    let web = Backend::start("web1");
    let port = free_port();
    let toml = http()
        .global(BATCHED)
        .frontend("timeout = { http_keep_alive = \"300ms\" }")
        .server(srv("web1", web.addr()))
        .toml(port);
    let mut lb = Ringlb::start(&toml);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = Client::connect(addr).expect("connect");
    assert_eq!(c.get("/").expect("request").status, 200);
    assert!(
        c.is_closed(Duration::from_secs(10)),
        "the idle keep-alive connection was not closed by its timer"
    );
    assert!(lb.stop().is_some_and(|s| s.success()));
}

/// Sixteen clients at once, each a 16 KiB response after a small one, through the batched
/// wait: every byte arrives (fewer completions than the batch must not stall a response).
#[test]
fn a_batched_wait_serves_concurrent_clients_whole() {
    let web = Backend::start("web1");
    let (mut lb, addr) = start(web.addr(), BATCHED);
    let handles: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr).expect("connect");
                for j in 0..20 {
                    let r = c.get(&format!("/c{i}/{j}")).expect("request");
                    assert_eq!(r.status, 200);
                    let r = c
                        .request("GET", &format!("/c{i}/{j}"), &[("x-size", "16384")], b"")
                        .expect("16 KiB request");
                    assert_eq!(r.status, 200);
                    assert_eq!(r.body_len, 16384, "client {i} request {j}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(web.requests(), 16 * 40);
    assert!(lb.stop().is_some_and(|s| s.success()));
}
