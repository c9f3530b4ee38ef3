//! The stats page (credentials, HTML, CSV, JSON, Prometheus), the runtime admin over the admin
//! socket and over HTTP, and the reload that keeps admin state.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::*;

struct Setup {
    lb: Ringlb,
    www: SocketAddr,
    stats: SocketAddr,
    sock: std::path::PathBuf,
    web: Vec<Backend>,
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn config(port: u16, stats_port: u16, sock: &std::path::Path, web: &[Backend]) -> String {
    let mut s = format!(
        r#"
[global]
workers = 2
admin_socket = "{}"
[stats]
bind = "127.0.0.1:{stats_port}"
refresh = "5s"
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
[frontend.www.stats]
uri = "/haproxy?stats"
realm = "ringlb cockpit"
users = ["admin:s3cret", "ops:$5$saltsalt$i1q2ZQzc.tl/BQ6CHiENAcVDvEY6nJ1OWlWXKh94b1."]
admin = true
[backend.web]
"#,
        sock.display()
    );
    for b in web {
        s.push_str(&format!(
            "[[backend.web.server]]\nname = \"{}\"\naddress = \"{}\"\n",
            b.name(),
            b.addr()
        ));
    }
    s
}

fn setup() -> Setup {
    let web = vec![Backend::start("web1"), Backend::start("web2")];
    let (port, stats_port) = (free_port(), free_port());
    let sock = unique_dir("ringlb-admin").join("admin.sock");
    let lb = Ringlb::start(&config(port, stats_port, &sock, &web));
    Setup {
        lb,
        www: SocketAddr::from(([127, 0, 0, 1], port)),
        stats: SocketAddr::from(([127, 0, 0, 1], stats_port)),
        sock,
        web,
    }
}

fn admin(s: &Setup, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("admin")
        .arg("-c")
        .arg(s.lb.config_path())
        .args(args)
        .output()
        .expect("run ringlb admin");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn stats_page_requires_credentials() {
    let s = setup();
    let r = http_get(s.www, "/haproxy?stats", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"ringlb cockpit\", charset=\"UTF-8\"")
    );
    let wrong = format!("Basic {}", base64("admin:nope"));
    assert_eq!(
        http_get(
            s.www,
            "/haproxy?stats",
            &[("Authorization", wrong.as_str())]
        )
        .status,
        401
    );
    let good = format!("Basic {}", base64("admin:s3cret"));
    let r = http_get(s.www, "/haproxy?stats", &[("Authorization", good.as_str())]);
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .expect("type")
        .starts_with("text/html"));
    let page = r.body_str();
    assert!(
        page.contains("web1") && page.contains("web2") && page.contains("www"),
        "servers and frontend shown"
    );
    // A crypt(3) SHA-256 password works too.
    let hashed = format!("Basic {}", base64("ops:s3cret"));
    assert_eq!(
        http_get(
            s.www,
            "/haproxy?stats",
            &[("Authorization", hashed.as_str())]
        )
        .status,
        200
    );
    // Other paths still go to the servers.
    assert_eq!(http_get(s.www, "/app", &[]).status, 200);
}

