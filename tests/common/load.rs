//! A steady load for operations tests: threads sending requests through ringlb until told to
//! stop, over new connections and keep-alive connections, GET and POST with bodies. Every
//! failure is recorded with its reason, so a test can assert there were none.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Client, PATTERN};

/// Totals of a load run.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub requests: u64,
    pub failures: u64,
    pub connections: u64,
    /// The first few failures, with what happened.
    pub samples: Vec<String>,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    conns: Arc<AtomicU64>,
    samples: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

/// Requests each keep-alive connection sends before it closes and opens a new one.
const PER_CONNECTION: usize = 20;

impl Load {
    /// Starts `threads` clients against `addr`; half use a new connection per request, half
    /// keep connections alive. Each stops by itself after `limit` at the latest.
    pub fn start(addr: SocketAddr, threads: usize, limit: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let conns = Arc::new(AtomicU64::new(0));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let deadline = Instant::now() + limit;
        let threads = (0..threads)
            .map(|i| {
                let (stop, ok, failed, conns, samples) = (
                    stop.clone(),
                    ok.clone(),
                    failed.clone(),
                    conns.clone(),
                    samples.clone(),
                );
                std::thread::spawn(move || {
                    let record = |r: Result<(), String>| match r {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            let mut s = samples.lock().unwrap_or_else(|p| p.into_inner());
                            if s.len() < 20 {
                                s.push(e);
                            }
                        }
                    };
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        conns.fetch_add(1, Ordering::Relaxed);
                        if i % 2 == 0 {
                            record(one_shot(addr, n));
                            n += 1;
                        } else {
                            keep_alive(addr, &mut n, &stop, &record);
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            conns,
            samples,
            threads,
        }
    }

    pub fn requests(&self) -> u64 {
        self.ok.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let samples = self
            .samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        LoadReport {
            requests: self.ok.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed),
            failures: self.failed.load(Ordering::Relaxed),
            connections: self.conns.load(Ordering::Relaxed),
            samples,
        }
    }
}

fn body_for(n: usize) -> Vec<u8> {
    let len = 100 + (n * 37) % 5000;
    (0..len).map(|i| PATTERN[i % PATTERN.len()]).collect()
}

fn check(resp: &super::Response, sent: usize) -> Result<(), String> {
    if resp.status != 200 {
        return Err(format!("status {}", resp.status));
    }
    if sent > 0 && resp.header("x-body-len") != Some(sent.to_string().as_str()) {
        return Err(format!(
            "body length {:?}, sent {sent}",
            resp.header("x-body-len")
        ));
    }
    Ok(())
}

/// One request on a new connection, closed after.
fn one_shot(addr: SocketAddr, n: usize) -> Result<(), String> {
    let mut c = Client::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let post = n.is_multiple_of(3);
    let body = if post { body_for(n) } else { Vec::new() };
    let method = if post { "POST" } else { "GET" };
    let resp = c
        .request(method, "/load", &[("Connection", "close")], &body)
        .map_err(|e| format!("{method} on a new connection: {e}"))?;
    check(&resp, body.len())
}

/// Up to [`PER_CONNECTION`] requests on one connection; a response announcing `close` ends it
/// early (a draining ringlb does that), which is not a failure.
fn keep_alive(
    addr: SocketAddr,
    n: &mut usize,
    stop: &AtomicBool,
    record: &dyn Fn(Result<(), String>),
) {
    let mut c = match Client::connect(addr) {
        Ok(c) => c,
        Err(e) => return record(Err(format!("connect: {e}"))),
    };
    for i in 0..PER_CONNECTION {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        *n += 1;
        let post = (*n).is_multiple_of(3);
        let body = if post { body_for(*n) } else { Vec::new() };
        let method = if post { "POST" } else { "GET" };
        match c.request(method, "/load", &[], &body) {
            Ok(resp) => {
                record(check(&resp, body.len()));
                if resp.closes() {
                    return;
                }
            }
            Err(e) => {
                return record(Err(format!(
                    "{method} #{i} on a kept-alive connection: {e}"
                )));
            }
        }
    }
}

/// A download read at a bounded pace, so that it stays in flight across an operation.
pub struct SlowDownload {
    stream: TcpStream,
    expect: u64,
}

impl SlowDownload {
    /// Sends `GET` for `size` bytes and reads the response head.
    pub fn start(addr: SocketAddr, size: u64) -> io::Result<SlowDownload> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "GET /big HTTP/1.1\r\nHost: test\r\nx-size: {size}\r\nConnection: close\r\n\r\n"
        )?;
        Ok(SlowDownload {
            stream,
            expect: size,
        })
    }

    /// Reads everything, `per_read` bytes every `pause`; returns (head, body length, sum).
    pub fn finish(mut self, per_read: usize, pause: Duration) -> io::Result<(String, u64, u64)> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if self.stream.read(&mut byte)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed in head",
                ));
            }
            head.push(byte[0]);
        }
        let mut sum = super::Fnv::new();
        let mut got = 0u64;
        let mut buf = vec![0u8; per_read];
        while got < self.expect {
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sum.update(&buf[..n]);
            got += n as u64;
            std::thread::sleep(pause);
        }
        Ok((
            String::from_utf8_lossy(&head).into_owned(),
            got,
            sum.value(),
        ))
    }
}
