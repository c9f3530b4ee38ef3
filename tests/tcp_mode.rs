//! TCP mode: bytes relayed both ways, half-closes passed on in each direction, balancing of
//! connections, and a refused server seen by the client as a closed connection. Listeners'
//! deferred accept: off in TCP mode unless set, on for HTTP listeners, changed by a reload.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::conf::{http, srv, tcp};
use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    s
}

#[test]
fn echo_roundtrip_and_client_half_close() {
    let echo = RawBackend::echo();
    let lb = tcp().server(srv("echo", echo.addr())).start();
    let mut s = connect(lb.addr);
    s.write_all(b"ping").expect("write");
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).expect("echo");
    assert_eq!(&buf, b"ping");
    // the client stops sending; the echo of the last bytes still arrives, then EOF
    s.write_all(b"last words").expect("write");
    s.shutdown(Shutdown::Write).expect("shutdown");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("read to end");
    assert_eq!(rest, b"last words");
}

#[test]
fn large_stream_both_directions() {
    let echo = RawBackend::echo();
    let lb = tcp().server(srv("echo", echo.addr())).start();
    let s = connect(lb.addr);
    let mut writer = s.try_clone().expect("clone");
    let n = 64 << 20;
    let sender = thread::spawn(move || {
        let block = pattern(64 * 1024);
        let mut left = n;
        while left > 0 {
            let k = left.min(block.len());
            writer.write_all(&block[..k]).expect("write");
            left -= k;
        }
        writer.shutdown(Shutdown::Write).expect("shutdown");
    });
    let mut reader = s;
    let mut sum = Fnv::new();
    let mut len = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = reader.read(&mut buf).expect("read");
        if k == 0 {
            break;
        }
        sum.update(&buf[..k]);
        len += k as u64;
    }
    sender.join().expect("sender");
    assert_eq!(len, n as u64);
    assert_eq!(sum.value(), pattern_sum(n as u64));
}

/// A server that writes several megabytes in one `write_all` reaches ringlb as many
/// deliveries at once, which it sends on gathered: they arrive whole and in order.
#[test]
fn a_burst_written_at_once_arrives_whole_and_in_order() {
    let n = (4 << 20) + 4321;
    let server = RawBackend::start(move |mut s| {
        let mut go = [0u8; 2];
        if s.read_exact(&mut go).is_ok() {
            let _ = s.write_all(&pattern(n));
            let _ = s.shutdown(Shutdown::Write);
        }
    });
    let lb = tcp().server(srv("burst", server.addr())).start();
    let mut s = connect(lb.addr);
    s.write_all(b"go").expect("write");
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read to end");
    assert_eq!(got.len(), n);
    assert!(got == pattern(n), "bytes out of order or changed");
}

#[test]
fn server_answers_after_client_half_close() {
    // the server reads until EOF before it answers: only a relayed half-close lets it answer
    let counter = RawBackend::start(|mut s| {
        let mut all = Vec::new();
        if s.read_to_end(&mut all).is_ok() {
            let _ = s.write_all(format!("got {} bytes", all.len()).as_bytes());
            let _ = s.shutdown(Shutdown::Write);
        }
    });
    let lb = tcp().server(srv("counter", counter.addr())).start();
    let mut s = connect(lb.addr);
    s.write_all(&[7u8; 12345]).expect("write");
    s.shutdown(Shutdown::Write).expect("shutdown");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    assert_eq!(answer, "got 12345 bytes");
}

#[test]
fn server_half_close_lets_client_keep_sending() {
    // the server says hello and shuts down its write side, then still reads what the client
    // sends: the client must see EOF and still be able to send
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let tx = std::sync::Mutex::new(tx);
    let greeter = RawBackend::start(move |mut s| {
        let _ = s.write_all(b"hello");
        let _ = s.shutdown(Shutdown::Write);
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(all);
        }
    });
    let lb = tcp().server(srv("greeter", greeter.addr())).start();
    let mut s = connect(lb.addr);
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("greeting then EOF");
    assert_eq!(got, b"hello");
    s.write_all(b"still talking")
        .expect("write after server EOF");
    s.shutdown(Shutdown::Write).expect("shutdown");
    let received = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server saw the end of the client stream");
    assert_eq!(received, b"still talking");
}

#[test]
fn connections_are_balanced_round_robin() {
    let named = |name: &'static str| {
        RawBackend::start(move |mut s| {
            let _ = s.write_all(name.as_bytes());
        })
    };
    let (a, b) = (named("a"), named("b"));
    let lb = tcp()
        .server(srv("a", a.addr()))
        .server(srv("b", b.addr()))
        .start();
    let mut seen = Vec::new();
    for _ in 0..6 {
        let mut s = connect(lb.addr);
        let mut got = String::new();
        s.read_to_string(&mut got).expect("name");
        seen.push(got);
    }
    assert_eq!(seen, ["a", "b", "a", "b", "a", "b"]);
}

#[test]
fn refused_server_closes_client_connection() {
    let dead = RefusingAddr::new();
    let lb = tcp()
        .backend("retries = 1")
        .server(srv("dead", dead.addr()))
        .start();
    let mut s = connect(lb.addr);
    let mut got = Vec::new();
    // EOF or reset, promptly, with no data
    let r = s.read_to_end(&mut got);
    assert!(got.is_empty());
    if let Err(e) = r {
        assert_ne!(
            e.kind(),
            std::io::ErrorKind::WouldBlock,
            "no close within 10 s"
        );
    }
}

