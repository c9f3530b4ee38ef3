//! Slow start: a server coming back UP gets a share of new requests that grows over its
//! `slowstart` window, up to its full share, and its weight in force shows the ramp on the
//! Prometheus page. Measured as a ramp: the share per time bucket, not how fast anything is.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(4);
/// Buckets of the measurement: the window, then one more second at full weight.
const BUCKET: Duration = Duration::from_millis(500);

fn metric(stats: SocketAddr, prefix: &str) -> Option<u64> {
    let body = http_get(stats, "/metrics", &[]).body_str();
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_server_back_up_ramps_its_share_over_slowstart() {
    let web1 = Backend::start("web1");
    let mut web2 = Backend::start("web2");
    let web2_addr = web2.addr();
    let (port, stats_port) = (free_port(), free_port());
    let lb = Ringlb::start(&format!(
        r#"
[global]
workers = 1
[stats]
bind = "127.0.0.1:{stats_port}"
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
[backend.web]
balance = "roundrobin"
slowstart = "{}ms"
[backend.web.check]
type = "tcp"
inter = "100ms"
fastinter = "50ms"
downinter = "50ms"
rise = 1
fall = 1
[[backend.web.server]]
name = "web1"
address = "{}"
weight = 100
[[backend.web.server]]
name = "web2"
address = "{web2_addr}"
weight = 100
"#,
        WINDOW.as_millis(),
        web1.addr()
    ));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stats = SocketAddr::from(([127, 0, 0, 1], stats_port));
    let weight = |s: &str| {
        metric(
            stats,
            &format!("ringlb_server_weight{{backend=\"web\",server=\"{s}\"}}"),
        )
    };
    // At start there is no ramp: both servers have their full weight.
    assert_eq!(weight("web2"), Some(100));

    web2.stop();
    assert!(
        lb.wait_log("server web/web2 is DOWN", Duration::from_secs(10)),
        "{}",
        lb.stderr()
    );
    let _web2 = Backend::start_on("web2", web2_addr);
    assert!(
        lb.wait_log("server web/web2 is UP", Duration::from_secs(10)),
        "{}",
        lb.stderr()
    );
    let up_at = Instant::now();
    let ramping = weight("web2").expect("web2 weight");
    assert!(ramping < 100, "weight in force right after UP is {ramping}");

    // Requests one after another; each bucket counts who answered.
    let buckets = (WINDOW + Duration::from_secs(1)).as_millis() / BUCKET.as_millis();
    let mut counts = vec![[0u32; 2]; buckets as usize];
    let mut c = Client::connect(addr).expect("connect");
    loop {
        let t = up_at.elapsed();
        let i = (t.as_millis() / BUCKET.as_millis()) as usize;
        if i >= counts.len() {
            break;
        }
        let r = c.get("/").expect("response");
        assert_eq!(r.status, 200);
        let who = usize::from(r.backend() == Some("web2"));
        counts[i][who] += 1;
    }
    let shares: Vec<f64> = counts
        .iter()
        .map(|[a, b]| f64::from(*b) / f64::from((a + b).max(1)))
        .collect();
    println!("web2 share per {BUCKET:?} after UP: {shares:.3?} (requests {counts:?})");
    for (i, [a, b]) in counts.iter().enumerate() {
        assert!(
            a + b >= 10,
            "bucket {i} has too few requests to measure: {counts:?}"
        );
    }
    // a ramp: starts low, never falls back by more than noise, ends at the full half
    assert!(shares[0] < 0.2, "first bucket share {}", shares[0]);
    // a bucket of n requests measures a share to about 1/n (round robin is exact otherwise)
    let grain = |i: usize| 1.0 / f64::from(counts[i][0] + counts[i][1]);
    for i in 1..shares.len() {
        let noise = 0.04 + grain(i - 1) + grain(i);
        assert!(
            shares[i] + noise >= shares[i - 1],
            "share fell during the ramp: {shares:.3?}"
        );
    }
    let mid = shares[shares.len() / 2 - 1];
    assert!(
        mid > shares[0] + 0.1 && mid < 0.5,
        "middle of the ramp: {shares:.3?}"
    );
    let last = *shares.last().unwrap();
    assert!(
        (last - 0.5).abs() <= 0.02 + grain(shares.len() - 1),
        "full share after the window: {shares:.3?}"
    );
    assert_eq!(weight("web2"), Some(100));
}

/// The config of [`a_server_enabled_again_or_added_by_a_reload_starts_slowly`].
fn ops_config(port: u16, stats_port: u16, sock: &std::path::Path, servers: &[&Backend]) -> String {
    let mut cfg = format!(
        r#"
[global]
workers = 2
admin_socket = "{}"
[stats]
bind = "127.0.0.1:{stats_port}"
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
[backend.web]
balance = "leastconn"
slowstart = "10m"
"#,
        sock.display()
    );
    for s in servers {
        cfg.push_str(&format!(
            "[[backend.web.server]]\nname = \"{}\"\naddress = \"{}\"\nweight = 100\n",
            s.name(),
            s.addr()
        ));
    }
    cfg
}

#[test]
fn a_server_enabled_again_or_added_by_a_reload_starts_slowly() {
    let (web1, web2, web3) = (
        Backend::start("web1"),
        Backend::start("web2"),
        Backend::start("web3"),
    );
    let (port, stats_port) = (free_port(), free_port());
    let sock = unique_dir("slowstart-admin").join("admin.sock");
    let mut lb = Ringlb::start(&ops_config(port, stats_port, &sock, &[&web1, &web2]));
    let stats = SocketAddr::from(([127, 0, 0, 1], stats_port));
    let weight = |s: &str| {
        metric(
            stats,
            &format!("ringlb_server_weight{{backend=\"web\",server=\"{s}\"}}"),
        )
    };
    let admin = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringlb"))
            .arg("admin")
            .arg("-c")
            .arg(lb.config_path())
            .args(args)
            .output()
            .expect("run ringlb admin");
        assert!(out.status.success(), "{out:?}");
    };
    // servers present at start serve at full weight at once
    assert_eq!((weight("web1"), weight("web2")), (Some(100), Some(100)));

    // maintenance, then ready again: web2 ramps over the 10 minutes
    admin(&["set", "server", "web/web2", "state", "maint"]);
    admin(&["set", "server", "web/web2", "state", "ready"]);
    let w2 = weight("web2").expect("web2");
    assert!(w2 < 100, "web2 back from maintenance at weight {w2}");
    // web1 never left and keeps its weight
    assert_eq!(weight("web1"), Some(100));

    // a reload that adds web3: it starts slowly, web1 (kept) does not
    lb.write_config(&ops_config(port, stats_port, &sock, &[&web1, &web2, &web3]));
    lb.signal(libc::SIGHUP);
    lb.wait_notify("RELOADING=1", Duration::from_secs(5))
        .expect("RELOADING=1");
    lb.wait_notify("READY=1", Duration::from_secs(10))
        .expect("READY=1 after reload");
    let w3 = weight("web3").expect("web3 after the reload");
    assert!(w3 < 100, "web3 added by a reload at weight {w3}");
    assert_eq!(weight("web1"), Some(100));
    // and while it ramps, leastconn sends idle traffic to the servers at full weight
    let seen: Vec<String> = (0..20)
        .map(|i| {
            let r = http_get(
                SocketAddr::from(([127, 0, 0, 1], port)),
                &format!("/{i}"),
                &[],
            );
            r.backend().expect("X-Backend").to_string()
        })
        .collect();
    assert!(seen.iter().all(|s| s == "web1"), "{seen:?}");
}
