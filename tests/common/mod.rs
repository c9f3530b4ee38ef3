#![allow(dead_code)]
// each test binary uses a subset of these helpers and re-exports
#![allow(unused_imports)]
//! Shared helpers of ringlb's integration tests (`tests/*.rs` each say `mod common;`).
//!
//! - [`backend`]: fake upstream servers ([`Backend`], [`RawBackend`], [`RefusingAddr`]);
//! - [`Ringlb`]: runs the real binary on a config written to a temp dir and waits for
//!   `READY=1` on a `NOTIFY_SOCKET` it owns, as systemd does;
//! - clients: [`http_get`], [`http_request`], keep-alive [`Client`], [`raw_exchange`];
//! - [`free_port`], [`wait_until`].
//!
//! Everything is std plus `libc` (signals) and `socket2` (RST), both normal dependencies.
//! No fixed ports: [`free_port`] hands out each port once, below the ephemeral range, locked
//! against other test processes; backends bind `127.0.0.1:0`.

pub mod backend;
pub mod conf;
pub mod load;

pub use backend::{fnv, pattern, pattern_sum, Backend, Fnv, RawBackend, RefusingAddr, PATTERN};

use backend::{parse_head, Head, Wire};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long `Ringlb::start` waits for `READY=1`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `Ringlb::stop` waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Read/write timeout of the client helpers, so a broken proxy fails a test instead of hanging.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where [`free_port`] looks: below the kernel's ephemeral range (`ip_local_port_range`,
/// 32768–60999 by default), so neither a `bind(:0)` nor the source port of an outgoing
/// connection, in this process or another, can take a port between the moment it is handed
/// out and the moment ringlb binds it.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// Ports handed out by [`free_port`] in this process, each with the lock file that keeps it
/// from every other test process for as long as this one lives (`flock` locks end with the
/// process, so a crashed run leaves nothing reserved).
static HANDED_OUT: std::sync::Mutex<Vec<(u16, File)>> = std::sync::Mutex::new(Vec::new());

/// A port nobody listens on, never handed out before by this process, and reserved against
/// every other test process that uses this helper at the same time.
///
/// Binding `127.0.0.1:0` and closing lets the kernel hand the same port to the next caller,
/// and a proxy_protocol test once got one port for two listeners under load. Here each process
/// starts at its own place in [`TEST_PORTS`] (from its pid), walks it, and takes a port when
/// (1) it has not handed it out already, (2) it gets the exclusive lock of the port's file in
/// `$TMPDIR/ringlb-test-ports/` (another process holds it for its own test), and (3) a TCP and
/// a UDP socket can bind it on 127.0.0.1 (nothing else uses it now).
pub fn free_port() -> u16 {
    let dir = std::env::temp_dir().join("ringlb-test-ports");
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot make the port lock dir {}: {e}", dir.display()));
    let mut taken = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    // Spread processes apart (a multiplicative hash of the pid), then go on from the last port
    // handed out, so a process's ports are consecutive and rarely meet another's.
    let start = match taken.last() {
        Some((p, _)) => u32::from(p - TEST_PORTS.start) + 1,
        None => std::process::id().wrapping_mul(2_654_435_761) % span,
    };
    for i in 0..span {
        let port = TEST_PORTS.start + ((start + i) % span) as u16;
        if taken.iter().any(|(p, _)| *p == port) {
            continue;
        }
        let path = dir.join(port.to_string());
        let Ok(lock) = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        if !try_flock(&lock) {
            continue;
        }
        let free = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
        if free {
            taken.push((port, lock));
            return port;
        }
    }
    panic!(
        "no free port in {TEST_PORTS:?}: {} handed out by this process",
        taken.len()
    )
}

/// Takes the exclusive `flock` of `file` without waiting; false when another open file holds it.
pub fn try_flock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) takes a descriptor `file` keeps open for the call and touches no memory
    // of ours.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    rc == 0
}

