#![allow(dead_code)]
//! Helpers of the fault-injection suite (`tests/faults*.rs`): process probes read from /proc
//! (descriptors, CPU time, memory), latency percentiles, the `FIGURE:` line every scenario
//! prints, and a scripted keep-alive HTTP server whose answer the test writes per request.

use crate::common::backend::{parse_head, Head, Wire};
use crate::common::RawBackend;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

/// Prints one result line of the suite; `docs/reliability.md` collects them.
pub fn figure(text: &str) {
    println!("FIGURE: {text}");
}

/// Open descriptors of a process (entries of /proc/PID/fd).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// CPU time (user + system, every thread) a process has used, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let ticks: u64 = [11usize, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
}

/// `getconf CLK_TCK`, read once (100 on every Linux we run on; asked rather than assumed).
fn clock_ticks() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// Threads of a process.
pub fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The `p`-th percentile (0–100) of `samples`, nearest rank; zero for no samples.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut v = samples.to_vec();
    v.sort();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// What a scripted server does after reading one request.
pub enum Reply {
    /// Write these bytes and keep the connection for the next request.
    KeepAlive(Vec<u8>),
    /// Write these bytes and close.
    Close(Vec<u8>),
    /// The handler already did everything with the stream; drop the connection.
    Done,
}

/// A keep-alive HTTP server driven by `f(head, body_len, stream)` for each request; request
/// bodies framed by Content-Length are read before `f` runs.
pub fn scripted(f: impl Fn(&Head, &mut TcpStream) -> Reply + Send + Sync + 'static) -> RawBackend {
    RawBackend::start(move |s| {
        let Ok(mut out) = s.try_clone() else { return };
        let mut wire = Wire::new(s);
        loop {
            let Ok(Some(raw)) = wire.read_head() else {
                return;
            };
            let Ok(head) = parse_head(&raw) else { return };
            if let Ok(Some(n)) = head.content_length() {
                if wire.read_exact_into(n, &mut |_| {}).is_err() {
                    return;
                }
            }
            match f(&head, &mut out) {
                Reply::KeepAlive(bytes) => {
                    if out.write_all(&bytes).is_err() {
                        return;
                    }
                }
                Reply::Close(bytes) => {
                    let _ = out.write_all(&bytes);
                    let _ = out.shutdown(std::net::Shutdown::Write);
                    let _ = wire
                        .stream
                        .set_read_timeout(Some(Duration::from_millis(200)));
                    let _ = wire.read_to_end_into(&mut |_| {});
                    return;
                }
                Reply::Done => return,
            }
        }
    })
}

/// A plain `200 OK` with a body, keep-alive.
pub fn ok(name: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nX-Backend: {name}\r\nContent-Length: {}\r\n\r\n{name}\n",
        name.len() + 1
    )
    .into_bytes()
}

/// Sends a raw request on a new connection and returns the status of the answer, or the
/// error that ended the exchange.
pub fn status_of(addr: SocketAddr, request: &[u8], timeout: Duration) -> io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(request)?;
    let mut buf = [0u8; 12];
    let mut got = 0;
    while got < buf.len() {
        let n = s.read(&mut buf[got..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    std::str::from_utf8(&buf[9..12])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))
}

/// How one connection of a [`flood`] ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The status line's code, or what went wrong.
    pub status: Result<u16, String>,
    /// From the request written to the status line read (or the failure).
    pub took: Duration,
}

/// Opens `n` connections to `addr` as fast as `threads` threads can, writes `request` on each
/// at once, and waits (up to `limit`) for every status line, watching all sockets together so
/// each arrival time is exact to a millisecond. `idle`: open the connections and send nothing
/// (the outcome is then how the connection ended within `limit`).
pub fn flood(
    addr: SocketAddr,
    n: usize,
    threads: usize,
    request: &[u8],
    limit: Duration,
) -> Vec<Outcome> {
    let request = std::sync::Arc::new(request.to_vec());
    let per = n.div_ceil(threads.max(1));
    let handles: Vec<_> = (0..threads.max(1))
        .map(|t| {
            let request = request.clone();
            let count = per.min(n.saturating_sub(t * per));
            std::thread::spawn(move || flood_part(addr, count, &request, limit))
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect()
}

fn flood_part(addr: SocketAddr, n: usize, request: &[u8], limit: Duration) -> Vec<Outcome> {
    struct Pending {
        stream: Option<TcpStream>,
        sent: std::time::Instant,
        got: Vec<u8>,
        done: Option<Outcome>,
    }
    let mut conns: Vec<Pending> = (0..n)
        .map(|_| {
            let sent = std::time::Instant::now();
            let attempt = TcpStream::connect_timeout(&addr, limit).and_then(|mut s| {
                s.set_nodelay(true)?;
                if !request.is_empty() {
                    s.write_all(request)?;
                }
                s.set_nonblocking(true)?;
                Ok(s)
            });
            match attempt {
                Ok(s) => Pending {
                    stream: Some(s),
                    sent,
                    got: Vec::new(),
                    done: None,
                },
                Err(e) => Pending {
                    stream: None,
                    sent,
                    got: Vec::new(),
                    done: Some(Outcome {
                        status: Err(format!("connect/send: {e}")),
                        took: sent.elapsed(),
                    }),
                },
            }
        })
        .collect();
    let deadline = std::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let mut open = 0;
        let mut progress = false;
        for p in conns.iter_mut().filter(|p| p.done.is_none()) {
            let Some(s) = p.stream.as_mut() else { continue };
            let end = |status| Outcome {
                status,
                took: p.sent.elapsed(),
            };
            match s.read(&mut buf) {
                Ok(0) => {
                    p.done = Some(end(Err(if p.got.is_empty() {
                        "closed without an answer".into()
                    } else {
                        "closed mid status line".into()
                    })))
                }
                Ok(k) => {
                    progress = true;
                    p.got.extend_from_slice(&buf[..k]);
                    if p.got.len() >= 12 {
                        let code = std::str::from_utf8(&p.got[9..12])
                            .ok()
                            .and_then(|c| c.parse().ok())
                            .ok_or_else(|| "bad status line".to_string());
                        p.done = Some(end(code));
                    } else {
                        open += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => open += 1,
                Err(e) => p.done = Some(end(Err(format!("{e}")))),
            }
            if p.done.is_some() {
                p.stream = None; // closes the connection
            }
        }
        if open == 0 {
            break;
        }
        if std::time::Instant::now() >= deadline {
            for p in conns.iter_mut().filter(|p| p.done.is_none()) {
                p.done = Some(Outcome {
                    status: Err("no answer within the limit".into()),
                    took: p.sent.elapsed(),
                });
            }
            break;
        }
        if !progress {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    conns.into_iter().filter_map(|p| p.done).collect()
}

/// Counts outcomes by status (`0` for failures).
pub fn tally(outcomes: &[Outcome]) -> std::collections::BTreeMap<u16, usize> {
    let mut m = std::collections::BTreeMap::new();
    for o in outcomes {
        *m.entry(*o.status.as_ref().unwrap_or(&0)).or_insert(0) += 1;
    }
    m
}
