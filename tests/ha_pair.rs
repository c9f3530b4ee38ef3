//! HA pair, end to end: two appliances (ringlb + keepalived with the config `ringlb ha render`
//! writes, unicast VRRP), two nginx web servers and a client, each in a network namespace the
//! test creates, joined by a bridge in a "switch" namespace of its own. Nothing touches the
//! host's interfaces or routes; all addresses live inside those namespaces (10.203.0.0/24).
//!
//! ```text
//!             switch netns: bridge br0
//!   lb1 .11   lb2 .12   web1 .21   web2 .22   client .31      VIP 10.203.0.100
//! ```
//!
//! The client requests the VIP every 20 ms; ringlb on the master is killed (SIGKILL, a crash);
//! its track script fails twice, keepalived gives the VIP up (FAULT) and the backup takes it.
//! Prints `FIGURE: VIP moved in X.XX s, N of M requests failed during failover`. Then ringlb
//! comes back on the old master, which must not take the VIP back (`nopreempt`).
//!
//! Needs root, `ip`, keepalived and nginx (`scripts/test` installs them); otherwise it prints a
//! SKIP line with the reason (`RINGLB_HA_TEST_REQUIRED=1` turns that into a failure). Every
//! namespace and process is removed by [`Lab`]'s `Drop`, also when an assertion fails.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const RINGLB: &str = env!("CARGO_BIN_EXE_ringlb");
const VIP: &str = "10.203.0.100";
const PREFIX: u8 = 24;
/// Host part → (name, address) of every namespace on the bridge.
const HOSTS: &[(&str, &str)] = &[
    ("lb1", "10.203.0.11"),
    ("lb2", "10.203.0.12"),
    ("web1", "10.203.0.21"),
    ("web2", "10.203.0.22"),
    ("client", "10.203.0.31"),
];
/// Time between two client requests.
const REQUEST_EVERY: Duration = Duration::from_millis(20);
/// Bounds of one client request.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const IO_TIMEOUT: Duration = Duration::from_millis(1000);
/// The client stops by itself after this long, whatever happens.
const CLIENT_LIMIT: Duration = Duration::from_secs(40);
/// Upper bound accepted for the failover (the goal is 3 s; see docs/ha.md for the figure).
const FAILOVER_LIMIT: Duration = Duration::from_secs(8);

fn addr_of(host: &str) -> &'static str {
    HOSTS
        .iter()
        .find(|(h, _)| *h == host)
        .map(|(_, a)| *a)
        .unwrap_or_else(|| panic!("no host {host}"))
}

// ---- skipping -----------------------------------------------------------------------------

fn skip(reason: &str) {
    if std::env::var_os("RINGLB_HA_TEST_REQUIRED").is_some_and(|v| v == "1") {
        panic!("ha_pair cannot run and RINGLB_HA_TEST_REQUIRED=1: {reason}");
    }
    eprintln!("\n=== SKIP ha_pair: {reason} ===\n");
    println!("SKIP ha_pair: {reason}");
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|r| r.split_whitespace().nth(1) == Some("0"))
            })
        })
        .unwrap_or(false)
}

/// Full path of `prog` on PATH or in the sbin directories (`sudo` paths without sbin).
fn find_program(prog: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file());
    found
}

// ---- the lab: namespaces, processes, cleanup -------------------------------------------------

/// Namespaces and processes of one run; `Drop` removes them all.
struct Lab {
    /// Unique per run: namespace names start with it.
    tag: String,
    dir: PathBuf,
    ip: PathBuf,
    namespaces: Vec<String>,
    /// keepalived instances: stopped with SIGTERM first so they remove their addresses.
    keepaliveds: Vec<Child>,
    /// ringlb in lb1 and lb2, in that order.
    ringlbs: Vec<Child>,
    others: Vec<Child>,
}

