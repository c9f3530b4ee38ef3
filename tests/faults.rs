//! Fault injection, part one: what ringlb does when servers die, hang, reset, flap or lie, and
//! when clients are slow. Every scenario is bounded in time and prints one `FIGURE:` line;
//! `docs/reliability.md` collects them (`cargo test --test faults -- --nocapture`).
//!
//! The scenarios run one at a time ([`serial`]): several measure latency or timeouts, which a
//! neighbour test loading the two cores of CI would blur.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;
mod faults_support;

use common::backend::{pattern, Wire};
use common::conf::{http, rss_kib, srv};
use common::*;
use faults_support::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// One scenario at a time in this binary.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn addr_of(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---------------------------------------------------------------------------------------------
// 1. A server killed in the middle of responses.

/// Body size of every response in scenario 1; each body is sent in `PIECES` writes.
const KILL_BODY: usize = 16 * 1024;
const PIECES: usize = 16;

#[test]
fn backend_killed_mid_response_never_looks_complete() {
    let _serial = serial();
    // The victim trickles its bodies (16 writes, 15 ms apart) so that responses are in flight
    // when it dies; it counts responses started and finished.
    let started = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    let (st, fi) = (started.clone(), finished.clone());
    let mut victim = scripted(move |head, out| {
        st.fetch_add(1, Ordering::SeqCst);
        let body = pattern(KILL_BODY);
        let chunked = head.header("x-chunked") == Some("1");
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_string()
        } else {
            format!("Content-Length: {KILL_BODY}")
        };
        let head = format!("HTTP/1.1 200 OK\r\nX-Backend: victim\r\n{framing}\r\n\r\n");
        if out.write_all(head.as_bytes()).is_err() {
            return Reply::Done;
        }
        for piece in body.chunks(KILL_BODY / PIECES) {
            thread::sleep(Duration::from_millis(15));
            let mut bytes = Vec::new();
            if chunked {
                bytes.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            }
            bytes.extend_from_slice(piece);
            if chunked {
                bytes.extend_from_slice(b"\r\n");
            }
            if out.write_all(&bytes).is_err() {
                return Reply::Done;
            }
        }
        if chunked && out.write_all(b"0\r\n\r\n").is_err() {
            return Reply::Done;
        }
        fi.fetch_add(1, Ordering::SeqCst);
        Reply::KeepAlive(Vec::new())
    });
    let a = Backend::start("a");
    let b = Backend::start("b");
    let lb = http()
        .backend("retries = 2")
        .backend("redispatch = true")
        .backend(
            "[backend.web.check]\ntype = \"tcp\"\ninter = \"100ms\"\nfastinter = \"50ms\"\n\
             downinter = \"200ms\"\nrise = 2\nfall = 2\ntimeout = \"200ms\"",
        )
        .server(srv("victim", victim.addr()))
        .server(srv("a", a.addr()))
        .server(srv("b", b.addr()))
        .start();

    const TOTAL: u64 = 200;
    let issued = Arc::new(AtomicU64::new(0));
    let complete_ok = Arc::new(AtomicU64::new(0));
    let truncated_as_complete = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..12)
        .map(|i| {
            let (issued, ok, bad, failed, samples) = (
                issued.clone(),
                complete_ok.clone(),
                truncated_as_complete.clone(),
                failures.clone(),
                samples.clone(),
            );
            let addr = lb.addr;
            thread::spawn(move || {
                let mut conn: Option<Client> = None;
                while issued.fetch_add(1, Ordering::SeqCst) < TOTAL {
                    let c = match conn.as_mut() {
                        Some(c) => c,
                        None => match Client::connect(addr) {
                            Ok(c) => conn.insert(c),
                            Err(e) => {
                                failed.fetch_add(1, Ordering::SeqCst);
                                samples.lock().expect("lock").push(format!("connect: {e}"));
                                continue;
                            }
                        },
                    };
                    c.keep_body(false);
                    let size = KILL_BODY.to_string();
                    let mut headers = vec![("x-size", size.as_str())];
                    if i % 2 == 0 {
                        headers.push(("x-chunked", "1"));
                    }
                    match c.request("GET", "/", &headers, b"") {
                        Ok(r) if r.status == 200 => {
                            if r.body_len == KILL_BODY as u64
                                && r.body_sum == pattern_sum(KILL_BODY as u64)
                            {
                                ok.fetch_add(1, Ordering::SeqCst);
                            } else {
                                bad.fetch_add(1, Ordering::SeqCst);
                            }
                            if r.closes() {
                                conn = None;
                            }
                        }
                        Ok(r) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            samples
                                .lock()
                                .expect("lock")
                                .push(format!("status {}", r.status));
                            conn = None;
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            samples.lock().expect("lock").push(format!("{e}"));
                            conn = None;
                        }
                    }
                }
            })
        })
        .collect();

    // Kill the victim once it is busy: it stops listening and every connection it has is cut.
    assert!(
        wait_until(Duration::from_secs(10), || started.load(Ordering::SeqCst)
            >= 20),
        "the victim never got traffic"
    );
    let killed_at = Instant::now();
    victim.stop();
    let in_flight = started.load(Ordering::SeqCst) - finished.load(Ordering::SeqCst);
    for c in clients {
        c.join().expect("client thread");
    }
    assert!(
        lb.proc
            .wait_log("server web/victim is DOWN", Duration::from_secs(5)),
        "the dead server was never marked down:\n{}",
        lb.proc.stderr()
    );
    let down_after = killed_at.elapsed();

    // Later requests: all served, by the healthy servers.
    let mut later_ok = 0;
    for i in 0..60 {
        let r = http_get(lb.addr, &format!("/after/{i}"), &[]);
        if r.status == 200 && matches!(r.backend(), Some("a") | Some("b")) {
            later_ok += 1;
        }
    }
    let (bad, failed) = (
        truncated_as_complete.load(Ordering::SeqCst),
        failures.load(Ordering::SeqCst),
    );
    let done = complete_ok.load(Ordering::SeqCst) + bad + failed;
    figure(&format!(
        "backend killed mid-response (CL and chunked, 12 clients): truncated-as-complete {bad} \
         of {done}; failures {failed}, all among the {in_flight} requests in flight at the kill; \
         marked DOWN within {}; later requests {later_ok}/60 served by healthy servers",
        ms(down_after)
    ));
    assert_eq!(bad, 0, "a truncated response was presented as complete");
    assert!(in_flight > 0, "nothing was in flight at the kill");
    assert!(
        failed <= in_flight,
        "{failed} failures but only {in_flight} requests in flight: {:?}",
        samples.lock().expect("lock")
    );
    assert_eq!(later_ok, 60);
}

