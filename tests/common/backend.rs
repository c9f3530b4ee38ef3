//! Fake upstream servers for ringlb's integration tests, std only.
//!
//! Two kinds, as Envoy's test suite has:
//! - [`Backend`], *autonomous*: a keep-alive HTTP/1.1 server whose behaviour each request picks
//!   through `x-*` headers (delay, status, size, chunked, close, reset, hang, echo);
//! - [`RawBackend`], *scripted*: every accepted connection goes to a closure the test writes
//!   (malformed responses, half a response then a kill, …).
//!
//! Also the wire helpers shared with the client side of `common`: [`Wire`] (a buffered reader
//! that knows heads, chunked framing and Content-Length), [`parse_head`], the body pattern and
//! its FNV-1a checksum.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Bodies asked for with `x-size` repeat these 64 bytes; 64 divides the 64 KiB write size, so
/// every write carries the same slice and offset `i` of any body holds `PATTERN[i % 64]`.
pub const PATTERN: &[u8; 64] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/";

/// Size of each write when streaming large bodies.
const WRITE_CHUNK: usize = 64 * 1024;

/// Longest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// The first `n` bytes of the `x-size` body pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| PATTERN[i % PATTERN.len()]).collect()
}

/// FNV-1a checksum of the first `n` bytes of the pattern, without building them.
pub fn pattern_sum(n: u64) -> u64 {
    let mut sum = Fnv::new();
    let block = pattern(WRITE_CHUNK);
    let mut left = n;
    while left > 0 {
        let take = left.min(WRITE_CHUNK as u64) as usize;
        sum.update(&block[..take]);
        left -= take as u64;
    }
    sum.value()
}

/// Streaming 64-bit FNV-1a, the checksum carried in `X-Body-Sum` (lowercase hex, no prefix).
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Fnv {
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn value(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}

/// FNV-1a of a whole slice.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut sum = Fnv::new();
    sum.update(bytes);
    sum.value()
}

/// A parsed head: start line and headers in order, names as received.
#[derive(Clone, Debug, Default)]
pub struct Head {
    pub start: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// First value of a header, name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header (Connection, Transfer-Encoding) holds `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn is_chunked(&self) -> bool {
        self.has_token("transfer-encoding", "chunked")
    }

    pub fn content_length(&self) -> Result<Option<u64>, String> {
        match self.header("content-length") {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("bad content-length {v:?}")),
        }
    }
}

