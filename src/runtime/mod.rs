//! The io layer: one io_uring per worker thread, a small single-threaded executor on top of it,
//! a provided-buffer ring, a timer queue and the socket operations the proxy uses.
//!
//! This is one of the two rooms where `unsafe` is allowed (the other is `system`). Every unsafe
//! block carries a `// SAFETY:` line. Nothing here knows about HTTP, configs or balancing.
//! It imports only `log::event` (std only) from the rest of ringlb, for the event line of a
//! failed `io_uring_enter`.
//!
//! Invariants:
//! - An in-flight operation owns every buffer and address the kernel may touch. If its future
//!   is dropped early, ownership moves into the driver's slot, an `ASYNC_CANCEL` is submitted,
//!   and the buffers are released only when the operation's own completion is reaped. An
//!   operation that completes twice (a zero-copy send: its result, then the kernel's
//!   notification that it let go of the pages) keeps its slot and its buffer until the second.
//! - The ring is created, used and dropped on one thread (`SINGLE_ISSUER`, `DEFER_TASKRUN`).
//! - Before a runtime is dropped every operation is cancelled and every completion reaped.
// Network input never panics here: no unwrap/expect, no indexing or slicing that input could
// push out of range, no panic!. Held by Cargo.toml `[lints.clippy]` (crate-wide; tests may
// unwrap, see .clippy.toml); docs/reliability.md says how this was audited.
#![allow(unsafe_code)]
#![allow(
    clippy::disallowed_methods,
    reason = "the executor owns the worker thread and the timers' clock"
)]

mod accept;
mod bufring;
mod driver;
mod executor;
mod gather;
mod multishot;
mod net;
mod pooled;
mod signal;
mod slack;
mod sock;
mod timer;
mod wheel;

pub use accept::{
    free_direct_slots, listen_backlog, multishot_accept_available, peers_on_ring, with_peers,
    MultiAccept, Shot,
};
pub use bufring::PBuf;
pub use executor::{
    heavy_step, spawn, start_thread, Runtime, RuntimeOptions, TaskHandle, DEFAULT_FIXED_FILES,
    HEAVY_STEPS_PER_ITERATION,
};
pub use gather::zero_copy_relay;
pub use net::{
    accept_now, accepts_pending, listen, take_adopted, Acceptor, Conn, EventFd, IoBuf, Recv,
};
pub use pooled::{pooled, release_pooled, Pooled, POOLED_BLOCK};
pub use signal::Signal;
pub use timer::{now, sleep, sleep_until, timeout, timeout_at, Elapsed, Sleep};

