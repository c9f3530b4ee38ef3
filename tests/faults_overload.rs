//! Fault injection, part two: load beyond what the servers or the process can take — slow
//! servers, overload past `maxconn`, file descriptors exhausted. Each scenario prints one
//! `FIGURE:` line (`cargo test --test faults_overload -- --nocapture`); they run one at a time.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;
mod faults_support;

use common::backend::Head;
use common::conf::{rss_kib, srv};
use common::*;
use faults_support::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn addr_of(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `threads` clients sending GETs on keep-alive connections for `dur`; (latency, server) of
/// every request. Panics on a failed request.
fn load(addr: SocketAddr, threads: usize, dur: Duration) -> Vec<(Duration, String)> {
    let until = Instant::now() + dur;
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Client::connect(addr).expect("connect");
                let mut seen = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let r = c.get("/load").expect("request under load");
                    assert_eq!(r.status, 200);
                    seen.push((t.elapsed(), r.backend().unwrap_or("?").to_string()));
                }
                seen
            })
        })
        .collect();
    hs.into_iter()
        .flat_map(|h| h.join().expect("load thread"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 4. A slow server: delays, and a 1 byte/s trickle.

/// Answers every request 200 ms late; `x-trickle` requests get a 3-byte body at 1 byte/s.
fn slow_server() -> RawBackend {
    scripted(|head: &Head, out: &mut TcpStream| {
        if head.header("x-trickle").is_some() {
            let h = "HTTP/1.1 200 OK\r\nX-Backend: slow\r\nContent-Length: 3\r\n\r\n";
            if out.write_all(h.as_bytes()).is_err() {
                return Reply::Done;
            }
            for b in b"abc" {
                thread::sleep(Duration::from_secs(1));
                if out.write_all(&[*b]).is_err() {
                    return Reply::Done;
                }
            }
            return Reply::KeepAlive(Vec::new());
        }
        thread::sleep(Duration::from_millis(200));
        Reply::KeepAlive(ok("slow"))
    })
}

#[test]
fn slow_server_gets_less_load_and_does_not_slow_the_others() {
    let _serial = serial();
    let fast = Backend::start("fast");
    let slow = slow_server();

    // Without the slow server.
    let alone = common::conf::http()
        .backend("balance = \"leastconn\"")
        .server(srv("fast", fast.addr()))
        .start();
    let _ = load(alone.addr, 8, Duration::from_millis(300));
    let base: Vec<Duration> = load(alone.addr, 8, Duration::from_millis(1200))
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    drop(alone);

    // With it: the same load on a backend holding both, plus 50 downloads trickling from the
    // slow server through a second frontend of the same process.
    let (web_port, drip_port) = (free_port(), free_port());
    let lb = Ringlb::start(&format!(
        "[global]\nworkers = 1\n\n\
         [frontend.www]\nbind = \"127.0.0.1:{web_port}\"\ndefault_backend = \"web\"\n\
         [frontend.drip]\nbind = \"127.0.0.1:{drip_port}\"\ndefault_backend = \"drip\"\n\n\
         [backend.web]\nbalance = \"leastconn\"\n\
         [[backend.web.server]]\nname = \"fast\"\naddress = \"{}\"\n\
         [[backend.web.server]]\nname = \"slow\"\naddress = \"{}\"\n\n\
         [backend.drip]\n[[backend.drip.server]]\nname = \"slow\"\naddress = \"{}\"\n",
        fast.addr(),
        slow.addr(),
        slow.addr()
    ));
    let (web, drip) = (addr_of(web_port), addr_of(drip_port));
    let pid = lb.pid();
    let _ = load(web, 8, Duration::from_millis(300));
    let rss_before = rss_kib(pid);
    let drips: Vec<_> = (0..50)
        .map(|_| {
            thread::spawn(move || {
                let t = Instant::now();
                let r = http_get(drip, "/drip", &[("x-trickle", "1")]);
                (r.status, r.body_str(), t.elapsed())
            })
        })
        .collect();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let watcher = {
        let peak = peak.clone();
        thread::spawn(move || {
            let until = Instant::now() + Duration::from_millis(3500);
            while Instant::now() < until {
                peak.fetch_max(rss_kib(pid), Ordering::SeqCst);
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let mixed = load(web, 8, Duration::from_millis(1200));
    let drips: Vec<(u16, String, Duration)> = drips
        .into_iter()
        .map(|h| h.join().expect("trickle client"))
        .collect();
    watcher.join().expect("watcher");
    let rss_peak = peak.load(Ordering::SeqCst);

    let on_fast: Vec<Duration> = mixed
        .iter()
        .filter(|(_, s)| s == "fast")
        .map(|(t, _)| *t)
        .collect();
    let share = on_fast.len() as f64 / mixed.len().max(1) as f64;
    let drips_ok = drips
        .iter()
        .filter(|(s, b, _)| *s == 200 && b == "abc")
        .count();
    let (p99_alone, p99_mixed) = (percentile(&base, 99.0), percentile(&on_fast, 99.0));
    figure(&format!(
        "slow server (200 ms per answer, leastconn, 8 clients) and 50 downloads at 1 byte/s: \
         fast server took {:.1} % of {} requests; its p99 {} without the slow server, {} with \
         it; trickled downloads intact {drips_ok}/50; VmRSS {rss_before} KiB before, peak \
         {rss_peak} KiB",
        share * 100.0,
        mixed.len(),
        ms(p99_alone),
        ms(p99_mixed)
    ));
    assert!(
        share > 0.9,
        "leastconn kept sending to the slow server: {share}"
    );
    // The fast server's p99 beside the slow one is a figure above, not an assertion: a time
    // compared in the suite fails on a loaded machine, not on ringlb. What keeps the fast
    // server fast is asserted above: leastconn sends it nearly everything.
    assert_eq!(drips_ok, 50, "{:?}", drips.first());
    assert!(
        rss_peak <= rss_before + 32 * 1024,
        "memory grew with slow responses: {rss_before} → {rss_peak} KiB"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Overload: twice maxconn, then a flood far above capacity.

/// Per-server concurrency as the server itself sees it.
#[derive(Default)]
struct Concurrency {
    now: AtomicU64,
    max: AtomicU64,
    served: AtomicU64,
}

/// Answers after 100 ms, counting requests in progress. The count drops before the last byte
/// is written, so ringlb cannot finish the response (and reuse the slot) before it drops.
fn counting_server(name: &'static str, c: Arc<Concurrency>) -> RawBackend {
    scripted(move |_, out| {
        let now = c.now.fetch_add(1, Ordering::SeqCst) + 1;
        c.max.fetch_max(now, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(100));
        let resp = ok(name);
        let (most, last) = resp.split_at(resp.len() - 1);
        let _ = out.write_all(most);
        c.now.fetch_sub(1, Ordering::SeqCst);
        c.served.fetch_add(1, Ordering::SeqCst);
        Reply::KeepAlive(last.to_vec())
    })
}

/// Two servers, maxconn 5 each, 100 ms per request, `timeout queue` as given; a second
/// frontend with a server of its own for probes.
fn overload_site(
    a: SocketAddr,
    b: SocketAddr,
    side: SocketAddr,
    queue: &str,
) -> (Ringlb, SocketAddr, SocketAddr) {
    let (www_port, side_port) = (free_port(), free_port());
    let lb = Ringlb::start(&format!(
        "[global]\nworkers = 2\n\n\
         [frontend.www]\nbind = \"127.0.0.1:{www_port}\"\ndefault_backend = \"web\"\n\
         [frontend.side]\nbind = \"127.0.0.1:{side_port}\"\ndefault_backend = \"side\"\n\n\
         [backend.web]\ntimeout = {{ queue = \"{queue}\" }}\n\
         [[backend.web.server]]\nname = \"a\"\naddress = \"{a}\"\nmaxconn = 5\n\
         [[backend.web.server]]\nname = \"b\"\naddress = \"{b}\"\nmaxconn = 5\n\n\
         [backend.side]\n[[backend.side.server]]\nname = \"side\"\naddress = \"{side}\"\n"
    ));
    (lb, addr_of(www_port), addr_of(side_port))
}

#[test]
// Regression: the server queue was not first-come first-served across workers.
fn twice_maxconn_clients_all_wait_their_turn_and_succeed() {
    let _serial = serial();
    let (ca, cb) = (
        Arc::new(Concurrency::default()),
        Arc::new(Concurrency::default()),
    );
    let a = counting_server("a", ca.clone());
    let b = counting_server("b", cb.clone());
    let side = Backend::start("side");
    // The queue limit is far above the ~200 ms a request waits here, so that a loaded machine
    // cannot turn a wait into a 503: this test is about order and maxconn, not the limit.
    let (_lb, www, _) = overload_site(a.addr(), b.addr(), side.addr(), "3s");
    let until = Instant::now() + Duration::from_millis(1000);
    let hs: Vec<_> = (0..20)
        .map(|_| {
            thread::spawn(move || {
                let mut statuses = Vec::new();
                let mut c = Client::connect(www).expect("connect");
                while Instant::now() < until {
                    match c.get("/twice") {
                        Ok(r) => {
                            statuses.push(r.status);
                            if r.closes() {
                                c = Client::connect(www).expect("reconnect");
                            }
                        }
                        Err(_) => {
                            statuses.push(0);
                            c = Client::connect(www).expect("reconnect");
                        }
                    }
                }
                statuses
            })
        })
        .collect();
    let statuses: Vec<u16> = hs
        .into_iter()
        .flat_map(|h| h.join().expect("client"))
        .collect();
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let max = (ca.max.load(Ordering::SeqCst), cb.max.load(Ordering::SeqCst));
    figure(&format!(
        "twice maxconn (20 keep-alive clients, 2 servers × maxconn 5, 100 ms per request, \
         timeout queue 3 s): {ok}/{} requests 200, server concurrency max {}/{}",
        statuses.len(),
        max.0,
        max.1
    ));
    assert_eq!(max, (5, 5), "maxconn reached, never exceeded");
    assert_eq!(
        ok,
        statuses.len(),
        "requests failed while waiting their turn"
    );
}

#[test]
fn flood_far_above_capacity_honours_maxconn_503s_at_timeout_queue_and_recovers() {
    let _serial = serial();
    let (ca, cb) = (
        Arc::new(Concurrency::default()),
        Arc::new(Concurrency::default()),
    );
    let a = counting_server("a", ca.clone());
    let b = counting_server("b", cb.clone());
    let side = Backend::start("side");
    let (lb, www, side_addr) = overload_site(a.addr(), b.addr(), side.addr(), "400ms");
    let pid = lb.pid();
    let rss_before = rss_kib(pid);

    // 1500 connections at once, each with a request; the servers can take 10 at a time,
    // 100 ms each, so most wait in the queue and get 503 at `timeout queue`. Meanwhile the
    // other frontend is probed.
    let req = b"GET /flood HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let flooding = thread::spawn(move || flood(www, 1500, 10, req, Duration::from_secs(20)));
    let mut probes = Vec::new();
    let mut rss_peak = rss_before;
    let started = Instant::now();
    while !flooding.is_finished() && started.elapsed() < Duration::from_secs(20) {
        let t = Instant::now();
        let r = http_get(side_addr, "/probe", &[]);
        assert_eq!(r.status, 200, "the other frontend failed during the flood");
        probes.push(t.elapsed());
        rss_peak = rss_peak.max(rss_kib(pid));
        thread::sleep(Duration::from_millis(20));
    }
    let flood_out = flooding.join().expect("flood");
    let counts = tally(&flood_out);
    let early_503 = flood_out
        .iter()
        .filter(|o| o.status == Ok(503) && o.took < Duration::from_millis(380))
        .count();
    let first_503 = flood_out
        .iter()
        .filter(|o| o.status == Ok(503))
        .map(|o| o.took)
        .min()
        .unwrap_or_default();
    let max_all = (ca.max.load(Ordering::SeqCst), cb.max.load(Ordering::SeqCst));

    // Recovery: every request succeeds again.
    let after: Vec<u16> = (0..100)
        .map(|i| http_get(www, &format!("/after{i}"), &[]).status)
        .collect();
    let recovered = after.iter().filter(|&&s| s == 200).count();
    let rss_after = rss_kib(pid);

    figure(&format!(
        "flood (2 servers × maxconn 5, 100 ms per request, timeout queue 400 ms): 1500 \
         connections at once → {counts:?} (status: count), first 503 after {}, server \
         concurrency max {}/{}; other frontend answered {} probes meanwhile, slowest {}; VmRSS \
         {rss_before} → peak {rss_peak} → {rss_after} KiB; afterwards {recovered}/100 succeed",
        ms(first_503),
        max_all.0,
        max_all.1,
        probes.len(),
        ms(percentile(&probes, 100.0)),
    ));
    assert!(
        max_all.0 <= 5 && max_all.1 <= 5,
        "maxconn exceeded under the flood: {max_all:?}"
    );
    assert_eq!(max_all, (5, 5), "maxconn never reached");
    let answered = counts.get(&200).copied().unwrap_or(0) + counts.get(&503).copied().unwrap_or(0);
    assert_eq!(
        answered, 1500,
        "every flood connection gets 200 or 503: {counts:?}"
    );
    assert!(counts.get(&503).copied().unwrap_or(0) > 1000, "{counts:?}");
    assert_eq!(early_503, 0, "503 before timeout queue");
    assert!(!probes.is_empty());
    assert!(
        percentile(&probes, 100.0) < Duration::from_secs(3),
        "ringlb unresponsive during the flood"
    );
    assert!(
        rss_peak <= rss_before + 64 * 1024,
        "memory {rss_before} → {rss_peak} KiB"
    );
    assert_eq!(recovered, 100);
}

// ---------------------------------------------------------------------------------------------
// 7. File descriptors exhausted.

/// Whether util-linux's `prlimit` is here; if not, says that the test `what` is skipped.
fn has_prlimit(what: &str) -> bool {
    let here = Command::new("prlimit").arg("--version").output().is_ok();
    if !here {
        eprintln!("SKIP {what}: prlimit (util-linux) is not installed");
    }
    here
}

/// Sets the soft open-files limit of a running process (the hard limit stays 256: raising a
/// hard limit back needs CAP_SYS_RESOURCE, which a container may not grant).
fn set_nofile(pid: u32, n: usize) {
    let out = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={n}:256"))
        .output()
        .expect("run prlimit");
    assert!(out.status.success(), "prlimit: {out:?}");
}

#[test]
fn descriptors_exhausted_no_busy_loop_clean_queueing_and_recovery() {
    let _serial = serial();
    if !has_prlimit("descriptors_exhausted") {
        return;
    }
    let web = Backend::start("web");
    let port = free_port();
    // Ordinary descriptors: direct ones (the default) live in the ring's table and do not
    // count against the open-files limit, so they never meet EMFILE.
    let cfg = format!(
        "[global]\nworkers = 2\nmaxconn = 1000\ntune_direct_descriptors = false\n\n\
         [frontend.www]\nbind = \"127.0.0.1:{port}\"\ndefault_backend = \"web\"\n\
         [backend.web]\ntimeout = {{ queue = \"30s\" }}\n\
         [[backend.web.server]]\nname = \"web\"\naddress = \"{}\"\n",
        web.addr()
    );
    let lb = Ringlb::start_wrapped(&cfg, &["prlimit", "--nofile=256:256", "--"]);
    let addr = addr_of(port);
    let pid = lb.pid();
    let fitted = lb.stderr().contains("does not fit the open files limit")
        || lb.stdout().contains("does not fit the open files limit");

    // 1000 clients at once against ~120 connections' worth of descriptors: the excess waits in
    // the kernel's accept queue, nobody is refused, everybody is served.
    let req = b"GET / HTTP/1.1\r\nHost: x\r\nx-delay-ms: 100\r\nConnection: close\r\n\r\n";
    let (cpu0, t0) = (cpu_time(pid), Instant::now());
    let crowd = flood(addr, 1000, 10, req, Duration::from_secs(30));
    let crowd_cpu = (cpu_time(pid) - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64();
    let crowd_counts = tally(&crowd);
    let crowd_time = t0.elapsed();

    // Real EMFILE: the limit drops to what ringlb already holds plus 8 while 200 clients
    // connect and send nothing. Accepts fail; ringlb must wait, not spin.
    let held = fd_count(pid);
    set_nofile(pid, held + 8);
    let idle: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    thread::sleep(Duration::from_millis(200));
    let (cpu1, t1) = (cpu_time(pid), Instant::now());
    thread::sleep(Duration::from_millis(1500));
    let exhausted_cpu = (cpu_time(pid) - cpu1).as_secs_f64() / t1.elapsed().as_secs_f64();
    let fds_exhausted = fd_count(pid);
    let complained = lb.wait_log("cannot accept", Duration::from_secs(1));

    // Recovery: the limit comes back, the idle clients leave, everything is served again.
    set_nofile(pid, 256);
    drop(idle);
    let after = flood(
        addr,
        300,
        3,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(20),
    );
    let after_counts = tally(&after);
    figure(&format!(
        "descriptors exhausted (prlimit --nofile=256:256, maxconn fitted: {fitted}): 1000 \
         clients at once → {crowd_counts:?} in {} with ringlb at {:.0} % CPU; soft limit cut \
         to {} while 200 idle clients connect → ringlb holds {fds_exhausted} fds, accept failures \
         logged: {complained}, CPU {:.1} % of wall time while exhausted; after the limit \
         returns 300 clients → {after_counts:?}",
        ms(crowd_time),
        crowd_cpu * 100.0,
        held + 8,
        exhausted_cpu * 100.0
    ));
    assert!(
        fitted,
        "maxconn was not fitted to the limit:\n{}",
        lb.stderr()
    );
    assert_eq!(crowd_counts.get(&200), Some(&1000), "{crowd_counts:?}");
    assert!(complained, "no EMFILE seen:\n{}", lb.stderr());
    assert!(
        exhausted_cpu < 0.2,
        "busy loop while out of descriptors: {:.0} % CPU",
        exhausted_cpu * 100.0
    );
    assert_eq!(after_counts.get(&200), Some(&300), "{after_counts:?}");
}

// ---------------------------------------------------------------------------------------------
// 8. Locked memory: the kernel counts io_uring rings against RLIMIT_MEMLOCK.

/// With a locked-memory limit far below what two workers' rings need, ringlb does not start
/// and says why and how to fix it; with only the soft limit low, it raises it to the hard one
/// and serves.
#[test]
fn a_locked_memory_limit_too_low_for_the_rings_is_named_and_a_soft_one_is_raised() {
    if !has_prlimit("locked memory") {
        return;
    }
    let web = Backend::start("web");
    let port = free_port();
    let cfg = format!(
        "[global]\nworkers = 2\n\n[frontend.www]\nbind = \"127.0.0.1:{port}\"\n\
         default_backend = \"web\"\n[backend.web]\n\
         [[backend.web.server]]\nname = \"web\"\naddress = \"{}\"\n",
        web.addr()
    );
    if !rings_count_against_memlock() {
        eprintln!("SKIP locked memory: this kernel does not count io_uring rings (before 6.13)");
        return;
    }
    // 64 KiB, soft and hard: not even one worker's rings fit.
    let err = match Ringlb::try_start_wrapped(&cfg, &["prlimit", "--memlock=65536:65536", "--"]) {
        Ok(_) => panic!("ringlb started with 64 KiB of locked memory for two workers' rings"),
        Err(e) => e,
    };
    assert!(
        err.contains("exited with exit status: 1"),
        "ringlb should exit 1: {err}"
    );
    assert!(
        err.contains("RLIMIT_MEMLOCK, here 64 KiB") && err.contains("LimitMEMLOCK=infinity"),
        "the error should name the limit and the fix: {err}"
    );

    // Soft 64 KiB under a hard limit that fits: raised, started, serving.
    let hard = memlock_hard();
    let wrapper = format!("--memlock=65536:{hard}");
    let lb = Ringlb::start_wrapped(&cfg, &["prlimit", &wrapper, "--"]);
    let resp = http_get(addr_of(port), "/", &[]);
    assert_eq!(resp.status, 200, "through ringlb: {resp:?}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", lb.pid())).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))
        .expect("Max locked memory line");
    let soft = line.split_whitespace().nth(3).expect("soft column");
    assert_eq!(soft, hard, "soft limit raised to the hard one: {line}");
}

/// The hard locked-memory limit of this process as `prlimit` writes it (bytes or `unlimited`).
fn memlock_hard() -> String {
    let out = Command::new("prlimit")
        .args(["--memlock", "--raw", "--noheadings", "--output=SOFT,HARD"])
        .output()
        .expect("run prlimit");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .expect("hard limit column")
}

/// A binary upgrade whose new process is refused its rings (the old one's and the new one's
/// together exceed the locked-memory limit) fails, says why, and the old process keeps
/// serving. ringlb runs as `daemon`, a user no other test uses, so that only this test's
/// processes count against the limit.
#[test]
fn an_upgrade_refused_its_rings_keeps_the_old_process_serving() {
    if !has_prlimit("locked memory") {
        return;
    }
    if !rings_count_against_memlock() {
        eprintln!("SKIP locked memory: this kernel does not count io_uring rings (before 6.13)");
        return;
    }
    let web = Backend::start("web");
    let port = free_port();
    let cfg = format!(
        "[global]\nworkers = 1\nuser = \"daemon\"\n\n[frontend.www]\nbind = \"127.0.0.1:{port}\"\n\
         default_backend = \"web\"\n[backend.web]\n\
         [[backend.web.server]]\nname = \"web\"\naddress = \"{}\"\n",
        web.addr()
    );
    // One worker and the health checker hold about 272 KiB of rings: 384 KiB fits one
    // process, not two.
    let mut lb =
        match Ringlb::try_start_wrapped(&cfg, &["prlimit", "--memlock=393216:393216", "--"]) {
            Ok(lb) => lb,
            Err(e) if e.contains("RLIMIT_MEMLOCK") => {
                panic!("one worker's rings did not fit in 384 KiB of locked memory: {e}")
            }
            Err(e) => panic!("{e}"),
        };
    let pid = lb.pid();
    assert_eq!(http_get(addr_of(port), "/", &[]).status, 200);
    lb.signal(libc::SIGUSR2);
    if !lb.wait_log("upgrade failed", Duration::from_secs(20)) {
        // A successor that did start outlives this handle: stop it, and every process of
        // this config, before failing.
        let config = lb.config_path().display().to_string();
        let _ = Command::new("pkill").args(["-f", &config]).status();
        panic!("no failed upgrade logged:\n{}{}", lb.stderr(), lb.stdout());
    }
    let log = lb.stderr() + &lb.stdout();
    assert!(
        log.contains("upgrade failed: cannot start workers: the kernel refused memory")
            && log.contains("RLIMIT_MEMLOCK")
            && log.contains("this process keeps serving"),
        "the failure names the limit and the old process stays: {log}"
    );
    assert!(lb.is_running(), "the old process is still running");
    assert_eq!(lb.pid(), pid);
    for _ in 0..20 {
        assert_eq!(http_get(addr_of(port), "/", &[]).status, 200);
    }
}

/// Whether this kernel counts io_uring ring memory against `RLIMIT_MEMLOCK` for a process
/// without `CAP_IPC_LOCK` (Linux 6.13+): a ringlb under a 4 KiB limit starts only if not.
fn rings_count_against_memlock() -> bool {
    let cfg = "[global]\nworkers = 1\n\n[frontend.www]\nbind = \"127.0.0.1:0\"\n\
               default_backend = \"web\"\n[backend.web]\n\
               [[backend.web.server]]\nname = \"web\"\naddress = \"127.0.0.1:9\"\n";
    match Ringlb::try_start_wrapped(cfg, &["prlimit", "--memlock=4096:4096", "--"]) {
        Ok(mut lb) => {
            lb.stop();
            false
        }
        Err(e) => e.contains("RLIMIT_MEMLOCK"),
    }
}