impl Lab {
    fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.tag)
    }

    /// Runs `ip ARGS`, returning stdout or the error with stderr.
    fn ip(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.ip)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// The switch namespace with its bridge, and one namespace per host with `eth0` on it.
    fn build(&mut self) -> Result<(), String> {
        let sw = self.ns("sw");
        self.ip(&["netns", "add", &sw])?;
        self.namespaces.push(sw.clone());
        self.ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        self.ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for (host, addr) in HOSTS {
            let ns = self.ns(host);
            self.ip(&["netns", "add", &ns])?;
            self.namespaces.push(ns.clone());
            // The veth is created in the switch namespace with its peer moved straight into
            // the host's: nothing appears in the namespace the test runs in.
            self.ip(&[
                "-n", &sw, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ])?;
            self.ip(&["-n", &sw, "link", "set", host, "master", "br0", "up"])?;
            self.ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/{PREFIX}"),
                "dev",
                "eth0",
            ])?;
            self.ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            self.ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Starts `prog ARGS` in `host`'s namespace, output to `DIR/<log>.log`.
    fn spawn(&self, host: &str, log: &str, prog: &Path, args: &[&str]) -> Child {
        let out = File::create(self.dir.join(format!("{log}.log")))
            .unwrap_or_else(|e| panic!("create log {log}: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("log {log}: {e}"));
        // `ip netns exec` execs the program: the child's pid is the program's.
        Command::new(&self.ip)
            .args(["netns", "exec", &self.ns(host)])
            .arg(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {} in {host}: {e}", prog.display()))
    }

    /// Does `host` hold the VIP on eth0?
    fn holds_vip(&self, host: &str) -> bool {
        self.ip(&["-n", &self.ns(host), "-o", "addr", "show", "dev", "eth0"])
            .map(|s| s.contains(&format!(" {VIP}/{PREFIX} ")))
            .unwrap_or(false)
    }

    fn log(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The logs, for a failure message.
    fn logs(&self) -> String {
        let mut s = String::new();
        let mut names: Vec<_> = fs::read_dir(&self.dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for p in names
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
        {
            let text = fs::read_to_string(p).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            s.push_str(&format!(
                "\n--- {} (last {} lines)\n",
                p.display(),
                tail.len()
            ));
            for l in tail.iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

fn stop(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.keepaliveds {
            stop(c, Duration::from_secs(3));
        }
        for c in self.ringlbs.iter_mut().chain(self.others.iter_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Anything left in our namespaces (keepalived's VRRP child, a check script) was
        // started by this test: end it by pid before the namespaces go.
        for ns in &self.namespaces {
            if let Ok(pids) = self.ip(&["netns", "pids", ns]) {
                for pid in pids
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = self.ip(&["netns", "del", ns]) {
                eprintln!("ha_pair cleanup: {e}");
            }
        }
        if thread::panicking() {
            eprintln!("ha_pair: logs kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ---- configs ------------------------------------------------------------------------------

fn nginx_conf(dir: &Path, name: &str) -> String {
    let addr = addr_of(name);
    let d = dir.display();
    format!(
        "# {name}: one process, no daemon, everything under the test's directory.\n\
         daemon off;\nmaster_process off;\nworker_processes 1;\n\
         pid {d}/{name}.pid;\nerror_log {d}/{name}-error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  server {{\n    listen {addr}:80;\n\
         \x20   location / {{ default_type text/plain; return 200 \"{name} via $remote_addr\\n\"; }}\n\
         \x20 }}\n}}\n"
    )
}

fn ringlb_conf(dir: &Path, lb: &str, peer: &str, priority: u8) -> String {
    format!(
        "[global]\nworkers = 1\nadmin_socket = \"{d}/{lb}.sock\"\n\n\
         [frontend.www]\nbind = \"0.0.0.0:80\"\ndefault_backend = \"web\"\n\n\
         [backend.web]\n\
         [[backend.web.server]]\nname = \"web1\"\naddress = \"{w1}:80\"\n\
         [[backend.web.server]]\nname = \"web2\"\naddress = \"{w2}:80\"\n\n\
         [ha]\ninterface = \"eth0\"\nvirtual_ips = [\"{VIP}/{PREFIX}\"]\nrouter_id = 203\n\
         priority = {priority}\nstate = \"BACKUP\"\nunicast_src = \"{src}\"\npeers = [\"{peer}\"]\n\
         auth_pass = \"ringlbT\"\nadvert_int = \"1s\"\ncheck_interval = \"1s\"\n",
        d = dir.display(),
        w1 = addr_of("web1"),
        w2 = addr_of("web2"),
        src = addr_of(lb),
        peer = addr_of(peer),
    )
}

/// `ringlb ha render` for `lb`, as root (the test has no `ringlb` account).
fn render(dir: &Path, lb: &str) -> PathBuf {
    let out = dir.join(format!("{lb}-keepalived.conf"));
    let status = Command::new(RINGLB)
        .args(["ha", "render", "-c"])
        .arg(dir.join(format!("{lb}.toml")))
        .arg("-o")
        .arg(&out)
        .args([
            "--router-name",
            lb,
            "--script-user",
            "root",
            "--binary",
            RINGLB,
        ])
        .arg("--notify-log")
        .arg(dir.join(format!("{lb}-notify.log")))
        .status()
        .unwrap_or_else(|e| panic!("ringlb ha render: {e}"));
    assert!(status.success(), "ringlb ha render -c {lb}.toml failed");
    out
}

fn ringlb_healthy(dir: &Path, lb: &str) -> bool {
    Command::new(RINGLB)
        .args(["ha", "check", "-c"])
        .arg(dir.join(format!("{lb}.toml")))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(10));
    }
    None
}

// ---- the client -----------------------------------------------------------------------------

/// One request: when it started, and which load balancer forwarded it (or why it failed).
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    via: Result<String, String>,
}

/// One GET to the VIP; Ok(the load balancer address the web server saw).
fn get(vip: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&vip, CONNECT_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp);
    if !text.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "status {}",
            text.lines().next().unwrap_or("(none)")
        ));
    }
    text.rsplit(" via ")
        .next()
        .map(|a| a.trim().to_string())
        .filter(|a| a.starts_with("10.203.0."))
        .ok_or_else(|| format!("unexpected body: {text:?}"))
}

/// Requests the VIP every [`REQUEST_EVERY`] from the client namespace (a thread that joined
/// it with `setns`) until `stop` is set or [`CLIENT_LIMIT`] passes.
fn start_client(
    netns: PathBuf,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Result<(), String>> {
    thread::spawn(move || {
        let ns = File::open(&netns).map_err(|e| format!("open {}: {e}", netns.display()))?;
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns client: {e}"))?;
        let vip = SocketAddr::from((
            VIP.parse::<std::net::Ipv4Addr>()
                .map_err(|e| e.to_string())?,
            80,
        ));
        let start = Instant::now();
        while !stop.load(Ordering::SeqCst) && start.elapsed() < CLIENT_LIMIT {
            let at = Instant::now();
            let via = get(vip);
            if let Ok(mut s) = samples.lock() {
                s.push(Sample { at, via });
            }
            if let Some(rest) = REQUEST_EVERY.checked_sub(at.elapsed()) {
                thread::sleep(rest);
            }
        }
        Ok(())
    })
}

// ---- the test -------------------------------------------------------------------------------

#[test]
fn vip_moves_when_ringlb_dies_on_the_master() {
    if !is_root() {
        return skip("needs root (network namespaces, VRRP)");
    }
    let mut tools = Vec::new();
    for prog in ["ip", "keepalived", "nginx"] {
        match find_program(prog) {
            Some(p) => tools.push(p),
            None => {
                return skip(&format!(
                    "{prog} is not installed (Debian: iproute2, keepalived, nginx-light)"
                ))
            }
        }
    }
    let (ip, keepalived, nginx) = (tools[0].clone(), tools[1].clone(), tools[2].clone());

    let tag = format!("rlbha{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("ringlb-{tag}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let mut lab = Lab {
        tag,
        dir: dir.clone(),
        ip,
        namespaces: Vec::new(),
        keepaliveds: Vec::new(),
        ringlbs: Vec::new(),
        others: Vec::new(),
    };
    if let Err(e) = lab.build() {
        // Cannot make namespaces, a bridge or veths here (a container without the rights):
        // an environment limit, not a ringlb failure.
        return skip(&format!("cannot build the test network: {e}"));
    }
    let test_start = Instant::now();

    // Web servers.
    for web in ["web1", "web2"] {
        let conf = dir.join(format!("{web}-nginx.conf"));
        fs::write(&conf, nginx_conf(&dir, web)).unwrap_or_else(|e| panic!("{e}"));
        let conf = conf.display().to_string();
        let child = lab.spawn(web, web, &nginx, &["-c", &conf, "-e", "stderr"]);
        lab.others.push(child);
    }

    // Load balancers: ringlb first, then keepalived with the rendered config.
    let lbs = [("lb1", "lb2", 150u8), ("lb2", "lb1", 100u8)];
    for (lb, peer, prio) in lbs {
        fs::write(
            dir.join(format!("{lb}.toml")),
            ringlb_conf(&dir, lb, peer, prio),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let conf = dir.join(format!("{lb}.toml")).display().to_string();
        let child = lab.spawn(
            lb,
            &format!("{lb}-ringlb"),
            Path::new(RINGLB),
            &["run", "-c", &conf],
        );
        lab.ringlbs.push(child);
    }
    for (lb, _, _) in lbs {
        assert!(
            wait_for(Duration::from_secs(10), || ringlb_healthy(&dir, lb)).is_some(),
            "ringlb in {lb} never answered `ringlb ha check`{}",
            lab.logs()
        );
    }
    for (lb, _, _) in lbs {
        let conf = render(&dir, lb).display().to_string();
        let pid = dir
            .join(format!("{lb}-keepalived.pid"))
            .display()
            .to_string();
        let vrrp_pid = dir.join(format!("{lb}-vrrp.pid")).display().to_string();
        // -n foreground, -l -D detailed log on the console (our log file), -G no syslog,
        // -P VRRP only; pid files of our own so it cannot meet the host's keepalived.
        let child = lab.spawn(
            lb,
            &format!("{lb}-keepalived"),
            &keepalived,
            &[
                "-n", "-l", "-D", "-G", "-P", "-f", &conf, "-p", &pid, "-r", &vrrp_pid,
            ],
        );
        lab.keepaliveds.push(child);
    }

    // Election: both start BACKUP, the higher priority (lb1) becomes MASTER after about
    // 3 advertisement intervals.
    let elected = wait_for(Duration::from_secs(15), || lab.holds_vip("lb1"));
    assert!(elected.is_some(), "lb1 never took the VIP{}", lab.logs());
    assert!(!lab.holds_vip("lb2"), "both hold the VIP{}", lab.logs());
    println!(
        "ha_pair: lb1 MASTER {:.2} s after keepalived started",
        elected.map_or(0.0, |d| d.as_secs_f64())
    );

    // Traffic through lb1.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop_client = Arc::new(AtomicBool::new(false));
    let client = start_client(
        PathBuf::from("/run/netns").join(lab.ns("client")),
        samples.clone(),
        stop_client.clone(),
    );
    let snapshot = || samples.lock().map(|s| s.clone()).unwrap_or_default();
    let lb1 = addr_of("lb1").to_string();
    let lb2 = addr_of("lb2").to_string();
    let warm = wait_for(Duration::from_secs(10), || {
        snapshot()
            .iter()
            .filter(|s| s.via.as_deref() == Ok(lb1.as_str()))
            .count()
            >= 20
    });
    assert!(
        warm.is_some(),
        "no traffic through lb1 on the VIP: {:?}{}",
        snapshot().last(),
        lab.logs()
    );

    // Crash ringlb on the master.
    let killed_at = Instant::now();
    let _ = lab.ringlbs[0].kill();
    let _ = lab.ringlbs[0].wait();
    let moved = wait_for(FAILOVER_LIMIT, || lab.holds_vip("lb2"));
    let served = wait_for(FAILOVER_LIMIT, || {
        snapshot()
            .iter()
            .any(|s| s.at > killed_at && s.via.as_deref() == Ok(lb2.as_str()))
    });
    thread::sleep(Duration::from_secs(1));
    stop_client.store(true, Ordering::SeqCst);
    let client_result = client.join();

    let all = snapshot();
    let after: Vec<&Sample> = all.iter().filter(|s| s.at >= killed_at).collect();
    let failed: Vec<&Sample> = after.iter().copied().filter(|s| s.via.is_err()).collect();
    let first_ok_via_lb2 = after
        .iter()
        .find(|s| s.via.as_deref() == Ok(lb2.as_str()))
        .map(|s| s.at.duration_since(killed_at));
    let last_failure = failed.last().map(|s| s.at.duration_since(killed_at));
    let Some(moved) = moved else {
        panic!(
            "the VIP did not reach lb2 within {FAILOVER_LIMIT:?} of the crash{}",
            lab.logs()
        );
    };
    println!(
        "FIGURE: VIP moved in {:.2} s, {} of {} requests failed during failover",
        moved.as_secs_f64(),
        failed.len(),
        after.len()
    );
    println!(
        "ha_pair: first request served through lb2 {:.2} s after the crash; last failed request \
         started at {:.2} s; failures: {:?}",
        first_ok_via_lb2.map_or(f64::NAN, |d| d.as_secs_f64()),
        last_failure.map_or(0.0, |d| d.as_secs_f64()),
        failed
            .iter()
            .map(|s| s.via.as_ref().err().cloned().unwrap_or_default())
            .collect::<std::collections::BTreeSet<_>>()
    );
    assert!(
        matches!(client_result, Ok(Ok(()))),
        "client: {client_result:?}"
    );
    assert!(
        served.is_some(),
        "no request served through lb2{}",
        lab.logs()
    );
    assert!(
        !lab.holds_vip("lb1"),
        "lb1 kept the VIP after its check failed{}",
        lab.logs()
    );
    // After the move every request succeeds.
    if let Some(t) = first_ok_via_lb2 {
        let late: Vec<_> = after
            .iter()
            .filter(|s| s.at.duration_since(killed_at) > t && s.via.is_err())
            .collect();
        assert!(
            late.is_empty(),
            "requests failed after the takeover: {late:?}"
        );
    }

    // ringlb comes back on lb1: its check rises again, but the VIP stays on lb2 (nopreempt),
    // so the pair moved the addresses once, not twice.
    let conf = dir.join("lb1.toml").display().to_string();
    lab.ringlbs[0] = lab.spawn(
        "lb1",
        "lb1-ringlb-again",
        Path::new(RINGLB),
        &["run", "-c", &conf],
    );
    assert!(
        wait_for(Duration::from_secs(10), || ringlb_healthy(&dir, "lb1")).is_some(),
        "ringlb did not come back in lb1{}",
        lab.logs()
    );
    // rise 2 at 1 s intervals, plus margin for a preemption that must not happen.
    thread::sleep(Duration::from_secs(4));
    assert!(
        lab.holds_vip("lb2"),
        "lb2 lost the VIP when lb1 came back{}",
        lab.logs()
    );
    assert!(
        !lab.holds_vip("lb1"),
        "lb1 preempted despite nopreempt{}",
        lab.logs()
    );

    // The notify hook logged each side's transitions.
    let n1 = lab.log("lb1-notify");
    let n2 = lab.log("lb2-notify");
    for (log, want) in [
        (&n1, "instance ringlb is now MASTER"),
        (&n1, "instance ringlb is now FAULT"),
        (&n1, "instance ringlb is now BACKUP"),
        (&n2, "instance ringlb is now MASTER"),
    ] {
        assert!(
            log.contains(want),
            "notify log lacks {want:?}:\n{log}{}",
            lab.logs()
        );
    }
    println!(
        "ha_pair: done in {:.1} s",
        test_start.elapsed().as_secs_f64()
    );
}
