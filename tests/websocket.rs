//! WebSocket through ringlb: a real WebSocket echo server (raw TCP, RFC 6455 handshake and
//! frames) behind it, a raw Rust client in front, over plain TCP and TLS. The handshake's
//! `101 Switching Protocols` turns the connection into a tunnel: frames both ways, a 16 MiB
//! message, the close handshake, `timeout tunnel`, a reload and a drain while it is open. And
//! what must stay refused: an unsolicited 101, `h2c`, upgrades the frontend does not allow.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::backend::{parse_head, Head};
use common::*;

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

// ---- SHA-1 and the handshake's accept key (RFC 6455 §4.2.2) ---------------------------------

/// SHA-1 (FIPS 180-4), enough for `Sec-WebSocket-Accept`.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn accept_key(key: &str) -> String {
    let mut s = key.as_bytes().to_vec();
    s.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha1(&s))
}

#[test]
fn sha1_and_accept_key_match_the_rfc() {
    let hex: String = sha1(b"abc").iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    // RFC 6455 §1.3's example.
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

// ---- frames -----------------------------------------------------------------------------------

/// Writes one final frame; `mask` for client frames (RFC 6455 §5.3).
fn write_frame(
    w: &mut impl Write,
    op: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> io::Result<()> {
    let mut head = vec![0x80 | op];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => head.push(m | n as u8),
        n if n <= 0xFFFF => {
            head.push(m | 126);
            head.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            head.push(m | 127);
            head.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            head.extend_from_slice(&k);
            let mut body = head;
            body.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            w.write_all(&body)?;
        }
        None => {
            w.write_all(&head)?;
            w.write_all(payload)?;
        }
    }
    w.flush()
}

/// Reads one frame: (opcode, payload unmasked, was masked). Only final frames are used here.
fn read_frame(r: &mut impl Read) -> io::Result<(u8, Vec<u8>, bool)> {
    let mut two = [0u8; 2];
    r.read_exact(&mut two)?;
    assert_eq!(
        two[0] & 0x80,
        0x80,
        "only final frames are sent in these tests"
    );
    let op = two[0] & 0x0F;
    let masked = two[1] & 0x80 != 0;
    let len = match two[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut key = [0u8; 4];
    if masked {
        r.read_exact(&mut key)?;
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload)?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok((op, payload, masked))
}

fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut raw = Vec::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line)? == 0 {
            return if raw.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        let end = line == b"\r\n";
        raw.extend_from_slice(&line);
        if end {
            return parse_head(&raw)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
}

// ---- the echo server --------------------------------------------------------------------------

/// What the server saw, for the tests' assertions.
#[derive(Default)]
struct Seen {
    heads: Vec<Head>,
}

/// A WebSocket echo server on raw TCP. Paths:
/// - `/ws…`: the RFC 6455 handshake (400 if the request is not a valid upgrade), then every
///   text and binary frame comes back, pings get pongs, a close is answered and ends it;
/// - `/unsolicited`: answers `101` to whatever came;
/// - anything else: 200 with a body saying which Upgrade the server received.
fn echo_server(seen: Arc<Mutex<Seen>>) -> RawBackend {
    named_echo_server("ws1", seen)
}

/// An echo server whose answers say `X-Server: NAME`.
fn named_echo_server(name: &'static str, seen: Arc<Mutex<Seen>>) -> RawBackend {
    RawBackend::start(move |stream| {
        let _ = serve_ws(stream, name, &seen);
    })
}

fn serve_ws(stream: TcpStream, name: &str, seen: &Mutex<Seen>) -> io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    while let Some(head) = read_head(&mut r)? {
        seen.lock().unwrap().heads.push(head.clone());
        let path = head.start.split(' ').nth(1).unwrap_or("").to_owned();
        if path == "/unsolicited" {
            out.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            )?;
            return Ok(());
        }
        if !path.starts_with("/ws") {
            let body = format!("upgrade={}", head.header("upgrade").unwrap_or("none"));
            write!(
                out,
                "HTTP/1.1 200 OK\r\nServer: ws1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )?;
            continue;
        }
        let valid = head
            .header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
            && head.has_token("connection", "upgrade")
            && head.header("sec-websocket-version") == Some("13");
        let Some(key) = head.header("sec-websocket-key").filter(|_| valid) else {
            let body = "not a websocket handshake";
            write!(
                out,
                "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )?;
            continue;
        };
        write!(
            out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Server: {name}\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key)
        )?;
        loop {
            let (op, payload, masked) = read_frame(&mut r)?;
            if !masked {
                // RFC 6455 §5.1: a server closes on an unmasked client frame.
                write_frame(&mut out, OP_CLOSE, &1002u16.to_be_bytes(), None)?;
                return Ok(());
            }
            match op {
                OP_CLOSE => {
                    write_frame(&mut out, OP_CLOSE, &payload, None)?;
                    out.shutdown(Shutdown::Write)?;
                    let mut rest = Vec::new();
                    let _ = r.read_to_end(&mut rest);
                    return Ok(());
                }
                OP_PING => write_frame(&mut out, OP_PONG, &payload, None)?,
                _ => write_frame(&mut out, op, &payload, None)?,
            }
        }
    }
    Ok(())
}

// ---- the client -------------------------------------------------------------------------------

/// A WebSocket client over any byte stream (plain TCP or TLS).
struct Ws<S: Read + Write> {
    r: BufReader<S>,
    mask: u8,
}

impl<S: Read + Write> Ws<S> {
    /// Sends the opening handshake and checks the 101 and its accept key.
    fn open(stream: S, path: &str) -> Ws<S> {
        let (ws, head) = Ws::handshake(stream, path, "websocket");
        assert!(head.start.starts_with("HTTP/1.1 101"), "{head:?}");
        assert_eq!(
            head.header("sec-websocket-accept"),
            Some(accept_key(KEY).as_str())
        );
        assert!(head
            .header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket")));
        assert!(head.has_token("connection", "upgrade"), "{head:?}");
        ws
    }

    fn handshake(stream: S, path: &str, protocol: &str) -> (Ws<S>, Head) {
        Ws::handshake_with(stream, path, protocol, "")
    }

    /// The handshake with `extra` header lines (each ending in CRLF).
    fn handshake_with(mut stream: S, path: &str, protocol: &str, extra: &str) -> (Ws<S>, Head) {
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: chat.example\r\nConnection: Upgrade\r\nUpgrade: {protocol}\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        .expect("send handshake");
        let mut r = BufReader::new(stream);
        let head = read_head(&mut r).expect("read 101").expect("a response");
        (Ws { r, mask: 0 }, head)
    }

    fn send(&mut self, op: u8, payload: &[u8]) {
        self.mask = self.mask.wrapping_add(0x35);
        let key = [self.mask, 0xA5, 0x5A ^ self.mask, 0x0F];
        write_frame(self.r.get_mut(), op, payload, Some(key)).expect("send frame");
    }

    fn recv(&mut self) -> (u8, Vec<u8>) {
        let (op, payload, masked) = read_frame(&mut self.r).expect("receive frame");
        assert!(!masked, "server frames are not masked");
        (op, payload)
    }

    fn echo(&mut self, op: u8, payload: &[u8]) {
        self.send(op, payload);
        let (got_op, got) = self.recv();
        assert_eq!(got_op, op);
        assert!(
            got == payload,
            "echo differs ({} bytes sent, {} back)",
            payload.len(),
            got.len()
        );
    }

    /// The close handshake: our close, the server's close back, then the end of the stream.
    fn close(mut self) {
        self.send(OP_CLOSE, &1000u16.to_be_bytes());
        let (op, payload) = self.recv();
        assert_eq!(op, OP_CLOSE);
        assert_eq!(payload, 1000u16.to_be_bytes());
        let mut rest = Vec::new();
        match self.r.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "bytes after the close: {rest:?}"),
            // TLS peers that close without close_notify end like this.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
            Err(e) => panic!("after close: {e}"),
        }
    }
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s
}

