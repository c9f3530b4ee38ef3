//! The admin socket: a Unix stream socket (mode 0600) taking one command line per connection
//! and answering with result lines, the last one `OK` or `ERROR <reason>`.
//! `ringlb reload`, `ringlb upgrade`, `ringlb admin …` and `ringlb ha check` are its clients.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest command line accepted.
const MAX_LINE: u64 = 4096;

/// A command from the admin socket, with where to send the answer.
pub struct Request {
    pub line: String,
    pub reply: Sender<Reply>,
}

/// The answer to a command: output lines and success.
#[derive(Debug, Clone)]
pub struct Reply {
    pub lines: Vec<String>,
    pub ok: bool,
    pub error: Option<String>,
}

impl Reply {
    pub fn ok(lines: Vec<String>) -> Reply {
        Reply {
            lines,
            ok: true,
            error: None,
        }
    }
    pub fn err(msg: impl Into<String>) -> Reply {
        Reply {
            lines: Vec::new(),
            ok: false,
            error: Some(msg.into()),
        }
    }
}

/// Binds the admin socket at `path`, owner-only (mode 0600), replacing a stale one. Done
/// before privileges are dropped; a binary upgrade hands the bound socket over instead.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// How long one `accept` on the admin socket waits before the thread looks whether it should
/// stop (a socket option: it holds for every process sharing the socket, and older ones simply
/// accept again).
const ACCEPT_WAIT: Duration = Duration::from_millis(200);

/// The admin socket's serving thread, and whether this process has handed the socket to its
/// successor (binary upgrade).
///
/// After a handoff both processes hold the listening socket. The thread here stops accepting
/// within [`ACCEPT_WAIT`]; a command it accepted meanwhile is passed on to the successor (a
/// new connection to the same path, which only the successor accepts while this thread is
/// busy with it), and [`AdminServer::finish`] waits for that before the process exits, so no
/// command is answered "stopping", left waiting, or cut by the exit.
#[derive(Debug)]
pub struct AdminServer {
    handed: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl AdminServer {
    /// Marks the socket handed over: commands go to the successor from now on.
    pub fn hand_over(&self) {
        self.handed.store(true, Ordering::Release);
    }

    /// After [`AdminServer::hand_over`]: waits until the thread has passed on what it accepted
    /// and stopped accepting. Without a handoff it returns at once (the thread serves until
    /// the process exits).
    pub fn finish(&self) {
        if !self.handed.load(Ordering::Acquire) {
            return;
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// Serves the admin socket on a thread, forwarding commands to `events`.
pub fn serve<E: Send + 'static>(
    listener: UnixListener,
    events: Sender<E>,
    wrap: fn(Request) -> E,
) -> io::Result<AdminServer> {
    let handed = Arc::new(AtomicBool::new(false));
    let path = listener.local_addr()?.as_pathname().map(Path::to_path_buf);
    socket2::SockRef::from(&listener).set_read_timeout(Some(ACCEPT_WAIT))?;
    let h = handed.clone();
    let thread = std::thread::Builder::new()
        .name("ringlb-admin".into())
        .spawn(move || {
            while !h.load(Ordering::Acquire) {
                // A timeout (EAGAIN) or a failed accept: look at the flag and accept again.
                let Ok((conn, _)) = listener.accept() else {
                    continue;
                };
                let _ = handle(conn, &events, wrap, &h, path.as_deref());
            }
        })?;
    Ok(AdminServer {
        handed,
        thread: Mutex::new(Some(thread)),
    })
}

fn handle<E>(
    conn: UnixStream,
    events: &Sender<E>,
    wrap: fn(Request) -> E,
    handed: &AtomicBool,
    path: Option<&Path>,
) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new((&conn).take(MAX_LINE)).read_line(&mut line)?;
    let line = line.trim().to_string();
    let mut out = conn;
    let pass_on = |out: &mut UnixStream, line: &str| -> io::Result<()> {
        match path {
            Some(p) => relay(p, line, out),
            None => writeln!(out, "ERROR ringlb is stopping"),
        }
    };
    if handed.load(Ordering::Acquire) {
        return pass_on(&mut out, &line);
    }
    let (tx, rx) = mpsc::channel();
    let sent = events.send(wrap(Request {
        line: line.clone(),
        reply: tx,
    }));
    if sent.is_err() {
        if handed.load(Ordering::Acquire) {
            return pass_on(&mut out, &line);
        }
        return write_reply(&mut out, &Reply::err("ringlb is stopping"));
    }
    // Upgrades wait for the new process; allow them time. The control thread answers before
    // it marks the socket handed over, and reads no command after: once the mark is set, a
    // command still unanswered goes to the successor.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let reply = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => break r,
            Err(mpsc::RecvTimeoutError::Timeout) if std::time::Instant::now() < deadline => {
                if handed.load(Ordering::Acquire) {
                    match rx.try_recv() {
                        Ok(r) => break r,
                        Err(_) => return pass_on(&mut out, &line),
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break Reply::err("no answer from ringlb"),
            Err(mpsc::RecvTimeoutError::Disconnected) if handed.load(Ordering::Acquire) => {
                return pass_on(&mut out, &line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Reply::err("ringlb is stopping");
            }
        }
    };
    write_reply(&mut out, &reply)
}

fn write_reply(out: &mut UnixStream, reply: &Reply) -> io::Result<()> {
    for l in &reply.lines {
        writeln!(out, "{l}")?;
    }
    match (&reply.ok, &reply.error) {
        (true, _) => writeln!(out, "OK")?,
        (false, e) => writeln!(out, "ERROR {}", e.as_deref().unwrap_or("failed"))?,
    }
    Ok(())
}

/// Passes `line` on to the process now serving the admin socket at `path` and copies its
/// answer back.
fn relay(path: &Path, line: &str, out: &mut UnixStream) -> io::Result<()> {
    let reply = match request(path, line) {
        Ok((lines, Ok(()))) => Reply::ok(lines),
        Ok((lines, Err(e))) => Reply {
            lines,
            ok: false,
            error: Some(e),
        },
        Err(e) => Reply::err(format!("the new process did not answer: {e}")),
    };
    write_reply(out, &reply)
}

/// Client side: sends `command` and returns the output lines and whether it succeeded.
pub fn request(path: &Path, command: &str) -> io::Result<(Vec<String>, Result<(), String>)> {
    request_with_timeout(path, command, Duration::from_secs(150))
}

/// [`request`] with `timeout` on each read and write (the connect itself is not bounded: a
/// caller that needs a hard deadline runs this on a thread of its own).
pub fn request_with_timeout(
    path: &Path,
    command: &str,
    timeout: Duration,
) -> io::Result<(Vec<String>, Result<(), String>)> {
    let mut s = UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot reach ringlb at {}: {e}", path.display()),
        )
    })?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    writeln!(s, "{command}")?;
    let mut lines = Vec::new();
    for l in BufReader::new(s).lines() {
        let l = l?;
        if l == "OK" {
            return Ok((lines, Ok(())));
        }
        if let Some(e) = l.strip_prefix("ERROR") {
            return Ok((lines, Err(e.trim().to_string())));
        }
        lines.push(l);
    }
    Ok((lines, Err("connection closed without a result".into())))
}
