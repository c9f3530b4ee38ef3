//! Operations under load: sd_notify phases, reload storms, binary upgrades with listener
//! handoff. Each test prints its figures.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::load::{Load, SlowDownload};
use common::*;

fn config(port: u16, servers: &[(&str, SocketAddr)], extra_global: &str) -> String {
    let mut s = format!(
        "[global]\nworkers = 2\ngrace = \"20s\"\n{extra_global}\n\
         [frontend.www]\nbind = \"127.0.0.1:{port}\"\ndefault_backend = \"web\"\n\
         [frontend.www.timeout]\nhttp_keep_alive = \"5s\"\n\
         [backend.web]\nretries = 2\nredispatch = true\n"
    );
    for (name, addr) in servers {
        s.push_str(&format!(
            "[[backend.web.server]]\nname = \"{name}\"\naddress = \"{addr}\"\n"
        ));
    }
    s
}

fn lb_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The pid a successor process announced with `MAINPID=` (binary upgrade or a handoff),
/// together with `READY=1`.
fn successor(lb: &mut Ringlb) -> u32 {
    let msg = lb
        .wait_notify_any("MAINPID=", Duration::from_secs(20))
        .expect("a new process announces MAINPID=");
    assert!(msg.contains("READY=1"), "the new process is ready: {msg}");
    msg.lines()
        .find_map(|l| l.strip_prefix("MAINPID="))
        .and_then(|v| v.trim().parse().ok())
        .expect("MAINPID value")
}

fn process_exists(pid: u32) -> bool {
    // A zombie still has /proc/PID; its state is Z.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.split_whitespace().nth(2).is_none_or(|st| st != "Z"),
        Err(_) => false,
    }
}

#[test]
fn notify_sequence_ready_reloading_ready_stopping() {
    let web = Backend::start("web1");
    let port = free_port();
    let mut lb = Ringlb::start(&config(port, &[("web1", web.addr())], ""));
    assert!(lb.notify_history().iter().any(|m| m.contains("READY=1")));
    lb.signal(libc::SIGHUP);
    let reloading = lb
        .wait_notify("RELOADING=1", Duration::from_secs(5))
        .expect("RELOADING=1");
    assert!(
        reloading.contains("MONOTONIC_USEC="),
        "RELOADING=1 carries MONOTONIC_USEC: {reloading}"
    );
    lb.wait_notify("READY=1", Duration::from_secs(5))
        .expect("READY=1 after reload");
    lb.signal(libc::SIGTERM);
    lb.wait_notify("STOPPING=1", Duration::from_secs(5))
        .expect("STOPPING=1");
    let status = lb
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success(), "SIGTERM exit status {status}");
    let order: Vec<&str> = lb
        .notify_history()
        .iter()
        .flat_map(|m| {
            ["READY=1", "RELOADING=1", "STOPPING=1"]
                .into_iter()
                .filter(move |k| m.contains(k))
        })
        .collect::<Vec<_>>();
    assert_eq!(order, ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]);
}

#[test]
fn reload_storm_loses_nothing() {
    let web1 = Backend::start("web1");
    let web2 = Backend::start("web2");
    let port = free_port();
    let one = config(port, &[("web1", web1.addr())], "");
    let two = config(port, &[("web1", web1.addr()), ("web2", web2.addr())], "");
    let broken = format!("{one}\n[backend.web.oops]\n");
    let mut lb = Ringlb::start(&one);
    let load = Load::start(lb_addr(port), 4, Duration::from_secs(240));
    let started = Instant::now();
    let (mut valid, mut invalid, mut web2_seen) = (0, 0, 0);
    for i in 0..220 {
        let bad = i % 11 == 10;
        let text = if bad {
            &broken
        } else if valid % 2 == 0 {
            &two
        } else {
            &one
        };
        lb.write_config(text);
        lb.signal(libc::SIGHUP);
        let ready = lb
            .wait_notify("READY=1", Duration::from_secs(10))
            .expect("READY after reload");
        if bad {
            invalid += 1;
            assert!(
                ready.contains("reload failed"),
                "invalid config reported: {ready}"
            );
            continue;
        }
        if valid % 2 == 0 {
            // web2 was just added: it must get traffic before the next reload removes it.
            let before = web2.requests();
            assert!(
                wait_until(Duration::from_secs(10), || web2.requests() > before),
                "web2 got no traffic after reload {i}"
            );
            web2_seen += 1;
        }
        valid += 1;
    }
    let report = load.finish();
    println!(
        "reload storm: {valid} valid + {invalid} invalid reloads in {:.1?}, {} requests on {} connections, {} failed",
        started.elapsed(),
        report.requests,
        report.connections,
        report.failures
    );
    assert_eq!(report.failures, 0, "failures: {:?}", report.samples);
    assert!(
        report.requests > 1000,
        "the load ran: {} requests",
        report.requests
    );
    assert_eq!((valid, invalid, web2_seen), (200, 20, 100));
    assert!(
        lb.stderr().contains("reload failed"),
        "the failure is logged"
    );
    lb.stop();
}