#[test]
fn csv_json_and_prometheus_parse() {
    let s = setup();
    for _ in 0..10 {
        assert_eq!(http_get(s.www, "/", &[]).status, 200);
    }
    let good = format!("Basic {}", base64("admin:s3cret"));
    let csv = http_get(
        s.www,
        "/haproxy?stats;csv",
        &[("Authorization", good.as_str())],
    )
    .body_str();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("header")
        .trim_start_matches("# ")
        .split(',')
        .collect();
    assert_eq!(
        &header[..8],
        ["pxname", "svname", "qcur", "qmax", "scur", "smax", "slim", "stot"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let stot = header.iter().position(|h| *h == "stot").expect("stot");
    let web1 = rows
        .iter()
        .find(|r| r[0] == "web" && r[1] == "web1")
        .expect("web1 row");
    let web2 = rows
        .iter()
        .find(|r| r[0] == "web" && r[1] == "web2")
        .expect("web2 row");
    let total: u64 = web1[stot].parse::<u64>().expect("n") + web2[stot].parse::<u64>().expect("n");
    assert_eq!(total, 10, "server totals count the requests");
    assert!(rows.iter().any(|r| r[0] == "www" && r[1] == "FRONTEND"));
    assert!(rows.iter().any(|r| r[0] == "web" && r[1] == "BACKEND"));

    let json = http_get(
        s.www,
        "/haproxy?stats;json",
        &[("Authorization", good.as_str())],
    )
    .body_str();
    let v: serde_json::Value = serde_json::from_str(&json).expect("json parses");
    assert!(v["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .any(|b| b["name"] == "web"));

    // The dedicated listener serves Prometheus on /metrics, without credentials.
    let prom = http_get(s.stats, "/metrics", &[]);
    assert_eq!(prom.status, 200);
    let text = prom.body_str();
    let mut samples = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line.rsplit_once(' ').expect("name value");
        assert!(value.parse::<f64>().is_ok(), "numeric value: {line}");
        let metric = name.split('{').next().expect("metric");
        assert!(
            metric.starts_with("ringlb_")
                && metric
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        samples += 1;
    }
    assert!(samples > 10, "{text}");
    assert!(
        text.contains("ringlb_server_up{backend=\"web\",server=\"web1\"} 1"),
        "{text}"
    );
    assert_eq!(http_get(s.stats, "/", &[]).status, 200, "the page itself");
    assert_eq!(http_get(s.stats, "/elsewhere", &[]).status, 404);
}

#[test]
fn admin_socket_drain_and_maint_apply_to_all_workers_and_survive_reload() {
    let s = setup();
    let (ok, out) = admin(&s, &["set", "server", "web/web1", "state", "drain"]);
    assert!(ok, "{out}");
    let before = s.web[0].requests();
    for _ in 0..40 {
        assert_eq!(
            http_get(s.www, "/", &[]).backend(),
            Some("web2"),
            "drained server gets no new sessions"
        );
    }
    assert_eq!(s.web[0].requests(), before);
    let (_, shown) = admin(&s, &["show", "servers"]);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("web web1 ") && l.contains("DRAIN")),
        "{shown}"
    );

    // A reload keeps the state of servers that stay.
    s.lb.signal(libc::SIGHUP);
    let mut lb = s.lb;
    lb.wait_notify("READY=1", Duration::from_secs(5))
        .expect("reloaded");
    for _ in 0..20 {
        assert_eq!(
            http_get(s.www, "/", &[]).backend(),
            Some("web2"),
            "still drained after reload"
        );
    }
    let cfg = lb.config_path().to_path_buf();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
            .arg("admin")
            .arg("-c")
            .arg(&cfg)
            .args(args)
            .output()
            .expect("admin");
        assert!(out.status.success(), "{:?}", out);
    };
    run(&["set", "server", "web/web2", "state", "maint"]);
    run(&["set", "server", "web/web1", "state", "ready"]);
    for _ in 0..20 {
        assert_eq!(
            http_get(s.www, "/", &[]).backend(),
            Some("web1"),
            "maint takes web2 out"
        );
    }
    run(&["set", "server", "web/web2", "state", "ready"]);
    run(&["set", "server", "web/web1", "weight", "0"]);
    for _ in 0..10 {
        assert_eq!(
            http_get(s.www, "/", &[]).backend(),
            Some("web2"),
            "weight 0"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("admin")
        .arg("-c")
        .arg(&cfg)
        .args(["set", "server", "web/nope", "state", "drain"])
        .output()
        .expect("admin");
    assert!(!out.status.success(), "unknown server is an error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no server \"nope\""));
    // Root-only socket.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&s.sock)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn http_admin_form_drains_a_server() {
    let s = setup();
    let good = format!("Basic {}", base64("admin:s3cret"));
    let body = b"backend=web&server=web2&action=drain";
    let r = http_request(
        s.www,
        "POST",
        "/haproxy?stats;admin",
        &[
            ("Authorization", good.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body,
    )
    .expect("admin post");
    assert_eq!(r.status, 303, "{}", r.body_str());
    assert_eq!(r.header("location"), Some("/haproxy?stats"));
    for _ in 0..20 {
        assert_eq!(http_get(s.www, "/", &[]).backend(), Some("web1"));
    }
    // Without credentials nothing changes.
    let r = http_request(
        s.www,
        "POST",
        "/haproxy?stats;admin",
        &[],
        b"backend=web&server=web1&action=maint",
    )
    .expect("post");
    assert_eq!(r.status, 401);
    assert_eq!(http_get(s.www, "/", &[]).backend(), Some("web1"));
}

/// The CSV row `pxname,svname` as name → value.
fn csv_row(csv: &str, px: &str, sv: &str) -> std::collections::HashMap<String, u64> {
    let mut lines = csv.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .trim_start_matches("# ")
        .split(',')
        .map(str::to_owned)
        .collect();
    let row = lines
        .map(|l| l.split(',').map(str::to_owned).collect::<Vec<_>>())
        .find(|r| r[0] == px && r[1] == sv)
        .unwrap_or_else(|| panic!("no row {px}/{sv} in {csv}"));
    header
        .into_iter()
        .zip(row)
        .filter_map(|(h, v)| v.parse().ok().map(|n| (h, n)))
        .collect()
}

/// Counters kept per worker (the default) and in one shared table (`tune_per_worker_counters
/// = false`, applied by a reload) add up to exactly what two workers served: requests,
/// connections, responses and bytes of the frontend and of each server.
#[test]
fn counters_are_exact_across_workers_per_worker_or_shared() {
    let s = setup();
    let good = format!("Basic {}", base64("admin:s3cret"));
    let csv = |s: &Setup| {
        http_get(
            s.www,
            "/haproxy?stats;csv",
            &[("Authorization", good.as_str())],
        )
        .body_str()
    };
    // 40 connections of 5 requests: the two workers share the listener, both serve some.
    let serve = |s: &Setup| {
        for _ in 0..40 {
            let mut c = Client::connect(s.www).expect("connect");
            for i in 0..5 {
                assert_eq!(c.get(&format!("/{i}")).expect("request").status, 200);
            }
        }
    };
    serve(&s);
    let check = |s: &Setup, requests: u64, conns: u64, proxied: u64| {
        let text = csv(s);
        let fe = csv_row(&text, "www", "FRONTEND");
        // The stats requests themselves count too (this one is being served).
        assert_eq!(fe["req_tot"], requests, "{text}");
        assert_eq!(fe["stot"], conns, "{text}");
        assert_eq!(fe["hrsp_2xx"], requests - 1, "{text}");
        let (w1, w2) = (csv_row(&text, "web", "web1"), csv_row(&text, "web", "web2"));
        assert_eq!(w1["stot"] + w2["stot"], proxied, "{text}");
        assert_eq!(w1["hrsp_2xx"] + w2["hrsp_2xx"], proxied, "{text}");
        let be = csv_row(&text, "web", "BACKEND");
        assert_eq!(be["bout"], w1["bout"] + w2["bout"], "{text}");
        assert!(fe["bout"] >= be["bout"], "{text}");
    };
    // 200 proxied requests on 40 connections, then the CSV request on its own connection.
    check(&s, 201, 41, 200);
    let text = std::fs::read_to_string(s.lb.config_path()).expect("config");
    s.lb.write_config(&text.replacen(
        "workers = 2\n",
        "workers = 2\ntune_per_worker_counters = false\n",
        1,
    ));
    s.lb.signal(libc::SIGHUP);
    let mut s = s;
    s.lb.wait_notify("READY=1", Duration::from_secs(5))
        .expect("reloaded");
    serve(&s);
    // Another 200 on 40 connections, the first CSV request and this one.
    check(&s, 402, 82, 400);
}
