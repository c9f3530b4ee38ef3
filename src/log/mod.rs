//! Access logs, written by a thread of their own so a slow destination never slows a
//! worker: workers hand finished lines to a bounded queue and move on; when it is full the line
//! is dropped and counted (shown in stats). Event lines (server UP/DOWN, reloads, upgrades,
//! admin actions, …) go to stderr through the one function [`event`], with one prefix.
//!
//! Destinations: stdout (journald under systemd), syslog over UDP, or a local datagram socket
//! such as `/dev/log`, with facility and severity (RFC 3164 framing). Client addresses can be
//! masked before a line leaves the process (`anonymize_ip`).
//!
//! May import `config` (the `[log]` settings) and `state` (the counters); `format` and `event`
//! use std only.

#![allow(
    clippy::disallowed_methods,
    reason = "the log writer thread, and log lines carry wall-clock dates"
)]

mod event;
pub mod format;

pub use event::{event, Throttle};

use std::io::{self, Write};
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{Log, LogTarget};

/// The counters live with the rest of the process state.
pub use crate::state::LogStats;

/// A handle workers log through. Cheap to share; the writer thread ends when the last handle
/// is dropped (e.g. replaced by a reload).
#[derive(Debug)]
pub struct Logger {
    tx: Option<SyncSender<Msg>>,
    /// Bits kept of IPv4 / IPv6 client addresses, when anonymising.
    pub anonymize: Option<(u8, u8)>,
    pub stats: Arc<LogStats>,
}

/// What the writer thread is handed: a line, or a request to say once every line queued
/// before it is written.
#[derive(Debug)]
enum Msg {
    Line(String),
    Flushed(SyncSender<()>),
}

/// Severity of access log lines (info).
const ACCESS_SEVERITY: u8 = 6;

/// How often [`Logger::flush`] tries again to queue its request while the queue is full.
const FLUSH_RETRY: Duration = Duration::from_millis(1);

impl Logger {
    /// A logger that drops everything (no frontend logs).
    pub fn disabled(stats: Arc<LogStats>) -> Arc<Logger> {
        Arc::new(Logger {
            tx: None,
            anonymize: None,
            stats,
        })
    }

    /// Starts the writer thread for `cfg`.
    pub fn start(cfg: &Log, stats: Arc<LogStats>) -> io::Result<Arc<Logger>> {
        let (tx, rx) = sync_channel::<Msg>(cfg.queue.max(1) as usize);
        let sink = Sink::open(&cfg.target)?;
        let pri = cfg.facility.code() * 8 + ACCESS_SEVERITY;
        let enabled = ACCESS_SEVERITY <= cfg.level.severity();
        let st = stats.clone();
        std::thread::Builder::new()
            .name("ringlb-log".into())
            .spawn(move || write_loop(rx, sink, pri, st))?;
        Ok(Arc::new(Logger {
            tx: if enabled { Some(tx) } else { None },
            anonymize: cfg.anonymize_ip.then_some((cfg.ipv4_mask, cfg.ipv6_mask)),
            stats,
        }))
    }

    /// Queues a line; never blocks.
    pub fn send(&self, line: String) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Waits, at most `wait`, until every line queued so far is written; `false` if that
    /// did not happen in time. A process calls it before it exits: the writer thread dies
    /// with the process, and the last sessions' lines would be lost, uncounted.
    pub fn flush(&self, wait: Duration) -> bool {
        let Some(tx) = &self.tx else { return true };
        let deadline = Instant::now() + wait;
        let (ack, done) = sync_channel(1);
        let mut msg = Msg::Flushed(ack);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(FLUSH_RETRY);
                }
                Err(_) => return false,
            }
        }
        done.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

enum Sink {
    Stdout,
    Udp(UdpSocket, std::net::SocketAddr),
    Unix(UnixDatagram, std::path::PathBuf),
}

impl Sink {
    fn open(target: &LogTarget) -> io::Result<Sink> {
        Ok(match target {
            LogTarget::Stdout => Sink::Stdout,
            LogTarget::Udp(addr) => {
                let bind: std::net::SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                Sink::Udp(UdpSocket::bind(bind)?, *addr)
            }
            LogTarget::Unix(path) => Sink::Unix(UnixDatagram::unbound()?, path.clone()),
        })
    }
}

