//! Fault injection, part three: io_uring specifics — a burst of thousands of connections at
//! once (completion-queue overflow: no completion may be lost), short sends to a client that
//! reads slowly through a tiny receive buffer, and the start-up error when io_uring is
//! disabled. Each prints one `FIGURE:` line (`cargo test --test faults_uring -- --nocapture`).
//!
//! A test binary of its own: the last scenario flips a host-wide sysctl, so nothing else of
//! this suite may start a ring meanwhile (cargo runs test binaries one after the other, and
//! the scenarios here hold [`serial`]).

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;
mod faults_support;

use common::conf::{http, srv};
use common::*;
use faults_support::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn burst_of_thousands_of_connections_loses_no_completion() {
    let _serial = serial();
    let web = Backend::start("web");
    // One worker, so the whole burst lands on one ring (1024 SQ entries, 8192 CQ entries):
    // 9040 connections, each with a receive in flight, are more completions than the
    // completion queue holds, so the kernel's overflow list is used when they all become ready
    // together. maxconn on the server keeps the fake backend's thread count sane; the rest
    // queues.
    let port = free_port();
    let toml = http()
        .frontend("maxconn = 9500")
        .backend("timeout = { queue = \"30s\" }")
        .server(srv("web", web.addr()).with("maxconn = 200"))
        .toml(port)
        .replacen("[global]\n", "[global]\nmaxconn = 9500\n", 1);
    let lb = Ringlb::start(&toml);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Two pipelined requests per connection, opened as fast as 16 threads can: 18,000
    // requests, and as many receives, sends and server round trips.
    let req = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
                GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const CONNS: usize = 9040; // 565 per thread
    let t = Instant::now();
    let outcomes = burst(addr, CONNS, 16, req, Duration::from_secs(60));
    let took = t.elapsed();
    let complete = outcomes.iter().filter(|&&n| n == 2).count();
    figure(&format!(
        "burst: {CONNS} connections × 2 pipelined requests opened at once on one worker (CQ of \
         8192 entries) → {complete}/{CONNS} connections got both answers (200) in {}; ringlb \
         still serving after",
        ms(took)
    ));
    assert_eq!(complete, CONNS, "answers per connection: {:?}", {
        let mut hist = std::collections::BTreeMap::new();
        for n in &outcomes {
            *hist.entry(*n).or_insert(0) += 1;
        }
        hist
    });
    assert_eq!(http_get(addr, "/after", &[]).status, 200);
    drop(lb);
}

/// Opens `n` connections, writes `req` on each, and counts the `200` status lines each gets
/// before the server closes it.
fn burst(addr: SocketAddr, n: usize, threads: usize, req: &[u8], limit: Duration) -> Vec<usize> {
    let req = std::sync::Arc::new(req.to_vec());
    let per = n / threads;
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let req = req.clone();
            std::thread::spawn(move || {
                let mut socks: Vec<TcpStream> = (0..per)
                    .filter_map(|_| {
                        let mut s = TcpStream::connect(addr).ok()?;
                        s.write_all(&req).ok()?;
                        Some(s)
                    })
                    .collect();
                let deadline = Instant::now() + limit;
                socks
                    .iter_mut()
                    .map(|s| {
                        let left = deadline.saturating_duration_since(Instant::now());
                        let _ = s.set_read_timeout(Some(left.max(Duration::from_millis(1))));
                        let mut all = Vec::new();
                        let _ = s.read_to_end(&mut all);
                        String::from_utf8_lossy(&all)
                            .matches("HTTP/1.1 200 ")
                            .count()
                    })
                    .collect::<Vec<usize>>()
            })
        })
        .collect();
    hs.into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect()
}