/// ringlb with one frontend (access log on stdout) in front of `backend`; `frontend` and
/// `backend` lines go into those sections.
fn start(
    backend: SocketAddr,
    frontend: &str,
    backend_lines: &str,
    global: &str,
) -> (Ringlb, SocketAddr) {
    let port = free_port();
    let lb = Ringlb::start(&config(port, backend, frontend, backend_lines, global));
    (lb, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn config(
    port: u16,
    backend: SocketAddr,
    frontend: &str,
    backend_lines: &str,
    global: &str,
) -> String {
    format!(
        r#"
[global]
workers = 1
{global}
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
log = true
{frontend}
[backend.web]
{backend_lines}
[[backend.web.server]]
name = "ws1"
address = "{backend}"
"#
    )
}

/// The access log line of the request `request_line` (waits for it).
fn log_line(lb: &Ringlb, request_line: &str) -> String {
    let needle = format!("\"{request_line}\"");
    assert!(
        lb.wait_log(&needle, Duration::from_secs(10)),
        "no log line for {request_line}:\n{}",
        lb.stdout()
    );
    lb.stdout()
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_default()
        .to_owned()
}

/// The status, bytes and termination code fields of an httplog line.
fn status_bytes_term(line: &str) -> (u16, u64, String) {
    let before = line.split(" \"").next().unwrap_or("");
    let f: Vec<&str> = before.split_whitespace().collect();
    // … TIMERS STATUS BYTES - - TERM CONNS QUEUES
    let n = f.len();
    assert!(n >= 7, "short log line: {line}");
    (
        f[n - 7]
            .parse()
            .unwrap_or_else(|_| panic!("status in {line}")),
        f[n - 6]
            .parse()
            .unwrap_or_else(|_| panic!("bytes in {line}")),
        f[n - 3].to_owned(),
    )
}

/// A Prometheus sample of the `[stats]` listener at `stats`: the first series named `prefix`
/// whose labels contain `label`.
fn metric(stats: SocketAddr, prefix: &str, label: &str) -> f64 {
    let body = http_get(stats, "/metrics", &[]).body_str().to_owned();
    body.lines()
        .find(|l| l.starts_with(prefix) && l.contains(label))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} for {label}:\n{body}"))
}

// ---- tests ------------------------------------------------------------------------------------

#[test]
fn echo_text_binary_16mib_and_close_handshake() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = echo_server(seen.clone());
    // Short client/server timeouts: the tunnel runs on `timeout tunnel`, not on them.
    let stats = free_addr();
    let (lb, addr) = start(
        server.addr(),
        "timeout = { client = \"1s\" }",
        "timeout = { server = \"1s\" }",
        &format!("[stats]\nbind = \"{stats}\""),
    );
    let mut ws = Ws::open(connect(addr), "/ws/chat");
    ws.echo(OP_TEXT, "hello, ringlb ✓".as_bytes());
    ws.echo(OP_BINARY, &[0, 1, 2, 0xFF, 0xFE, b'\r', b'\n']);
    ws.send(OP_PING, b"p");
    assert_eq!(ws.recv(), (OP_PONG, b"p".to_vec()));
    let big = pattern(16 * 1024 * 1024);
    ws.echo(OP_BINARY, &big);
    // Both directions are in the frontend's and the server's byte counters while the tunnel
    // is still open.
    let mib16 = 16.0 * 1024.0 * 1024.0;
    assert!(metric(stats, "ringlb_frontend_bytes_in_total", "\"www\"") > mib16);
    assert!(metric(stats, "ringlb_frontend_bytes_out_total", "\"www\"") > mib16);
    assert!(metric(stats, "ringlb_server_bytes_in_total", "\"ws1\"") > mib16);
    assert!(metric(stats, "ringlb_server_bytes_out_total", "\"ws1\"") > mib16);
    // Longer than the client and server timeouts, shorter than the tunnel's.
    std::thread::sleep(Duration::from_millis(1500));
    ws.echo(OP_TEXT, b"still here");
    ws.close();

    let heads = &seen.lock().unwrap().heads;
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].header("x-forwarded-for").is_some(),
        "{:?}",
        heads[0]
    );
    let line = log_line(&lb, "GET /ws/chat HTTP/1.1");
    let (status, bytes, term) = status_bytes_term(&line);
    assert_eq!(status, 101, "{line}");
    assert_eq!(term, "----", "{line}");
    assert!(
        bytes > 16 * 1024 * 1024,
        "server→client bytes counted: {line}"
    );
    assert_eq!(
        lb.stdout().matches("\"GET /ws/chat HTTP/1.1\"").count(),
        1,
        "one line"
    );
    // Counted once: the end of the exchange does not add the tunnel's bytes again.
    let out = metric(stats, "ringlb_frontend_bytes_out_total", "\"www\"");
    assert_eq!(out as u64, bytes, "the log line and the counter agree");
}