/// `127.0.0.1:PORT` with a free port, for a ringlb listener.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns its last value.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh directory under the system temp dir, unique per process and call.
pub fn unique_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos:x}", std::process::id()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A running `ringlb run -c FILE` process.
///
/// The config, stdout and stderr live in [`Ringlb::dir`]. When a test panics while this is
/// alive, Drop prints both logs and keeps the directory; otherwise Drop stops the process and
/// removes the directory.
pub struct Ringlb {
    child: Child,
    dir: PathBuf,
    config: PathBuf,
    notify: UnixDatagram,
    /// Every sd_notify datagram received so far, in order.
    seen: Vec<String>,
    /// Index in `seen` of the first message `notify_messages` has not returned yet.
    unread: usize,
    exit: Option<ExitStatus>,
}

impl Ringlb {
    /// Writes `config_toml` to a temp file, starts ringlb on it and waits (10 s) for `READY=1`.
    /// Panics, printing the logs, if ringlb exits or stays silent.
    pub fn start(config_toml: &str) -> Ringlb {
        match Self::try_start(config_toml) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Ringlb::start`] but returns the failure (with the logs) instead of panicking.
    pub fn try_start(config_toml: &str) -> Result<Ringlb, String> {
        Self::try_start_wrapped(config_toml, &[])
    }

    /// Like [`Ringlb::start`], with the command run through `wrapper`, a program that execs its
    /// arguments (so the pid stays ringlb's), e.g. `&["prlimit", "--nofile=256:256", "--"]`.
    pub fn start_wrapped(config_toml: &str, wrapper: &[&str]) -> Ringlb {
        Self::try_start_wrapped(config_toml, wrapper).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_start_wrapped(config_toml: &str, wrapper: &[&str]) -> Result<Ringlb, String> {
        let dir = unique_dir("ringlb-test");
        let config = dir.join("ringlb.toml");
        let notify_path = dir.join("notify.sock");
        fs::write(&config, config_toml).map_err(|e| format!("write config: {e}"))?;
        let notify =
            UnixDatagram::bind(&notify_path).map_err(|e| format!("bind notify socket: {e}"))?;
        // ringlb may switch to an unprivileged user before it reports READY=1.
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&notify_path, fs::Permissions::from_mode(0o777));
        }
        let stdout = File::create(dir.join("stdout.log")).map_err(|e| e.to_string())?;
        let stderr = File::create(dir.join("stderr.log")).map_err(|e| e.to_string())?;
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_ringlb"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_ringlb")),
        };
        let child = cmd
            .arg("run")
            .arg("-c")
            .arg(&config)
            .env("NOTIFY_SOCKET", &notify_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn ringlb: {e}"))?;
        let mut r = Ringlb {
            child,
            dir,
            config,
            notify,
            seen: Vec::new(),
            unread: 0,
            exit: None,
        };
        match r.wait_notify("READY=1", READY_TIMEOUT) {
            Some(_) => Ok(r),
            None => {
                let why = match r.child.try_wait() {
                    Ok(Some(status)) => format!("ringlb exited with {status} before READY=1"),
                    _ => format!("no READY=1 within {READY_TIMEOUT:?}"),
                };
                r.kill();
                // The logs travel in the error; the directory goes with `r` (tests that
                // expect a refused start would otherwise leave one behind each run).
                Err(format!("{why}\n{}", r.logs()))
            }
        }
    }

    /// Directory holding the config, logs and notify socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Replaces the config file (for reload tests: then `signal(libc::SIGHUP)`).
    pub fn write_config(&self, config_toml: &str) {
        fs::write(&self.config, config_toml)
            .unwrap_or_else(|e| panic!("write {}: {e}", self.config.display()));
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` (e.g. `libc::SIGHUP`) to the ringlb process.
    pub fn signal(&self, sig: i32) {
        signal_pid(self.child.id(), sig);
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exit = Some(status);
                false
            }
            _ => true,
        }
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_until(timeout, || !self.is_running());
        self.exit
    }

    /// SIGTERM, then up to 10 s for a graceful exit, then SIGKILL. Returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if self.is_running() {
            self.signal(libc::SIGTERM);
            if self.wait_exit(STOP_TIMEOUT).is_none() {
                eprintln!("ringlb (pid {}) ignored SIGTERM; killing it", self.pid());
                self.kill();
            }
        }
        self.exit
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.exit = Some(status);
            }
        }
    }

    /// sd_notify datagrams received since the previous call, waiting for none.
    pub fn notify_messages(&mut self) -> Vec<String> {
        self.drain_notify(None);
        let new = self.seen[self.unread..].to_vec();
        self.unread = self.seen.len();
        new
    }

    /// Every sd_notify datagram received so far (including `READY=1`).
    pub fn notify_history(&mut self) -> Vec<String> {
        self.drain_notify(None);
        self.seen.clone()
    }

    /// Waits up to `timeout` for a datagram containing `needle` that `notify_messages` has not
    /// returned yet; marks everything up to it as read and returns it.
    pub fn wait_notify(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = &self.seen[self.unread..];
            if let Some(i) = pending.iter().position(|m| m.contains(needle)) {
                let found = pending[i].clone();
                self.unread += i + 1;
                return Some(found);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            if !self.is_running() {
                // one last look at what it sent before exiting
                let before = self.seen.len();
                self.drain_notify(None);
                if self.seen.len() == before {
                    return None;
                }
                continue;
            }
            // short slices so an early exit of ringlb is noticed
            self.drain_notify(Some((deadline - now).min(Duration::from_millis(100))));
        }
    }

    /// Like [`Ringlb::wait_notify`], but keeps waiting when the process this harness started
    /// has exited: after a binary upgrade the messages come from its successors.
    pub fn wait_notify_any(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = &self.seen[self.unread..];
            if let Some(i) = pending.iter().position(|m| m.contains(needle)) {
                let found = pending[i].clone();
                self.unread += i + 1;
                return Some(found);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.drain_notify(Some((deadline - now).min(Duration::from_millis(100))));
        }
    }

    /// Reads pending datagrams into `seen`; with `Some(t)` waits up to `t` for the first.
    fn drain_notify(&mut self, wait: Option<Duration>) {
        let mut buf = vec![0u8; 4096];
        let mut first = wait;
        loop {
            let res = match first.take() {
                Some(t) => {
                    let _ = self.notify.set_nonblocking(false);
                    let _ = self
                        .notify
                        .set_read_timeout(Some(t.max(Duration::from_millis(1))));
                    self.notify.recv(&mut buf)
                }
                None => {
                    let _ = self.notify.set_nonblocking(true);
                    self.notify.recv(&mut buf)
                }
            };
            match res {
                Ok(n) => self
                    .seen
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(_) => return,
            }
        }
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Waits up to `timeout` for `needle` to appear in stdout or stderr.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.stderr().contains(needle) || self.stdout().contains(needle)
        })
    }

    fn logs(&self) -> String {
        format!(
            "----- ringlb stdout -----\n{}\n----- ringlb stderr -----\n{}\n-------------------------",
            self.stdout(),
            self.stderr()
        )
    }

    /// Runs the binary to completion with `args`, where the argument `{config}` is replaced by
    /// the path of a temp file holding `config_toml` (e.g. `&["check", "-c", "{config}"]`).
    pub fn run_cli(args: &[&str], config_toml: &str) -> Output {
        let dir = unique_dir("ringlb-cli");
        let config = dir.join("ringlb.toml");
        fs::write(&config, config_toml).unwrap_or_else(|e| panic!("write config: {e}"));
        let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
            .args(args.iter().map(|a| {
                if *a == "{config}" {
                    config.as_os_str().to_owned()
                } else {
                    a.into()
                }
            }))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run ringlb: {e}"));
        let _ = fs::remove_dir_all(&dir);
        out
    }
}

