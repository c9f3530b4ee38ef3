//! Per-client tracking through the real binary: a flood from one address answered 429 while
//! another client keeps being served, header keys, concurrent-connection limits, the tarpit,
//! `show table` over the admin socket, the table kept across a reload, and config errors.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const NORMAL: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const FLOOD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

struct Site {
    lb: Ringlb,
    addr: SocketAddr,
    /// The `[stats]` listener (page and `/metrics`).
    stats: SocketAddr,
    _web: Backend,
}

/// Two workers (a client's requests land on both), a frontend with `track` and `rules`.
fn site(track: &str, rules: &str) -> (Site, PathBuf) {
    let web = Backend::start("web1");
    let port = free_port();
    let sock = unique_dir("ringlb-track").join("admin.sock");
    let stats = free_addr();
    let cfg = format!(
        "{}\n[stats]\nbind = \"{stats}\"\n",
        config(port, &sock, &web, track, rules)
    );
    let lb = Ringlb::start(&cfg);
    (
        Site {
            lb,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stats,
            _web: web,
        },
        sock,
    )
}

fn config(port: u16, sock: &std::path::Path, web: &Backend, track: &str, rules: &str) -> String {
    format!(
        r#"
[global]
workers = 2
admin_socket = "{}"
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
[frontend.www.track]
{track}
{rules}
[backend.web]
[[backend.web.server]]
name = "web1"
address = "{}"
"#,
        sock.display(),
        web.addr()
    )
}

fn admin(lb: &Ringlb, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("admin")
        .arg("-c")
        .arg(lb.config_path())
        .args(args)
        .output()
        .expect("run ringlb admin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `key=…` line of `show table` for `key`.
fn entry(table: &str, key: &str) -> Option<String> {
    table
        .lines()
        .find(|l| l.starts_with(&format!("key={key} ")))
        .map(String::from)
}

fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

/// `n` requests of the normal client on one keep-alive connection: every status and latency.
fn normal_client(addr: SocketAddr, n: usize) -> (Vec<u16>, Vec<Duration>) {
    let mut c = Client::connect_from(addr, NORMAL).unwrap();
    let mut statuses = Vec::with_capacity(n);
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = c.get("/").unwrap();
        lat.push(t.elapsed());
        statuses.push(r.status);
    }
    (statuses, lat)
}

const FLOOD_RULE: &str = r#"
[[frontend.www.request_rule]]
action = "return"
status = 429
retry_after = 10
body = "slow down\n"
if = "{ sc_http_req_rate gt 500 }"
"#;

#[test]
fn a_flood_from_one_address_gets_429s_while_another_client_is_served() {
    let (s, _sock) = site("key = \"src\"\nsize = 1000\nperiod = \"10s\"", FLOOD_RULE);
    normal_client(s.addr, 20); // warm-up: first connections, pools
    let (statuses, unloaded) = normal_client(s.addr, 100);
    assert!(statuses.iter().all(|&st| st == 200), "{statuses:?}");

    // The flood: 4 keep-alive connections from 127.0.0.2, 1,000 requests each.
    let addr = s.addr;
    let flood: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect_from(addr, FLOOD).unwrap();
                let mut ok = 0u64;
                let mut limited = 0u64;
                for _ in 0..1000 {
                    let r = c.get("/").unwrap();
                    match r.status {
                        200 => ok += 1,
                        429 => {
                            assert_eq!(r.header("retry-after"), Some("10"));
                            assert_eq!(r.body_str(), "slow down\n");
                            limited += 1;
                        }
                        other => panic!("flood got {other}"),
                    }
                }
                (ok, limited)
            })
        })
        .collect();
    // The normal client meanwhile (its 320 requests in all stay under the limit of 500).
    let (statuses, loaded) = normal_client(s.addr, 200);
    let (mut ok, mut limited) = (0, 0);
    for f in flood {
        let (o, l) = f.join().unwrap();
        ok += o;
        limited += l;
    }
    println!(
        "normal client p99: unloaded {:?}, during the flood {:?}; flood: {ok} served, {limited} answered 429",
        p99(unloaded),
        p99(loaded)
    );
    assert!(
        statuses.iter().all(|&st| st == 200),
        "the normal client kept full success: {statuses:?}"
    );
    // 500 a 10s window passes (a window that started before the flood lets through at most
    // as many again).
    assert!((500..=1000).contains(&ok), "{ok} flood requests served");
    assert_eq!(ok + limited, 4000);
    let shown = admin(&s.lb, &["show", "table"]);
    let flood_entry = entry(&shown, "127.0.0.2").unwrap_or_else(|| panic!("{shown}"));
    assert!(
        field(&flood_entry, "http_req_rate") >= 3000,
        "{flood_entry}"
    );
    let normal = entry(&shown, "127.0.0.1").unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(field(&normal, "http_req_rate"), 320, "{normal}");
    assert!(shown.contains("denials: "), "{shown}");
    let denials: u64 = shown
        .split("denials: ")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert_eq!(denials, limited);
}