#[test]
fn half_close_is_passed_on() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = echo_server(seen);
    let (_lb, addr) = start(server.addr(), "", "", "");
    let stream = connect(addr);
    let mut ws = Ws::open(stream.try_clone().expect("clone"), "/ws");
    ws.echo(OP_TEXT, b"before");
    // The client sends its close and stops sending (FIN); the server's close still arrives.
    ws.send(OP_CLOSE, &1000u16.to_be_bytes());
    stream.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(ws.recv(), (OP_CLOSE, 1000u16.to_be_bytes().to_vec()));
    let mut rest = Vec::new();
    ws.r.read_to_end(&mut rest).expect("end of stream");
    assert!(rest.is_empty());
}

#[test]
fn timeout_tunnel_closes_an_idle_tunnel_and_says_so() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = echo_server(seen);
    let (lb, addr) = start(server.addr(), "", "timeout = { tunnel = \"500ms\" }", "");
    let mut ws = Ws::open(connect(addr), "/ws/idle");
    ws.echo(OP_TEXT, b"one message, then silence");
    // Nothing moves: ringlb ends the tunnel and the client sees its stream end.
    let mut rest = Vec::new();
    let got = ws.r.read_to_end(&mut rest);
    assert!(got.is_ok() && rest.is_empty(), "{got:?} {rest:?}");
    let line = log_line(&lb, "GET /ws/idle HTTP/1.1");
    let (status, _, term) = status_bytes_term(&line);
    assert_eq!((status, term.as_str()), (101, "cD--"), "{line}");
}

