//! Reloads at scale: 1,000 reloads (50 of them invalid configs) and 50 binary upgrades under a
//! mixed load — requests on new connections and on kept-alive ones, GET (some with 100 KB
//! bodies) and POST with bodies, WebSocket tunnels — with every failure classified: what the
//! client saw (status, reset, close, timeout), where in the session (connect, sending,
//! waiting for the head, reading the body, in the tunnel), and whose side it was on, from the
//! termination code of ringlb's access log line for that request (each request carries its
//! own id). The test asserts that no failure is on ringlb's side and prints the figures.
//!
//! Latency is recorded for every request and round trip and reported, not asserted (a request
//! slower than the client's 30 s wait is a failure already): percentiles, how many took
//! longer than one second by kind, and the slowest ones with where they were — the process
//! generation, the operation under way (a reload or upgrade command running, a previous
//! generation still draining), a new or kept-alive connection, GET or POST, how long the
//! connect, the send, the wait for the head and the body took, when ringlb read the request's
//! first byte (its access log line), both ends' TCP retransmissions (`ss -ti`), and what the
//! accept queues, the machine and the test process did meanwhile (`soak_support`).

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;
mod soak_support;

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use soak_support::latency::{Latencies, Slow, SlowInfo, Where};
use soak_support::watch::{process_exists, tcp_info, Watch};

const RELOADS: usize = 1000;
/// Every 20th reload is of an invalid config: 50.
const INVALID_EVERY: usize = 20;
/// A binary upgrade after every 20th reload: 50.
const UPGRADE_EVERY: usize = 20;
/// Requests per kept-alive connection before the client opens a new one.
const PER_CONNECTION: usize = 50;
/// Round trips per WebSocket tunnel before the client closes it and opens another; every
/// fifth tunnel is a long one, likely to be open across an upgrade.
const PER_TUNNEL: usize = 20;
const PER_LONG_TUNNEL: usize = 1000;
/// A tunnel ends after this long even if its round trips are not done: well inside the
/// grace period (10 s) of a process that starts draining while it is open, however slowly a
/// loaded machine runs the round trips. A tunnel still open when the grace period ends is cut
/// by design (ringlb logs how many it cut).
const TUNNEL_AT_MOST: Duration = Duration::from_secs(4);
/// Requests completed after each reload and upgrade before the next.
const PER_OPERATION: u64 = 40;
/// How long the client waits for any one read or write: long, so that a machine loaded by
/// other work shows up as delays (counted and printed), not as failures.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One failed request or tunnel, as the client saw it.
#[derive(Debug, Clone)]
struct Failure {
    /// The request's id (in its path, so its access log line can be found).
    id: String,
    /// `new connection`, `kept-alive #N`, `websocket`.
    conn: String,
    method: &'static str,
    /// Where: connect, send, head, body, tunnel.
    phase: &'static str,
    /// What: `status 502`, `reset`, `closed`, `timeout`, `refused`, `bad body`, ….
    what: String,
    /// Seconds since the soak began, and the operation under way then.
    at: f64,
    during: String,
}

/// What the load threads share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    ok: AtomicU64,
    tunnels: AtomicU64,
    round_trips: AtomicU64,
    connections: AtomicU64,
    failures: Mutex<Vec<Failure>>,
    latencies: Latencies,
    /// The operation under way (for the failure records).
    during: Mutex<String>,
    /// Binary upgrades done so far: the generation of the process that accepts.
    generation: AtomicU64,
    /// An admin command (reload or upgrade) is running.
    busy: AtomicBool,
    /// The soak's clock, the processes it serves from, and what it sees on the machine.
    watch: Arc<Watch>,
}

