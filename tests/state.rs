//! Server state that survives: admin state (maint, drain), runtime weights and health verdicts
//! carried to the new process of a binary upgrade and of a reload that changes the worker
//! count, and through the state file to the next start; a corrupt or stale state file never
//! prevents a start.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// Where a test's ringlb keeps its admin socket and state file, across restarts.
struct Place {
    dir: PathBuf,
    port: u16,
}

impl Place {
    fn new() -> Place {
        Place {
            dir: unique_dir("ringlb-state"),
            port: free_port(),
        }
    }
    fn state_file(&self) -> PathBuf {
        self.dir.join("lib").join("state")
    }
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
    /// A config with servers `servers` in backend `web`, `check` added to the backend.
    fn config(&self, workers: usize, servers: &[(&str, SocketAddr)], check: &str) -> String {
        let mut s = format!(
            "[global]\nworkers = {workers}\ngrace = \"10s\"\nadmin_socket = \"{}\"\n\
             state_file = \"{}\"\n\
             [frontend.www]\nbind = \"127.0.0.1:{}\"\ndefault_backend = \"web\"\n\
             [backend.web]\n{check}\n",
            self.dir.join("admin.sock").display(),
            self.state_file().display(),
            self.port
        );
        for (name, addr) in servers {
            s.push_str(&format!(
                "[[backend.web.server]]\nname = \"{name}\"\naddress = \"{addr}\"\nweight = 10\n"
            ));
        }
        s
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `ringlb admin ARGS` against the config at `config`; panics unless it succeeds.
fn admin(config: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("admin")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .expect("run ringlb admin");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ringlb admin {args:?}: {text}");
    text
}

/// The `show servers` line of server `name`: (status, weight).
fn server_line(config: &Path, name: &str) -> (String, u32) {
    let out = admin(config, &["show", "servers"]);
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("web {name} ")))
        .unwrap_or_else(|| panic!("no line for {name} in {out}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[3].to_string(), f[4].parse().expect("weight"))
}

/// Which backends answered `n` requests.
fn answered(addr: SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let r = http_get(addr, "/", &[]);
            assert_eq!(r.status, 200, "every request is answered");
            r.backend().unwrap_or("").to_string()
        })
        .collect()
}

/// The pid announced with `MAINPID=` and `READY=1` by a successor process.
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
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.split_whitespace().nth(2).is_none_or(|st| st != "Z"),
        Err(_) => false,
    }
}

fn stop_pid(pid: u32) {
    signal_pid(pid, libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(20), || !process_exists(pid)),
        "process {pid} stops"
    );
}

#[test]
fn maint_and_weights_survive_a_worker_change_an_upgrade_and_a_restart() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let c = Backend::start("c");
    let place = Place::new();
    let servers = [("a", a.addr()), ("b", b.addr()), ("c", c.addr())];
    let mut lb = Ringlb::start(&place.config(2, &servers, ""));
    let cfg = lb.config_path().to_path_buf();
    admin(&cfg, &["set", "server", "web/a", "state", "maint"]);
    admin(&cfg, &["set", "server", "web/b", "weight", "7"]);
    admin(&cfg, &["set", "server", "web/c", "state", "drain"]);
    let expect = |cfg: &Path, when: &str| {
        assert_eq!(server_line(cfg, "a").0, "MAINT", "a in maint {when}");
        assert_eq!(
            server_line(cfg, "b"),
            ("NOCHECK".into(), 7),
            "b weight {when}"
        );
        assert_eq!(server_line(cfg, "c").0, "DRAIN", "c draining {when}");
        let seen = answered(place.addr(), 12);
        assert!(
            seen.iter().all(|s| s == "b"),
            "only b serves {when}: {seen:?}"
        );
    };
    expect(&cfg, "at first");

    // A reload that changes the worker count starts a new process.
    lb.write_config(&place.config(1, &servers, ""));
    lb.signal(libc::SIGHUP);
    let second = successor(&mut lb);
    assert!(
        lb.wait_exit(Duration::from_secs(20)).is_some(),
        "old process exits"
    );
    let a_before = a.requests();
    expect(&cfg, "after a reload to 1 worker");

    // A binary upgrade.
    admin(&cfg, &["upgrade"]);
    let third = successor(&mut lb);
    assert_ne!(third, second);
    assert!(
        wait_until(Duration::from_secs(20), || !process_exists(second)),
        "the upgraded process exits"
    );
    expect(&cfg, "after an upgrade");
    assert_eq!(a.requests(), a_before, "a in maint got nothing");

    // Stop, then start again from the state file.
    stop_pid(third);
    let saved = std::fs::read_to_string(place.state_file()).expect("state file written");
    assert!(saved.contains("admin = \"maint\""), "{saved}");
    drop(lb);
    let lb = Ringlb::start(&place.config(1, &servers, ""));
    assert!(
        lb.wait_log(
            "state: restored 3 of 3 saved servers from the state file",
            Duration::from_secs(5)
        ),
        "{}",
        lb.stderr()
    );
    expect(lb.config_path(), "after a stop and start");
    assert_eq!(a.requests(), a_before, "a in maint got nothing");
}