#[test]
fn a_tunnel_survives_a_reload() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = echo_server(seen);
    let port = free_port();
    let cfg = config(port, server.addr(), "", "", "");
    let mut lb = Ringlb::start(&cfg);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut ws = Ws::open(connect(addr), "/ws/reload");
    ws.echo(OP_TEXT, b"before the reload");
    // A changed config (new timeouts): the open tunnel keeps running on its own snapshot.
    lb.write_config(&config(
        port,
        server.addr(),
        "timeout = { client = \"2s\" }",
        "",
        "",
    ));
    lb.signal(libc::SIGHUP);
    lb.wait_notify("RELOADING=1", Duration::from_secs(5))
        .expect("RELOADING=1");
    lb.wait_notify("READY=1", Duration::from_secs(10))
        .expect("READY=1 after the reload");
    ws.echo(OP_TEXT, b"after the reload");
    ws.echo(OP_BINARY, &pattern(256 * 1024));
    // And new tunnels open on the new snapshot.
    let mut fresh = Ws::open(connect(addr), "/ws/new");
    fresh.echo(OP_TEXT, b"new");
    fresh.close();
    ws.close();
}

#[test]
fn shutdown_drains_an_open_tunnel() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = echo_server(seen);
    let (mut lb, addr) = start(server.addr(), "", "", "grace = \"20s\"");
    let mut ws = Ws::open(connect(addr), "/ws/drain");
    ws.echo(OP_TEXT, b"before SIGTERM");
    lb.signal(libc::SIGTERM);
    lb.wait_notify("STOPPING=1", Duration::from_secs(5))
        .expect("STOPPING=1");
    // Draining: the tunnel is not cut.
    ws.echo(OP_TEXT, b"while draining");
    assert!(lb.is_running());
    ws.close();
    // Its end was the last session: the process exits well before the grace period.
    assert!(
        lb.wait_exit(Duration::from_secs(10)).is_some(),
        "ringlb exits once the tunnel ended"
    );
}