impl Drop for Ringlb {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        if panicking {
            eprintln!(
                "ringlb (pid {}) logs, kept in {}:\n{}",
                self.child.id(),
                self.dir.display(),
                self.logs()
            );
            self.kill();
            return;
        }
        if self.exit.is_none() {
            self.stop();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Sends a signal to a process.
pub fn signal_pid(pid: u32, sig: i32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; the pid is a child we
    // spawned and have not reaped (reaping happens only in `Ringlb::is_running`/`kill`).
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        eprintln!("kill({pid}, {sig}): {}", io::Error::last_os_error());
    }
}

/// A parsed HTTP response.
#[derive(Clone, Debug, Default)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Headers in order, names as received.
    pub headers: Vec<(String, String)>,
    /// The body, empty when the client was told not to keep bodies (see [`Client::keep_body`]).
    pub body: Vec<u8>,
    /// Body length and FNV-1a sum, always computed (compare with [`pattern_sum`]).
    pub body_len: u64,
    pub body_sum: u64,
    /// Statuses of interim (1xx) responses that came before this one, e.g. `[100]`.
    pub interim: Vec<u16>,
    /// Trailer lines of a chunked body.
    pub trailers: Vec<String>,
    /// Whether the body was chunked.
    pub chunked: bool,
}

impl Response {
    /// First value of a header, case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `X-Backend` header: which fake backend answered.
    pub fn backend(&self) -> Option<&str> {
        self.header("x-backend")
    }