#[test]
fn upgrade_storm_hands_over_sockets_and_loses_nothing() {
    let web1 = Backend::start("web1");
    let web2 = Backend::start("web2");
    let port = free_port();
    let mut lb = Ringlb::start(&config(
        port,
        &[("web1", web1.addr()), ("web2", web2.addr())],
        "",
    ));
    let addr = lb_addr(port);
    let first_pid = lb.pid();
    let load = Load::start(addr, 4, Duration::from_secs(240));
    // Opened before the first upgrade: a long download and an idle keep-alive connection.
    let download = SlowDownload::start(addr, 64 << 20).expect("start download");
    let mut idle = Client::connect(addr).expect("idle connection");
    assert_eq!(idle.get("/before").expect("first request").status, 200);
    let reader = std::thread::spawn(move || download.finish(256 << 10, Duration::from_millis(10)));

    let started = Instant::now();
    let mut pid = first_pid;
    let mut pids = vec![pid];
    for round in 0..20 {
        signal_pid(pid, libc::SIGUSR2);
        let new_pid = successor(&mut lb);
        assert_ne!(new_pid, pid, "round {round}: a new process");
        if round == 0 {
            // The idle connection belongs to the draining process: its next request is served
            // there, with Connection: close.
            let r = idle
                .get("/after")
                .expect("request on the idle connection after upgrade");
            assert_eq!(r.status, 200);
        }
        // The old process drains and exits by itself.
        if pid == first_pid {
            assert!(
                lb.wait_exit(Duration::from_secs(30)).is_some(),
                "first process exits"
            );
        } else {
            assert!(
                wait_until(Duration::from_secs(30), || !process_exists(pid)),
                "process {pid} exits after draining"
            );
        }
        pid = new_pid;
        pids.push(pid);
    }
    let (head, len, sum) = reader
        .join()
        .expect("reader thread")
        .expect("download completes");
    let report = load.finish();
    println!(
        "upgrade storm: 20 upgrades in {:.1?}, {} requests on {} connections, {} failed; 64 MiB download across upgrades: {len} bytes",
        started.elapsed(),
        report.requests,
        report.connections,
        report.failures
    );
    assert!(head.starts_with("HTTP/1.1 200"), "download head: {head}");
    assert_eq!(
        (len, sum),
        (64 << 20, pattern_sum(64 << 20)),
        "download intact"
    );
    assert_eq!(report.failures, 0, "failures: {:?}", report.samples);
    // Exactly one ringlb left: the newest.
    for p in &pids[..pids.len() - 1] {
        assert!(!process_exists(*p), "old process {p} is gone");
    }
    assert!(process_exists(pid));
    assert_eq!(http_get(addr, "/", &[]).status, 200);
    signal_pid(pid, libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(30), || !process_exists(pid)),
        "last process stops"
    );
}

fn cli(args: &[&str], config: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .args(args)
        .arg("-c")
        .arg(config)
        .output()
        .expect("run ringlb")
}