/// A web node whose `/health` answers the status the test sets, counting other requests.
struct Node {
    raw: RawBackend,
    health: Arc<AtomicU16>,
    served: Arc<AtomicU64>,
}

impl Node {
    fn start(name: &'static str) -> Node {
        let health = Arc::new(AtomicU16::new(200));
        let served = Arc::new(AtomicU64::new(0));
        let (h, s) = (health.clone(), served.clone());
        let raw = RawBackend::start(move |mut stream: TcpStream| {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut tmp) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
            let status = if buf.starts_with(b"GET /health ") {
                h.load(Ordering::SeqCst)
            } else {
                s.fetch_add(1, Ordering::SeqCst);
                200
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nX-Backend: {name}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        });
        Node {
            raw,
            health,
            served,
        }
    }
}

/// Slow enough that, were health not handed over, the new process would count the DOWN server
/// UP for about a second after the upgrade; rise 2 so its way back is visible.
const CHECK: &str = "[backend.web.check]\ntype = \"http\"\npath = \"/health\"\n\
    inter = \"1s\"\nfastinter = \"300ms\"\ndowninter = \"1s\"\nrise = 2\nfall = 1\ntimeout = \"500ms\"";

#[test]
fn a_down_server_stays_down_after_an_upgrade_until_its_check_passes() {
    let a = Node::start("a");
    let b = Node::start("b");
    let place = Place::new();
    let servers = [("a", a.raw.addr()), ("b", b.raw.addr())];
    let mut lb = Ringlb::start(&place.config(2, &servers, CHECK));
    let cfg = lb.config_path().to_path_buf();
    a.health.store(503, Ordering::SeqCst);
    assert!(
        lb.wait_log("server web/a is DOWN", Duration::from_secs(10)),
        "{}",
        lb.stderr()
    );
    admin(&cfg, &["upgrade"]);
    let new_pid = successor(&mut lb);
    let served = a.served.load(Ordering::SeqCst);
    // Right after the upgrade: nothing for a, which the new process has not checked yet.
    let seen = answered(place.addr(), 20);
    assert!(seen.iter().all(|s| s == "b"), "a stays DOWN: {seen:?}");
    assert_eq!(a.served.load(Ordering::SeqCst), served);
    let (status, _) = server_line(&cfg, "a");
    assert!(status == "DOWN" || status == "GOING_UP", "{status}");
    assert!(
        lb.wait_exit(Duration::from_secs(20)).is_some(),
        "old process exits"
    );

    // Its check passes again: rise (2) checks later it is UP and serves.
    a.health.store(200, Ordering::SeqCst);
    assert!(
        lb.wait_log("server web/a is UP", Duration::from_secs(10)),
        "{}",
        lb.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(5), || answered(place.addr(), 4)
            .iter()
            .any(|s| s == "a")),
        "a serves once UP"
    );
    stop_pid(new_pid);
    let saved = std::fs::read_to_string(place.state_file()).expect("state file written");
    assert!(saved.contains("downs = 1"), "the DOWN is counted: {saved}");
}