#[test]
fn a_header_key_tracks_each_value_and_ignores_requests_without_it() {
    let rules = r#"
[[frontend.www.request_rule]]
action = "deny"
status = 429
if = "{ sc_http_req_rate gt 5 }"
"#;
    let (s, _sock) = site("key = \"hdr(X-Api-Key)\"", rules);
    let get = |key: Option<&str>| {
        let h: Vec<(&str, &str)> = key.map(|k| ("X-Api-Key", k)).into_iter().collect();
        http_get(s.addr, "/", &h).status
    };
    let a: Vec<u16> = (0..8).map(|_| get(Some("alpha"))).collect();
    assert_eq!(a, [200, 200, 200, 200, 200, 429, 429, 429]);
    assert_eq!(get(Some("beta")), 200, "another key has its own counters");
    for _ in 0..10 {
        assert_eq!(
            get(None),
            200,
            "a request without the header is not tracked"
        );
    }
    let shown = admin(&s.lb, &["show", "table", "www"]);
    assert!(shown.contains("key: hdr(x-api-key)"), "{shown}");
    let alpha = entry(&shown, "alpha").unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(field(&alpha, "http_req_rate"), 8, "{alpha}");
    assert_eq!(
        field(&alpha, "http_err_rate"),
        3,
        "the 429s are client errors: {alpha}"
    );
    assert_eq!(shown.lines().filter(|l| l.starts_with("key=")).count(), 2);
    let metrics = http_get(s.stats, "/metrics", &[]).body_str();
    for line in [
        "ringlb_frontend_track_entries{frontend=\"www\"} 2",
        "ringlb_frontend_track_denials_total{frontend=\"www\"} 3",
        "ringlb_frontend_track_evictions_total{frontend=\"www\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
    let page = http_get(s.stats, "/", &[]).body_str();
    assert!(
        page.contains("Tracking (hdr(x-api-key)): 2 of 65536 entries"),
        "{page}"
    );
}

#[test]
fn concurrent_connections_of_one_client_are_limited_on_every_worker() {
    let rules = r#"
[[frontend.www.request_rule]]
action = "deny"
status = 429
if = "{ sc_conn_cur gt 3 }"
"#;
    let (s, _sock) = site("key = \"src\"", rules);
    // Three open connections of 127.0.0.2 (two workers accept them), each with a request
    // served so each is counted.
    let mut open: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = Client::connect_from(s.addr, FLOOD).unwrap();
            assert_eq!(c.get("/").unwrap().status, 200);
            c
        })
        .collect();
    let mut fourth = Client::connect_from(s.addr, FLOOD).unwrap();
    assert_eq!(fourth.get("/").unwrap().status, 429);
    assert_eq!(
        Client::connect_from(s.addr, NORMAL)
            .unwrap()
            .get("/")
            .unwrap()
            .status,
        200
    );
    // The denied connection was closed by ringlb; one more closes: two are left, and the
    // next connection is served again.
    assert!(fourth.is_closed(Duration::from_secs(2)));
    drop(open.pop());
    let shown_ok = wait_until(Duration::from_secs(5), || {
        entry(&admin(&s.lb, &["show", "table"]), "127.0.0.2")
            .is_some_and(|l| field(&l, "conn_cur") == 2)
    });
    assert!(shown_ok, "{}", admin(&s.lb, &["show", "table"]));
    let mut again = Client::connect_from(s.addr, FLOOD).unwrap();
    assert_eq!(again.get("/").unwrap().status, 200);
    let line = entry(&admin(&s.lb, &["show", "table"]), "127.0.0.2").unwrap();
    assert_eq!(field(&line, "conn_rate"), 5, "{line}");
}