#[test]
fn a_tunnel_through_a_tls_frontend() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = echo_server(seen.clone());
    let dir = unique_dir("ringlb-ws-tls");
    let pem = tls_leaf(&dir);
    let tls_port = free_port();
    let (lb, _) = start(
        server.addr(),
        &format!(
            "[frontend.www.tls]\nbind = \"127.0.0.1:{tls_port}\"\ncertificates = [\"{}\"]",
            pem.display()
        ),
        "",
        "",
    );
    let server_name = rustls::pki_types::ServerName::try_from("ws.example.test").expect("name");
    let conn = rustls::ClientConnection::new(tls_client_config(&dir.join("ca.pem")), server_name)
        .expect("tls");
    let sock = connect(SocketAddr::from(([127, 0, 0, 1], tls_port)));
    let mut ws = Ws::open(rustls::StreamOwned::new(conn, sock), "/ws/tls");
    ws.echo(OP_TEXT, b"over TLS");
    ws.echo(OP_BINARY, &pattern(4 * 1024 * 1024));
    ws.close();
    assert_eq!(
        seen.lock().unwrap().heads[0].header("x-forwarded-proto"),
        Some("https")
    );
    let line = log_line(&lb, "GET /ws/tls HTTP/1.1");
    assert_eq!(status_bytes_term(&line).0, 101, "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_answer_other_than_101_continues_as_http() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = echo_server(seen.clone());
    let (_lb, addr) = start(server.addr(), "", "", "");
    // The server declines the upgrade (a plain 200): the connection stays HTTP, kept alive.
    let (mut ws, head) = Ws::handshake(connect(addr), "/plain", "websocket");
    assert!(head.start.starts_with("HTTP/1.1 200"), "{head:?}");
    let mut body = vec![0u8; head.content_length().unwrap().unwrap() as usize];
    ws.r.read_exact(&mut body).expect("body");
    assert_eq!(
        body, b"upgrade=websocket",
        "the server was offered the upgrade"
    );
    assert!(head.header("upgrade").is_none() && !head.has_token("connection", "upgrade"));
    // A second request on the same client connection.
    ws.r.get_mut()
        .write_all(b"GET /again HTTP/1.1\r\nHost: chat.example\r\n\r\n")
        .expect("send");
    let again = read_head(&mut ws.r).expect("read").expect("response");
    assert!(again.start.starts_with("HTTP/1.1 200"), "{again:?}");
    // A refused handshake (400) is relayed as it is.
    let (_, head) = Ws::handshake(connect(addr), "/ws-bad", "WebSocket, other");
    assert!(head.start.starts_with("HTTP/1.1 400"), "{head:?}");
    let heads = &seen.lock().unwrap().heads;
    assert!(
        heads[0].has_token("connection", "upgrade"),
        "{:?}",
        heads[0]
    );
    // `other` is not allowed, so that request's Upgrade was not forwarded at all.
    assert!(
        heads.last().unwrap().header("upgrade").is_none(),
        "{heads:?}"
    );
}

#[test]
fn an_unsolicited_101_is_refused() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = echo_server(seen);
    let (lb, addr) = start(server.addr(), "", "", "");
    let r = http_get(addr, "/unsolicited", &[]);
    assert_eq!(r.status, 502);
    // An upgrade ringlb does not forward (here: not allowed) is unsolicited for the server too.
    let (_, head) = Ws::handshake(connect(addr), "/unsolicited", "other-protocol");
    assert!(head.start.starts_with("HTTP/1.1 502"), "{head:?}");
    let line = log_line(&lb, "GET /unsolicited HTTP/1.1");
    assert_eq!(status_bytes_term(&line).0, 502, "{line}");
}