/// A listening socket on a free loopback port, and its address, for the runtime's tests.
#[cfg(test)]
pub(crate) fn test_listener() -> (std::sync::Arc<std::os::fd::OwnedFd>, std::net::SocketAddr) {
    #![allow(clippy::unwrap_used)]
    let fd = listen("127.0.0.1:0".parse().unwrap(), 128).unwrap();
    let addr = socket2::SockRef::from(&fd)
        .local_addr()
        .unwrap()
        .as_socket()
        .unwrap();
    (std::sync::Arc::new(fd), addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::time::Duration;

    use super::test_listener as local_listener;

    #[test]
    fn echo_round_trip_and_timeout_cancels() {
        let rt = Runtime::new(RuntimeOptions::small(64)).unwrap();
        let (lfd, addr) = local_listener();
        let got = Rc::new(std::cell::RefCell::new(Vec::new()));
        let got2 = got.clone();
        rt.block_on(async move {
            let _ = spawn(async move {
                let mut acc = Acceptor::new(lfd, 0);
                let (conn, _) = acc.accept(true).await.unwrap();
                while let Ok(Some(buf)) = conn.recv().await {
                    let (r, _) = conn.send_all(buf).await;
                    r.unwrap();
                }
            });
            let c = Conn::connect(addr).await.unwrap();
            let (r, _) = c.send_all(b"hello ring".to_vec()).await;
            r.unwrap();
            let b = c.recv().await.unwrap().unwrap();
            got2.borrow_mut().extend_from_slice(b.as_slice());
            drop(b);
            // Nothing more will come: the receive must time out and be cancelled cleanly.
            let t = timeout(Duration::from_millis(50), c.recv()).await;
            assert!(t.is_err());
        });
        assert_eq!(&got.borrow()[..], b"hello ring");
        drop(rt);
    }

    /// With a batched wait the worker still wakes for a lone completion (after the minimum
    /// wait) and for a timer with nothing else in flight: a request-response exchange, one
    /// completion at a time, runs to its end, and a timeout still fires.
    #[test]
    fn a_batched_wait_still_returns_lone_completions_and_fires_timers() {
        let rt = Runtime::new(RuntimeOptions {
            batch_wait_us: 200,
            ..RuntimeOptions::small(64)
        })
        .unwrap();
        let batched = executor::with_cx(|c| c.driver.borrow().batch_wait_us()) == 200;
        if !batched {
            eprintln!("this kernel has no io_uring minimum wait (Linux 6.12+): plain waits");
        }
        let (lfd, addr) = local_listener();
        let rounds = Rc::new(std::cell::Cell::new(0));
        let r2 = rounds.clone();
        rt.block_on(async move {
            let _ = spawn(async move {
                let mut acc = Acceptor::new(lfd, 0);
                let (conn, _) = acc.accept(true).await.unwrap();
                while let Ok(Some(buf)) = conn.recv().await {
                    let (r, _) = conn.send_all(buf).await;
                    r.unwrap();
                }
            });
            let c = Conn::connect(addr).await.unwrap();
            for i in 0..50u8 {
                let (r, _) = c.send_all(vec![i; 10]).await;
                r.unwrap();
                let b = c.recv().await.unwrap().unwrap();
                assert_eq!(b.as_slice(), &[i; 10]);
                r2.set(r2.get() + 1);
            }
            let t = timeout(Duration::from_millis(30), c.recv()).await;
            assert!(t.is_err());
            sleep(Duration::from_millis(5)).await;
        });
        assert_eq!(rounds.get(), 50);
    }

    /// A runtime with a 50 µs batched wait; none (the test skipped) on a kernel without
    /// io_uring's minimum wait.
    fn batched_runtime() -> Option<Runtime> {
        let rt = Runtime::new(RuntimeOptions {
            batch_wait_us: 50,
            ..RuntimeOptions::small(64)
        })
        .unwrap();
        if executor::with_cx(|c| c.driver.borrow().batch_wait_us()) == 0 {
            eprintln!("skipped: this kernel has no io_uring minimum wait (Linux 6.12+)");
            return None;
        }
        Some(rt)
    }

    /// The loop measures the worker's busy share as it turns: a worker that sleeps through
    /// its windows is found with time to spare, so its waits stay batched.
    #[test]
    fn the_loop_measures_its_busy_share() {
        let Some(rt) = batched_runtime() else {
            return;
        };
        rt.block_on(async {
            for _ in 0..3 {
                sleep(slack::WINDOW + Duration::from_millis(2)).await;
            }
        });
        let (closed, saturated) = executor::with_cx(|c| {
            let d = c.driver.borrow();
            (d.slack().closed, d.slack().saturated())
        });
        assert!(closed >= 2, "{closed} windows closed in three sleeps");
        assert!(!saturated, "a sleeping worker was found saturated");
    }

    /// Voluntary context switches of the calling thread so far.
    fn own_sleeps() -> u64 {
        std::fs::read_to_string("/proc/thread-self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    }

    /// A batched wait with no timer armed still sleeps until a completion comes: the kernel
    /// takes a minimum wait without an overall timeout as the whole timeout, so without the
    /// deadline the driver adds (`NO_DEADLINE`) the loop would come back every 50 µs —
    /// thousands of times while the peer below waits 300 ms.
    #[test]
    fn a_batched_wait_without_timers_sleeps_until_a_completion() {
        let Some(rt) = batched_runtime() else {
            return;
        };
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            use std::io::Write;
            let (mut s, _) = server.accept().unwrap();
            // The wait measured: the ring has one receive in flight and no timer.
            std::thread::sleep(Duration::from_millis(300));
            s.write_all(b"late").unwrap();
            s
        });
        let woke = Rc::new(std::cell::Cell::new(0u64));
        let w2 = woke.clone();
        rt.block_on(async move {
            let c = Conn::connect(addr).await.unwrap();
            let before = own_sleeps();
            let b = c.recv().await.unwrap().unwrap();
            assert_eq!(b.as_slice(), b"late");
            w2.set(own_sleeps() - before);
        });
        drop(peer.join().unwrap());
        assert!(
            woke.get() < 100,
            "the worker slept {} times waiting 300 ms for one receive",
            woke.get()
        );
        drop(rt);
    }

    /// A flood of heavy steps is spread over loop iterations, at most
    /// `HEAVY_STEPS_PER_ITERATION` in each: the ring is entered (completions reaped, other
    /// sessions served) between two batches.
    #[test]
    fn heavy_steps_are_bounded_per_iteration() {
        let rt = Runtime::new(RuntimeOptions {
            ring_entries: 16,
            buffers: 16,
            buffer_size: 1024,
            ..RuntimeOptions::default()
        })
        .unwrap();
        let seen = Rc::new(std::cell::RefCell::new(Vec::new()));
        let s = seen.clone();
        let n = HEAVY_STEPS_PER_ITERATION;
        rt.block_on(async move {
            for _ in 0..(2 * n + 4) {
                heavy_step().await;
                // Steps taken in this iteration so far, this one included.
                s.borrow_mut().push(executor::with_cx(|c| c.heavy_used()));
            }
        });
        let expected: Vec<u32> = (1..=n).chain(1..=n).chain(1..=4).collect();
        assert_eq!(*seen.borrow(), expected);
        drop(rt);
    }

    /// A multishot receive delivers every byte in order: those read by a waiting reader, those
    /// that arrived while nobody read (copied off the ring), and more than the unread cap (the
    /// receive is cancelled and armed again); then end of stream. No buffer stays out and no
    /// operation stays in flight once the connections are gone.
    #[test]
    fn multishot_receive_delivers_everything_in_order() {
        let rt = Runtime::new(RuntimeOptions::small(16)).unwrap();
        let (lfd, addr) = local_listener();
        let total = 300 * 1024;
        let got = Rc::new(std::cell::RefCell::new(Vec::new()));
        let got2 = got.clone();
        rt.block_on(async move {
            let sender = spawn(async move {
                let mut acc = Acceptor::new(lfd, 0);
                let (conn, _) = acc.accept(true).await.unwrap();
                let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
                let (r, _) = conn.send_all(b"first".to_vec()).await;
                r.unwrap();
                sleep(Duration::from_millis(20)).await;
                let (r, _) = conn.send_all(data).await;
                r.unwrap();
                conn.shutdown_write().await.unwrap();
                sleep(Duration::from_millis(200)).await;
            });
            let c = Conn::connect(addr).await.unwrap();
            c.set_multishot(true);
            let b = c.recv().await.unwrap().unwrap();
            assert_eq!(b.as_slice(), b"first");
            drop(b);
            // Not reading for a while: the bulk arrives into the slot (copied, then cancelled
            // past the cap) or stays in the socket.
            sleep(Duration::from_millis(60)).await;
            while let Some(b) = c.recv().await.unwrap() {
                got2.borrow_mut().extend_from_slice(b.as_slice());
            }
            drop(c);
            let _ = sender;
            sleep(Duration::from_millis(250)).await;
            let (out, inflight) = executor::with_cx(|cx| {
                (
                    cx.bufs.borrow().as_ref().map(|b| b.out).unwrap_or(99),
                    cx.driver.borrow().in_flight(),
                )
            });
            assert_eq!(out, 0, "provided buffers still out");
            assert_eq!(inflight, 0, "operations still in flight");
        });
        let want: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        assert_eq!(got.borrow().len(), want.len());
        assert!(*got.borrow() == want, "bytes out of order");
        drop(rt);
    }

    /// A multishot queue emptied by its reader keeps its room in the driver for the next
    /// delivery (no allocation per read of a keep-alive exchange), and the connection itself
    /// keeps none; the spares stay bounded.
    #[test]
    fn emptied_multishot_queues_are_reused() {
        let rt = Runtime::new(RuntimeOptions::small(64)).unwrap();
        let (lfd, addr) = local_listener();
        rt.block_on(async move {
            let _ = spawn(async move {
                let mut acc = Acceptor::new(lfd, 0);
                let (conn, _) = acc.accept(true).await.unwrap();
                conn.set_multishot(true);
                while let Ok(Some(buf)) = conn.recv().await {
                    let (r, _) = conn.send_all(buf).await;
                    r.unwrap();
                }
            });
            let c = Conn::connect(addr).await.unwrap();
            c.set_multishot(true);
            for i in 0..40u8 {
                let (r, _) = c.send_all(vec![i; 8]).await;
                r.unwrap();
                let b = c.recv().await.unwrap().unwrap();
                assert_eq!(b.as_slice(), &[i; 8]);
                // Both ends read every delivery: their queues are empty, their room spare.
                let spares = executor::with_cx(|cx| cx.driver.borrow().spare_queues());
                assert!((1..=2).contains(&spares), "{spares} spare queues");
            }
        });
        drop(rt);
    }

    /// A delivery no reader took by the time the loop enters the kernel again leaves the
    /// provided-buffer ring (copied to the heap): a connection that is not reading holds no
    /// buffer across an entry, and its bytes are still read, in order.
    #[test]
    fn an_unread_delivery_gives_its_buffer_back_before_the_next_entry() {
        let rt = Runtime::new(RuntimeOptions::small(16)).unwrap();
        let (lfd, addr) = local_listener();
        rt.block_on(async move {
            let sender = spawn(async move {
                let mut acc = Acceptor::new(lfd, 0);
                let (conn, _) = acc.accept(true).await.unwrap();
                let (r, _) = conn.send_all(b"hello".to_vec()).await;
                r.unwrap();
                sleep(Duration::from_millis(300)).await;
            });
            let c = Conn::connect(addr).await.unwrap();
            c.set_multishot(true);
            // Arm the receive, then stop waiting on it: what arrives has no reader.
            {
                let mut r = std::pin::pin!(c.recv());
                std::future::poll_fn(|cx| {
                    assert!(std::future::Future::poll(r.as_mut(), cx).is_pending());
                    std::task::Poll::Ready(())
                })
                .await;
            }
            let out = || executor::with_cx(|cx| cx.bufs.borrow().as_ref().map(|b| b.out));
            // Bounded: the bytes arrive within the sender's 300 ms or the read below fails.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !executor::with_cx(|cx| cx.driver.borrow_mut().has_unread())
                && std::time::Instant::now() < deadline
            {
                sleep(Duration::from_millis(5)).await;
            }
            sleep(Duration::from_millis(5)).await;
            assert_eq!(
                out(),
                Some(0),
                "an unread delivery kept its provided buffer"
            );
            let b = c.recv().await.unwrap().unwrap();
            assert_eq!(b.as_slice(), b"hello");
            assert!(!b.is_pool(), "the bytes were read from the heap copy");
            drop(b);
            drop(c);
            let _ = sender;
        });
        drop(rt);
    }

    /// Deliveries that arrive together stay in their provided buffers while the ring is
    /// roomy, for a reader that takes them all at once (`Conn::received`, as a relay gathers
    /// a large response into one send); what it leaves unread goes to the heap before the
    /// loop enters the kernel again. Bytes stay in order either way.
    #[test]
    fn deliveries_that_arrive_together_keep_their_buffers_for_a_reader_that_takes_them() {
        let rt = Runtime::new(RuntimeOptions::small(16)).unwrap();
        let (lfd, addr) = local_listener();
        let block =
            |k: usize| -> Vec<u8> { (0..5 * 4096).map(|i| ((i + k) % 251) as u8).collect() };
        rt.block_on(async move {
            let sender = spawn(async move {
                let mut acc = Acceptor::new(lfd, 0);
                let (conn, _) = acc.accept(true).await.unwrap();
                conn.set_multishot(true);
                for k in 0..2 {
                    // Wait for the reader's go, then send five buffers' worth in one send.
                    let go = conn.recv().await.unwrap().unwrap();
                    assert_eq!(go.as_slice(), b"go");
                    let (r, _) = conn.send_all(block(k)).await;
                    r.unwrap();
                }
                sleep(Duration::from_millis(300)).await;
            });
            let c = Conn::connect(addr).await.unwrap();
            c.set_multishot(true);
            let out = || executor::with_cx(|cx| cx.bufs.borrow().as_ref().map(|b| b.out));

            // Taken at once: every delivery behind the first is still a provided buffer.
            let (r, _) = c.send_all(b"go".to_vec()).await;
            r.unwrap();
            let first = c.recv().await.unwrap().unwrap();
            let mut got = first.as_slice().to_vec();
            let mut behind = Vec::new();
            while let Some(b) = c.received() {
                behind.push(b.is_pool());
                got.extend_from_slice(b.as_slice());
            }
            drop(first);
            assert!(
                !behind.is_empty(),
                "the five buffers did not arrive together"
            );
            assert!(behind.iter().all(|p| *p), "copied to the heap: {behind:?}");
            while got.len() < 5 * 4096 {
                got.extend_from_slice(c.recv().await.unwrap().unwrap().as_slice());
            }
            assert!(got == block(0), "bytes out of order");

            // Left unread: back to the ring before the next entry, read from the heap.
            let (r, _) = c.send_all(b"go".to_vec()).await;
            r.unwrap();
            let first = c.recv().await.unwrap().unwrap();
            let mut got = first.as_slice().to_vec();
            drop(first);
            // A pass of the loop through the kernel.
            sleep(Duration::from_millis(5)).await;
            assert_eq!(out(), Some(0), "unread deliveries kept their buffers");
            let mut behind = Vec::new();
            while let Some(b) = c.received() {
                behind.push(b.is_pool());
                got.extend_from_slice(b.as_slice());
            }
            assert!(
                !behind.is_empty(),
                "the five buffers did not arrive together"
            );
            assert!(behind.iter().all(|p| !*p), "still in the ring: {behind:?}");
            while got.len() < 5 * 4096 {
                got.extend_from_slice(c.recv().await.unwrap().unwrap().as_slice());
            }
            assert!(got == block(1), "bytes out of order");
            drop(c);
            let _ = sender;
        });
        drop(rt);
    }

    /// Bytes that reached the socket before a receive's deadline win over that deadline even
    /// when the loop gets back to them only after it (a long task here; a worker thread
    /// preempted on a loaded machine in production): due timers fire only after the
    /// completions the kernel has were reaped. Pins the keep-alive connection that a stalled
    /// worker timed out and closed on a request it had already received, which its client saw
    /// as a reset. With single and multishot receives, on ordinary and direct descriptors.
    #[test]
    fn bytes_that_came_in_time_beat_a_deadline_the_loop_reaches_late() {
        for (multishot, fixed_files) in [(false, 64), (true, 64), (false, 0), (true, 0)] {
            let rt = Runtime::new(RuntimeOptions {
                fixed_files,
                ..RuntimeOptions::small(16)
            })
            .unwrap();
            let (lfd, addr) = local_listener();
            let (go, write_now) = std::sync::mpsc::channel::<()>();
            let (wrote, written) = std::sync::mpsc::channel::<()>();
            let client = std::thread::spawn(move || {
                use std::io::Write;
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                write_now.recv().unwrap();
                s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                wrote.send(()).unwrap();
                // Open until the server side is done: its close must not race ours.
                let _ = write_now.recv();
            });
            let got = Rc::new(std::cell::Cell::new(None));
            let got2 = got.clone();
            rt.block_on(async move {
                let mut acc = Acceptor::new(lfd, 0);
                let (conn, _) = acc.accept(true).await.unwrap();
                let table = executor::with_cx(|c| c.driver.borrow().has_table());
                assert_eq!(conn.is_direct(), fixed_files > 0 && table);
                conn.set_multishot(multishot);
                let conn = Rc::new(conn);
                let c = conn.clone();
                let waiter = spawn(async move {
                    let r = timeout(Duration::from_millis(100), c.recv()).await;
                    got2.set(Some(matches!(r, Ok(Ok(Some(_))))));
                });
                // The waiter's receive and timer are armed and submitted.
                sleep(Duration::from_millis(20)).await;
                go.send(()).unwrap();
                written.recv().unwrap();
                // The loop is held up past the deadline with the bytes in the socket.
                std::thread::sleep(Duration::from_millis(300));
                while got.get().is_none() {
                    sleep(Duration::from_millis(5)).await;
                }
                let _ = waiter;
                drop(go);
                assert_eq!(
                    got.get(),
                    Some(true),
                    "the bytes that came in time were read (multishot {multishot}, direct {})",
                    conn.is_direct()
                );
            });
            client.join().unwrap();
            drop(rt);
        }
    }

    #[test]
    fn sleep_orders_wakeups() {
        let rt = Runtime::new(RuntimeOptions {
            ring_entries: 16,
            buffers: 16,
            buffer_size: 1024,
            ..RuntimeOptions::default()
        })
        .unwrap();
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let o = order.clone();
        rt.block_on(async move {
            let o1 = o.clone();
            let _ = spawn(async move {
                sleep(Duration::from_millis(30)).await;
                o1.borrow_mut().push(2);
            });
            let o2 = o.clone();
            let _ = spawn(async move {
                sleep(Duration::from_millis(10)).await;
                o2.borrow_mut().push(1);
            });
            sleep(Duration::from_millis(50)).await;
        });
        assert_eq!(*order.borrow(), vec![1, 2]);
    }
}