    /// Whether the server announced it closes the connection.
    pub fn closes(&self) -> bool {
        self.header_all("connection")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("close"))
    }
}

/// `GET path` with `Connection: close` on a fresh connection. Panics on I/O errors.
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    try_http_get(addr, path, headers).unwrap_or_else(|e| panic!("GET {path} via {addr}: {e}"))
}

pub fn try_http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    http_request(addr, "GET", path, headers, b"")
}

/// One request on a fresh connection with `Connection: close`; a non-empty `body` is sent
/// with its Content-Length.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut client = Client::connect(addr)?;
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("connection"))
    {
        all.push(("Connection", "close"));
    }
    client.request(method, path, &all, body)
}

/// A keep-alive HTTP/1.1 client: several requests, one connection.
pub struct Client {
    wire: Wire<TcpStream>,
    out: TcpStream,
    /// Host header value.
    host: String,
    keep_body: bool,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        Self::from_stream(addr, TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?)
    }

    /// Connects from a chosen source address (any of 127.0.0.0/8 works on loopback), for
    /// tests of per-client behaviour such as `balance = "source"`.
    pub fn connect_from(addr: SocketAddr, source: std::net::IpAddr) -> io::Result<Client> {
        let domain = socket2::Domain::for_address(addr);
        let sock = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
        sock.bind(&SocketAddr::new(source, 0).into())?;
        sock.connect_timeout(&addr.into(), CLIENT_TIMEOUT)?;
        Self::from_stream(addr, sock.into())
    }

    fn from_stream(addr: SocketAddr, stream: TcpStream) -> io::Result<Client> {
        stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        let _ = stream.set_nodelay(true);
        let out = stream.try_clone()?;
        Ok(Client {
            wire: Wire::new(stream),
            out,
            host: addr.to_string(),
            keep_body: true,
        })
    }

    /// Whether responses keep their body bytes (default) or only length and checksum (for
    /// large downloads).
    pub fn keep_body(&mut self, keep: bool) -> &mut Self {
        self.keep_body = keep;
        self
    }

    pub fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        self.out.set_read_timeout(Some(t))
    }

    /// The socket, for tests that poke at it (shutdown, peer address, …).
    pub fn stream(&self) -> &TcpStream {
        &self.out
    }

    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.request("GET", path, &[], b"")
    }

    /// Sends a request and reads its response. Adds `Host` unless given, and `Content-Length`
    /// for a non-empty body unless a framing header is given.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        self.send(method, path, headers, body)?;
        self.read_response(method.eq_ignore_ascii_case("HEAD"))
    }

    /// Sends a request without reading the response (pipelining, or 100-continue tests).
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut req = format!("{method} {path} HTTP/1.1\r\n");
        if !has("host") {
            req.push_str(&format!("Host: {}\r\n", self.host));
        }
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.out.write_all(&bytes)
    }

    /// Writes raw bytes on the connection.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }

    /// Reads one response; `head_request`: the request was HEAD (no body follows).
    /// Interim 1xx responses are skipped and listed in `interim`.
    pub fn read_response(&mut self, head_request: bool) -> io::Result<Response> {
        let mut interim = Vec::new();
        loop {
            let raw = self.wire.read_head()?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                )
            })?;
            let head =
                parse_head(&raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let status = status_of(&head)?;
            if (100..200).contains(&status) && status != 101 {
                interim.push(status);
                continue;
            }
            let mut resp = self.read_body(head, status, head_request)?;
            resp.interim = interim;
            return Ok(resp);
        }
    }

    /// Reads one interim or final response head only, e.g. to see `100 Continue` before
    /// sending a body. Returns status and headers; the body, if any, is left unread.
    pub fn read_head_only(&mut self) -> io::Result<Response> {
        let raw = self
            .wire
            .read_head()?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"))?;
        let head = parse_head(&raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let status = status_of(&head)?;
        Ok(Response {
            status,
            reason: reason_of(&head),
            headers: head.headers,
            ..Response::default()
        })
    }

    fn read_body(&mut self, head: Head, status: u16, head_request: bool) -> io::Result<Response> {
        let mut resp = Response {
            status,
            reason: reason_of(&head),
            ..Response::default()
        };
        let keep = self.keep_body;
        let mut body = Vec::new();
        let mut sum = Fnv::new();
        let mut len = 0u64;
        let mut sink = |b: &[u8]| {
            len += b.len() as u64;
            sum.update(b);
            if keep {
                body.extend_from_slice(b);
            }
        };
        let bodiless = head_request || status == 204 || status == 304 || status < 200;
        if !bodiless {
            if head.is_chunked() {
                resp.chunked = true;
                resp.trailers = self.wire.read_chunked_into(&mut sink)?;
            } else if let Some(n) = head
                .content_length()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                self.wire.read_exact_into(n, &mut sink)?;
            } else {
                self.wire.read_to_end_into(&mut sink)?;
            }
        }
        resp.headers = head.headers;
        resp.body = body;
        resp.body_len = len;
        resp.body_sum = sum.value();
        Ok(resp)
    }

    /// Whether the server closed the connection: waits up to `timeout` for end of stream.
    /// Bytes that arrive meanwhile count as "not closed".
    pub fn is_closed(&mut self, timeout: Duration) -> bool {
        if !self.wire.buffered().is_empty() {
            return false;
        }
        let _ = self.out.set_read_timeout(Some(timeout));
        let mut one = [0u8; 1];
        let closed = match self.wire.stream.read(&mut one) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        let _ = self.out.set_read_timeout(Some(CLIENT_TIMEOUT));
        closed
    }
}