#[test]
fn h2c_is_never_forwarded_and_upgrades_can_be_turned_off() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = echo_server(seen.clone());
    let (_lb, addr) = start(server.addr(), "upgrade = [\"websocket\"]", "", "");
    let raw = raw_exchange(
        addr,
        b"GET /h2c HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("upgrade=none"),
        "{text}"
    );
    let h = seen.lock().unwrap().heads.last().cloned().unwrap();
    assert!(
        h.header("http2-settings").is_none() && h.header("upgrade").is_none(),
        "{h:?}"
    );

    // `upgrade = []`: nothing is forwarded; the WebSocket server sees a plain GET.
    let (_lb2, addr2) = start(server.addr(), "upgrade = []", "", "");
    let (_, head) = Ws::handshake(connect(addr2), "/ws", "websocket");
    assert!(head.start.starts_with("HTTP/1.1 400"), "{head:?}");

    // And h2c cannot be allowed.
    let out = Ringlb::run_cli(
        &["check", "-c", "{config}"],
        &config(
            free_port(),
            server.addr(),
            "upgrade = [\"websocket\", \"h2c\"]",
            "",
            "",
        ),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("ringlb.toml:") && err.contains("h2c"), "{err}");
}

// ---- TLS helpers ------------------------------------------------------------------------------

/// A CA and a leaf for `ws.example.test` in `dir` (`ca.pem`); returns the leaf+key PEM.
fn tls_leaf(dir: &std::path::Path) -> std::path::PathBuf {
    let ec = [
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
    ];
    openssl(dir, &[&ec[..], &["ca.key"]].concat());
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=ws test CA",
            "-days",
            "30",
            "-out",
            "ca.pem",
        ],
    );
    openssl(dir, &[&ec[..], &["leaf.key"]].concat());
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/CN=ws.example.test",
            "-out",
            "leaf.csr",
        ],
    );
    std::fs::write(dir.join("leaf.ext"), "subjectAltName=DNS:ws.example.test\n").expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.crt",
        ],
    );
    let mut pem = std::fs::read(dir.join("leaf.crt")).expect("crt");
    pem.extend(std::fs::read(dir.join("leaf.key")).expect("key"));
    let path = dir.join("leaf.pem");
    std::fs::write(&path, pem).expect("pem");
    path
}

#[test]
fn an_imported_haproxy_websocket_route_works() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let ws_server = echo_server(seen);
    let app = Backend::start("app1");
    let port = free_port();
    let dir = unique_dir("ringlb-ws-import");
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    \
             timeout server 30s\n    timeout tunnel 1h\n\n\
             frontend www\n    bind 127.0.0.1:{port}\n    acl is_ws hdr(Upgrade) -i websocket\n    \
             use_backend ws if is_ws\n    default_backend app\n\n\
             backend app\n    server app1 {}\n\n\
             backend ws\n    timeout tunnel 1s\n    server ws1 {}\n",
            app.addr(),
            ws_server.addr()
        ),
    )
    .expect("write haproxy.cfg");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("import-haproxy")
        .arg(&cfg)
        .output()
        .expect("run import-haproxy");
    let toml = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "every line translated: {stderr}\n{toml}"
    );
    assert!(
        toml.contains("tunnel = \"1h\"") && toml.contains("tunnel = \"1s\""),
        "{toml}"
    );
    let lb = Ringlb::start(&toml);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(http_get(addr, "/", &[]).backend(), Some("app1"));
    let mut ws = Ws::open(connect(addr), "/ws/imported");
    ws.echo(OP_TEXT, b"routed by hdr(Upgrade)");
    // The ws backend's own `timeout tunnel 1s` applies: the idle tunnel ends.
    let mut rest = Vec::new();
    assert!(ws.r.read_to_end(&mut rest).is_ok() && rest.is_empty());
    drop(lb);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_handshake_is_balanced_and_persisted_like_any_request() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (a, b) = (
        named_echo_server("wsa", seen.clone()),
        named_echo_server("wsb", seen),
    );
    let port = free_port();
    let lb = Ringlb::start(&format!(
        r#"
[global]
workers = 1
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
[backend.web]
cookie = {{ name = "SRV" }}
[[backend.web.server]]
name = "wsa"
address = "{}"
cookie = "a"
[[backend.web.server]]
name = "wsb"
address = "{}"
cookie = "b"
"#,
        a.addr(),
        b.addr()
    ));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Without a cookie the two servers take turns, and the 101 sets the persistence cookie.
    let mut first = Vec::new();
    for _ in 0..2 {
        let (mut ws, head) = Ws::handshake(connect(addr), "/ws", "websocket");
        assert!(head.start.starts_with("HTTP/1.1 101"), "{head:?}");
        let server = head.header("x-server").unwrap().to_owned();
        let cookie = head.header("set-cookie").unwrap_or_default().to_owned();
        assert!(cookie.starts_with("SRV="), "{head:?}");
        ws.echo(OP_TEXT, server.as_bytes());
        first.push((server, cookie));
    }
    assert_ne!(first[0].0, first[1].0, "balanced: {first:?}");
    // With the cookie, every handshake goes to the server it names.
    let (server, cookie) = &first[1];
    let value = cookie.split(';').next().unwrap();
    for _ in 0..4 {
        let (mut ws, head) = Ws::handshake_with(
            connect(addr),
            "/ws",
            "websocket",
            &format!("Cookie: {value}\r\n"),
        );
        assert_eq!(head.header("x-server"), Some(server.as_str()), "{head:?}");
        ws.echo(OP_BINARY, &[1, 2, 3]);
        ws.close();
    }
    drop(lb);
}

