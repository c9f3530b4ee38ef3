//! The limits of `[frontend.X.h2]`, each reached by a real client — curl where it can reach
//! it, else a few hand-written frames on a TCP socket — and each seen where an operator sees
//! it: the client gets the protocol's answer, the counter
//! `ringlb_frontend_h2_limit_total{limit}` moves, and an event line names the limit and the
//! client.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]
mod common;
use common::conf::rss_kib;
use common::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// ringlb with a cleartext h2 listener whose `[h2]` table has `h2`, one backend, and a
/// `[stats]` listener.
struct Site {
    lb: Ringlb,
    _web: Backend,
    addr: SocketAddr,
    stats: SocketAddr,
}

impl Site {
    fn start(h2: &str) -> Site {
        let web = Backend::start("web1");
        let (port, stats) = (free_port(), free_port());
        let lb = Ringlb::start(&format!(
            r#"
[global]
workers = 1
[stats]
bind = "127.0.0.1:{stats}"
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
[frontend.www.h2]
cleartext = true
{h2}
[backend.web]
[[backend.web.server]]
name = "web1"
address = "{}"
"#,
            web.addr()
        ));
        Site {
            lb,
            _web: web,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            stats: format!("127.0.0.1:{stats}").parse().unwrap(),
        }
    }

    fn limit_count(&self, limit: &str) -> f64 {
        let series =
            format!("ringlb_frontend_h2_limit_total{{frontend=\"www\",limit=\"{limit}\"}}");
        let body = http_get(self.stats, "/metrics", &[]).body_str().to_owned();
        body.lines()
            .find_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no {series} in:\n{body}"))
    }

    /// The counter is 1 and the event line names the limit and the client.
    fn assert_hit(&self, limit: &str) {
        assert_eq!(self.limit_count(limit), 1.0, "{limit}");
        let line = format!("h2 limit {limit} hit by client 127.0.0.1:");
        assert!(
            self.lb.wait_log(&line, Duration::from_secs(5)),
            "log line: {line}"
        );
    }
}

/// A client writing frames by hand.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects and sends the preface and `settings` (id, value pairs).
    fn connect(addr: SocketAddr, settings: &[(u16, u32)]) -> Raw {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut r = Raw { s, buf: Vec::new() };
        r.s.write_all(PREFACE).unwrap();
        let payload: Vec<u8> = settings
            .iter()
            .flat_map(|(id, v)| id.to_be_bytes().into_iter().chain(v.to_be_bytes()))
            .collect();
        r.send(SETTINGS, 0, 0, &payload);
        r
    }

    fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(stream.to_be_bytes());
        f.extend(payload);
        // The server may have closed already (after a limit): later writes may fail.
        let _ = self.s.write_all(&f);
    }

    /// A GET for `/` with extra literal fields, as one HEADERS frame.
    fn get(&mut self, stream: u32, end_stream: bool, fields: &[(&str, &str)]) {
        // :method GET, :scheme http, :path / from the static table; :authority literal.
        let mut block = vec![0x82, 0x86, 0x84, 0x01, 9];
        block.extend(b"localhost");
        for (n, v) in fields {
            block.extend([0x00, n.len() as u8]);
            block.extend(n.as_bytes());
            block.push(v.len() as u8);
            block.extend(v.as_bytes());
        }
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        self.send(HEADERS, flags, stream, &block);
    }

    /// The next frame: (type, flags, stream, payload); `None` when the server closed.
    fn frame(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f: Vec<u8> = self.buf.drain(..9 + len).collect();
                    let stream = u32::from_be_bytes([f[5], f[6], f[7], f[8]]) & 0x7fff_ffff;
                    return Some((f[3], f[4], stream, f[9..].to_vec()));
                }
            }
            let mut chunk = [0u8; 16384];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend(&chunk[..n]),
            }
        }
    }

    /// Reads until a frame of `kind` (on `stream` when given); its flags and payload.
    fn until(&mut self, kind: u8, stream: Option<u32>) -> Option<(u8, Vec<u8>)> {
        while let Some((k, flags, id, p)) = self.frame() {
            if k == kind && stream.is_none_or(|s| s == id) {
                return Some((flags, p));
            }
        }
        None
    }

    /// Reads until GOAWAY: (last stream id, error code).
    fn goaway(&mut self) -> (u32, u32) {
        let (_, p) = self.until(GOAWAY, None).expect("a GOAWAY");
        let last = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff;
        (last, u32::from_be_bytes([p[4], p[5], p[6], p[7]]))
    }
}

#[test]
fn an_idle_connection_is_closed_with_goaway() {
    let s = Site::start("idle_timeout = \"1s\"");
    let mut c = Raw::connect(s.addr, &[]);
    c.get(1, true, &[]);
    let (_, p) = c.until(HEADERS, Some(1)).expect("response");
    assert!(!p.is_empty());
    assert_eq!(c.goaway(), (1, 0), "GOAWAY NO_ERROR naming stream 1");
    s.assert_hit("idle_timeout");
}

#[test]
fn a_preface_without_settings_times_out() {
    let s = Site::start("request_timeout = \"1s\"");
    let mut c = Raw {
        s: TcpStream::connect(s.addr).unwrap(),
        buf: Vec::new(),
    };
    c.s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    c.s.write_all(PREFACE).unwrap();
    assert_eq!(c.goaway(), (0, 0));
    s.assert_hit("request_timeout");
}