#[test]
fn a_tarpit_holds_the_request_then_refuses_and_closes() {
    let rules = r#"
[[frontend.www.request_rule]]
action = "tarpit"
delay = "400ms"
if = "{ sc_http_req_rate gt 2 }"
"#;
    let (s, _sock) = site("key = \"src\"", rules);
    let mut c = Client::connect_from(s.addr, FLOOD).unwrap();
    assert_eq!(c.get("/").unwrap().status, 200);
    assert_eq!(c.get("/").unwrap().status, 200);
    let t = Instant::now();
    let r = c.get("/").unwrap();
    let held = t.elapsed();
    assert_eq!(r.status, 429);
    assert!(
        held >= Duration::from_millis(400),
        "answered after {held:?}"
    );
    assert!(c.is_closed(Duration::from_secs(2)), "a tarpit closes");
}

#[test]
fn a_reload_keeps_the_entries_of_a_table_that_stays() {
    let rules = r#"
[[frontend.www.request_rule]]
action = "deny"
status = 429
if = "{ sc_http_req_rate gt 3 }"
"#;
    let web = Backend::start("web1");
    let port = free_port();
    let sock = unique_dir("ringlb-track").join("admin.sock");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut lb = Ringlb::start(&config(port, &sock, &web, "size = 100", rules));
    let get = || {
        Client::connect_from(addr, FLOOD)
            .unwrap()
            .get("/")
            .unwrap()
            .status
    };
    let before: Vec<u16> = (0..4).map(|_| get()).collect();
    assert_eq!(before, [200, 200, 200, 429]);
    // Same key, a bigger size: the entries move to the new table.
    lb.write_config(&config(port, &sock, &web, "size = 200", rules));
    lb.signal(libc::SIGHUP);
    lb.wait_notify("READY=1", Duration::from_secs(10))
        .expect("reloaded");
    assert!(admin(&lb, &["show", "table"]).contains("size: 200"));
    assert_eq!(get(), 429, "the client's rate came through the reload");
    let shown = admin(&lb, &["show", "table"]);
    let line = entry(&shown, "127.0.0.2").unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(field(&line, "http_req_rate"), 5, "{line}");
}

#[test]
fn counters_without_a_table_or_in_routes_are_config_errors() {
    let out = Ringlb::run_cli(
        &["check", "-c", "{config}"],
        r#"[frontend.www]
bind = "127.0.0.1:1"
default_backend = "web"
[[frontend.www.request_rule]]
action = "deny"
if = "{ sc_http_req_rate gt 5 }"
[backend.web]
[[backend.web.server]]
name = "a"
address = "127.0.0.1:2"
"#,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(":4:"), "{err}");
    assert!(err.contains("tracks no client"), "{err}");

    let out = Ringlb::run_cli(
        &["check", "-c", "{config}"],
        r#"[frontend.www]
bind = "127.0.0.1:1"
default_backend = "web"
[frontend.www.track]
key = "header(X)"
[[frontend.www.request_rule]]
action = "tarpit"
delay = "5m"
if = "{ sc_conn_rate above 5 }"
[backend.web]
[[backend.web.server]]
name = "a"
address = "127.0.0.1:2"
"#,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(":5:7: error: unknown tracking key"), "{err}");
    assert!(err.contains("tarpit delay"), "{err}");
    assert!(err.contains("unknown comparison `above`"), "{err}");
}

/// The statuses of the responses in `raw`, in order.
fn statuses(raw: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(raw);
    text.split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|r| r.get(..3).and_then(|s| s.parse().ok()))
        .collect()
}

/// Reads from `c` until `n` responses have arrived; the bytes and the number of reads.
fn read_responses(c: &mut std::net::TcpStream, n: usize) -> (Vec<u8>, usize) {
    use std::io::Read;
    let mut got = Vec::new();
    let mut reads = 0;
    let mut buf = [0u8; 65536];
    while statuses(&got).len() < n || !got.ends_with(b"\n") {
        let k = c.read(&mut buf).expect("read");
        assert!(k > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..k]);
        reads += 1;
    }
    (got, reads)
}