#[test]
fn tcp_mode_idles_out_at_timeout_tunnel_where_one_is_written() {
    let echo = RawBackend::echo();
    let port = free_port();
    let lb = Ringlb::start(&format!(
        r#"
[global]
workers = 1
[frontend.www]
bind = "127.0.0.1:{port}"
mode = "tcp"
default_backend = "web"
timeout = {{ client = "200ms" }}
[backend.web]
mode = "tcp"
timeout = {{ server = "200ms", tunnel = "1500ms" }}
[[backend.web.server]]
name = "echo"
address = "{}"
"#,
        echo.addr()
    ));
    let mut s = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    let mut buf = [0u8; 5];
    s.write_all(b"first").unwrap();
    s.read_exact(&mut buf).unwrap();
    // Idle for longer than client and server: the tunnel timeout governs.
    std::thread::sleep(Duration::from_millis(600));
    s.write_all(b"again").unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"again");
    let mut rest = Vec::new();
    assert!(
        s.read_to_end(&mut rest).is_ok() && rest.is_empty(),
        "closed when idle"
    );
    drop(lb);
}

#[test]
fn a_binary_upgrade_drains_open_tunnels() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = echo_server(seen);
    let (mut lb, addr) = start(server.addr(), "", "", "grace = \"20s\"");
    let mut old = Ws::open(connect(addr), "/ws/old");
    old.echo(OP_TEXT, b"before the upgrade");
    lb.signal(libc::SIGUSR2);
    let msg = lb
        .wait_notify_any("MAINPID=", Duration::from_secs(20))
        .expect("the new process announces MAINPID=");
    let new_pid: u32 = msg
        .lines()
        .find_map(|l| l.strip_prefix("MAINPID="))
        .and_then(|v| v.trim().parse().ok())
        .expect("MAINPID value");
    assert!(lb.wait_log("handed over to process", Duration::from_secs(10)));
    // The old process keeps its open tunnel while it drains.
    old.echo(OP_BINARY, &pattern(1024 * 1024));
    assert!(lb.is_running(), "the old process drains, it does not cut");
    old.close();
    assert!(
        lb.wait_exit(Duration::from_secs(10)).is_some(),
        "the old process exits once its tunnel ended"
    );
    // The new process serves new tunnels.
    let mut fresh = Ws::open(connect(addr), "/ws/new");
    fresh.echo(OP_TEXT, b"to the new process");
    fresh.close();
    signal_pid(new_pid, libc::SIGTERM);
    assert!(wait_until(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{new_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{new_pid}/stat"))
                .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
    }));
}