#[test]
fn reload_and_upgrade_commands_report_the_outcome() {
    let web1 = Backend::start("web1");
    let web2 = Backend::start("web2");
    let port = free_port();
    let sock = unique_dir("ringlb-cli-admin").join("admin.sock");
    let extra = format!("admin_socket = \"{}\"", sock.display());
    let mut lb = Ringlb::start(&config(port, &[("web1", web1.addr())], &extra));
    let path = lb.config_path().to_path_buf();

    lb.write_config(&config(
        port,
        &[("web1", web1.addr()), ("web2", web2.addr())],
        &extra,
    ));
    let out = cli(&["reload"], &path);
    assert!(out.status.success(), "valid reload: {out:?}");
    assert!(wait_until(Duration::from_secs(5), || {
        http_get(lb_addr(port), "/", &[]).backend() == Some("web2")
    }));

    lb.write_config(&format!(
        "{}\n[backend.web.nope]\n",
        config(port, &[("web1", web1.addr())], &extra)
    ));
    let out = cli(&["reload"], &path);
    assert!(!out.status.success(), "an invalid config is refused");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error"),
        "{out:?}"
    );
    let seen: Vec<String> = (0..4)
        .map(|_| {
            http_get(lb_addr(port), "/", &[])
                .backend()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(
        seen.contains(&"web2".to_string()),
        "the previous config keeps serving: {seen:?}"
    );

    lb.write_config(&config(
        port,
        &[("web1", web1.addr()), ("web2", web2.addr())],
        &extra,
    ));
    let out = cli(&["upgrade"], &path);
    assert!(out.status.success(), "upgrade: {out:?}");
    let new_pid = successor(&mut lb);
    assert!(
        lb.wait_exit(Duration::from_secs(30)).is_some(),
        "the old process exits"
    );
    assert_eq!(http_get(lb_addr(port), "/", &[]).status, 200);
    signal_pid(new_pid, libc::SIGTERM);
    assert!(wait_until(Duration::from_secs(30), || !process_exists(
        new_pid
    )));
}

#[test]
fn a_reload_that_changes_the_worker_count_hands_over_to_a_new_process() {
    let web1 = Backend::start("web1");
    let port = free_port();
    let mut lb = Ringlb::start(&config(port, &[("web1", web1.addr())], ""));
    let load = Load::start(lb_addr(port), 2, Duration::from_secs(30));
    let text = config(port, &[("web1", web1.addr())], "").replace("workers = 2", "workers = 1");
    lb.write_config(&text);
    lb.signal(libc::SIGHUP);
    let new_pid = successor(&mut lb);
    assert!(
        lb.wait_exit(Duration::from_secs(30)).is_some(),
        "the old process drains and exits"
    );
    let threads = std::fs::read_dir(format!("/proc/{new_pid}/task"))
        .expect("tasks")
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.starts_with("ringlb-w"))
        })
        .count();
    assert_eq!(threads, 1, "the new process runs one worker");
    let report = load.finish();
    println!(
        "worker count change: {} requests, {} failed",
        report.requests, report.failures
    );
    assert_eq!(report.failures, 0, "{:?}", report.samples);
    signal_pid(new_pid, libc::SIGTERM);
    assert!(wait_until(Duration::from_secs(30), || !process_exists(
        new_pid
    )));
}

#[test]
fn watchdog_pings_when_systemd_asks_for_them() {
    let web1 = Backend::start("web1");
    let port = free_port();
    let mut lb = Ringlb::start_wrapped(
        &config(port, &[("web1", web1.addr())], ""),
        &["env", "WATCHDOG_USEC=200000"],
    );
    lb.wait_notify("WATCHDOG=1", Duration::from_secs(2))
        .expect("WATCHDOG=1 every 100 ms");
    lb.wait_notify("WATCHDOG=1", Duration::from_secs(2))
        .expect("and again");
}