#[test]
fn a_down_server_stays_down_after_a_restart() {
    let a = Node::start("a");
    let b = Node::start("b");
    let place = Place::new();
    let servers = [("a", a.raw.addr()), ("b", b.raw.addr())];
    let mut lb = Ringlb::start(&place.config(2, &servers, CHECK));
    a.health.store(503, Ordering::SeqCst);
    assert!(lb.wait_log("server web/a is DOWN", Duration::from_secs(10)));
    assert!(lb.stop().is_some_and(|s| s.success()));
    drop(lb);
    let lb = Ringlb::start(&place.config(2, &servers, CHECK));
    let seen = answered(place.addr(), 20);
    assert!(seen.iter().all(|s| s == "b"), "a stays DOWN: {seen:?}");
    assert_eq!(server_line(lb.config_path(), "a").0, "DOWN");
}

#[test]
fn a_corrupt_or_stale_state_file_never_prevents_a_start() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let place = Place::new();
    let servers = [("a", a.addr()), ("b", b.addr())];
    std::fs::create_dir_all(place.state_file().parent().unwrap()).unwrap();

    // Garbage: ringlb starts, says so, serves, and writes a good file.
    std::fs::write(place.state_file(), b"\x00\x01 not [ a state file").unwrap();
    let lb = Ringlb::start(&place.config(2, &servers, ""));
    assert!(
        lb.wait_log("is not usable", Duration::from_secs(5)),
        "{}",
        lb.stderr()
    );
    assert_eq!(answered(place.addr(), 4).len(), 4);
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read_to_string(
            place.state_file()
        )
        .is_ok_and(|t| t.contains("[[server]]"))),
        "the file is rewritten"
    );
    drop(lb);

    // Stale: a server that is gone, a server that moved, one whose weight was reconfigured.
    let moved = free_addr();
    let stale = format!(
        "version = 1\nwritten_unix_ms = 1\n\
         [[server]]\nbackend = \"web\"\nname = \"gone\"\naddress = \"{moved}\"\nadmin = \"maint\"\nconfig_weight = 10\nchecks = true\nup = false\n\
         [[server]]\nbackend = \"old\"\nname = \"x\"\naddress = \"{moved}\"\nadmin = \"maint\"\nconfig_weight = 10\nchecks = true\nup = false\n\
         [[server]]\nbackend = \"web\"\nname = \"a\"\naddress = \"{}\"\nadmin = \"maint\"\nweight = 3\nconfig_weight = 10\nchecks = true\nup = true\n\
         [[server]]\nbackend = \"web\"\nname = \"b\"\naddress = \"{}\"\nadmin = \"ready\"\nweight = 3\nconfig_weight = 5\nchecks = true\nup = true\n",
        a.addr(),
        b.addr()
    );
    std::fs::write(place.state_file(), stale).unwrap();
    let lb = Ringlb::start(&place.config(2, &servers, ""));
    for line in [
        "state: server web/gone is no longer configured",
        "state: server old/x is no longer configured (no backend \"old\")",
        "state: server web/b: configured weight changed from 5 to 10; the runtime weight 3 is dropped",
        "state: restored 2 of 4 saved servers",
    ] {
        assert!(lb.wait_log(line, Duration::from_secs(5)), "{line}\n{}", lb.stderr());
    }
    assert_eq!(server_line(lb.config_path(), "a"), ("MAINT".into(), 3));
    assert_eq!(server_line(lb.config_path(), "b"), ("NOCHECK".into(), 10));
    let seen = answered(place.addr(), 6);
    assert!(seen.iter().all(|s| s == "b"), "{seen:?}");
}
