//! Access logs in HAProxy's httplog and tcplog formats, to syslog over UDP and to stdout,
//! anonymised when asked.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::*;
use regex::Regex;

/// HAProxy's httplog line, as documented (`option httplog`), behind a syslog header.
const HTTPLOG: &str = r#"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d ringlb\[\d+\]: (?P<client>[0-9a-f.:]+):(?P<port>\d+) \[(?P<date>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3})\] (?P<fe>\S+) (?P<be>\S+)/(?P<srv>\S+) (?P<tq>-?\d+)/(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tr>-?\d+)/(?P<ta>\d+) (?P<status>-?\d+) (?P<bytes>\d+) - - (?P<term>[-A-Za-z]{4}) (?P<act>\d+)/(?P<fec>\d+)/(?P<bec>\d+)/(?P<srvc>\d+)/(?P<retries>\d+) (?P<sq>\d+)/(?P<bq>\d+) "(?P<req>[^"]*)"$"#;

fn recv_lines(sock: &UdpSocket, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < n {
        match sock.recv(&mut buf) {
            Ok(k) => out.push(String::from_utf8_lossy(&buf[..k]).into_owned()),
            Err(e) => panic!("expected {n} log lines, got {}: {e}\n{out:#?}", out.len()),
        }
    }
    out
}

fn setup(extra_log: &str, mode: &str, backend: SocketAddr) -> (Ringlb, UdpSocket, SocketAddr) {
    let sink = UdpSocket::bind("127.0.0.1:0").expect("udp");
    sink.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let port = free_port();
    let lb = Ringlb::start(&format!(
        r#"
[global]
workers = 1
[log]
target = "udp://{}"
facility = "local0"
{extra_log}
[frontend.www]
bind = "127.0.0.1:{port}"
mode = "{mode}"
default_backend = "web"
log = true
[backend.web]
mode = "{mode}"
[[backend.web.server]]
name = "web1"
address = "{backend}"
"#,
        sink.local_addr().expect("addr")
    ));
    (lb, sink, SocketAddr::from(([127, 0, 0, 1], port)))
}

#[test]
fn http_lines_parse_as_httplog() {
    let web = Backend::start("web1");
    let (_lb, sink, addr) = setup("", "http", web.addr());
    assert_eq!(http_get(addr, "/hello?x=1", &[]).status, 200);
    assert_eq!(
        http_get(addr, "/missing", &[("x-status", "404")]).status,
        404
    );
    let raw = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert!(raw.starts_with(b"HTTP/1.1 400"));
    let lines = recv_lines(&sink, 3);
    let re = Regex::new(HTTPLOG).expect("regex");
    let caps: Vec<_> = lines
        .iter()
        .map(|l| re.captures(l).unwrap_or_else(|| panic!("not httplog: {l}")))
        .collect();
    assert_eq!(&caps[0][1], "134", "local0.info");
    assert_eq!(&caps[0]["client"], "127.0.0.1");
    assert_eq!(&caps[0]["fe"], "www");
    assert_eq!(&caps[0]["be"], "web");
    assert_eq!(&caps[0]["srv"], "web1");
    assert_eq!(&caps[0]["status"], "200");
    assert_eq!(&caps[0]["term"], "----");
    assert_eq!(&caps[0]["req"], "GET /hello?x=1 HTTP/1.1");
    assert!(caps[0]["bytes"].parse::<u64>().expect("bytes") > 0);
    assert_eq!(&caps[1]["status"], "404");
    assert_eq!(&caps[2]["status"], "400");
    assert_eq!(&caps[2]["srv"], "<NOSRV>");
    assert_eq!(&caps[2]["term"], "PR--");
}

#[test]
fn anonymised_addresses_never_leave_the_process() {
    let web = Backend::start("web1");
    let (_lb, sink, addr) = setup("anonymize_ip = true\nipv4_mask = 24", "http", web.addr());
    let mut c = Client::connect_from(addr, "127.0.0.77".parse().expect("ip")).expect("connect");
    assert_eq!(c.get("/").expect("get").status, 200);
    let line = recv_lines(&sink, 1).remove(0);
    assert!(line.contains("]: 127.0.0.0:0 ["), "{line}");
    assert!(!line.contains("127.0.0.77"), "{line}");
}

#[test]
fn error_statuses_carry_termination_states() {
    let dead = RefusingAddr::new();
    let (_lb, sink, addr) = setup("", "http", dead.addr());
    assert_eq!(http_get(addr, "/", &[]).status, 503);
    let line = recv_lines(&sink, 1).remove(0);
    let re = Regex::new(HTTPLOG).expect("regex");
    let c = re
        .captures(&line)
        .unwrap_or_else(|| panic!("not httplog: {line}"));
    assert_eq!(&c["status"], "503");
    assert_eq!(&c["term"], "SC--");
    assert_eq!(&c["retries"], "3", "three retries before giving up");
}

#[test]
fn tcp_sessions_log_as_tcplog() {
    let echo = RawBackend::echo();
    let (_lb, sink, addr) = setup("", "tcp", echo.addr());
    let got = raw_exchange(addr, b"ping");
    assert_eq!(got, b"ping");
    let line = recv_lines(&sink, 1).remove(0);
    let re = Regex::new(r"^<\d+>.* ringlb\[\d+\]: 127\.0\.0\.1:\d+ \[[^\]]+\] www web/web1 \d+/\d+/\d+ 4 -- \d+/\d+/\d+/\d+/0 0/0$").expect("regex");
    assert!(re.is_match(&line), "not tcplog: {line}");
}