/// New connections opened one after another across binary upgrades: every one gets its
/// answer, whichever process accepts it. One client only, so that no other connection comes to
/// wake an accept for a connection left in the queue by the wake-up of an accept the old
/// process was cancelling (such a connection waited for the client's timeout).
#[test]
fn new_connections_across_binary_upgrades_are_all_answered() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    const ROUNDS: usize = 200;
    // More clients would hide the bug: any next connection unblocks the queue.
    const CLIENTS: usize = 1;
    let web = Backend::start("web1");
    let port = free_port();
    let mut lb = Ringlb::start(&config(port, &[("web1", web.addr())], ""));
    let addr = lb_addr(port);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                // Bounded: stops when asked, or after 200,000 connections at most.
                for _ in 0..200_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match try_http_get(addr, "/", &[]) {
                        Ok(r) if r.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => failed.lock().unwrap().push(format!("status {}", r.status)),
                        Err(e) => failed.lock().unwrap().push(format!("{:?}: {e}", e.kind())),
                    }
                }
            })
        })
        .collect();
    let first_pid = lb.pid();
    let mut pid = first_pid;
    let mut pids = vec![pid];
    for round in 0..ROUNDS {
        // Let connections flow into this process before it hands over.
        let before = ok.load(Ordering::Relaxed);
        assert!(
            wait_until(Duration::from_secs(20), || ok.load(Ordering::Relaxed)
                >= before + 50),
            "round {round}: requests flow"
        );
        signal_pid(pid, libc::SIGUSR2);
        let new_pid = successor(&mut lb);
        assert_ne!(new_pid, pid, "round {round}: a new process");
        if pid == first_pid {
            assert!(
                lb.wait_exit(Duration::from_secs(30)).is_some(),
                "first process exits"
            );
        } else {
            assert!(
                wait_until(Duration::from_secs(30), || !process_exists(pid)),
                "process {pid} exits after draining"
            );
        }
        pid = new_pid;
        pids.push(pid);
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }
    let failed = failed.lock().unwrap().clone();
    println!(
        "{ROUNDS} upgrades under {CLIENTS} connecting clients: {} answered, {} failed: {:?}",
        ok.load(Ordering::Relaxed),
        failed.len(),
        failed.iter().take(10).collect::<Vec<_>>()
    );
    assert!(
        failed.is_empty(),
        "every new connection answered: {failed:?}"
    );
    for p in &pids[..pids.len() - 1] {
        assert!(!process_exists(*p), "old process {p} is gone");
    }
    signal_pid(pid, libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(30), || !process_exists(pid)),
        "last process stops"
    );
}