/// Answers ringlb makes itself to pipelined requests leave together (a flood that pipelines
/// requests a rule refuses costs one send per batch, not one per request), in order with the
/// responses of forwarded requests between them.
#[test]
fn pipelined_refusals_leave_in_one_send_and_in_order() {
    use std::io::Write;
    let rules = r#"
[[frontend.www.request_rule]]
action = "return"
status = 429
body = "no\n"
if = "{ sc_http_req_rate gt 2 } || { path_beg /blocked }"
"#;
    let (s, _sock) = site("key = \"src\"", rules);
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    // Refused, forwarded, refused: the forwarded request's response comes between.
    let mixed: String = ["/blocked", "/", "/blocked"]
        .iter()
        .map(|p| get(p))
        .collect();
    c.write_all(mixed.as_bytes()).unwrap();
    let (raw, _) = read_responses(&mut c, 3);
    assert_eq!(
        statuses(&raw),
        [429, 200, 429],
        "{}",
        String::from_utf8_lossy(&raw)
    );
    // Over the rate now: 16 pipelined requests, 16 answers in one send.
    let batch = get("/").repeat(16);
    c.write_all(batch.as_bytes()).unwrap();
    let (raw, reads) = read_responses(&mut c, 16);
    assert_eq!(statuses(&raw), [429; 16]);
    assert_eq!(reads, 1, "the 16 answers came in {reads} reads");
    // The connection stays usable.
    c.write_all(get("/").as_bytes()).unwrap();
    let (raw, _) = read_responses(&mut c, 1);
    assert_eq!(statuses(&raw), [429]);
}

/// Whether a connection from `source` is closed by ringlb before any answer: it sends a
/// request and reads end of stream (or a reset) with no byte of response.
fn rejected_at_accept(addr: SocketAddr, source: IpAddr) -> bool {
    use std::io::{Read, Write};
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(source, 0).into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut c: std::net::TcpStream = sock.into();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut buf = [0u8; 64];
    match c.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// `denials: N` of `show table`.
fn denials(shown: &str) -> u64 {
    shown
        .split("denials: ")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no denials in {shown}"))
}

/// HAProxy's `tcp-request connection reject if { sc_conn_rate(0) gt N }`: a client opening
/// connections in a loop is turned away at accept, before any request is read, while another
/// client is served; every rejection is counted and logged with the client's address.
#[test]
fn a_connection_rule_rejects_a_client_that_opens_connections_too_fast() {
    let rules = r#"
[[frontend.www.connection_rule]]
action = "reject"
if = "{ sc_conn_rate gt 5 }"
"#;
    let (s, _sock) = site("key = \"src\"\nperiod = \"10s\"", rules);
    for i in 0..5 {
        let mut c = Client::connect_from(s.addr, FLOOD).unwrap();
        assert_eq!(c.get("/").unwrap().status, 200, "connection {}", i + 1);
    }
    for _ in 0..20 {
        assert!(
            rejected_at_accept(s.addr, FLOOD),
            "a connection over the rate got an answer"
        );
    }
    let mut normal = Client::connect_from(s.addr, NORMAL).unwrap();
    assert_eq!(normal.get("/").unwrap().status, 200);
    let shown = admin(&s.lb, &["show", "table"]);
    let line = entry(&shown, "127.0.0.2").unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(
        field(&line, "conn_rate"),
        25,
        "rejected ones count too: {line}"
    );
    assert_eq!(field(&line, "http_req_rate"), 5, "{line}");
    assert_eq!(denials(&shown), 20);
    assert!(
        s.lb.wait_log(
            "frontend www: connection from 127.0.0.2 rejected by connection_rule 1",
            Duration::from_secs(5)
        ),
        "{}",
        s.lb.stderr()
    );
    let metrics = http_get(s.stats, "/metrics", &[]).body_str();
    assert!(
        metrics.contains("ringlb_frontend_track_denials_total{frontend=\"www\"} 20"),
        "{metrics}"
    );
}

/// An HTTP/2 connection counts in `sc_conn_cur` / `sc_conn_rate` of its client like an
/// HTTP/1.1 one, and each of its streams in `sc_http_req_rate`; a connection rule on
/// `sc_conn_cur` turns away a second h2 connection.
#[test]
fn h2_connections_and_streams_count_in_the_table() {
    use std::io::Write;
    let rules = r#"
[frontend.www.h2]
cleartext = true
[[frontend.www.connection_rule]]
action = "reject"
if = "{ sc_conn_cur gt 1 }"
"#;
    let (s, _sock) = site("key = \"src\"", rules);
    // One h2 connection held open (preface and SETTINGS).
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(FLOOD, 0).into()).unwrap();
    sock.connect(&s.addr.into()).unwrap();
    let mut held: std::net::TcpStream = sock.into();
    held.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    // Three streams on it: GET / (HPACK: :method GET, :scheme http, :path / from the static
    // table, :authority "t"), each HEADERS frame ending its stream.
    for id in [1u8, 3, 5] {
        let block = [0x82, 0x86, 0x84, 0x41, 0x01, b't'];
        let mut frame = vec![0, 0, block.len() as u8, 0x01, 0x05, 0, 0, 0, id];
        frame.extend_from_slice(&block);
        held.write_all(&frame).unwrap();
    }
    let counted = wait_until(Duration::from_secs(5), || {
        entry(&admin(&s.lb, &["show", "table"]), "127.0.0.2")
            .is_some_and(|l| field(&l, "conn_cur") == 1 && field(&l, "http_req_rate") == 3)
    });
    assert!(counted, "{}", admin(&s.lb, &["show", "table"]));
    // A second connection of the same client is one too many.
    assert!(rejected_at_accept(s.addr, FLOOD));
    let shown = admin(&s.lb, &["show", "table"]);
    let flood = entry(&shown, "127.0.0.2").unwrap();
    assert_eq!(field(&flood, "conn_rate"), 2, "{flood}");
    assert_eq!(field(&flood, "conn_cur"), 1, "{flood}");
    assert_eq!(denials(&shown), 1);
    let metrics = http_get(s.stats, "/metrics", &[]).body_str();
    assert!(
        metrics.contains("ringlb_frontend_h2_streams_total{frontend=\"www\"} 3"),
        "{metrics}"
    );
    drop(held);
    let gone = wait_until(Duration::from_secs(5), || {
        entry(&admin(&s.lb, &["show", "table"]), "127.0.0.2")
            .is_some_and(|l| field(&l, "conn_cur") == 0)
    });
    assert!(gone, "{}", admin(&s.lb, &["show", "table"]));
}