/// curl's status for a GET with a header `x-big` of `n` bytes (0 when it got no response).
fn curl_big_header(addr: SocketAddr, n: usize) -> String {
    let header = format!("x-big: {}", "a".repeat(n));
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
        ])
        .args(["-w", "%{http_code}", "-H", &header])
        .arg(format!("http://{addr}/"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_header_list_past_the_limit_gets_431() {
    let s = Site::start("max_header_list_size = 4096");
    assert_eq!(curl_big_header(s.addr, 6000), "431");
    s.assert_hit("header_list");
    // The connection and the HPACK state survive: a normal request is served.
    assert_eq!(curl_big_header(s.addr, 100), "200");
}

#[test]
fn a_header_block_in_too_many_continuations_closes_the_connection() {
    // curl sends a 40 kB field (25 kB Huffman-coded) as HEADERS + CONTINUATION (16 kB frames).
    let s = Site::start("max_continuation_frames = 0\nmax_header_list_size = 65536");
    assert_eq!(curl_big_header(s.addr, 40_000), "000");
    s.assert_hit("continuation");
    assert_eq!(curl_big_header(s.addr, 100), "200");
}

#[test]
fn a_ping_flood_gets_enhance_your_calm() {
    let s = Site::start("max_pings = 5");
    let mut c = Raw::connect(s.addr, &[]);
    for i in 0..10u64 {
        c.send(PING, 0, 0, &i.to_be_bytes());
    }
    assert_eq!(c.goaway().1, ENHANCE_YOUR_CALM);
    s.assert_hit("ping_flood");
}

#[test]
fn a_settings_flood_gets_enhance_your_calm() {
    let s = Site::start("max_settings = 5");
    let mut c = Raw::connect(s.addr, &[]);
    for _ in 0..10 {
        c.send(SETTINGS, 0, 0, &[]);
    }
    assert_eq!(c.goaway().1, ENHANCE_YOUR_CALM);
    s.assert_hit("settings_flood");
}

#[test]
fn rapid_reset_gets_enhance_your_calm() {
    let s = Site::start("max_resets = 5");
    let mut c = Raw::connect(s.addr, &[]);
    for i in 0..10u32 {
        let id = 1 + 2 * i;
        c.get(id, true, &[("x-delay-ms", "200")]);
        c.send(RST_STREAM, 0, id, &8u32.to_be_bytes());
    }
    assert_eq!(c.goaway().1, ENHANCE_YOUR_CALM);
    s.assert_hit("rapid_reset");
}

#[test]
fn a_stream_past_max_concurrent_streams_is_refused() {
    let s = Site::start("max_concurrent_streams = 2");
    let mut c = Raw::connect(s.addr, &[]);
    // Two requests whose bodies never come keep their streams open.
    c.get(1, false, &[("content-length", "5")]);
    c.get(3, false, &[("content-length", "5")]);
    c.get(5, true, &[]);
    let (_, p) = c.until(RST_STREAM, Some(5)).expect("stream 5 reset");
    assert_eq!(p, 7u32.to_be_bytes(), "REFUSED_STREAM");
    s.assert_hit("concurrent_streams");
}

#[test]
fn a_response_stalled_on_a_zero_window_is_reset() {
    let s = Site::start("zero_window_timeout = \"1s\"");
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: no stream may receive DATA until a WINDOW_UPDATE.
    let mut c = Raw::connect(s.addr, &[(4, 0)]);
    c.get(1, true, &[("x-size", "100000")]);
    assert!(
        c.until(HEADERS, Some(1)).is_some(),
        "the head is not flow-controlled"
    );
    let (_, p) = c.until(RST_STREAM, Some(1)).expect("stream 1 reset");
    assert_eq!(p, 8u32.to_be_bytes(), "CANCEL");
    s.assert_hit("zero_window");
}

/// What an idle h2 connection costs ringlb, after one request whose fields went into the
/// client's HPACK table (as a browser's user-agent does): RSS growth over 400 of them.
#[test]
fn idle_h2_connections_cost_little_memory() {
    let s = Site::start("");
    let pid = s.lb.pid();
    let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
    let open = |n: usize| -> Vec<Raw> {
        (0..n)
            .map(|_| {
                let mut c = Raw::connect(s.addr, &[]);
                // GET / with user-agent indexed into the dynamic table (literal with
                // incremental indexing, static name 58).
                let mut block = vec![0x82, 0x86, 0x84, 0x01, 9];
                block.extend(b"localhost");
                block.extend([0x40 | 58, ua.len() as u8]);
                block.extend(ua.as_bytes());
                c.send(HEADERS, END_HEADERS | END_STREAM, 1, &block);
                c.until(HEADERS, Some(1)).expect("response");
                c
            })
            .collect()
    };
    let warm = open(50);
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(pid);
    let idle = open(400);
    std::thread::sleep(Duration::from_millis(300));
    let after = rss_kib(pid);
    let per = (after.saturating_sub(before) * 1024) / 400;
    println!(
        "idle h2 connection: {per} bytes of RSS each (400 connections, {before} → {after} KiB)"
    );
    assert!(per < 16 * 1024, "{per} bytes per idle h2 connection");
    drop((warm, idle));
}
