//! Privileges: ringlb binds as root, then runs as the configured user with no effective
//! capabilities; with `keep_bind_capability` a reload can still bind a new port below 1024,
//! without it such a reload fails cleanly and the old config keeps serving.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

fn status_field(pid: u32, name: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn root() -> bool {
    status_field(std::process::id(), "Uid")
        .split_whitespace()
        .nth(1)
        == Some("0")
}

fn nobody() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("nobody:"))?;
    let mut f = line.split(':').skip(2);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// A loopback address of this test's own, so port 80 cannot clash with anything on 127.0.0.1.
fn lo(n: u8) -> String {
    format!("127.80.{}.{}", std::process::id() % 250, n)
}

fn config(ip: &str, ports: &[u16], keep: bool, web: SocketAddr) -> String {
    let binds: Vec<String> = ports.iter().map(|p| format!("\"{ip}:{p}\"")).collect();
    format!(
        "[global]\nworkers = 1\nuser = \"nobody\"\nkeep_bind_capability = {keep}\n\
         [frontend.www]\nbind = [{}]\ndefault_backend = \"web\"\n\
         [backend.web]\n[[backend.web.server]]\nname = \"web1\"\naddress = \"{web}\"\n",
        binds.join(", ")
    )
}

#[test]
fn runs_unprivileged_and_keeps_only_the_bind_capability_when_asked() {
    if !root() {
        println!("SKIPPED: needs root to start ringlb as root and switch user");
        return;
    }
    let Some((uid, gid)) = nobody() else {
        println!("SKIPPED: no `nobody` user on this host");
        return;
    };
    let web = Backend::start("web1");
    let ip = lo(1);
    let mut lb = Ringlb::start(&config(&ip, &[80], true, web.addr()));
    let pid = lb.pid();
    assert_eq!(
        status_field(pid, "Uid")
            .split_whitespace()
            .collect::<Vec<_>>(),
        vec![uid.to_string(); 4]
    );
    assert_eq!(
        status_field(pid, "Gid").split_whitespace().next(),
        Some(gid.to_string().as_str())
    );
    assert_eq!(
        status_field(pid, "CapEff"),
        "0000000000000000",
        "no effective capability"
    );
    assert_eq!(status_field(pid, "CapInh"), "0000000000000000");
    assert_eq!(
        status_field(pid, "CapPrm"),
        "0000000000000400",
        "only CAP_NET_BIND_SERVICE, permitted"
    );
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    let addr80: SocketAddr = format!("{ip}:80").parse().expect("addr");
    assert_eq!(http_get(addr80, "/", &[]).status, 200);

    // A reload adding port 81 binds it with the kept capability.
    lb.write_config(&config(&ip, &[80, 81], true, web.addr()));
    lb.signal(libc::SIGHUP);
    let ready = lb
        .wait_notify("READY=1", Duration::from_secs(5))
        .expect("reload answered");
    assert!(!ready.contains("failed"), "{ready}");
    let addr81: SocketAddr = format!("{ip}:81").parse().expect("addr");
    assert_eq!(
        http_get(addr81, "/", &[]).status,
        200,
        "new low port serves"
    );
    assert_eq!(http_get(addr80, "/", &[]).status, 200);
    assert_eq!(
        status_field(pid, "CapEff"),
        "0000000000000000",
        "lowered again after the bind"
    );
}

#[test]
fn without_the_kept_capability_a_reload_cannot_bind_a_low_port_and_keeps_serving() {
    if !root() {
        println!("SKIPPED: needs root to start ringlb as root and switch user");
        return;
    }
    if nobody().is_none() {
        println!("SKIPPED: no `nobody` user on this host");
        return;
    }
    let web = Backend::start("web1");
    let ip = lo(2);
    let mut lb = Ringlb::start(&config(&ip, &[80], false, web.addr()));
    assert_eq!(
        status_field(lb.pid(), "CapPrm"),
        "0000000000000000",
        "nothing kept"
    );
    lb.write_config(&config(&ip, &[80, 81], false, web.addr()));
    lb.signal(libc::SIGHUP);
    let ready = lb
        .wait_notify("READY=1", Duration::from_secs(5))
        .expect("reload answered");
    assert!(ready.contains("reload failed"), "{ready}");
    assert!(lb.stderr().contains("cannot listen on"), "{}", lb.stderr());
    let addr80: SocketAddr = format!("{ip}:80").parse().expect("addr");
    assert_eq!(
        http_get(addr80, "/", &[]).status,
        200,
        "the old config keeps serving"
    );
}

#[test]
fn systemd_unit_exposure_is_ok() {
    let unit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/ringlb.service");
    let out = match std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            println!("SKIPPED: systemd-analyze not available: {e}");
            return;
        }
    };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let Some(level) = text.lines().find_map(|l| {
        l.split("Overall exposure level for ringlb.service: ")
            .nth(1)
    }) else {
        println!("SKIPPED: this systemd-analyze cannot rate units offline:\n{text}");
        return;
    };
    let score: f64 = level
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("score");
    println!("systemd-analyze security ringlb.service: {level}");
    assert!(score <= 2.5, "exposure {score} > 2.5:\n{text}");
}
