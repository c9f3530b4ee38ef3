//! Kernel TLS (kTLS) hand-over after the handshake, and its fallback: where the kernel has no
//! `tls` module (as on the build machine) every session stays on rustls, works as before and
//! is counted as user space; `ktls = "off"` never tries. The kTLS path itself is proven inside
//! the appliance, whose kernel has the module (tests/image/run.sh). Each test asks this kernel
//! first and expects the path it offers, so it holds on either kind of machine.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]
mod common;
use common::*;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Connections each test makes (one request each, a new TLS session each time).
const SESSIONS: usize = 6;
/// Body size of each download: many TLS records, several provided buffers.
const BODY: usize = 1 << 20;

/// Whether this kernel lets a TCP socket take the `tls` upper-layer protocol.
fn kernel_has_ktls() -> bool {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let _s = l.accept().unwrap();
    nix::sys::socket::setsockopt(&c, nix::sys::socket::sockopt::TcpUlp::default(), b"tls").is_ok()
}

/// A self-signed ECDSA certificate for `example.test`, chain and key in one PEM file.
fn certificate(dir: &std::path::Path) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=example.test",
            "-addext",
            "subjectAltName=DNS:example.test",
            "-days",
            "30",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ],
    );
    let mut pem = std::fs::read(dir.join("cert.pem")).unwrap();
    pem.extend(std::fs::read(dir.join("key.pem")).unwrap());
    let path = dir.join("site.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

struct Site {
    lb: Ringlb,
    _web: Backend,
    dir: PathBuf,
    tls: u16,
    stats: SocketAddr,
}

impl Site {
    /// ringlb with two workers and one TLS frontend; `extra` goes into its `tls` table.
    fn start(extra: &str) -> Site {
        let dir = unique_dir("ringlb-ktls");
        let cert = certificate(&dir);
        let web = Backend::start("web1");
        let (tls, stats) = (free_port(), free_addr());
        let toml = format!(
            r#"
[global]
workers = 2
[stats]
bind = "{stats}"
[frontend.www]
bind = "127.0.0.1:{plain}"
default_backend = "web"
[frontend.www.tls]
bind = "127.0.0.1:{tls}"
certificates = ["{cert}"]
{extra}
[backend.web]
[[backend.web.server]]
name = "web1"
address = "{backend}"
"#,
            plain = free_port(),
            cert = cert.display(),
            backend = web.addr(),
        );
        Site {
            lb: Ringlb::start(&toml),
            _web: web,
            dir,
            tls,
            stats,
        }
    }

    /// Downloads a `BODY`-byte body over a new TLS connection with curl and checks it.
    fn download(&self) {
        let resolve = format!("example.test:{}:127.0.0.1", self.tls);
        let ca = self.dir.join("cert.pem");
        let out: Output = Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(&ca)
            .args(["--resolve", &resolve, "-H", &format!("x-size: {BODY}")])
            .arg(format!("https://example.test:{}/", self.tls))
            .stdin(Stdio::null())
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout.len(), BODY, "body length");
        assert!(
            out.stdout == pattern(BODY),
            "body differs from the backend's"
        );
    }

    fn metric(&self, series: &str) -> Option<f64> {
        let r = http_get(self.stats, "/metrics", &[]);
        r.body_str().lines().find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }

    fn connections(&self, path: &str) -> Option<f64> {
        self.metric(&format!(
            "ringlb_frontend_tls_connections_total{{frontend=\"www\",path=\"{path}\"}}"
        ))
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn sessions_take_the_path_the_kernel_offers_and_are_counted() {
    let ktls = kernel_has_ktls();
    if !ktls {
        eprintln!("this kernel has no `tls` module: expecting the user-space path");
    }
    let site = Site::start("");
    for _ in 0..SESSIONS {
        site.download();
    }
    let n = SESSIONS as f64;
    let (want_k, want_u) = if ktls { (n, 0.0) } else { (0.0, n) };
    assert_eq!(site.connections("ktls"), Some(want_k));
    assert_eq!(site.connections("userspace"), Some(want_u));
    assert_eq!(
        site.metric("ringlb_frontend_ktls_failures_total{frontend=\"www\"}"),
        Some(0.0)
    );
    // The same figures in the stats JSON and on the HTML page.
    let json = http_get(site.stats, "/;json", &[]).body_str();
    let (k, u) = (want_k as u64, want_u as u64);
    assert!(
        json.contains(&format!("\"ktls\":{k},\"userspace\":{u},\"ktls_failed\":0")),
        "{json}"
    );
    let page = http_get(site.stats, "/", &[]).body_str();
    assert!(
        page.contains(&format!(
            "(kTLS) {k}, in user space {u}, kTLS set-up failed 0"
        )),
        "{page}"
    );
    let notice = "kernel TLS is not available";
    if ktls {
        assert!(!site.lb.stderr().contains(notice), "{}", site.lb.stderr());
    } else {
        // Said once per worker that tried, not once per connection.
        assert!(site.lb.wait_log(notice, Duration::from_secs(5)));
        let lines = site.lb.stderr().matches(notice).count();
        assert!(
            (1..=2).contains(&lines),
            "{lines} lines: {}",
            site.lb.stderr()
        );
    }
}

#[test]
fn ktls_off_keeps_every_session_in_user_space() {
    let site = Site::start("ktls = \"off\"");
    for _ in 0..SESSIONS {
        site.download();
    }
    assert_eq!(site.connections("userspace"), Some(SESSIONS as f64));
    assert_eq!(site.connections("ktls"), Some(0.0));
    // Never tried, so nothing to say about the kernel.
    assert!(
        !site.lb.stderr().contains("kernel TLS"),
        "{}",
        site.lb.stderr()
    );
}

#[test]
fn an_unknown_ktls_mode_is_a_config_error_at_its_line() {
    let toml = "[frontend.www]\nbind = \"127.0.0.1:1\"\ndefault_backend = \"web\"\n\
                [frontend.www.tls]\nbind = \"127.0.0.1:2\"\ncertificates = [\"/nonexistent.pem\"]\n\
                ktls = \"always\"\n\
                [backend.web]\n[[backend.web.server]]\nname = \"a\"\naddress = \"127.0.0.1:3\"\n";
    let out = Ringlb::run_cli(&["check", "-c", "{config}"], toml);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ringlb.toml:7:8: error:"), "{err}");
    assert!(err.contains("auto") && err.contains("off"), "{err}");
}