/// A tcp frontend tracks its clients by address: open connections limited by a connection
/// rule (HAProxy's `tcp-request connection reject if { sc_conn_cur(0) gt N }`), the bytes of
/// each connection in its client's rates when it ends.
#[test]
fn a_tcp_frontend_limits_the_connections_of_one_client() {
    let web = Backend::start("web1");
    let port = free_port();
    let sock = unique_dir("ringlb-track").join("admin.sock");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let lb = Ringlb::start(&format!(
        r#"
[global]
workers = 2
admin_socket = "{}"
[frontend.db]
bind = "{addr}"
mode = "tcp"
default_backend = "web"
[frontend.db.track]
key = "src"
[[frontend.db.connection_rule]]
action = "reject"
if = "{{ sc_conn_cur gt 2 }}"
[backend.web]
mode = "tcp"
[[backend.web.server]]
name = "web1"
address = "{}"
"#,
        sock.display(),
        web.addr()
    ));
    let mut open: Vec<Client> = (0..2)
        .map(|_| {
            let mut c = Client::connect_from(addr, FLOOD).unwrap();
            assert_eq!(c.get("/").unwrap().status, 200);
            c
        })
        .collect();
    assert!(
        rejected_at_accept(addr, FLOOD),
        "a third connection was served"
    );
    let mut other = Client::connect_from(addr, NORMAL).unwrap();
    assert_eq!(other.get("/").unwrap().status, 200);
    let shown = admin(&lb, &["show", "table", "db"]);
    let line = entry(&shown, "127.0.0.2").unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(field(&line, "conn_cur"), 2, "{line}");
    assert_eq!(field(&line, "conn_rate"), 3, "{line}");
    assert_eq!(denials(&shown), 1);
    // One closes: its bytes are counted, and the client may open another.
    drop(open.pop());
    let freed = wait_until(Duration::from_secs(5), || {
        entry(&admin(&lb, &["show", "table", "db"]), "127.0.0.2")
            .is_some_and(|l| field(&l, "conn_cur") == 1 && field(&l, "bytes_in_rate") > 0)
    });
    assert!(freed, "{}", admin(&lb, &["show", "table", "db"]));
    let line = entry(&admin(&lb, &["show", "table", "db"]), "127.0.0.2").unwrap();
    assert!(field(&line, "bytes_out_rate") > 0, "{line}");
    let mut again = Client::connect_from(addr, FLOOD).unwrap();
    assert_eq!(again.get("/").unwrap().status, 200);
}

