//! The Debian package (`scripts/build-deb`), built from the binary under test.
//!
//! - `deb_contents_metadata_and_lintian`: what is in the package and its control data, the
//!   stamped version, the conffile, the man page against `ringlb --help`, a reproducible
//!   build, lintian without warnings (when lintian is installed).
//! - `deb_install_serve_upgrade_under_load_and_purge`: as root, with dpkg, on this machine:
//!   `dpkg -i` (user, state directory, files), the service started as ringlb.service would
//!   start it (ExecStartPre/ExecStart of the installed unit, user ringlb, its capabilities and
//!   NOTIFY_SOCKET), serving; `dpkg -i` of a newer version while clients send requests: the
//!   postinst runs `ringlb upgrade`, the new binary takes the same listening socket over, no
//!   request fails, the running version is the new one; then remove and purge. systemd does
//!   not run here: where it does, the postinst asks systemd instead (the image test covers
//!   that). Tests of this kind on one machine run one at a time (a lock file).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::load::Load;
use common::{free_port, unique_dir, wait_until, Backend};
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the package of the test binary with `version` into `out`; returns the .deb's path.
fn build_deb(version: &str, out: &Path) -> PathBuf {
    let stdout = run_ok(
        Command::new(repo().join("scripts/build-deb"))
            .args(["--no-build", "--version", version, "--binary"])
            .arg(env!("CARGO_BIN_EXE_ringlb"))
            .arg("--out")
            .arg(out),
    );
    let deb = PathBuf::from(stdout.lines().last().unwrap_or_default());
    assert_eq!(
        deb,
        out.join(format!("ringlb_{version}_amd64.deb")),
        "build-deb names the package ringlb_VERSION_amd64.deb"
    );
    assert!(deb.is_file(), "{} exists", deb.display());
    deb
}