// ---------------------------------------------------------------------------------------------
// 2. A server that accepts and never answers.

/// Two frontends on one ringlb: `fast` → a normal backend, `hang` → a server that reads and
/// never answers, with `timeout server`.
fn two_sites(fast_port: u16, fast: SocketAddr, hang_port: u16, hang: SocketAddr) -> String {
    format!(
        "[global]\nworkers = 1\n\n\
         [frontend.fast]\nbind = \"127.0.0.1:{fast_port}\"\ndefault_backend = \"fast\"\n\
         [frontend.hang]\nbind = \"127.0.0.1:{hang_port}\"\ndefault_backend = \"hang\"\n\n\
         [backend.fast]\n[[backend.fast.server]]\nname = \"fast\"\naddress = \"{fast}\"\n\n\
         [backend.hang]\nretries = 0\ntimeout = {{ server = \"500ms\" }}\n\
         [[backend.hang.server]]\nname = \"blackhole\"\naddress = \"{hang}\"\n"
    )
}

/// `n` sequential GETs on one keep-alive connection; their latencies.
fn latencies(addr: SocketAddr, n: usize) -> Vec<Duration> {
    let mut c = Client::connect(addr).expect("connect");
    (0..n)
        .map(|i| {
            let t = Instant::now();
            let r = c.get(&format!("/{i}")).expect("fast request");
            assert_eq!(r.status, 200);
            t.elapsed()
        })
        .collect()
}

