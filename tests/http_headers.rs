//! What ringlb changes in heads on the way through: X-Forwarded-For, hop-by-hop headers,
//! informational responses, and the upstream Connection header per mode.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::conf::{http, srv};
use common::*;
use std::time::Duration;

/// The request head the backend received, echoed back as the body.
fn echoed(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> String {
    let mut all = vec![("x-echo-headers", "1")];
    all.extend_from_slice(headers);
    let mut c = Client::connect(addr).expect("connect");
    let r = c.request("GET", "/echo", &all, b"").expect("request");
    assert_eq!(r.status, 200);
    r.body_str().to_ascii_lowercase()
}

#[test]
fn forwardfor_adds_client_address() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let head = echoed(lb.addr, &[]);
    assert!(head.contains("x-forwarded-for: 127.0.0.1\r\n"), "{head}");
}

#[test]
fn forwardfor_appends_to_an_existing_chain() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let head = echoed(lb.addr, &[("X-Forwarded-For", "192.0.2.1")]);
    let values: Vec<&str> = head
        .lines()
        .filter_map(|l| l.strip_prefix("x-forwarded-for:"))
        .map(str::trim)
        .collect();
    // one field listing both, or the original plus ours: either way the client is last
    let joined = values.join(", ");
    assert!(joined.starts_with("192.0.2.1"), "{head}");
    assert!(joined.ends_with("127.0.0.1"), "{head}");
}

#[test]
fn forwardfor_off_adds_nothing() {
    let web = Backend::start("web1");
    let lb = http()
        .frontend("forwardfor = false")
        .server(srv("web1", web.addr()))
        .start();
    let head = echoed(lb.addr, &[]);
    assert!(!head.contains("x-forwarded-for"), "{head}");
}

#[test]
fn hop_by_hop_headers_are_not_forwarded() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let head = echoed(
        lb.addr,
        &[
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "secret"),
            ("Keep-Alive", "timeout=5"),
            ("X-Public", "visible"),
        ],
    );
    assert!(!head.contains("x-private"), "{head}");
    assert!(!head.contains("keep-alive: timeout"), "{head}");
    assert!(head.contains("x-public: visible"), "{head}");
}

#[test]
fn expect_header_is_not_forwarded() {
    // ringlb answers 100-continue itself, so the server must not answer it a second time
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let r = c
        .request(
            "POST",
            "/",
            &[("x-echo-headers", "1"), ("Expect", "100-continue")],
            b"abc",
        )
        .expect("request");
    assert_eq!(r.status, 200);
    assert!(!r.body_str().to_ascii_lowercase().contains("expect:"));
}

#[test]
fn upstream_connection_header_follows_mode() {
    let web = Backend::start("web1");
    let lb = http()
        .frontend("connection = \"server-close\"")
        .server(srv("web1", web.addr()))
        .start();
    let head = echoed(lb.addr, &[]);
    assert!(head.contains("connection: close\r\n"), "{head}");
}

#[test]
fn http10_client_gets_a_body_framing_it_understands() {
    // whatever version goes upstream, a 1.0 client gets no chunked framing back
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send_raw(b"GET / HTTP/1.0\r\nx-size: 1000\r\n\r\n")
        .expect("send");
    let r = c.read_response(false).expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_len, 1000);
    assert!(r.header("transfer-encoding").is_none());
}

#[test]
fn informational_response_is_relayed_before_the_final_one() {
    let early = RawBackend::start(|s| {
        use std::io::Write;
        let Ok(mut out) = s.try_clone() else { return };
        let mut wire = common::backend::Wire::new(s);
        if let Ok(Some(_)) = wire.read_head() {
            let _ = out.write_all(
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n\
                  HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            );
        }
    });
    let lb = http().server(srv("early", early.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let r = c.get("/").expect("response");
    assert_eq!(r.interim, [103]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "ok");
}

#[test]
fn response_without_length_is_read_until_close() {
    let old = RawBackend::start(|s| {
        use std::io::Write;
        let Ok(mut out) = s.try_clone() else { return };
        let mut wire = common::backend::Wire::new(s);
        if let Ok(Some(_)) = wire.read_head() {
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil the end");
            let _ = out.shutdown(std::net::Shutdown::Write);
        }
    });
    let lb = http().server(srv("old", old.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let r = c.get("/").expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "until the end");
    // the client can only find the end by the close
    assert!(c.is_closed(std::time::Duration::from_secs(3)));
}

/// Whether every thread of process `pid` is stopped (state `T` in `/proc/PID/task/*/stat`).
fn stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("stat")).is_ok_and(|s| {
            // The state follows the command name, which ends with the last ')'.
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['T', 't']))
        })
    })
}

/// The X-Forwarded-For value the backend received for a request on `c`.
fn forwarded_for(c: &mut Client) -> String {
    let r = c
        .request("GET", "/echo", &[("x-echo-headers", "1")], b"")
        .expect("request");
    assert_eq!(r.status, 200);
    let head = r.body_str().to_ascii_lowercase();
    head.lines()
        .filter_map(|l| l.strip_prefix("x-forwarded-for:"))
        .map(|v| v.trim().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Connections that wait in the accept queue together (queued while ringlb is stopped, so its
/// accept takes them in one go: the kernel writes every peer address into the same place),
/// then connections one at a time: each client, from a loopback address of its own, is the
/// one X-Forwarded-For names.
#[test]
fn forwardfor_names_each_client_of_a_burst() {
    use std::net::IpAddr;
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut first = Client::connect(lb.addr).expect("connect");
    assert_eq!(forwarded_for(&mut first), "127.0.0.1");
    lb.proc.signal(libc::SIGSTOP);
    let pid = lb.proc.pid();
    assert!(
        wait_until(Duration::from_secs(10), || stopped(pid)),
        "ringlb did not stop"
    );
    let mut burst: Vec<(IpAddr, Client)> = (10..50)
        .map(|n| {
            let ip = IpAddr::from([127, 0, 0, n]);
            (ip, Client::connect_from(lb.addr, ip).expect("connect"))
        })
        .collect();
    lb.proc.signal(libc::SIGCONT);
    for (ip, c) in &mut burst {
        assert_eq!(forwarded_for(c), ip.to_string());
    }
    for n in 50..60 {
        let ip = IpAddr::from([127, 0, 0, n]);
        let mut c = Client::connect_from(lb.addr, ip).expect("connect");
        assert_eq!(forwarded_for(&mut c), ip.to_string());
    }
}