/// With multishot accept, binary upgrades and reloads under load lose nothing: a draining
/// process cancels its multishot accepts and serves every connection they took before the
/// cancellation, and no connection waits behind a cancelled one. Load of new and kept-alive
/// connections, plus one client that opens a new connection per request (any other
/// connection would hide a connection left unanswered in the queue).
#[test]
fn upgrades_and_reloads_with_multishot_accept_lose_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    const ROUNDS: usize = 10;
    let web1 = Backend::start("web1");
    let web2 = Backend::start("web2");
    let port = free_port();
    let global = "tune_multishot_accept = true";
    let one = config(port, &[("web1", web1.addr())], global);
    let two = config(
        port,
        &[("web1", web1.addr()), ("web2", web2.addr())],
        global,
    );
    let mut lb = Ringlb::start(&one);
    let addr = lb_addr(port);
    let load = Load::start(addr, 4, Duration::from_secs(240));
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let client = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            // Bounded: stops when asked, or after 100,000 connections at most.
            for _ in 0..100_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match try_http_get(addr, "/", &[]) {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failed.lock().unwrap().push(format!("status {}", r.status)),
                    Err(e) => failed.lock().unwrap().push(format!("{:?}: {e}", e.kind())),
                }
            }
        })
    };
    let first_pid = lb.pid();
    let mut pid = first_pid;
    let mut pids = vec![pid];
    for round in 0..ROUNDS {
        let before = ok.load(Ordering::Relaxed);
        assert!(
            wait_until(Duration::from_secs(20), || ok.load(Ordering::Relaxed)
                >= before + 50),
            "round {round}: requests flow"
        );
        // A reload (the config alternates between one and two servers) ...
        lb.write_config(if round % 2 == 0 { &two } else { &one });
        signal_pid(pid, libc::SIGHUP);
        let ready = lb
            .wait_notify_any("READY=1", Duration::from_secs(10))
            .expect("READY after reload");
        assert!(!ready.contains("reload failed"), "round {round}: {ready}");
        let before = ok.load(Ordering::Relaxed);
        assert!(
            wait_until(Duration::from_secs(20), || ok.load(Ordering::Relaxed)
                >= before + 50),
            "round {round}: requests flow after the reload"
        );
        // ... then a binary upgrade; the old process drains and exits by itself.
        signal_pid(pid, libc::SIGUSR2);
        let new_pid = successor(&mut lb);
        assert_ne!(new_pid, pid, "round {round}: a new process");
        if pid == first_pid {
            assert!(
                lb.wait_exit(Duration::from_secs(30)).is_some(),
                "first process exits"
            );
        } else {
            assert!(
                wait_until(Duration::from_secs(30), || !process_exists(pid)),
                "process {pid} exits after draining"
            );
        }
        pid = new_pid;
        pids.push(pid);
    }
    stop.store(true, Ordering::Relaxed);
    client.join().expect("client thread");
    let report = load.finish();
    let failed = failed.lock().unwrap().clone();
    println!(
        "{ROUNDS} reloads and {ROUNDS} upgrades with multishot accept: load {} requests on {} \
         connections, {} failed; connecting client {} answered, {} failed: {:?}",
        report.requests,
        report.connections,
        report.failures,
        ok.load(Ordering::Relaxed),
        failed.len(),
        failed.iter().take(10).collect::<Vec<_>>()
    );
    assert_eq!(report.failures, 0, "load failures: {:?}", report.samples);
    assert!(
        failed.is_empty(),
        "every new connection answered: {failed:?}"
    );
    for p in &pids[..pids.len() - 1] {
        assert!(!process_exists(*p), "old process {p} is gone");
    }
    assert_eq!(accept_queue(port), 0, "nothing is left in the accept queue");
    signal_pid(pid, libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(30), || !process_exists(pid)),
        "last process stops"
    );
}

/// Connections waiting in the accept queue of the listener on `127.0.0.1:port` (`ss`'s
/// `Recv-Q` of a listening socket).
fn accept_queue(port: u16) -> usize {
    let out = std::process::Command::new("ss")
        .arg("-Hltn")
        .output()
        .expect("ss runs (iproute2)");
    let local = format!("127.0.0.1:{port}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(3) == Some(&local.as_str())).then(|| f.get(1)?.parse::<usize>().ok())?
        })
        .sum()
}