#[test]
fn short_sends_to_a_slow_reader_with_a_tiny_buffer_deliver_32_mib_intact() {
    let _serial = serial();
    let web = Backend::start("web");
    let lb = http().server(srv("web", web.addr())).start();
    const SIZE: u64 = 32 * 1024 * 1024;
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    // Set before connecting, so the window is small from the handshake on.
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    sock.connect(&lb.addr.into()).expect("connect");
    let rcvbuf = sock.recv_buffer_size().unwrap_or(0);
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET /big HTTP/1.1\r\nHost: x\r\nx-size: {SIZE}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    // Read nothing for a while: ringlb's sends fill the window and come back short.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("head"), 1, "closed in the head");
        head.push(byte[0]);
    }
    let mut sum = Fnv::new();
    let mut got = 0u64;
    let mut buf = vec![0u8; 4096];
    let mut reads = 0u64;
    while got < SIZE {
        let n = s.read(&mut buf).expect("body");
        if n == 0 {
            break;
        }
        sum.update(&buf[..n]);
        got += n as u64;
        reads += 1;
        if reads.is_multiple_of(512) {
            std::thread::sleep(Duration::from_millis(1)); // a slow reader
        }
    }
    let took = t.elapsed();
    let intact = got == SIZE && sum.value() == pattern_sum(SIZE);
    figure(&format!(
        "short sends: 32 MiB through a client with SO_RCVBUF {rcvbuf} B reading 4 KiB at a \
         time, pausing → {got} bytes in {reads} reads, checksum {}, {}",
        if intact { "intact" } else { "WRONG" },
        ms(took)
    ));
    assert!(
        String::from_utf8_lossy(&head).starts_with("HTTP/1.1 200 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert!(intact, "got {got} of {SIZE} bytes");
}

/// Restores `kernel.io_uring_disabled` to its original value when dropped, panic or not.
struct SysctlGuard {
    path: &'static str,
    original: String,
}

impl Drop for SysctlGuard {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(self.path, &self.original) {
            eprintln!(
                "FAILED to restore {} to {}: {e}",
                self.path,
                self.original.trim()
            );
        }
    }
}

#[test]
fn io_uring_disabled_is_a_clear_start_up_error() {
    let _serial = serial();
    const PATH: &str = "/proc/sys/kernel/io_uring_disabled";
    let Ok(original) = std::fs::read_to_string(PATH) else {
        eprintln!("SKIP io_uring_disabled: {PATH} does not exist on this kernel");
        figure("io_uring disabled: skipped (no kernel.io_uring_disabled sysctl on this kernel)");
        return;
    };
    // Only root may write the sysctl: try, and skip loudly on refusal.
    let port = free_port();
    let dir = unique_dir("ringlb-uring-off");
    let config = dir.join("ringlb.toml");
    std::fs::write(
        &config,
        format!(
            "[frontend.www]\nbind = \"127.0.0.1:{port}\"\ndefault_backend = \"web\"\n\
             [backend.web]\n[[backend.web.server]]\nname = \"web\"\naddress = \"127.0.0.1:9\"\n"
        ),
    )
    .expect("write config");
    let guard = SysctlGuard {
        path: PATH,
        original: original.clone(),
    };
    if let Err(e) = std::fs::write(PATH, "2") {
        drop(guard);
        eprintln!("SKIP io_uring_disabled: cannot set {PATH} (not root?): {e}");
        figure("io_uring disabled: skipped (cannot write kernel.io_uring_disabled: not root)");
        return;
    }
    // The window with io_uring off is kept as short as ringlb's start-up check.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("run")
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringlb");
    let exited = wait_until(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    drop(guard);
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("ringlb output");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = std::fs::read_to_string(PATH).unwrap_or_default();
    figure(&format!(
        "io_uring disabled (sysctl kernel.io_uring_disabled=2): ringlb exits with {:?}, \
         message: {:?}; sysctl restored to {}",
        out.status.code(),
        text.trim(),
        restored.trim()
    ));
    assert_eq!(restored, original, "sysctl not restored");
    assert!(exited, "ringlb kept running without io_uring");
    assert!(!out.status.success(), "exit status {:?}", out.status);
    assert!(
        text.contains("kernel.io_uring_disabled"),
        "the message must name the sysctl: {text}"
    );
}