fn cargo_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn sha256(path: &Path) -> String {
    run_ok(Command::new("sha256sum").arg(path))
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn deb_contents_metadata_and_lintian() {
    if !have("dpkg-deb") || !have("objcopy") {
        println!("SKIPPED: dpkg-deb or objcopy missing");
        return;
    }
    let dir = unique_dir("ringlb-deb-contents");
    let version = format!("{}+contents1", cargo_version());
    let deb = build_deb(&version, &dir.join("a"));

    // Control data.
    let field = |name: &str| run_ok(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name));
    assert_eq!(field("Package").trim(), "ringlb");
    assert_eq!(field("Version").trim(), version);
    assert_eq!(field("Architecture").trim(), "amd64");
    let depends = field("Depends");
    assert!(
        depends.contains("libc6 (>= 2.") && depends.contains("systemd | systemd-sysusers"),
        "Depends: {depends}"
    );
    let ctrl = dir.join("control");
    run_ok(
        Command::new("dpkg-deb")
            .arg("--control")
            .arg(&deb)
            .arg(&ctrl),
    );
    assert_eq!(
        fs::read_to_string(ctrl.join("conffiles")).unwrap(),
        "/etc/ringlb/ringlb.toml\n",
        "the default config is the one conffile"
    );
    for script in ["postinst", "prerm", "postrm"] {
        let path = ctrl.join(script);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{script} is executable");
        run_ok(Command::new("sh").arg("-n").arg(&path));
    }
    let postinst = fs::read_to_string(ctrl.join("postinst")).unwrap();
    assert!(
        postinst.contains("ringlb upgrade -c \"$config\"")
            && postinst.contains("systemd-sysusers")
            && postinst.contains("deb-systemd-helper enable"),
        "postinst creates the user, enables the unit and upgrades a running ringlb"
    );
    let prerm = fs::read_to_string(ctrl.join("prerm")).unwrap();
    assert!(
        prerm.contains("upgrade|failed-upgrade)\n        ;;"),
        "prerm leaves ringlb running on an upgrade"
    );

    // Files: paths, modes and owners.
    let listing = run_ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for (mode, path) in [
        ("-rwxr-xr-x", "./usr/bin/ringlb"),
        ("-rw-r--r--", "./usr/lib/systemd/system/ringlb.service"),
        ("-rw-r--r--", "./usr/lib/sysusers.d/ringlb.conf"),
        ("-rw-r--r--", "./usr/lib/tmpfiles.d/ringlb.conf"),
        ("-rw-r--r--", "./etc/ringlb/ringlb.toml"),
        ("-rw-r--r--", "./usr/share/man/man8/ringlb.8.gz"),
        ("-rw-r--r--", "./usr/share/doc/ringlb/copyright"),
        ("-rw-r--r--", "./usr/share/doc/ringlb/changelog.gz"),
        (
            "-rw-r--r--",
            "./usr/share/doc/ringlb/config-reference.md.gz",
        ),
    ] {
        assert!(
            listing.lines().any(|l| l.starts_with(mode)
                && l.contains(" root/root ")
                && l.ends_with(&format!(" {path}"))),
            "{path} ({mode} root/root) in the package:\n{listing}"
        );
    }
    for l in listing.lines() {
        assert!(l.contains(" root/root "), "owned by root: {l}");
    }

    // Extracted: checksums, binary version, default config, unit, sysusers, man page.
    let x = dir.join("x");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x));
    run_ok(
        Command::new("md5sum")
            .arg("--quiet")
            .arg("-c")
            .arg(ctrl.join("md5sums"))
            .current_dir(&x),
    );
    let bin = x.join("usr/bin/ringlb");
    assert_eq!(
        run_ok(Command::new(&bin).arg("--version")).trim(),
        format!("ringlb {version}"),
        "the packaged binary reports the package version"
    );
    assert_eq!(
        run_ok(Command::new(env!("CARGO_BIN_EXE_ringlb")).arg("--version")).trim(),
        format!("ringlb {}", cargo_version()),
        "the unstamped binary reports Cargo's version"
    );
    let file_out = run_ok(Command::new("objdump").arg("-h").arg(&bin));
    assert!(
        !file_out.contains(".debug_info") && !file_out.contains(".symtab"),
        "the packaged binary is stripped"
    );
    run_ok(
        Command::new(&bin)
            .arg("check")
            .arg("-c")
            .arg(x.join("etc/ringlb/ringlb.toml")),
    );
    let unit = fs::read_to_string(x.join("usr/lib/systemd/system/ringlb.service")).unwrap();
    assert!(unit.contains("\nExecStart=/usr/bin/ringlb run -c /etc/ringlb/ringlb.toml\n"));
    assert!(unit.contains("\nUser=ringlb\n") && unit.contains("Documentation=man:ringlb(8)"));
    let sysusers = fs::read_to_string(x.join("usr/lib/sysusers.d/ringlb.conf")).unwrap();
    assert!(sysusers.lines().any(|l| l.starts_with("u ringlb ")));
    let tmpfiles = fs::read_to_string(x.join("usr/lib/tmpfiles.d/ringlb.conf")).unwrap();
    assert!(tmpfiles
        .lines()
        .any(|l| l == "d /var/lib/ringlb 0750 ringlb ringlb -"));
    let man = run_ok(
        Command::new("gzip")
            .arg("-dc")
            .arg(x.join("usr/share/man/man8/ringlb.8.gz")),
    );
    assert!(man.contains(".TH RINGLB 8 \"") && man.contains(&format!("\"ringlb {version}\"")));
    // Every command `ringlb --help` lists is in the man page.
    let help = run_ok(Command::new(&bin).arg("--help"));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 7, "commands in --help: {commands:?}");
    for c in &commands {
        let roff = c.replace('-', "\\-");
        assert!(
            man.contains(&format!("\n.B {roff}\n")) || man.contains(&format!("\n.B ringlb {roff}")),
            "the man page documents `ringlb {c}`"
        );
    }
    if have("groff") {
        let out = run(Command::new("sh").arg("-c").arg(format!(
            "gzip -dc {} | groff -man -ww -z 2>&1",
            x.join("usr/share/man/man8/ringlb.8.gz").display()
        )));
        assert!(
            out.stdout.is_empty(),
            "groff warnings in the man page: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // Reproducible: the same inputs give the same package.
    let again = build_deb(&version, &dir.join("b"));
    assert_eq!(sha256(&deb), sha256(&again), "two builds are identical");

    if have("lintian") {
        let out = run(Command::new("lintian")
            .args(["--pedantic", "--fail-on", "error,warning"])
            .arg(&deb));
        let text = String::from_utf8_lossy(&out.stdout);
        println!("lintian --pedantic:\n{text}");
        assert!(
            out.status.success(),
            "lintian reports errors or warnings:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        println!("lintian not installed: not run");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// A process started for the test, killed if the test ends before it stops it.
struct Guard {
    pids: Vec<u32>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for &pid in &self.pids {
            if process_exists(pid) {
                common::signal_pid(pid, libc::SIGKILL);
            }
        }
    }
}

fn process_exists(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            .is_none_or(|st| st != "Z"),
        Err(_) => false,
    }
}

/// The inode of the TCP socket listening on 127.0.0.1:`port` (/proc/net/tcp).
fn listener_inode(port: u16) -> Option<u64> {
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A"))
            .then(|| f.get(9).and_then(|i| i.parse().ok()))
            .flatten()
    })
}

