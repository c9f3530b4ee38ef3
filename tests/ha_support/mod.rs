//! The network-namespace lab of the HA tests (`ha_pair`, `ha_active_active`): namespaces on a
//! bridge of their own, processes started in them, a client thread requesting virtual
//! addresses, and cleanup of everything in `Drop`, also when an assertion fails. Nothing
//! touches the host's interfaces or routes.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub const RINGLB: &str = env!("CARGO_BIN_EXE_ringlb");
/// Prefix length of the lab's one subnet.
pub const PREFIX: u8 = 24;
/// Time between two client requests.
pub const REQUEST_EVERY: Duration = Duration::from_millis(20);
/// Bounds of one client request.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const IO_TIMEOUT: Duration = Duration::from_millis(1000);
/// The client stops by itself after this long, whatever happens.
const CLIENT_LIMIT: Duration = Duration::from_secs(40);

// ---- skipping -----------------------------------------------------------------------------

/// Prints why `test` cannot run here (`RINGLB_HA_TEST_REQUIRED=1` makes it a failure).
pub fn skip(test: &str, reason: &str) {
    if std::env::var_os("RINGLB_HA_TEST_REQUIRED").is_some_and(|v| v == "1") {
        panic!("{test} cannot run and RINGLB_HA_TEST_REQUIRED=1: {reason}");
    }
    eprintln!("\n=== SKIP {test}: {reason} ===\n");
    println!("SKIP {test}: {reason}");
}

pub fn is_root() -> bool {
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
pub fn find_program(prog: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file());
    found
}

/// `ip`, keepalived and nginx, or the reason this test is skipped.
pub fn tools(test: &str) -> Option<(PathBuf, PathBuf, PathBuf)> {
    if !is_root() {
        skip(test, "needs root (network namespaces, VRRP)");
        return None;
    }
    let mut found = Vec::new();
    for prog in ["ip", "keepalived", "nginx"] {
        match find_program(prog) {
            Some(p) => found.push(p),
            None => {
                skip(
                    test,
                    &format!("{prog} is not installed (Debian: iproute2, keepalived, nginx-light)"),
                );
                return None;
            }
        }
    }
    Some((found[0].clone(), found[1].clone(), found[2].clone()))
}

// ---- the lab: namespaces, processes, cleanup -------------------------------------------------

/// Namespaces and processes of one run; `Drop` removes them all.
pub struct Lab {
    /// Unique per run: namespace names start with it.
    pub tag: String,
    pub dir: PathBuf,
    pub ip: PathBuf,
    /// Host name → its address on the bridge.
    pub hosts: Vec<(&'static str, &'static str)>,
    namespaces: Vec<String>,
    /// keepalived instances: stopped with SIGTERM first so they remove their addresses.
    pub keepaliveds: Vec<Child>,
    /// ringlb instances, in the order the test starts them.
    pub ringlbs: Vec<Child>,
    pub others: Vec<Child>,
}