#[test]
fn server_that_never_answers_gets_504_at_timeout_server_and_leaks_nothing() {
    let _serial = serial();
    let fast = Backend::start("fast");
    let blackhole = RawBackend::start(|mut s| {
        // read whatever comes, answer nothing, until ringlb closes
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let (fast_port, hang_port) = (free_port(), free_port());
    let lb = Ringlb::start(&two_sites(
        fast_port,
        fast.addr(),
        hang_port,
        blackhole.addr(),
    ));
    let (fast_addr, hang_addr) = (addr_of(fast_port), addr_of(hang_port));
    let pid = lb.pid();

    latencies(fast_addr, 50); // warm-up
    let base = latencies(fast_addr, 300);
    let (fds_before, rss_before) = (fd_count(pid), rss_kib(pid));

    // 40 clients send requests to the black hole for 1.6 s, each waiting for its answer;
    // meanwhile the fast site is measured every 5 ms.
    let until = Instant::now() + Duration::from_millis(1600);
    let hangers: Vec<_> = (0..40)
        .map(|_| {
            thread::spawn(move || {
                let mut seen = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let status = http_get(hang_addr, "/hang", &[]).status;
                    seen.push((status, t.elapsed()));
                }
                seen
            })
        })
        .collect();
    let mut during = Vec::new();
    let mut c = Client::connect(fast_addr).expect("connect");
    let mut rss_peak = 0;
    while Instant::now() < until {
        let t = Instant::now();
        assert_eq!(c.get("/during").expect("fast request").status, 200);
        during.push(t.elapsed());
        rss_peak = rss_peak.max(rss_kib(pid));
        thread::sleep(Duration::from_millis(5));
    }
    let hung: Vec<(u16, Duration)> = hangers
        .into_iter()
        .flat_map(|h| h.join().expect("hang client"))
        .collect();

    // Every server socket ringlb opened toward the black hole is closed again.
    let released = wait_until(Duration::from_secs(5), || blackhole.active() == 0);
    let fds_settled = wait_until(Duration::from_secs(5), || fd_count(pid) <= fds_before);
    let fds_after = fd_count(pid);
    let rss_after = rss_kib(pid);

    let times: Vec<Duration> = hung.iter().map(|(_, t)| *t).collect();
    let non_504 = hung.iter().filter(|(s, _)| *s != 504).count();
    let (lo, p50, hi) = (
        percentile(&times, 0.0),
        percentile(&times, 50.0),
        percentile(&times, 100.0),
    );
    let (base_p99, during_p99) = (percentile(&base, 99.0), percentile(&during, 99.0));
    figure(&format!(
        "server never answers (timeout server 500 ms, 40 clients): {} requests, 504 for all but \
         {non_504}, answered after min {} / median {} / max {}; other server p99 {} without vs \
         {} with the black hole loaded; ringlb fds {fds_before} before, {fds_after} after; \
         VmRSS {rss_before} KiB before, {rss_peak} KiB during, {rss_after} KiB after",
        hung.len(),
        ms(lo),
        ms(p50),
        ms(hi),
        ms(base_p99),
        ms(during_p99),
    ));
    assert!(hung.len() >= 80, "only {} hanging requests", hung.len());
    assert_eq!(non_504, 0, "every hanging request gets 504");
    // No 504 comes before `timeout server`; how late one comes is the figure above (the
    // client's own scheduling among 40 threads on two cores is in it, so it is not asserted).
    assert!(
        lo >= Duration::from_millis(450),
        "504 before timeout server: min {lo:?}"
    );
    assert!(released, "server connections to the black hole left open");
    assert!(
        fds_settled,
        "descriptors left behind: {fds_before} before, {fds_after} after"
    );
    assert!(
        rss_after <= rss_before + 16 * 1024 && rss_peak <= rss_before + 32 * 1024,
        "memory grew: {rss_before} → {rss_peak} → {rss_after} KiB"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. A server that resets the connection after reading the request.

#[test]
fn reset_after_request_is_502_post_never_replayed_and_unsent_get_retried() {
    let _serial = serial();
    let web1 = Backend::start("web1");
    let web2 = Backend::start("web2");
    let lb = http()
        .backend("retries = 2")
        .backend("redispatch = true")
        .server(srv("web1", web1.addr()))
        .server(srv("web2", web2.addr()))
        .start();

    // POSTs, on fresh client connections and on a kept-alive one (which draws pooled server
    // connections): every one reaches a server, is reset, and must come back as 502 without a
    // second arrival anywhere.
    let body = pattern(3000);
    let mut statuses = Vec::new();
    for i in 0..10 {
        let r = http_request(
            lb.addr,
            "POST",
            &format!("/p{i}"),
            &[("x-reset", "1")],
            &body,
        )
        .expect("POST answered");
        statuses.push(r.status);
    }
    let mut c = Client::connect(lb.addr).expect("connect");
    for i in 0..10 {
        // a normal request first, so the server connection is pooled and reused
        assert_eq!(c.get(&format!("/warm{i}")).expect("GET").status, 200);
        let r = c
            .request("POST", "/p", &[("x-reset", "1")], &body)
            .expect("POST answered");
        statuses.push(r.status);
        if r.closes() || c.is_closed(Duration::from_millis(50)) {
            c = Client::connect(lb.addr).expect("reconnect");
        }
    }
    let arrivals = web1.requests() + web2.requests() - 10; // minus the 10 warm-up GETs
    let posts_502 = statuses.iter().filter(|&&s| s == 502).count();

    // GETs whose first server refuses the connection: the request never reached it, so it is
    // retried on another server and succeeds.
    let refusing = RefusingAddr::new();
    let web3 = Backend::start("web3");
    let lb2 = http()
        .backend("retries = 1")
        .backend("redispatch = true")
        .server(srv("refusing", refusing.addr()))
        .server(srv("web3", web3.addr()))
        .start();
    let got: Vec<u16> = (0..20)
        .map(|i| http_get(lb2.addr, &format!("/g{i}"), &[]).status)
        .collect();
    let gets_ok = got.iter().filter(|&&s| s == 200).count();
    figure(&format!(
        "server resets after reading: {posts_502}/20 POSTs answered 502, {arrivals} POST \
         arrivals for 20 sent (0 replays); GET to a refusing server retried elsewhere: \
         {gets_ok}/20 answered 200, {} arrivals",
        web3.requests()
    ));
    assert_eq!(posts_502, 20, "{statuses:?}");
    assert_eq!(arrivals, 20, "a POST was replayed");
    assert_eq!(gets_ok, 20, "{got:?}");
    assert_eq!(web3.requests(), 20);
}

// ---------------------------------------------------------------------------------------------
// 5. A health check that flaps.

/// What the flapping server's health path answers.
const FLAP_ALTERNATE: u8 = 0;
const FLAP_FAIL: u8 = 1;
const FLAP_PASS: u8 = 2;

#[test]
fn flapping_health_honours_rise_and_fall_and_down_server_gets_nothing() {
    let _serial = serial();
    let mode = Arc::new(AtomicU8::new(FLAP_ALTERNATE));
    let checks = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let (m, c, s) = (mode.clone(), checks.clone(), served.clone());
    let flap = scripted(move |head, _| {
        if head.start.starts_with("GET /health ") {
            let n = c.fetch_add(1, Ordering::SeqCst);
            let pass = match m.load(Ordering::SeqCst) {
                FLAP_ALTERNATE => n % 2 == 0,
                FLAP_FAIL => false,
                _ => true,
            };
            let status = if pass { "200 OK" } else { "500 Error" };
            return Reply::Close(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .into_bytes(),
            );
        }
        s.fetch_add(1, Ordering::SeqCst);
        Reply::KeepAlive(ok("flap"))
    });
    let steady = Backend::start("steady");
    let check = "[backend.web.check]\ntype = \"http\"\npath = \"/health\"\ninter = \"40ms\"\n\
                 fastinter = \"40ms\"\ndowninter = \"40ms\"\nrise = 2\nfall = 2\ntimeout = \"500ms\"";
    let lb = http()
        .backend(check)
        .server(srv("flap", flap.addr()))
        .server(srv("steady", steady.addr()))
        .start();
    let send = |n: usize| {
        for i in 0..n {
            assert_eq!(http_get(lb.addr, &format!("/{i}"), &[]).status, 200);
        }
    };
    let checks_now = || checks.load(Ordering::SeqCst);

    // Alternating while UP: never two failures in a row, so never DOWN.
    let c0 = checks_now();
    while checks_now() < c0 + 16 {
        send(5);
    }
    let alternating_up = checks_now() - c0;
    let down_while_alternating = lb.proc.stderr().contains("web/flap is DOWN");
    assert!(
        !down_while_alternating,
        "fall = 2 not honoured:\n{}",
        lb.proc.stderr()
    );
    assert!(
        served.load(Ordering::SeqCst) > 0,
        "the UP server got no traffic"
    );

    // Failing: DOWN after at least `fall` failed checks (counted from a passing one).
    mode.store(FLAP_PASS, Ordering::SeqCst);
    let c = checks_now();
    assert!(wait_until(Duration::from_secs(5), || checks_now() >= c + 2));
    let c1 = checks_now();
    mode.store(FLAP_FAIL, Ordering::SeqCst);
    assert!(lb
        .proc
        .wait_log("server web/flap is DOWN", Duration::from_secs(5)));
    let failed_before_down = checks_now() - c1;

    // Alternating while DOWN: never two successes in a row, so never UP; and not one request
    // reaches it meanwhile.
    mode.store(FLAP_ALTERNATE, Ordering::SeqCst);
    let served_down = served.load(Ordering::SeqCst);
    let c2 = checks_now();
    let mut sent_while_down = 0;
    while checks_now() < c2 + 16 {
        send(5);
        sent_while_down += 5;
    }
    let alternating_down = checks_now() - c2;
    let up_while_alternating = lb.proc.stderr().contains("web/flap is UP");
    let reached_down = served.load(Ordering::SeqCst) - served_down;

    // Passing: UP again after at least `rise` successes (counted from a failing one), and
    // traffic returns.
    mode.store(FLAP_FAIL, Ordering::SeqCst);
    let c = checks_now();
    assert!(wait_until(Duration::from_secs(5), || checks_now() >= c + 2));
    let c3 = checks_now();
    mode.store(FLAP_PASS, Ordering::SeqCst);
    assert!(lb
        .proc
        .wait_log("server web/flap is UP", Duration::from_secs(5)));
    let passed_before_up = checks_now() - c3;
    let before = served.load(Ordering::SeqCst);
    send(10);
    let back = served.load(Ordering::SeqCst) - before;
    figure(&format!(
        "health flapping 200/500 on every check (rise 2, fall 2, inter 40 ms): no transition \
         during {alternating_up} alternating checks while UP nor {alternating_down} while DOWN; \
         DOWN after {failed_before_down} failed checks, UP after {passed_before_up} passing \
         ones; {reached_down} of {sent_while_down} \
         requests sent to the DOWN server; {back}/10 to it once UP again"
    ));
    assert!(
        !up_while_alternating,
        "rise = 2 not honoured:\n{}",
        lb.proc.stderr()
    );
    assert!(
        failed_before_down >= 2,
        "DOWN after {failed_before_down} failures"
    );
    assert!(
        passed_before_up >= 2,
        "UP after {passed_before_up} successes"
    );
    assert_eq!(reached_down, 0, "requests reached a DOWN server");
    assert!(back > 0, "no traffic after UP");
}

// ---------------------------------------------------------------------------------------------
// 8. Slow clients: slowloris heads, slow bodies, idle keep-alive connections.

#[test]
fn slow_clients_are_cut_at_their_timeouts() {
    let _serial = serial();
    let web = Backend::start("web1");
    let lb = http()
        .frontend(
            "timeout = { http_request = \"400ms\", client = \"400ms\", http_keep_alive = \"300ms\" }",
        )
        .server(srv("web1", web.addr()))
        .start();
    let addr = lb.addr;

    // 100 slowloris connections, one header byte every 50 ms, while normal clients are served.
    let loris: Vec<_> = (0..100)
        .map(|_| {
            thread::spawn(move || {
                let t = Instant::now();
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_millis(20)))
                    .expect("timeout");
                let head =
                    b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                for b in head.iter().cycle() {
                    if t.elapsed() > Duration::from_secs(3) || s.write_all(&[*b]).is_err() {
                        break;
                    }
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            got.extend_from_slice(&buf[..n]);
                            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                        Err(_) => {}
                    }
                    thread::sleep(Duration::from_millis(30));
                }
                (String::from_utf8_lossy(&got).into_owned(), t.elapsed())
            })
        })
        .collect();
    let normal = latencies(addr, 100);
    let loris: Vec<(String, Duration)> = loris
        .into_iter()
        .map(|h| h.join().expect("slowloris"))
        .collect();
    let loris_408 = loris
        .iter()
        .filter(|(r, _)| r.starts_with("HTTP/1.1 408 "))
        .count();
    let loris_times: Vec<Duration> = loris.iter().map(|(_, t)| *t).collect();

    // A body that stops halfway: 408 after `timeout client` of silence.
    let t = Instant::now();
    let mut c = Client::connect(addr).expect("connect");
    c.send_raw(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        .expect("send");
    let slow_body = c.read_response(false).map(|r| r.status);
    let slow_body_t = t.elapsed();

    // An idle kept-alive connection: closed after `http_keep_alive`.
    let mut c = Client::connect(addr).expect("connect");
    assert_eq!(c.get("/").expect("GET").status, 200);
    let t = Instant::now();
    let closed = c.is_closed(Duration::from_secs(3));
    let idle_t = t.elapsed();

    figure(&format!(
        "slow clients: {loris_408}/100 slowloris connections got 408 after {}–{} \
         (http_request 400 ms), normal requests meanwhile p99 {}; half a body then silence: \
         {:?} after {} (client 400 ms); idle keep-alive closed after {} (http_keep_alive 300 ms)",
        ms(percentile(&loris_times, 0.0)),
        ms(percentile(&loris_times, 100.0)),
        ms(percentile(&normal, 99.0)),
        slow_body.as_ref().map_err(|e| e.kind()),
        ms(slow_body_t),
        ms(idle_t)
    ));
    assert_eq!(loris_408, 100, "{:?}", loris.first());
    for (_, t) in &loris {
        assert!(
            *t >= Duration::from_millis(360) && *t <= Duration::from_secs(3),
            "slowloris answered after {t:?}"
        );
    }
    assert_eq!(slow_body.expect("408 for the slow body"), 408);
    assert!(
        slow_body_t >= Duration::from_millis(360) && slow_body_t <= Duration::from_secs(3),
        "{slow_body_t:?}"
    );
    assert!(closed, "idle keep-alive connection left open");
    assert!(
        idle_t >= Duration::from_millis(270) && idle_t <= Duration::from_secs(3),
        "{idle_t:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Malformed responses.

/// One malformed response, and what the client may see.
struct Bad {
    name: &'static str,
    bytes: Vec<u8>,
    /// Bytes sent 100 ms after `bytes` (after ringlb relayed the head).
    later: Option<&'static [u8]>,
}

fn bad_responses() -> Vec<Bad> {
    let mut huge_head = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    huge_head.extend(std::iter::repeat_n(b'a', 20 * 1024));
    huge_head.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..150 {
        many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    let storm = |code: &str| {
        let mut v = Vec::new();
        for _ in 0..50 {
            v.extend_from_slice(format!("HTTP/1.1 {code} Info\r\n\r\n").as_bytes());
        }
        v.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        v
    };
    let b = |name, s: &[u8]| Bad {
        name,
        bytes: s.to_vec(),
        later: None,
    };
    vec![
        b(
            "Content-Length and chunked",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        b(
            "chunked and Content-Length",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
        ),
        b(
            "two different Content-Lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ),
        b(
            "two equal Content-Lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
        ),
        b(
            "Content-Length list",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
        ),
        b(
            "negative Content-Length",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
        ),
        b(
            "Content-Length beyond u64",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nok",
        ),
        b(
            "bad chunk size",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        ),
        b(
            "chunk size overflow",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nx\r\n",
        ),
        b(
            "transfer coding not ending in chunked",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nok",
        ),
        b(
            "obs-fold",
            b"HTTP/1.1 200 OK\r\nX-A: a\r\n  folded\r\nContent-Length: 2\r\n\r\nok",
        ),
        b("LF-only lines", b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
        b(
            "space before colon",
            b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
        ),
        b(
            "bad status code",
            b"HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok",
        ),
        b(
            "101 without Upgrade asked",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
        ),
        Bad {
            name: "header section too large (20 KiB)",
            bytes: huge_head,
            later: None,
        },
        Bad {
            name: "150 header fields",
            bytes: many,
            later: None,
        },
        Bad {
            name: "1xx storm (50 × 103)",
            bytes: storm("103"),
            later: None,
        },
        Bad {
            name: "1xx storm (50 × 100)",
            bytes: storm("100"),
            later: None,
        },
        Bad {
            name: "bad chunk size after the head was relayed",
            bytes: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec(),
            later: Some(b"zz\r\nworld\r\n0\r\n\r\n"),
        },
        Bad {
            name: "body longer than Content-Length",
            bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n".to_vec(),
            later: Some(b"okHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!"),
        },
    ]
}

#[test]
fn malformed_responses_become_502_never_relayed_ambiguously() {
    let _serial = serial();
    let cases = Arc::new(bad_responses());
    let table = cases.clone();
    let bad = RawBackend::start(move |s| {
        let Ok(mut out) = s.try_clone() else { return };
        let mut wire = Wire::new(s);
        let Ok(Some(raw)) = wire.read_head() else {
            return;
        };
        let head = String::from_utf8_lossy(&raw).into_owned();
        let idx: usize = head
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.trim_start_matches("/case/").parse().ok())
            .unwrap_or(0);
        let Some(case) = table.get(idx) else { return };
        let _ = out.write_all(&case.bytes);
        if let Some(later) = case.later {
            thread::sleep(Duration::from_millis(100));
            let _ = out.write_all(later);
        }
        let _ = out.shutdown(Shutdown::Write);
        thread::sleep(Duration::from_millis(200));
    });
    let lb = http()
        .backend("retries = 0")
        .server(srv("bad", bad.addr()))
        .start();

    let mut refused = 0;
    let mut cut = 0;
    let mut wrong = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut c = Client::connect(lb.addr).expect("connect");
        let got = c.get(&format!("/case/{i}"));
        match got {
            Ok(r) if r.status == 502 && r.backend().is_none() => refused += 1,
            // A head already relayed: the body error can only cut the connection. The client
            // must not be left with something it takes for a complete message, nor a second
            // response smuggled after it.
            Err(_) if case.later.is_some() => cut += 1,
            Ok(r) if case.later.is_some() && r.status == 200 && r.body_str() == "ok" => {
                // the message as framed; whatever the server sent beyond it must not follow
                let _ = c.set_read_timeout(Duration::from_millis(300));
                match c.read_response(false) {
                    Ok(extra) => wrong.push(format!(
                        "{}: a second response was relayed: {} {:?}",
                        case.name,
                        extra.status,
                        extra.body_str()
                    )),
                    Err(_) => cut += 1,
                }
            }
            Ok(r) => wrong.push(format!(
                "{}: status {} body {:?}",
                case.name,
                r.status,
                r.body_str()
            )),
            Err(e) => wrong.push(format!("{}: {e}", case.name)),
        }
    }
    figure(&format!(
        "malformed responses ({} kinds: CL+TE, two CLs, bad chunk sizes, head too large, \
         1xx storms, …): {refused} answered 502, {cut} relayed head then cut, nothing \
         smuggled after it, {} relayed ambiguously",
        cases.len(),
        wrong.len()
    ));
    assert!(wrong.is_empty(), "{wrong:#?}");
}