/// Whether process `pid` holds the socket `inode` among its descriptors.
fn holds_socket(pid: u32, inode: u64) -> bool {
    let want = format!("socket:[{inode}]");
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .any(|e| fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy() == want))
        })
        .unwrap_or(false)
}

/// The `KEY=` lines of the installed unit's [Service] section, in order.
fn unit_lines(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

/// Waits for a notify datagram containing `needle`; returns it.
fn wait_datagram(sock: &UnixDatagram, needle: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 4096];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = sock.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.contains(needle) {
                return Some(msg);
            }
        }
    }
    None
}

fn dpkg(args: &[&str]) -> Output {
    run(Command::new("dpkg")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn installed_version() -> String {
    let out =
        run(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Abbrev}${Version}", "ringlb"]));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn stats_version(stats: SocketAddr) -> String {
    let r = common::http_get(stats, "/;json", &[]);
    assert_eq!(r.status, 200, "stats JSON");
    let v: serde_json::Value = serde_json::from_str(&r.body_str()).expect("stats JSON parses");
    v["version"].as_str().unwrap_or_default().to_string()
}

#[test]
fn deb_install_serve_upgrade_under_load_and_purge() {
    if !nix::unistd::geteuid().is_root() || !have("dpkg") || !have("setpriv") {
        println!("SKIPPED: installing the package needs root, dpkg and setpriv");
        return;
    }
    if !have("systemd-sysusers") {
        // The package depends on systemd (or a standalone sysusers) for its user.
        println!("SKIPPED: no systemd-sysusers here: the package's dependencies are not met");
        return;
    }
    if Path::new("/run/systemd/system").exists() {
        // The postinst would ask systemd to start the packaged service with the default
        // config; this test starts ringlb itself, as on a machine without systemd.
        println!("SKIPPED: systemd runs here; the image test installs and upgrades the package under systemd");
        return;
    }
    // One install test at a time on this machine: it owns /usr/bin/ringlb, /etc/ringlb,
    // /run/ringlb and the package's database entry while it runs.
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/lock/ringlb-deb-test.lock")
        .expect("lock file");
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("lock");
    // Left over by an earlier failed run.
    if !installed_version().is_empty() {
        let _ = dpkg(&["--purge", "ringlb"]);
    }

    let dir = unique_dir("ringlb-deb-install");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let v1 = format!("{}+debtest1", cargo_version());
    let v2 = format!("{}+debtest2", cargo_version());
    let deb1 = build_deb(&v1, &dir.join("v1"));
    let deb2 = build_deb(&v2, &dir.join("v2"));

    // Install.
    let out = dpkg(&["-i", deb1.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "dpkg -i {}: {}{}",
        deb1.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(installed_version(), format!("ii {v1}"));
    let passwd = run_ok(Command::new("getent").args(["passwd", "ringlb"]));
    assert!(
        passwd
            .trim_end()
            .ends_with(":/nonexistent:/usr/sbin/nologin"),
        "system user ringlb: {passwd}"
    );
    let uid: u32 = passwd.split(':').nth(2).unwrap().parse().unwrap();
    assert!(uid > 0 && uid < 1000, "ringlb is a system user (uid {uid})");
    let state = fs::metadata("/var/lib/ringlb").expect("/var/lib/ringlb created");
    assert_eq!(
        (state.uid(), state.mode() & 0o7777),
        (uid, 0o750),
        "/var/lib/ringlb: ringlb's, 0750"
    );
    assert_eq!(
        run_ok(Command::new("/usr/bin/ringlb").arg("--version")).trim(),
        format!("ringlb {v1}")
    );

    // Configure: a backend, a frontend and the stats page on free ports; the package's admin
    // socket path. Changing the conffile: the upgrade must keep it.
    let web = Backend::start("web1");
    let port = free_port();
    let stats_port = free_port();
    let config = format!(
        "# ringlb.toml of tests/deb.rs\n[global]\nworkers = 2\nadmin_socket = \"/run/ringlb/admin.sock\"\n\n\
         [stats]\nbind = \"127.0.0.1:{stats_port}\"\nuri = \"/\"\n\n\
         [frontend.www]\nbind = \"127.0.0.1:{port}\"\ndefault_backend = \"web\"\n\n\
         [backend.web]\n\n[[backend.web.server]]\nname = \"web1\"\naddress = \"{}\"\n",
        web.addr()
    );
    fs::write("/etc/ringlb/ringlb.toml", &config).unwrap();

    // Start it as ringlb.service does: RuntimeDirectory=ringlb (0750), ExecStartPre, then
    // ExecStart as User=ringlb with CAP_NET_BIND_SERVICE ambient and bounding, no new
    // privileges, Type=notify with NOTIFY_SOCKET.
    let unit = fs::read_to_string("/usr/lib/systemd/system/ringlb.service").unwrap();
    let runtime = Path::new("/run/ringlb");
    let _ = fs::remove_dir_all(runtime);
    run_ok(Command::new("install").args([
        "-d",
        "-o",
        "ringlb",
        "-g",
        "ringlb",
        "-m",
        "0750",
        "/run/ringlb",
    ]));
    let as_unit = |line: &str| -> Command {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=ringlb",
            "--regid=ringlb",
            "--init-groups",
            "--inh-caps=-all,+net_bind_service",
            "--ambient-caps=-all,+net_bind_service",
            "--bounding-set=-all,+net_bind_service",
            "--no-new-privs",
            "--",
        ])
        .args(&words);
        c
    };
    for pre in unit_lines(&unit, "ExecStartPre") {
        run_ok(&mut as_unit(&pre));
    }
    let exec_start = unit_lines(&unit, "ExecStart");
    assert_eq!(exec_start.len(), 1, "one ExecStart line");
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    fs::set_permissions(&notify_path, fs::Permissions::from_mode(0o777)).unwrap();
    let log_path = dir.join("ringlb.log");
    let log = fs::File::create(&log_path).unwrap();
    let mut child: Child = as_unit(&exec_start[0])
        .env("NOTIFY_SOCKET", &notify_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start ringlb");
    let first_pid = child.id();
    let mut guard = Guard {
        pids: vec![first_pid],
    };
    let logs = || fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        wait_datagram(&notify, "READY=1", Duration::from_secs(20)).is_some(),
        "ringlb reports READY=1:\n{}",
        logs()
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stats = SocketAddr::from(([127, 0, 0, 1], stats_port));
    let r = common::http_get(addr, "/", &[]);
    assert_eq!((r.status, r.backend()), (200, Some("web1")), "serves");
    let status = fs::read_to_string(format!("/proc/{first_pid}/status")).unwrap();
    assert!(
        status.lines().any(|l| l == "CapEff:\t0000000000000000")
            && status
                .lines()
                .any(|l| l.starts_with("Uid:")
                    && l.split_whitespace().nth(1) == Some(&uid.to_string())),
        "runs as ringlb with no effective capability:\n{status}"
    );
    assert_eq!(stats_version(stats), v1);
    let inode = listener_inode(port).expect("listening socket in /proc/net/tcp");
    assert!(holds_socket(first_pid, inode));

    // Upgrade the package under load.
    let load = Load::start(addr, 4, Duration::from_secs(120));
    assert!(
        wait_until(Duration::from_secs(20), || load.requests() >= 200),
        "load flows before the upgrade"
    );
    let started = Instant::now();
    let out = dpkg(&["-i", deb2.to_str().unwrap()]);
    let dpkg_text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "dpkg -i {}: {dpkg_text}",
        deb2.display()
    );
    println!(
        "dpkg -i of {v2} while ringlb serves took {:?}:\n{dpkg_text}",
        started.elapsed()
    );
    assert!(
        dpkg_text.contains(&format!(
            "ringlb: running process upgraded to {v2} without a restart"
        )),
        "the postinst upgraded the running process: {dpkg_text}"
    );
    let ready = wait_datagram(&notify, "MAINPID=", Duration::from_secs(30))
        .expect("the new process announces MAINPID=");
    let new_pid: u32 = ready
        .lines()
        .find_map(|l| l.strip_prefix("MAINPID="))
        .and_then(|v| v.trim().parse().ok())
        .expect("MAINPID value");
    guard.pids.push(new_pid);
    assert_ne!(new_pid, first_pid);
    assert!(
        ready.contains("READY=1"),
        "the new process is ready: {ready}"
    );
    assert!(
        wait_until(Duration::from_secs(60), || child
            .try_wait()
            .ok()
            .flatten()
            .is_some()),
        "the old process drains and exits"
    );
    let before = load.requests();
    assert!(
        wait_until(Duration::from_secs(20), || load.requests() >= before + 200),
        "load flows after the upgrade"
    );
    let report = load.finish();
    println!(
        "package upgrade {v1} -> {v2} under load: {} requests on {} connections, {} failed",
        report.requests, report.connections, report.failures
    );
    assert_eq!(
        report.failures, 0,
        "no request fails across the package upgrade: {:?}",
        report.samples
    );
    assert_eq!(installed_version(), format!("ii {v2}"));
    assert_eq!(
        run_ok(Command::new("/usr/bin/ringlb").arg("--version")).trim(),
        format!("ringlb {v2}")
    );
    assert_eq!(
        stats_version(stats),
        v2,
        "the running process is the new binary"
    );
    assert_eq!(
        listener_inode(port),
        Some(inode),
        "the same listening socket"
    );
    assert!(holds_socket(new_pid, inode), "held by the new process");
    assert!(
        logs().contains(&format!("upgrade: process {new_pid} ready")),
        "upgrade log line:\n{}",
        logs()
    );
    assert_eq!(
        fs::read_to_string("/etc/ringlb/ringlb.toml").unwrap(),
        config,
        "the changed conffile survives the upgrade"
    );

    // Stop (as systemctl stop would), remove, purge.
    common::signal_pid(new_pid, libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(30), || !process_exists(new_pid)),
        "ringlb stops on SIGTERM"
    );
    let out = dpkg(&["-r", "ringlb"]);
    assert!(out.status.success(), "dpkg -r: {out:?}");
    assert!(
        !Path::new("/usr/bin/ringlb").exists(),
        "remove takes the binary"
    );
    assert!(
        Path::new("/etc/ringlb/ringlb.toml").exists(),
        "remove keeps the configuration"
    );
    let out = dpkg(&["--purge", "ringlb"]);
    assert!(out.status.success(), "dpkg --purge: {out:?}");
    assert!(installed_version().is_empty() || installed_version().starts_with("pn"));
    assert!(
        !Path::new("/etc/ringlb").exists(),
        "purge takes /etc/ringlb"
    );
    assert!(
        !Path::new("/var/lib/ringlb").exists(),
        "purge takes /var/lib/ringlb"
    );
    let _ = fs::remove_dir_all(runtime);
    let _ = fs::remove_dir_all(&dir);
}