impl Shared {
    /// Records a failure of request `id` (`conn`, `method`) at `phase`.
    fn fail(
        &self,
        (id, conn, method): (&str, &str, &'static str),
        phase: &'static str,
        what: String,
    ) {
        let at = self.since_began();
        let during = self.during.lock().unwrap().clone();
        self.failures.lock().unwrap().push(Failure {
            id: id.to_string(),
            conn: conn.to_string(),
            method,
            phase,
            what,
            at,
            during,
        });
    }

    fn since_began(&self) -> f64 {
        self.watch.since_began()
    }

    fn here(&self) -> Where {
        Where {
            generation: self.generation.load(Ordering::Relaxed),
            during: self.during.lock().unwrap().clone(),
            busy: self.busy.load(Ordering::Relaxed),
            draining: self.watch.draining.load(Ordering::Relaxed) != 0,
        }
    }

    /// Records the latency of an answered request or round trip that started at `started`
    /// (at `start`, `start_at` seconds into the soak); a slow one with its details.
    fn took(&self, started: Instant, start: (Where, f64, SystemTime), info: SlowInfo) {
        let took = started.elapsed();
        self.latencies.record(took, || {
            let (start, start_at, sent) = start;
            Slow {
                id: info.id,
                conn: info.conn,
                method: info.method,
                took,
                steps: info.steps,
                tcp: info.port.map(tcp_info).unwrap_or_else(|| "-".into()),
                sent,
                at: (start_at, self.since_began()),
                start,
                end: self.here(),
            }
        });
    }
}

/// The class of an I/O error as a client sees it.
fn class(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => "reset".into(),
        io::ErrorKind::ConnectionAborted => "aborted".into(),
        io::ErrorKind::UnexpectedEof => "closed".into(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timeout".into(),
        io::ErrorKind::ConnectionRefused => "refused".into(),
        _ => format!("{e}"),
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A response head: status, `Content-Length`, whether the server closes, `X-Body-Len`.
struct Head {
    status: u16,
    length: u64,
    closes: bool,
    body_len: Option<u64>,
}

/// Reads a response head; `UnexpectedEof` if the connection closes first.
fn read_head(r: &mut BufReader<TcpStream>) -> io::Result<Head> {
    let mut head = Head {
        status: 0,
        length: 0,
        closes: false,
        body_len: None,
    };
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        let l = line.trim_end();
        if first {
            head.status = l
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            first = false;
            continue;
        }
        if l.is_empty() {
            return Ok(head);
        }
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => head.length = v.parse().unwrap_or(0),
            "connection" => head.closes = v.eq_ignore_ascii_case("close"),
            "x-body-len" => head.body_len = v.parse().ok(),
            _ => {}
        }
    }
}

/// Sends request number `n` (GET, GET of 100 KB, or POST with a body) on `conn`; `Ok(closes)`.
/// A request to send: its id, its number (which picks the method and body), the connection it
/// goes on, whether it asks to close, extra header lines.
struct Req {
    id: String,
    n: usize,
    label: String,
    close: bool,
    extra: &'static str,
    /// For a request on a new connection: when its connect began, how long it took, and
    /// where the soak was then (the request's latency includes its connect).
    connected: Option<Begun>,
}

/// When and where a request began.
struct Begun {
    at: Instant,
    connect: Option<Duration>,
    start: Where,
    start_at: f64,
}

impl Begun {
    fn now(shared: &Shared) -> Begun {
        Begun {
            at: Instant::now(),
            connect: None,
            start: shared.here(),
            start_at: shared.since_began(),
        }
    }
}

fn exchange(shared: &Shared, conn: &mut BufReader<TcpStream>, r: &Req) -> Result<bool, ()> {
    let n = r.n;
    let begun = match &r.connected {
        Some(b) => Begun {
            at: b.at,
            connect: b.connect,
            start: b.start.clone(),
            start_at: b.start_at,
        },
        None => Begun::now(shared),
    };
    let sent = SystemTime::now();
    let (method, body, size): (&'static str, Vec<u8>, u64) = match n % 6 {
        0 | 3 => ("POST", vec![b'p'; 100 + (n * 37) % 5000], 0),
        5 => ("GET", Vec::new(), 100_000),
        _ => ("GET", Vec::new(), 0),
    };
    let mut req = format!(
        "{method} /load?id={} HTTP/1.1\r\nHost: soak\r\n{}",
        r.id, r.extra
    );
    if size > 0 {
        req.push_str(&format!("x-size: {size}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if r.close {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(&body);
    let sending = Instant::now();
    if let Err(e) = conn.get_mut().write_all(&bytes) {
        shared.fail((&r.id, &r.label, method), "send", class(&e));
        return Err(());
    }
    let waiting = Instant::now();
    let head = match read_head(conn) {
        Ok(h) => h,
        Err(e) => {
            shared.fail((&r.id, &r.label, method), "head", class(&e));
            return Err(());
        }
    };
    let reading = Instant::now();
    let mut left = head.length;
    let mut buf = [0u8; 16 * 1024];
    while left > 0 {
        let want = buf.len().min(left as usize);
        match conn.read(&mut buf[..want]) {
            Ok(0) => {
                shared.fail((&r.id, &r.label, method), "body", "closed".into());
                return Err(());
            }
            Ok(got) => left -= got as u64,
            Err(e) => {
                shared.fail((&r.id, &r.label, method), "body", class(&e));
                return Err(());
            }
        }
    }
    if head.status != 200 {
        shared.fail(
            (&r.id, &r.label, method),
            "head",
            format!("status {}", head.status),
        );
        return Err(());
    }
    let want_len = if size > 0 { 100_000 } else { 0 };
    if head.body_len != Some(body.len() as u64) || (size > 0 && head.length != want_len) {
        shared.fail((&r.id, &r.label, method), "body", "bad body".into());
        return Err(());
    }
    shared.ok.fetch_add(1, Ordering::Relaxed);
    let steps = [
        begun.connect,
        Some(waiting - sending),
        Some(reading - waiting),
        Some(reading.elapsed()),
    ];
    let slow = SlowInfo {
        id: r.id.clone(),
        conn: r.label.clone(),
        method,
        steps,
        port: conn.get_ref().local_addr().ok().map(|a| a.port()),
    };
    shared.took(begun.at, (begun.start, begun.start_at, sent), slow);
    Ok(head.closes)
}

/// Clients on new connections (one request each) or kept-alive ones.
fn http_client(shared: Arc<Shared>, addr: SocketAddr, t: usize, keep_alive: bool) {
    let mut n = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let id = format!("{t}-{n}");
        let mut begun = Begun::now(&shared);
        let stream = match connect(addr) {
            Ok(s) => s,
            Err(e) => {
                shared.fail((&id, "new connection", "GET"), "connect", class(&e));
                n += 1;
                continue;
            }
        };
        begun.connect = Some(begun.at.elapsed());
        let mut begun = Some(begun);
        let mut conn = BufReader::new(stream);
        if !keep_alive {
            let req = Req {
                id,
                n,
                label: "new connection".into(),
                close: true,
                extra: "",
                connected: begun,
            };
            let _ = exchange(&shared, &mut conn, &req);
            n += 1;
            continue;
        }
        for i in 0..PER_CONNECTION {
            if shared.stop.load(Ordering::Relaxed) {
                break;
            }
            // The first request of a kept-alive connection includes its connect.
            let req = Req {
                id: format!("{t}-{n}"),
                n,
                label: format!("kept-alive #{i}"),
                close: false,
                extra: "",
                connected: if i == 0 { begun.take() } else { None },
            };
            n += 1;
            match exchange(&shared, &mut conn, &req) {
                Ok(false) => {}
                // A draining ringlb answers with `Connection: close`: a new connection.
                Ok(true) | Err(()) => break,
            }
        }
    }
}

/// RFC 6455's example key and its accept value.
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// WebSocket tunnels, one after another: handshake, round trips, close.
fn ws_client(shared: Arc<Shared>, addr: SocketAddr) {
    let mut n = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        let id = format!("ws-{n}");
        n += 1;
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let fail = |phase, what| shared.fail((&id, "websocket", "GET"), phase, what);
        let stream = match connect(addr) {
            Ok(s) => s,
            Err(e) => {
                fail("connect", class(&e));
                continue;
            }
        };
        let mut conn = BufReader::new(stream);
        let req = format!(
            "GET /ws?id={id} HTTP/1.1\r\nHost: soak\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        if let Err(e) = conn.get_mut().write_all(req.as_bytes()) {
            fail("send", class(&e));
            continue;
        }
        match read_head(&mut conn) {
            Ok(h) if h.status == 101 => {}
            Ok(h) => {
                fail("head", format!("status {}", h.status));
                continue;
            }
            Err(e) => {
                fail("head", class(&e));
                continue;
            }
        }
        let mut broken = false;
        let trips = if n % 5 == 1 {
            PER_LONG_TUNNEL
        } else {
            PER_TUNNEL
        };
        let opened = Instant::now();
        for i in 0..trips {
            if opened.elapsed() > TUNNEL_AT_MOST {
                break;
            }
            // A masked text frame of 30 bytes; the server echoes the bytes as they come.
            let payload = format!("{id} round trip {i:>8}!!");
            let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
            frame.extend_from_slice(payload.as_bytes());
            let mut back = vec![0u8; frame.len()];
            let trip = Begun::now(&shared);
            let sent = SystemTime::now();
            let res = conn
                .get_mut()
                .write_all(&frame)
                .and_then(|()| conn.read_exact(&mut back));
            match res {
                Ok(()) if back == frame => {
                    shared.round_trips.fetch_add(1, Ordering::Relaxed);
                    let slow = SlowInfo {
                        id: format!("{id} round trip {i}"),
                        conn: "websocket round trip".into(),
                        method: "GET",
                        steps: [None; 4],
                        port: conn.get_ref().local_addr().ok().map(|a| a.port()),
                    };
                    shared.took(trip.at, (trip.start, trip.start_at, sent), slow);
                }
                Ok(()) => {
                    fail("tunnel", "bad echo".into());
                    broken = true;
                    break;
                }
                Err(e) => {
                    fail("tunnel", class(&e));
                    broken = true;
                    break;
                }
            }
        }
        if broken {
            continue;
        }
        // Close: our half first; the server closes after echoing everything.
        let _ = conn.get_ref().shutdown(Shutdown::Write);
        let mut rest = Vec::new();
        match conn.read_to_end(&mut rest) {
            Ok(_) if rest.is_empty() => {
                shared.tunnels.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => fail("tunnel", "bytes after close".into()),
            Err(e) => fail("tunnel", class(&e)),
        }
    }
}

/// A WebSocket server: answers the handshake with 101, then echoes every byte until EOF.
fn ws_backend() -> RawBackend {
    RawBackend::start(|stream: TcpStream| {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let mut r = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {WS_ACCEPT}\r\n\r\n"
        );
        if r.get_mut().write_all(head.as_bytes()).is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if r.get_mut().write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = r.get_ref().shutdown(Shutdown::Both);
    })
}

/// One admin command over the socket: output lines and the result.
fn admin(sock: &Path, line: &str) -> (Vec<String>, Result<(), String>) {
    let mut s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("admin socket: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    writeln!(s, "{line}").unwrap();
    let mut lines = Vec::new();
    for l in BufReader::new(s).lines() {
        let l = l.unwrap_or_else(|e| panic!("admin {line}: {e}"));
        if l == "OK" {
            return (lines, Ok(()));
        }
        if let Some(e) = l.strip_prefix("ERROR") {
            return (lines, Err(e.trim().to_string()));
        }
        lines.push(l);
    }
    (lines, Err("closed without a result".into()))
}

fn config(
    sock: &Path,
    www: u16,
    ws: u16,
    servers: &[(&str, SocketAddr)],
    wsb: SocketAddr,
) -> String {
    let mut s = format!(
        "[global]\nworkers = 2\ngrace = \"10s\"\nadmin_socket = \"{}\"\n\
         [frontend.www]\nbind = \"127.0.0.1:{www}\"\ndefault_backend = \"web\"\nlog = true\n\
         [frontend.www.timeout]\nhttp_keep_alive = \"5s\"\n\
         [frontend.ws]\nbind = \"127.0.0.1:{ws}\"\ndefault_backend = \"ws\"\nlog = true\n\
         [backend.ws]\n[[backend.ws.server]]\nname = \"echo\"\naddress = \"{wsb}\"\n\
         [backend.web]\nretries = 2\nredispatch = true\n",
        sock.display()
    );
    for (name, addr) in servers {
        s.push_str(&format!(
            "[[backend.web.server]]\nname = \"{name}\"\naddress = \"{addr}\"\n"
        ));
    }
    s
}

/// The access log line of request `id` (its path carries `id=ID`): (status, termination code).
fn logged(log: &str, id: &str) -> Option<(u16, String)> {
    let needle = format!("id={id} HTTP/1.1\"");
    let line = log.lines().find(|l| l.contains(&needle))?;
    let before = line.split(" \"").next().unwrap_or("");
    let f: Vec<&str> = before.split_whitespace().collect();
    let n = f.len();
    if n < 7 {
        return None;
    }
    Some((f[n - 7].parse().unwrap_or(0), f[n - 3].to_string()))
}

/// Whose side a failure is on, from its log line: the termination code's first letter says
/// who ended the exchange early (S/s: the server; C/c: the client; P: ringlb); a failure the
/// log calls a normal end (`--`), or that left no log line at all, is ringlb's.
fn side(log_entry: &Option<(u16, String)>) -> &'static str {
    match log_entry {
        Some((_, t)) if t.starts_with(['S', 's']) => "backend",
        Some((_, t)) if t.starts_with(['C', 'c']) => "client",
        _ => "ringlb",
    }
}

#[test]
fn soak_1000_reloads_and_50_upgrades_under_mixed_load() {
    let web1 = Backend::start("web1");
    let web2 = Backend::start("web2");
    let wsb = ws_backend();
    let (www, ws) = (free_port(), free_port());
    let sock: PathBuf = unique_dir("ringlb-soak").join("admin.sock");
    let one = config(&sock, www, ws, &[("web1", web1.addr())], wsb.addr());
    let two = config(
        &sock,
        www,
        ws,
        &[("web1", web1.addr()), ("web2", web2.addr())],
        wsb.addr(),
    );
    let broken = format!("{one}\n[backend.web.oops]\n");
    let mut lb = Ringlb::start(&one);

    let shared = Arc::new(Shared::default());
    shared.watch.serving.store(lb.pid(), Ordering::Relaxed);
    let www_addr = SocketAddr::from(([127, 0, 0, 1], www));
    let ws_addr = SocketAddr::from(([127, 0, 0, 1], ws));
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    for t in 0..4 {
        let s = shared.clone();
        threads.push(std::thread::spawn(move || {
            http_client(s, www_addr, t, t % 2 == 1)
        }));
    }
    {
        let s = shared.clone();
        threads.push(std::thread::spawn(move || ws_client(s, ws_addr)));
    }
    let backends = [web1.addr(), web2.addr(), wsb.addr()].map(|a| a.port());
    let watchers = shared.watch.spawn(vec![www, ws], backends.to_vec());

    // The classifier's own check: requests the backend resets must come out as the backend's.
    *shared.during.lock().unwrap() = "probe".into();
    for k in 0..3 {
        let mut conn = BufReader::new(connect(www_addr).unwrap());
        let req = Req {
            id: format!("probe-{k}"),
            n: 1,
            label: "new connection".into(),
            close: true,
            extra: "x-reset: 1\r\n",
            connected: None,
        };
        let r = exchange(&shared, &mut conn, &req);
        assert!(r.is_err(), "a reset request fails");
    }

    let began = Instant::now();
    let (mut reloads_ok, mut reloads_refused, mut upgrades) = (0usize, 0usize, 0usize);
    let mut pid = lb.pid();
    let mut draining: Option<u32> = None;
    let mut longest_drain = Duration::ZERO;
    for i in 0..RELOADS {
        let invalid = i % INVALID_EVERY == INVALID_EVERY - 1;
        lb.write_config(if invalid {
            &broken
        } else if i % 2 == 0 {
            &two
        } else {
            &one
        });
        *shared.during.lock().unwrap() = format!("reload {i}");
        shared.busy.store(true, Ordering::Relaxed);
        let (lines, res) = admin(&sock, "reload");
        shared.busy.store(false, Ordering::Relaxed);
        // Read the sd_notify messages as systemd does (two per reload).
        lb.notify_messages();
        if invalid {
            let e = res.expect_err("an invalid config is refused");
            assert!(
                e.contains("previous config still serving"),
                "{e}: {lines:?}"
            );
            reloads_refused += 1;
        } else {
            res.unwrap_or_else(|e| panic!("reload {i}: {e} {lines:?}"));
            reloads_ok += 1;
        }
        // Each operation under load: some requests complete before the next one.
        let seen = shared.ok.load(Ordering::Relaxed);
        assert!(
            wait_until(Duration::from_secs(10), || shared
                .ok
                .load(Ordering::Relaxed)
                >= seen + PER_OPERATION),
            "traffic flows after reload {i}"
        );
        if i % UPGRADE_EVERY == UPGRADE_EVERY / 2 {
            // At most two generations: the previous upgrade's process must have drained.
            if let Some(old) = draining.take() {
                let t = Instant::now();
                assert!(
                    wait_until(Duration::from_secs(30), || !process_exists(old)),
                    "process {old} drains and exits"
                );
                longest_drain = longest_drain.max(t.elapsed());
            }
            *shared.during.lock().unwrap() = format!("upgrade {upgrades} (after reload {i})");
            shared.busy.store(true, Ordering::Relaxed);
            let (lines, res) = admin(&sock, "upgrade");
            shared.busy.store(false, Ordering::Relaxed);
            lb.notify_messages();
            res.unwrap_or_else(|e| panic!("upgrade {upgrades}: {e}"));
            let new_pid: u32 = lines
                .iter()
                .find_map(|l| l.strip_prefix("new process "))
                .and_then(|r| r.split(' ').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("new pid in {lines:?}"));
            assert_ne!(new_pid, pid);
            draining = Some(pid);
            shared.watch.draining.store(pid, Ordering::Relaxed);
            shared.watch.serving.store(new_pid, Ordering::Relaxed);
            shared.generation.fetch_add(1, Ordering::Relaxed);
            pid = new_pid;
            upgrades += 1;
            let (seen, trips) = (
                shared.ok.load(Ordering::Relaxed),
                shared.round_trips.load(Ordering::Relaxed),
            );
            assert!(
                wait_until(Duration::from_secs(10), || shared
                    .ok
                    .load(Ordering::Relaxed)
                    >= seen + PER_OPERATION
                    && shared.round_trips.load(Ordering::Relaxed) > trips),
                "traffic flows after upgrade {upgrades}"
            );
        }
    }
    *shared.during.lock().unwrap() = "after the last operation".into();
    let ops_took = began.elapsed();
    // A last round of traffic on the final process, then stop the clients.
    let before = shared.ok.load(Ordering::Relaxed);
    assert!(
        wait_until(Duration::from_secs(10), || shared
            .ok
            .load(Ordering::Relaxed)
            > before + 100),
        "traffic flows after the last operation"
    );
    shared.stop.store(true, Ordering::Relaxed);
    shared.watch.stop.store(true, Ordering::Relaxed);
    for t in threads.into_iter().chain(watchers) {
        t.join().unwrap();
    }
    let took = began.elapsed();
    if let Some(old) = draining {
        assert!(wait_until(Duration::from_secs(30), || !process_exists(old)));
    }
    // Stopped before the log is read: every access log line is written by then.
    assert!(process_exists(pid), "the newest process serves");
    signal_pid(pid, libc::SIGTERM);
    assert!(wait_until(Duration::from_secs(30), || !process_exists(pid)));

    // Classify every failure from the access log of all generations (they share stdout).
    let log = lb.stdout();
    // Sessions a draining process cut when its grace period ended write no access log line;
    // its event line says how many.
    let cut: usize = lb
        .stderr()
        .lines()
        .filter_map(|l| l.split(" over: closing ").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse::<usize>().ok())
        .sum();
    let mut by_class: BTreeMap<String, usize> = BTreeMap::new();
    let mut ringlb_side = Vec::new();
    let failures = shared.failures.lock().unwrap().clone();
    let mut probes = Vec::new();
    for f in &failures {
        let entry = logged(&log, &f.id);
        let who = side(&entry);
        if f.id.starts_with("probe-") {
            probes.push(format!("{who}: {} at {} ({entry:?})", f.what, f.phase));
            continue;
        }
        let code = entry
            .as_ref()
            .map(|(st, t)| format!("logged {st} {t}"))
            .unwrap_or_else(|| {
                if cut > 0 {
                    format!("not logged; {cut} sessions were cut at the end of a grace period")
                } else {
                    "not logged".into()
                }
            });
        *by_class
            .entry(format!(
                "{who}: {} ({}): {} at {} ({code})",
                f.method, f.conn, f.what, f.phase
            ))
            .or_default() += 1;
        if who == "ringlb" {
            ringlb_side.push(format!(
                "{} at {:.2}s during {}: {} {} {} at {} ({code})",
                f.id, f.at, f.during, f.method, f.conn, f.what, f.phase
            ));
        }
    }
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut lines = 0usize;
    for l in log.lines().filter(|l| l.contains(" HTTP/1.1\"")) {
        lines += 1;
        let before = l.split(" \"").next().unwrap_or("");
        let f: Vec<&str> = before.split_whitespace().collect();
        if f.len() >= 7 {
            *codes.entry(f[f.len() - 3].to_string()).or_default() += 1;
        }
    }
    let failures: Vec<Failure> = failures
        .into_iter()
        .filter(|f| !f.id.starts_with("probe-"))
        .collect();
    let ok = shared.ok.load(Ordering::Relaxed);
    let requests = ok + failures.iter().filter(|f| f.conn != "websocket").count() as u64;
    println!("soak: classifier probes (backend resets): {probes:?}");
    println!("soak: sessions cut at the end of a grace period (ringlb's event lines): {cut}");
    assert_eq!(probes.len(), 3, "{probes:?}");
    assert!(
        probes.iter().all(|p| p.starts_with("backend: status 502")),
        "a reset by the backend is the backend's: {probes:?}"
    );
    println!(
        "soak: {reloads_ok} reloads + {reloads_refused} invalid refused, {upgrades} binary upgrades; \
         operations took {:.1?}, whole run {:.1?} (longest wait for a drained process {:.1?})",
        ops_took, took, longest_drain
    );
    println!(
        "soak: {requests} HTTP requests ({ok} answered 200 with the right body) on {} connections; \
         {} WebSocket tunnels with {} round trips; {} failures",
        shared.connections.load(Ordering::Relaxed),
        shared.tunnels.load(Ordering::Relaxed),
        shared.round_trips.load(Ordering::Relaxed),
        failures.len()
    );
    println!(
        "soak: access log: {lines} lines for {requests} requests + {} tunnels + 3 probes; termination codes {codes:?}",
        shared.tunnels.load(Ordering::Relaxed)
    );
    println!(
        "soak: backends: web1 {} requests on {} connections, web2 {} on {}, WebSocket echo {} connections",
        web1.requests(),
        web1.connections(),
        web2.requests(),
        web2.connections(),
        wsb.connections()
    );
    shared.latencies.report(&log, &shared.watch);
    for (class, n) in &by_class {
        println!("soak: failure class {n} × {class}");
    }
    assert_eq!((reloads_ok, reloads_refused, upgrades), (950, 50, 50));
    assert!(requests > 10_000, "the load ran: {requests} requests");
    assert!(shared.tunnels.load(Ordering::Relaxed) > 0, "tunnels ran");
    // A line lost is a request the classifier would blame on ringlb; a process exiting after
    // its drain lost its last lines before they were written.
    let tunnels = shared.tunnels.load(Ordering::Relaxed);
    assert!(
        lines as u64 >= ok + tunnels + 3,
        "every answered request, tunnel and probe has its access log line: {lines} lines for {ok} + {tunnels} + 3"
    );
    assert!(
        web2.requests() > 0,
        "the server added by reloads took traffic"
    );
    assert!(
        ringlb_side.is_empty(),
        "{} failures on ringlb's side: {:#?}",
        ringlb_side.len(),
        ringlb_side
    );
}