/// `Nov 22 06:55:12` (RFC 3164 timestamp, UTC).
fn syslog_time(t: SystemTime) -> String {
    // Reuse the access-log date: `22/Nov/2026:06:55:12.123`.
    let d = format::date(t);
    let day = d.get(0..2).unwrap_or("01").trim_start_matches('0');
    let month = d.get(3..6).unwrap_or("Jan");
    let time = d.get(12..20).unwrap_or("00:00:00");
    format!("{month} {day:>2} {time}")
}

fn write_loop(rx: Receiver<Msg>, sink: Sink, pri: u8, stats: Arc<LogStats>) {
    let pid = std::process::id();
    let stdout = io::stdout();
    for msg in rx {
        let line = match msg {
            Msg::Line(line) => line,
            Msg::Flushed(ack) => {
                let _ = ack.try_send(());
                continue;
            }
        };
        let ok = match &sink {
            Sink::Stdout => {
                let mut out = stdout.lock();
                writeln!(out, "{line}").is_ok()
            }
            Sink::Udp(sock, addr) => {
                let msg = format!(
                    "<{pri}>{} ringlb[{pid}]: {line}",
                    syslog_time(SystemTime::now())
                );
                sock.send_to(msg.as_bytes(), addr).is_ok()
            }
            Sink::Unix(sock, path) => {
                let msg = format!(
                    "<{pri}>{} ringlb[{pid}]: {line}",
                    syslog_time(SystemTime::now())
                );
                sock.send_to(msg.as_bytes(), path).is_ok()
            }
        };
        if ok {
            stats.lines.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn syslog_timestamp() {
        assert_eq!(
            syslog_time(UNIX_EPOCH + Duration::from_secs(1_795_316_112)),
            "Nov 22 02:55:12"
        );
        assert_eq!(
            syslog_time(UNIX_EPOCH + Duration::from_secs(86_400 * 3)),
            "Jan  4 00:00:00"
        );
    }

    /// A UDP receiver and a local0.info logger sending to it, with `queue` lines of queue.
    fn udp_logger(queue: u32) -> (UdpSocket, Arc<Logger>, Arc<LogStats>) {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        rx.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let cfg = Log {
            target: LogTarget::Udp(rx.local_addr().expect("addr")),
            facility: crate::config::Facility::Local0,
            level: crate::config::LogLevel::Info,
            anonymize_ip: false,
            ipv4_mask: 24,
            ipv6_mask: 48,
            queue,
        };
        let stats = Arc::new(LogStats::default());
        let l = Logger::start(&cfg, stats.clone()).expect("logger");
        (rx, l, stats)
    }

    #[test]
    fn udp_lines_carry_priority_and_are_counted() {
        let (rx, l, _stats) = udp_logger(16);
        l.send("hello".into());
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).expect("datagram");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(msg.starts_with("<134>"), "local0.info = 16*8+6: {msg}");
        assert!(msg.ends_with("]: hello"), "{msg}");
    }

    /// A process that exits right after its last session ended loses no line: `flush`
    /// returns once every line queued before it is written.
    #[test]
    fn flush_returns_once_queued_lines_are_written() {
        let (_rx, l, stats) = udp_logger(64);
        for i in 0..50 {
            l.send(format!("line {i}"));
        }
        assert!(l.flush(Duration::from_secs(10)), "flushed in time");
        // Counted when written: all 50 are out before flush returned.
        assert_eq!(stats.lines.load(Ordering::Relaxed), 50);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
        let disabled = Logger::disabled(stats);
        assert!(disabled.flush(Duration::ZERO), "nothing to flush");
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let stats = Arc::new(LogStats::default());
        let (tx, _rx) = sync_channel::<Msg>(1);
        let l = Logger {
            tx: Some(tx),
            anonymize: None,
            stats: stats.clone(),
        };
        l.send("a".into());
        l.send("b".into());
        l.send("c".into());
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
    }
}