impl Lab {
    /// A lab named `TAG<pid>` with its own directory; nothing is created yet.
    pub fn new(tag: &str, ip: PathBuf, hosts: &[(&'static str, &'static str)]) -> Lab {
        let tag = format!("{tag}{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("ringlb-{tag}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Lab {
            tag,
            dir,
            ip,
            hosts: hosts.to_vec(),
            namespaces: Vec::new(),
            keepaliveds: Vec::new(),
            ringlbs: Vec::new(),
            others: Vec::new(),
        }
    }

    pub fn addr_of(&self, host: &str) -> &'static str {
        self.hosts
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no host {host}"))
    }

    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.tag)
    }

    /// Runs `ip ARGS`, returning stdout or the error with stderr.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
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
    pub fn build(&mut self) -> Result<(), String> {
        let sw = self.ns("sw");
        self.ip(&["netns", "add", &sw])?;
        self.namespaces.push(sw.clone());
        self.ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        self.ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for (host, addr) in self.hosts.clone() {
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
    pub fn spawn(&self, host: &str, log: &str, prog: &Path, args: &[&str]) -> Child {
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

    /// nginx as `web` (one of the hosts): answers `WEB via CLIENT-ADDRESS` on port 80.
    pub fn start_nginx(&mut self, nginx: &Path, web: &str) {
        let conf = self.dir.join(format!("{web}-nginx.conf"));
        fs::write(&conf, nginx_conf(&self.dir, web, self.addr_of(web)))
            .unwrap_or_else(|e| panic!("{e}"));
        let conf = conf.display().to_string();
        let child = self.spawn(web, web, nginx, &["-c", &conf, "-e", "stderr"]);
        self.others.push(child);
    }

    /// keepalived in `host`'s namespace with `conf`: foreground, detailed log on the console
    /// (our log file), no syslog, VRRP only unless `checkers`; pid files of our own so it
    /// cannot meet the host's keepalived.
    pub fn start_keepalived(&mut self, keepalived: &Path, host: &str, conf: &Path) {
        let d = &self.dir;
        let pid = d
            .join(format!("{host}-keepalived.pid"))
            .display()
            .to_string();
        let vrrp_pid = d.join(format!("{host}-vrrp.pid")).display().to_string();
        let conf = conf.display().to_string();
        let child = self.spawn(
            host,
            &format!("{host}-keepalived"),
            keepalived,
            &[
                "-n", "-l", "-D", "-G", "-P", "-f", &conf, "-p", &pid, "-r", &vrrp_pid,
            ],
        );
        self.keepaliveds.push(child);
    }

    /// Does `host` hold `vip` on eth0?
    pub fn holds(&self, host: &str, vip: &str) -> bool {
        self.ip(&["-n", &self.ns(host), "-o", "addr", "show", "dev", "eth0"])
            .map(|s| s.contains(&format!(" {vip}/{PREFIX} ")))
            .unwrap_or(false)
    }

    pub fn log(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The logs, for a failure message.
    pub fn logs(&self) -> String {
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

pub fn stop(child: &mut Child, grace: Duration) {
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
                eprintln!("{} cleanup: {e}", self.tag);
            }
        }
        if thread::panicking() {
            eprintln!("{}: logs kept in {}", self.tag, self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ---- configs ------------------------------------------------------------------------------

fn nginx_conf(dir: &Path, name: &str, addr: &str) -> String {
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

/// `ringlb ha render` of `DIR/<lb>.toml`, as root (the test has no `ringlb` account).
pub fn render(dir: &Path, lb: &str) -> PathBuf {
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

pub fn ringlb_healthy(dir: &Path, lb: &str) -> bool {
    Command::new(RINGLB)
        .args(["ha", "check", "-c"])
        .arg(dir.join(format!("{lb}.toml")))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
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

/// One request: when it started, to which virtual address, and which load balancer forwarded
/// it (or why it failed).
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub vip: Ipv4Addr,
    pub via: Result<String, String>,
}

/// One GET to `vip`; Ok(the load balancer address the web server saw).
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
        .filter(|a| a.parse::<Ipv4Addr>().is_ok())
        .ok_or_else(|| format!("unexpected body: {text:?}"))
}

/// Requests `vips` in turn (as clients of a DNS round robin over them do), one every
/// [`REQUEST_EVERY`], from the namespace at `netns` (a thread that joined it with `setns`),
/// until `stop` is set or [`CLIENT_LIMIT`] passes.
pub fn start_client(
    netns: PathBuf,
    vips: Vec<Ipv4Addr>,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Result<(), String>> {
    thread::spawn(move || {
        let ns = File::open(&netns).map_err(|e| format!("open {}: {e}", netns.display()))?;
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns client: {e}"))?;
        let start = Instant::now();
        let mut turn = 0usize;
        while !stop.load(Ordering::SeqCst) && start.elapsed() < CLIENT_LIMIT {
            let at = Instant::now();
            let vip = vips[turn % vips.len()];
            turn += 1;
            let via = get(SocketAddr::from((vip, 80)));
            if let Ok(mut s) = samples.lock() {
                s.push(Sample { at, vip, via });
            }
            if let Some(rest) = REQUEST_EVERY.checked_sub(at.elapsed()) {
                thread::sleep(rest);
            }
        }
        Ok(())
    })
}