/// Parses a head (start line, header lines, without the final empty line required).
pub fn parse_head(raw: &[u8]) -> Result<Head, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "head is not UTF-8".to_string())?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().unwrap_or_default().to_string();
    if start.is_empty() {
        return Err("empty start line".into());
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line without colon: {line:?}"))?;
        if name.is_empty() || name.contains(' ') {
            return Err(format!("bad header name {name:?}"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Head { start, headers })
}

/// A buffered reader over a stream that understands HTTP/1 framing.
pub struct Wire<S> {
    pub stream: S,
    buf: Vec<u8>,
    pos: usize,
}

impl<S: Read> Wire<S> {
    pub fn new(stream: S) -> Self {
        Wire {
            stream,
            buf: Vec::with_capacity(WRITE_CHUNK),
            pos: 0,
        }
    }

    /// Bytes read from the stream but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > WRITE_CHUNK {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut tmp = [0u8; 16 * 1024];
        let n = loop {
            match self.stream.read(&mut tmp) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Reads a head up to and including its empty line. `Ok(None)`: the stream ended cleanly
    /// before any byte of a new head.
    pub fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut searched = 0usize;
        loop {
            let avail = &self.buf[self.pos..];
            if let Some(end) = find(&avail[searched.saturating_sub(3)..], b"\r\n\r\n") {
                let end = searched.saturating_sub(3) + end + 4;
                let head = avail[..end].to_vec();
                self.pos += end;
                return Ok(Some(head));
            }
            searched = avail.len();
            if searched > MAX_HEAD {
                return Err(invalid("head too large"));
            }
            if self.fill()? == 0 {
                return if self.buffered().is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stream ended inside a head",
                    ))
                };
            }
        }
    }

    /// Reads one CRLF-terminated line (chunk sizes, trailers), without the CRLF.
    pub fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = find(self.buffered(), b"\n") {
                let line = &self.buf[self.pos..self.pos + end];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let line = String::from_utf8_lossy(line).into_owned();
                self.pos += end + 1;
                return Ok(line);
            }
            if self.buffered().len() > MAX_HEAD {
                return Err(invalid("line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended inside a line",
                ));
            }
        }
    }

    /// Reads exactly `n` bytes, handing them to `sink` piece by piece.
    pub fn read_exact_into(&mut self, mut n: u64, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        while n > 0 {
            if self.buffered().is_empty() && self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("stream ended with {n} body bytes missing"),
                ));
            }
            let take = (self.buffered().len() as u64).min(n) as usize;
            sink(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            n -= take as u64;
        }
        Ok(())
    }

    /// Reads a chunked body including its trailers. Returns the trailer lines.
    pub fn read_chunked_into(&mut self, sink: &mut dyn FnMut(&[u8])) -> io::Result<Vec<String>> {
        loop {
            let line = self.read_line()?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| invalid(&format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                let mut trailers = Vec::new();
                loop {
                    let t = self.read_line()?;
                    if t.is_empty() {
                        return Ok(trailers);
                    }
                    trailers.push(t);
                }
            }
            self.read_exact_into(size, sink)?;
            let end = self.read_line()?;
            if !end.is_empty() {
                return Err(invalid("chunk data not followed by CRLF"));
            }
        }
    }

    /// Reads until the peer closes.
    pub fn read_to_end_into(&mut self, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        loop {
            if !self.buffered().is_empty() {
                sink(&self.buf[self.pos..]);
                self.pos = self.buf.len();
            }
            if self.fill()? == 0 {
                return Ok(());
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Standard reason phrase for the statuses tests use.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Counters and the last head, shared between the test and the server threads.
#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    connections: AtomicU64,
    active: AtomicU64,
    last_head: Mutex<String>,
}

/// Serves one accepted connection; runs in its own thread.
type Handler = Arc<dyn Fn(TcpStream, &Stats) + Send + Sync>;

/// Open connections by id, so `stop` can shut them down.
type OpenSet = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// What both kinds of backend share: the listener thread and the registry of open sockets that
/// `stop` shuts down (this is what releases hanging connections).
struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    open: OpenSet,
    stats: Arc<Stats>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    fn start(bind: SocketAddr, handler: Handler) -> io::Result<Server> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let open: OpenSet = Arc::default();
        let stats: Arc<Stats> = Arc::default();
        let acceptor = {
            let (stopping, open, stats) = (stopping.clone(), open.clone(), stats.clone());
            thread::Builder::new()
                .name(format!("backend-accept-{addr}"))
                .spawn(move || accept_loop(listener, stopping, open, stats, handler))?
        };
        Ok(Server {
            addr,
            stopping,
            open,
            stats,
            acceptor: Some(acceptor),
        })
    }

    fn stop(&mut self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // wake the blocking accept; it sees `stopping` and returns, closing the listener
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for s in lock(&self.open).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        // connection threads notice the shutdown and leave; bounded wait so counters settle
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.stats.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn accept_loop(
    listener: TcpListener,
    stopping: Arc<AtomicBool>,
    open: OpenSet,
    stats: Arc<Stats>,
    handler: Handler,
) {
    let mut next_id = 0u64;
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        if let Ok(clone) = stream.try_clone() {
            lock(&open).insert(id, clone);
        }
        stats.connections.fetch_add(1, Ordering::SeqCst);
        stats.active.fetch_add(1, Ordering::SeqCst);
        let (conn_open, conn_stats, handler) = (open.clone(), stats.clone(), handler.clone());
        let spawned = thread::Builder::new()
            .name(format!("backend-conn-{id}"))
            .spawn(move || {
                handler(stream, &conn_stats);
                lock(&conn_open).remove(&id);
                conn_stats.active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            lock(&open).remove(&id);
            stats.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// An autonomous HTTP/1.1 backend; see the module documentation and [`Backend::start`].
pub struct Backend {
    name: String,
    server: Server,
}

impl Backend {
    /// Starts a backend named `name` on `127.0.0.1:0`.
    ///
    /// Every response carries `Server: NAME`, `X-Backend: NAME`, `X-Body-Len` and `X-Body-Sum`
    /// (length and FNV-1a hex of the request body, `0` and the empty-input sum without one).
    /// The default body is `NAME\n`. Request headers change the behaviour:
    /// - `x-delay-ms: N` wait N ms (after reading the body) before answering;
    /// - `x-status: N` answer with status N;
    /// - `x-size: N` body of N bytes of [`PATTERN`], streamed in 64 KiB writes;
    /// - `x-chunked: 1` answer with `Transfer-Encoding: chunked`;
    /// - `x-close: 1` close the connection after the response;
    /// - `x-reset: 1` read the request, then reset the connection (RST) without answering;
    /// - `x-hang: 1` never answer; the socket stays open until the client closes or `stop`;
    /// - `x-echo-headers: 1` body = the request head exactly as received.
    ///
    /// The trailer lines of a chunked request body come back in `X-Trailers`, joined with
    /// `" | "`.
    /// `Expect: 100-continue` gets `100 Continue` before the body is read. `Connection: close`
    /// and HTTP/1.0 without `Connection: keep-alive` close after the response.
    pub fn start(name: &str) -> Backend {
        Self::start_on(name, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Like [`Backend::start`] on a chosen address, e.g. to bring a stopped backend back on
    /// the same port.
    pub fn start_on(name: &str, addr: SocketAddr) -> Backend {
        let owned = name.to_string();
        let handler = Arc::new(move |s: TcpStream, stats: &Stats| serve_http(&owned, s, stats));
        match Server::start(addr, handler) {
            Ok(server) => Backend {
                name: name.to_string(),
                server,
            },
            Err(e) => panic!("backend {name}: cannot listen on {addr}: {e}"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Request heads received (counted before the body is read).
    pub fn requests(&self) -> u64 {
        self.server.stats.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> u64 {
        self.server.stats.connections.load(Ordering::SeqCst)
    }

    /// TCP connections open now.
    pub fn active(&self) -> u64 {
        self.server.stats.active.load(Ordering::SeqCst)
    }

    /// The last request head as received, final empty line included.
    pub fn last_head(&self) -> String {
        lock(&self.server.stats.last_head).clone()
    }

    /// Stops accepting, closes every open connection (hanging ones too). Idempotent.
    pub fn stop(&mut self) {
        self.server.stop();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One connection of a [`Backend`]: requests until close, error or stop.
fn serve_http(name: &str, stream: TcpStream, stats: &Stats) {
    let mut out = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut wire = Wire::new(stream);
    loop {
        let raw = match wire.read_head() {
            Ok(Some(raw)) => raw,
            Ok(None) => return,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let _ = write_simple(&mut out, 400, name, "head too large\n");
                return;
            }
            Err(_) => return,
        };
        stats.requests.fetch_add(1, Ordering::SeqCst);
        *lock(&stats.last_head) = String::from_utf8_lossy(&raw).into_owned();
        match serve_one(name, &raw, &mut wire, &mut out) {
            Ok(Next::KeepAlive) => continue,
            Ok(Next::Close) => {
                let _ = out.flush();
                let _ = out.shutdown(Shutdown::Write);
                // drain what the client still sends so the close is a FIN, not a RST
                let _ = wire
                    .stream
                    .set_read_timeout(Some(Duration::from_millis(200)));
                let _ = wire.read_to_end_into(&mut |_| {});
                return;
            }
            Ok(Next::Drop) | Err(_) => return,
        }
    }
}

enum Next {
    KeepAlive,
    /// Close after the response, gracefully.
    Close,
    /// Already dealt with (reset, hang, bad request): just drop the socket.
    Drop,
}

fn serve_one(
    name: &str,
    raw: &[u8],
    wire: &mut Wire<TcpStream>,
    out: &mut TcpStream,
) -> io::Result<Next> {
    let head = match parse_head(raw) {
        Ok(h) => h,
        Err(e) => {
            write_simple(out, 400, name, &format!("{e}\n"))?;
            return Ok(Next::Drop);
        }
    };
    let mut parts = head.start.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/1.") => (m, t, v),
        _ => {
            write_simple(out, 400, name, "bad request line\n")?;
            return Ok(Next::Drop);
        }
    };
    let flag = |h: &str| head.header(h).is_some_and(|v| v.trim() == "1");
    let number = |h: &str| head.header(h).and_then(|v| v.trim().parse::<u64>().ok());

    // request body: chunked wins over Content-Length, as RFC 9112 says
    let chunked = head.is_chunked();
    let length = match head.content_length() {
        Ok(l) => l,
        Err(e) => {
            write_simple(out, 400, name, &format!("{e}\n"))?;
            return Ok(Next::Drop);
        }
    };
    let has_body = chunked || length.is_some_and(|l| l > 0);
    if has_body
        && version == "HTTP/1.1"
        && head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body_len = 0u64;
    let mut body_sum = Fnv::new();
    let mut sink = |b: &[u8]| {
        body_len += b.len() as u64;
        body_sum.update(b);
    };
    let mut trailers = Vec::new();
    if chunked {
        match wire.read_chunked_into(&mut sink) {
            Ok(t) => trailers = t,
            Err(_) => {
                let _ = write_simple(out, 400, name, "bad chunked body\n");
                return Ok(Next::Drop);
            }
        }
    } else if let Some(l) = length {
        wire.read_exact_into(l, &mut sink)?;
    }

    if flag("x-reset") {
        reset(out);
        return Ok(Next::Drop);
    }
    if flag("x-hang") {
        // never answer; discard input until the client closes or `stop` shuts the socket
        let _ = wire.read_to_end_into(&mut |_| {});
        return Ok(Next::Drop);
    }
    if let Some(ms) = number("x-delay-ms") {
        thread::sleep(Duration::from_millis(ms));
    }

    let keep_alive = match version {
        "HTTP/1.0" => head.has_token("connection", "keep-alive"),
        _ => !head.has_token("connection", "close"),
    };
    let close = !keep_alive || flag("x-close");
    let status = number("x-status")
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..1000).contains(s))
        .unwrap_or(200);
    let no_body = method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304;
    let chunked_out = flag("x-chunked") && version == "HTTP/1.1";

    let mut resp = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    resp.push_str(&format!("Server: {name}\r\nX-Backend: {name}\r\n"));
    resp.push_str(&format!("X-Path: {target}\r\n"));
    resp.push_str(&format!(
        "X-Body-Len: {body_len}\r\nX-Body-Sum: {:x}\r\n",
        body_sum.value()
    ));
    if !trailers.is_empty() {
        resp.push_str(&format!("X-Trailers: {}\r\n", trailers.join(" | ")));
    }
    if close {
        resp.push_str("Connection: close\r\n");
    } else if version == "HTTP/1.0" {
        resp.push_str("Connection: keep-alive\r\n");
    }

    enum Body<'a> {
        Bytes(&'a [u8]),
        Pattern(u64),
    }
    let greeting = format!("{name}\n");
    let body = if flag("x-echo-headers") {
        Body::Bytes(raw)
    } else if let Some(n) = number("x-size") {
        Body::Pattern(n)
    } else {
        Body::Bytes(greeting.as_bytes())
    };
    let body_size = match body {
        Body::Bytes(b) => b.len() as u64,
        Body::Pattern(n) => n,
    };
    let framed = status >= 200 && status != 204 && status != 304;
    if chunked_out && framed {
        resp.push_str("Transfer-Encoding: chunked\r\n");
    } else if framed {
        resp.push_str(&format!("Content-Length: {body_size}\r\n"));
    }
    resp.push_str("\r\n");
    out.write_all(resp.as_bytes())?;

    if !no_body && framed {
        let block = pattern(WRITE_CHUNK);
        let mut send = |piece: &[u8]| -> io::Result<()> {
            if chunked_out {
                let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
                framed.extend_from_slice(piece);
                framed.extend_from_slice(b"\r\n");
                out.write_all(&framed)
            } else {
                out.write_all(piece)
            }
        };
        match body {
            Body::Bytes(b) => {
                if !b.is_empty() {
                    send(b)?;
                }
            }
            Body::Pattern(mut left) => {
                while left > 0 {
                    let take = left.min(WRITE_CHUNK as u64) as usize;
                    send(&block[..take])?;
                    left -= take as u64;
                }
            }
        }
        if chunked_out {
            out.write_all(b"0\r\n\r\n")?;
        }
    }
    Ok(if close { Next::Close } else { Next::KeepAlive })
}

fn write_simple(out: &mut TcpStream, status: u16, name: &str, body: &str) -> io::Result<()> {
    let resp = format!(
        "HTTP/1.1 {status} {}\r\nServer: {name}\r\nX-Backend: {name}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        reason(status),
        body.len()
    );
    out.write_all(resp.as_bytes())
}

/// Aborts a connection with a RST: `SO_LINGER` 0, then close.
pub fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
    // the caller drops its handles; the last close sends the RST. Shutting down here would send
    // a FIN first, so only the linger is set.
}

/// A scripted backend: each accepted connection is handed to the test's closure, in its own
/// thread. `stop` (or drop) stops accepting and shuts down connections still open.
pub struct RawBackend {
    server: Server,
}

impl RawBackend {
    pub fn start(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> RawBackend {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), handler)
    }

    pub fn start_on(
        addr: SocketAddr,
        handler: impl Fn(TcpStream) + Send + Sync + 'static,
    ) -> RawBackend {
        let handler = Arc::new(move |s: TcpStream, _: &Stats| handler(s));
        match Server::start(addr, handler) {
            Ok(server) => RawBackend { server },
            Err(e) => panic!("raw backend: cannot listen on {addr}: {e}"),
        }
    }

    /// A TCP echo server (for tcp-mode tests): every connection gets back what it sends, and
    /// its write side is shut down when the client shuts down its own.
    pub fn echo() -> RawBackend {
        RawBackend::start(|mut s| {
            if let Ok(mut out) = s.try_clone() {
                let _ = io::copy(&mut s, &mut out);
                let _ = out.shutdown(Shutdown::Write);
            }
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> u64 {
        self.server.stats.connections.load(Ordering::SeqCst)
    }

    /// Connections whose handler has not returned yet.
    pub fn active(&self) -> u64 {
        self.server.stats.active.load(Ordering::SeqCst)
    }

    pub fn stop(&mut self) {
        self.server.stop();
    }
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An address where nothing listens: connecting to it is refused.
#[derive(Clone, Copy, Debug)]
pub struct RefusingAddr(SocketAddr);

impl RefusingAddr {
    /// A port nobody listens on, from [`super::free_addr`] (never handed out twice, kept from
    /// other test processes).
    pub fn new() -> RefusingAddr {
        RefusingAddr(super::free_addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.0
    }
}

impl Default for RefusingAddr {
    fn default() -> Self {
        Self::new()
    }
}
