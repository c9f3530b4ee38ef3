//! Zero-copy relay sends (`Conn::send_relay`): the bytes, the two completions, the refusal.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::super::executor::with_cx;
use super::super::{sleep, timeout, Acceptor, Conn, Runtime, RuntimeOptions};

fn runtime(fixed_files: u32, zero_copy_min: Option<u32>) -> Runtime {
    Runtime::new(RuntimeOptions {
        fixed_files,
        zero_copy_min,
        ..RuntimeOptions::small(64)
    })
    .unwrap()
}

use crate::runtime::test_listener as listener;

fn zero_copy_on() -> bool {
    with_cx(|c| c.driver.borrow().zero_copy_min.is_some())
}

/// Waits (on the ring, at most 10 s) until no operation is in flight: every zero-copy
/// notification has been reaped and its buffer released.
async fn settle() -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = with_cx(|c| c.driver.borrow().in_flight());
        if n == 0 || Instant::now() > deadline {
            return n;
        }
        sleep(Duration::from_millis(5)).await;
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A send above the threshold goes zero-copy, one below it copies and hands its buffer back;
/// the peer reads exactly the bytes sent, on a direct and on an ordinary descriptor, and
/// every notification is reaped.
#[test]
fn zero_copy_sends_serve_the_same_bytes_on_both_kinds_of_descriptor() {
    for fixed_files in [64, 0] {
        let rt = runtime(fixed_files, Some(4096));
        let (lfd, addr) = listener();
        let reader = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        let big = pattern(1_000_003);
        let sent = big.clone();
        rt.block_on(async move {
            let mut acc = Acceptor::new(lfd, 0);
            let (conn, _) = acc.accept(true).await.unwrap();
            let (r, _) = conn.send_relay(sent).await;
            r.unwrap();
            let (r, small) = conn.send_relay(b"small".to_vec()).await;
            r.unwrap();
            assert_eq!(small.as_deref(), Some(&b"small"[..]), "a copy hands back");
            if !zero_copy_on() {
                eprintln!("skipped: this kernel refuses IORING_OP_SEND_ZC on TCP");
            }
            conn.shutdown_write().await.unwrap();
            drop(conn);
            assert_eq!(settle().await, 0, "operations left in flight");
        });
        let got = reader.join().unwrap();
        assert_eq!(got.len(), big.len() + 5, "fixed_files {fixed_files}");
        assert!(got.starts_with(&big) && got.ends_with(b"small"));
    }
}

/// A Unix stream socket cannot send zero-copy: the kernel refuses, the bytes go out by copy,
/// and the lever is off for the rest of the worker's life.
#[test]
fn a_refused_zero_copy_send_falls_back_to_a_copy() {
    let rt = runtime(0, Some(1024));
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    rt.block_on(async move {
        let conn = Conn::from_fd(OwnedFd::from(a));
        assert!(zero_copy_on());
        let (r, _) = conn.send_relay(pattern(8192)).await;
        r.unwrap();
        assert!(!zero_copy_on(), "the refusal turned the lever off");
        let (r, back) = conn.send_relay(pattern(8192)).await;
        r.unwrap();
        assert!(back.is_some(), "later sends copy");
        assert_eq!(settle().await, 0);
    });
    let mut got = vec![0u8; 16384];
    b.read_exact(&mut got).unwrap();
    assert_eq!(got, [pattern(8192), pattern(8192)].concat());
}

/// A zero-copy send dropped while the peer reads nothing (a client gone quiet, then gone)
/// is cancelled; its buffer stays with the ring until both completions are reaped, and
/// nothing is left in flight.
#[test]
fn a_dropped_zero_copy_send_is_reaped_completely() {
    for fixed_files in [64, 0] {
        let rt = runtime(fixed_files, Some(4096));
        let (lfd, addr) = listener();
        let mut quiet = std::net::TcpStream::connect(addr).unwrap();
        quiet.write_all(b"x").unwrap();
        rt.block_on(async move {
            let mut acc = Acceptor::new(lfd, 0);
            let (conn, _) = acc.accept(true).await.unwrap();
            // More than the socket buffers of both ends hold: the send waits for the reader.
            let t = timeout(
                Duration::from_millis(200),
                conn.send_relay(pattern(64 << 20)),
            )
            .await;
            assert!(t.is_err(), "the send completed without a reader");
            drop(quiet);
            drop(conn);
            assert_eq!(settle().await, 0, "operations left in flight");
        });
    }
}
