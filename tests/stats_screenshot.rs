//! A headless Chromium screenshot of the stats page of a running ringlb, for a person to look
//! at (`target/stats-screenshot.png`). Skips loudly when Chromium is not installed
//! (`scripts/test` installs it).

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn stats_page_renders_in_a_browser() {
    let Some(chromium) = ["chromium", "chromium-browser"].iter().find_map(|c| {
        Command::new("which")
            .arg(c)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    }) else {
        println!("SKIPPED: chromium is not installed (scripts/test installs it)");
        return;
    };
    let web: Vec<Backend> = ["web1", "web2", "web3"]
        .iter()
        .map(|n| Backend::start(n))
        .collect();
    let static1 = Backend::start("static1");
    let dead = RefusingAddr::new();
    let (port, stats_port) = (free_port(), free_port());
    let sock = unique_dir("ringlb-shot").join("admin.sock");
    let mut cfg = format!(
        r#"
[global]
workers = 2
admin_socket = "{}"
[stats]
bind = "127.0.0.1:{stats_port}"
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "app"
[frontend.www.acl]
static = "path_beg /static/"
[[frontend.www.route]]
backend = "static"
if = "static"
[backend.app]
balance = "leastconn"
[backend.app.check]
type = "tcp"
inter = "200ms"
fall = 2
rise = 2
[[backend.app.server]]
name = "dead"
address = "{}"
[backend.static]
[[backend.static.server]]
name = "static1"
address = "{}"
"#,
        sock.display(),
        dead.addr(),
        static1.addr()
    );
    for b in &web {
        cfg.push_str(&format!(
            "[[backend.app.server]]\nname = \"{}\"\naddress = \"{}\"\n",
            b.name(),
            b.addr()
        ));
    }
    let lb = Ringlb::start(&cfg);
    let www = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(lb.wait_log("server app/dead is DOWN", Duration::from_secs(5)));
    for i in 0..300 {
        let path = if i % 3 == 0 { "/static/a.css" } else { "/" };
        let _ = http_get(www, path, &[]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .args(["admin", "-c"])
        .arg(lb.config_path())
        .args(["set", "server", "app/web3", "state", "drain"])
        .output()
        .expect("admin");
    assert!(out.status.success());

    let png = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("stats-screenshot.png");
    let _ = std::fs::remove_file(&png);
    let profile = unique_dir("ringlb-chromium");
    let status = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("http://127.0.0.1:{stats_port}/;norefresh"))
        .output()
        .expect("run chromium");
    assert!(
        status.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        bytes.len() > 30_000,
        "a page with content, not a blank one: {} bytes",
        bytes.len()
    );
    println!("stats page screenshot: {}", png.display());
    let _ = std::fs::remove_dir_all(profile);
}