#[test]
fn connection_rules_are_checked_with_their_place() {
    let base = r#"[frontend.www]
bind = "127.0.0.1:1"
default_backend = "web"
"#;
    let back = r#"[backend.web]
[[backend.web.server]]
name = "a"
address = "127.0.0.1:2"
"#;
    let check = |middle: &str| {
        let out = Ringlb::run_cli(
            &["check", "-c", "{config}"],
            &format!("{base}{middle}{back}"),
        );
        assert!(!out.status.success(), "accepted:\n{middle}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // A condition on the request.
    let err = check(
        "[frontend.www.track]\n[[frontend.www.connection_rule]]\naction = \"reject\"\nif = \"{ path_beg /x }\"\n",
    );
    assert!(
        err.contains(":7:6: error: a connection rule tests what a connection does not have yet"),
        "{err}"
    );
    // No table to count in.
    let err = check("[[frontend.www.connection_rule]]\naction = \"reject\"\n");
    assert!(err.contains(":4:"), "{err}");
    assert!(
        err.contains("has connection rules but tracks no client"),
        "{err}"
    );
    // Another action; counters of a header table.
    let err = check(
        "[frontend.www.track]\nkey = \"hdr(X-Key)\"\n[[frontend.www.connection_rule]]\naction = \"deny\"\n[[frontend.www.connection_rule]]\naction = \"reject\"\nif = \"{ sc_conn_rate gt 1 }\"\n",
    );
    assert!(
        err.contains(":7:10: error: unknown connection rule action \"deny\""),
        "{err}"
    );
    assert!(
        err.contains("tests counters of a table keyed by hdr(x-key)"),
        "{err}"
    );
    // A tcp frontend tracks by address only.
    let err = check("mode = \"tcp\"\n[frontend.www.track]\nkey = \"cookie(s)\"\n");
    assert!(
        err.contains("is in tcp mode: it has no requests to take"),
        "{err}"
    );
}

/// A table's slots are memory the kernel backs as entries are written: a table of a million
/// entries (181 MB of slots) raises ringlb's resident memory by little more than what a
/// thousand-entry table costs, before and after clients are counted in it.
#[test]
fn a_big_table_costs_resident_memory_only_for_its_entries() {
    let web = Backend::start("web1");
    let rss = |size: u32| {
        let port = free_port();
        let sock = unique_dir("ringlb-track").join("admin.sock");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let lb = Ringlb::start(&config(port, &sock, &web, &format!("size = {size}"), ""));
        // 200 clients (127.0.1.x) on both workers, so the table is in use.
        for i in 0..200u8 {
            let from = IpAddr::V4(Ipv4Addr::new(127, 0, 1, i));
            let r = Client::connect_from(addr, from).unwrap().get("/").unwrap();
            assert_eq!(r.status, 200);
        }
        let shown = admin(&lb, &["show", "table"]);
        assert!(shown.contains(&format!("size: {size}")), "{shown}");
        assert!(entry(&shown, "127.0.1.199").is_some(), "{shown}");
        common::conf::rss_kib(lb.pid())
    };
    let small = rss(1_000);
    let big = rss(1_000_000);
    assert!(small > 0 && big > 0, "VmRSS not read");
    println!(
        "FIGURE: ringlb VmRSS with a tracking table of 1,000 entries {small} KiB, of 1,000,000 \
         entries {big} KiB (its slots: 181 MB allocated)"
    );
    // 200 entries touch at most 400 pages of slots and tags (1.6 MiB); the rest is noise.
    assert!(
        big < small + 8 * 1024,
        "a table of 1M entries made {} KiB resident",
        big.saturating_sub(small)
    );
}