fn status_of(head: &Head) -> io::Result<u16> {
    let mut parts = head.start.splitn(3, ' ');
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad status code")),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad status line {:?}", head.start),
        )),
    }
}

fn reason_of(head: &Head) -> String {
    head.start
        .splitn(3, ' ')
        .nth(2)
        .unwrap_or_default()
        .to_string()
}

/// Connects, writes `bytes` and returns everything read until the peer closes, the connection
/// breaks, or 3 s pass.
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    raw_exchange_timeout(addr, bytes, Duration::from_secs(3))
}

pub fn raw_exchange_timeout(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, timeout) else {
        return got;
    };
    let _ = s.set_write_timeout(Some(timeout));
    if s.write_all(bytes).is_err() {
        return got;
    }
    let mut buf = [0u8; 16 * 1024];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return got;
        }
        let _ = s.set_read_timeout(Some(deadline - now));
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A rustls client trusting the CA in PEM file `ca`, without resumption: every connection is
/// a full handshake (a resumed one would not show the server's certificate).
pub fn tls_client_config(ca: &Path) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).expect("ca");
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.expect("ca pem")).expect("add ca");
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    std::sync::Arc::new(cfg)
}

/// Runs the `openssl` command in `dir` (test certificates); fails the test if it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run openssl: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One request over a new TLS connection; the leaf certificate it was served with.
pub fn tls_get(
    cfg: &std::sync::Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: &str,
) -> Result<(String, Vec<u8>), String> {
    let server_name =
        rustls::pki_types::ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let conn =
        rustls::ClientConnection::new(cfg.clone(), server_name).map_err(|e| e.to_string())?;
    let sock = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    std::io::Write::write_all(
        &mut tls,
        format!("GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let mut data = Vec::new();
    match std::io::Read::read_to_end(&mut tls, &mut data) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !data.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let status = String::from_utf8_lossy(&data)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    let leaf = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default();
    Ok((status, leaf))
}