#[test]
fn redispatch_finds_the_working_server() {
    let dead = RefusingAddr::new();
    let echo = RawBackend::echo();
    let lb = tcp()
        .backend("redispatch = true")
        .backend("retries = 1")
        .server(srv("dead", dead.addr()))
        .server(srv("echo", echo.addr()))
        .start();
    for _ in 0..4 {
        let mut s = connect(lb.addr);
        s.write_all(b"x").expect("write");
        s.shutdown(Shutdown::Write).expect("shutdown");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("echo");
        assert_eq!(got, b"x");
    }
}

/// Routes of a tcp frontend pick the backend by the client's address: two clients from two
/// loopback addresses reach two different servers.
#[test]
fn routes_by_source_address() {
    let office = RawBackend::echo();
    let public = RawBackend::echo();
    let port = free_port();
    let _lb = Ringlb::start(&format!(
        r#"
[global]
workers = 1
[frontend.db]
bind = "127.0.0.1:{port}"
mode = "tcp"
default_backend = "public"
[frontend.db.acl]
office = "src 127.0.0.2/32"
[[frontend.db.route]]
backend = "office"
if = "office"
[backend.office]
mode = "tcp"
[[backend.office.server]]
name = "o"
address = "{}"
[backend.public]
mode = "tcp"
[[backend.public.server]]
name = "p"
address = "{}"
"#,
        office.addr(),
        public.addr()
    ));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    for (src, n) in [("127.0.0.2", 3), ("127.0.0.3", 2)] {
        for _ in 0..n {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            let from: std::net::SocketAddr = format!("{src}:0").parse().expect("src");
            sock.bind(&from.into()).expect("bind");
            sock.connect(&addr.into()).expect("connect");
            let mut s: std::net::TcpStream = sock.into();
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            s.write_all(b"ping").expect("write");
            let mut back = [0u8; 4];
            s.read_exact(&mut back).expect("echo");
            assert_eq!(&back, b"ping");
        }
    }
    assert_eq!(office.connections(), 3, "from 127.0.0.2");
    assert_eq!(public.connections(), 2, "from another address");
}

/// Connections to `127.0.0.1:port` that the kernel holds before accepting them: the server
/// side of a handshake in `SYN-RECV`, which with deferred accept lasts until the client's
/// first bytes (`ss`).
fn waiting_for_data(port: u16) -> usize {
    let out = std::process::Command::new("ss")
        .args(["-Htn", "state", "syn-recv", &format!("( sport = :{port} )")])
        .output()
        .expect("ss runs (iproute2)");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// A server that speaks first: TCP mode accepts a silent client at once (no deferred accept
/// by default) and relays the greeting; with `defer_accept = true` the kernel holds a silent
/// client until it sends, and then relays both ways as before.
#[test]
fn tcp_mode_accepts_silent_clients_at_once_unless_told_to_defer() {
    let banner = RawBackend::start(|mut s| {
        let _ = s.write_all(b"220 ready\r\n");
        let mut buf = [0u8; 64];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let lb = tcp().server(srv("smtp", banner.addr())).start();
    let mut s = connect(lb.addr);
    assert_eq!(waiting_for_data(lb.addr.port()), 0, "accepted at once");
    let mut greeting = [0u8; 11];
    s.read_exact(&mut greeting).expect("greeting");
    assert_eq!(&greeting, b"220 ready\r\n");

    let lb = tcp()
        .frontend("defer_accept = true")
        .server(srv("smtp", banner.addr()))
        .start();
    let mut s = connect(lb.addr);
    assert_eq!(
        waiting_for_data(lb.addr.port()),
        1,
        "a silent client waits in the kernel"
    );
    s.write_all(b"EHLO x\r\n").expect("write");
    let mut got = [0u8; 19];
    s.read_exact(&mut got).expect("greeting and echo");
    assert_eq!(&got, b"220 ready\r\nEHLO x\r\n");
}

/// HTTP frontends defer the accept by default: a silent client waits in the kernel and is
/// served once it sends its request. A reload that sets `defer_accept = false` takes effect
/// on the listener the reload keeps, and one that sets it back does too.
#[test]
fn http_listeners_defer_the_accept_and_a_reload_changes_it() {
    let web = Backend::start("web1");
    let site = |extra: &str| {
        let s = http().server(srv("web1", web.addr()));
        if extra.is_empty() {
            s
        } else {
            s.frontend(extra)
        }
    };
    let mut lb = site("").start();
    let port = lb.addr.port();
    let silent = Client::connect(lb.addr).expect("connect");
    assert_eq!(waiting_for_data(port), 1, "held until the request comes");
    let mut c = silent;
    assert_eq!(c.get("/").expect("served once it speaks").status, 200);

    for (extra, held) in [("defer_accept = false", 0), ("defer_accept = true", 1)] {
        lb.proc.write_config(&site(extra).toml(port));
        lb.proc.signal(libc::SIGHUP);
        let ready = lb
            .proc
            .wait_notify("READY=1", Duration::from_secs(10))
            .expect("READY=1 after the reload");
        assert!(!ready.contains("reload failed"), "{ready}");
        let mut c = Client::connect(lb.addr).expect("connect");
        assert_eq!(waiting_for_data(port), held, "after the reload to {extra}");
        assert_eq!(c.get("/").expect("served").status, 200);
    }
}