/// Connections the kernel queued on a listener the old process no longer accepts from (it is
/// at `maxconn`) are all answered across a binary upgrade: the old process's cancelled
/// accepts and its drain leave none in the queue unanswered or waiting for a later
/// connection to wake an accept.
#[test]
fn connections_queued_on_a_full_process_are_answered_across_an_upgrade() {
    use std::sync::{Arc, Mutex};
    /// Connections left waiting in the kernel's queue.
    const QUEUED: usize = 40;
    let web = Backend::start("web1");
    let port = free_port();
    let mut lb = Ringlb::start(&config(port, &[("web1", web.addr())], "maxconn = 2"));
    let addr = lb_addr(port);
    let old = lb.pid();
    // Two slow requests fill the process: it stops accepting, the kernel queues the rest.
    let holders: Vec<_> = (0..2)
        .map(|i| {
            std::thread::spawn(move || {
                try_http_get(
                    addr,
                    &format!("/hold{i}"),
                    &[("x-delay-ms", "3000"), ("connection", "close")],
                )
            })
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || web.requests() >= 2),
        "both slow requests reach the backend"
    );
    let times = Arc::new(Mutex::new(Vec::new()));
    let began = Instant::now();
    let queued: Vec<_> = (0..QUEUED)
        .map(|i| {
            let times = times.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = try_http_get(addr, &format!("/queued{i}"), &[("connection", "close")]);
                times.lock().unwrap().push(t.elapsed());
                r
            })
        })
        .collect();
    // An accept armed before the process filled up may take one per worker; the others wait
    // in the kernel's queue.
    assert!(
        wait_until(Duration::from_secs(10), || accept_queue(port) >= QUEUED - 2),
        "the connections wait in the accept queue (ss shows {})",
        accept_queue(port)
    );
    let waiting = accept_queue(port);
    let upgrade_at = began.elapsed();
    signal_pid(old, libc::SIGUSR2);
    let new = successor(&mut lb);
    let ready_at = began.elapsed();
    assert_ne!(new, old);
    let mut failed = Vec::new();
    for (i, q) in queued.into_iter().enumerate() {
        match q.join().expect("client thread") {
            Ok(r) if r.status == 200 => {}
            Ok(r) => failed.push(format!("queued{i}: status {}", r.status)),
            Err(e) => failed.push(format!("queued{i}: {:?} {e}", e.kind())),
        }
    }
    for (i, h) in holders.into_iter().enumerate() {
        match h.join().expect("holder thread") {
            Ok(r) if r.status == 200 => {}
            Ok(r) => failed.push(format!("hold{i}: status {}", r.status)),
            Err(e) => failed.push(format!("hold{i}: {:?} {e}", e.kind())),
        }
    }
    let times = times.lock().unwrap().clone();
    println!(
        "{QUEUED} connections ({waiting} in the accept queue at the upgrade, {upgrade_at:?} after the first; new process ready after {ready_at:?}) behind a full process: {} failed, slowest answered after {:?}",
        failed.len(),
        times.iter().max()
    );
    assert!(
        failed.is_empty(),
        "every queued connection is answered: {failed:?}"
    );
    assert!(
        wait_until(Duration::from_secs(30), || !process_exists(old)),
        "the old process drains and exits"
    );
    assert_eq!(accept_queue(port), 0, "nothing is left in the accept queue");
    signal_pid(new, libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(30), || !process_exists(new)),
        "the new process stops"
    );
}

/// A process that stops right after its last requests writes every access log line they
/// queued before it exits, even behind a slow log sink: here a Unix datagram socket that reads
/// nothing until the workers have stopped, so the writer is blocked and most lines still wait
/// in ringlb's queue. (The writer thread died with the process, and those lines were lost
/// uncounted.)
#[test]
fn a_stopping_process_writes_every_queued_access_log_line() {
    use std::os::unix::net::UnixDatagram;
    // More than a sink queue of 512 datagrams (a common `net.unix.max_dgram_qlen`) holds.
    const REQUESTS: usize = 2000;
    let web = Backend::start("web1");
    let port = free_port();
    let path = unique_dir("ringlb-logsink").join("log.sock");
    let sink = UnixDatagram::bind(&path).expect("bind the log sink");
    let mut lb = Ringlb::start(&format!(
        "[global]\nworkers = 2\ngrace = \"20s\"\n\
         [log]\ntarget = \"unix://{}\"\n\
         [frontend.www]\nbind = \"127.0.0.1:{port}\"\ndefault_backend = \"web\"\nlog = true\n\
         [backend.web]\n[[backend.web.server]]\nname = \"web1\"\naddress = \"{}\"\n",
        path.display(),
        web.addr()
    ));
    let mut client = Client::connect(lb_addr(port)).expect("connect");
    for i in 0..REQUESTS {
        let r = client.get(&format!("/r{i}")).expect("response");
        assert_eq!(r.status, 200);
    }
    drop(client);
    let pid = lb.pid();
    lb.signal(libc::SIGTERM);
    // Read nothing until the workers are gone: the process has drained and, but for its
    // queued lines, would exit now.
    let workers = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| {
                tasks
                    .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                    .filter(|c| c.starts_with("ringlb-w"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(20), || workers() == 0),
        "the workers stop"
    );
    sink.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    let mut lines = 0usize;
    while lines < REQUESTS {
        match sink.recv(&mut buf) {
            Ok(n) if String::from_utf8_lossy(&buf[..n]).contains(" HTTP/1.1\"") => lines += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let status = lb
        .wait_exit(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert_eq!(lines, REQUESTS, "every request's line reached the sink");
}
