//! TLS termination end to end, with real clients: curl, `openssl s_client`, Python's `ssl`, and
//! a rustls client for traffic across a reload. Certificates come from a throw-away CA made
//! with the `openssl` command for each test.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]
mod common;
use common::backend::{parse_head, Wire};
use common::conf::rss_kib;
use common::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;

/// A test CA and the certificates it signs, in one directory.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = unique_dir("ringlb-tls");
        openssl(
            &dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ca.key",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-subj",
                "/CN=ringlb test CA",
                "-days",
                "30",
                "-out",
                "ca.pem",
            ],
        );
        Pki { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A certificate for `names` (the first is the CN) with an `ec` (P-256) or `rsa` (2048)
    /// key, valid for `days` (0: already expired), written as one PEM file: leaf, then key.
    fn leaf(&self, file: &str, names: &[&str], kind: &str, days: u32) -> PathBuf {
        let cn = names.first().copied().unwrap_or("example.test");
        let key = format!("{file}.keytmp");
        match kind {
            "rsa" => openssl(&self.dir, &["genrsa", "-out", &key, "2048"]),
            _ => openssl(
                &self.dir,
                &[
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                    &key,
                ],
            ),
        }
        let csr = format!("{file}.csr");
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-subj",
                &format!("/CN={cn}"),
                "-out",
                &csr,
            ],
        );
        let ext = format!("{file}.ext");
        let names: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        std::fs::write(
            self.dir.join(&ext),
            format!("subjectAltName={}\n", names.join(",")),
        )
        .expect("write ext");
        let crt = format!("{file}.crt");
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                &days.to_string(),
                "-extfile",
                &ext,
                "-out",
                &crt,
            ],
        );
        let mut pem = std::fs::read(self.dir.join(&crt)).expect("read crt");
        pem.extend(std::fs::read(self.dir.join(&key)).expect("read key"));
        let path = self.dir.join(file);
        std::fs::write(&path, pem).expect("write pem");
        path
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(plain: u16, tls: u16, backend: SocketAddr, tls_table: &str) -> String {
    format!(
        r#"
[global]
workers = 1
[frontend.www]
bind = "127.0.0.1:{plain}"
default_backend = "web"
[frontend.www.tls]
bind = "127.0.0.1:{tls}"
{tls_table}
[backend.web]
[[backend.web.server]]
name = "web1"
address = "{backend}"
"#
    )
}

/// ringlb with one frontend: a plain listener and a TLS listener set up by `tls_table`.
struct Site {
    lb: Ringlb,
    /// Kept for as long as the site runs: dropping it stops the backend.
    _web: Backend,
    plain: u16,
    tls: u16,
    /// The `[stats]` listener (Prometheus at `/metrics`).
    stats: u16,
}

impl Site {
    fn start(tls_table: &str) -> Site {
        let web = Backend::start("web1");
        let (plain, tls, stats) = (free_port(), free_port(), free_port());
        let toml = config(plain, tls, web.addr(), tls_table)
            + &format!("[stats]\nbind = \"127.0.0.1:{stats}\"\n");
        let lb = Ringlb::start(&toml);
        Site {
            lb,
            _web: web,
            plain,
            tls,
            stats,
        }
    }

    /// The value of a Prometheus sample, e.g. `ringlb_frontend_tls_handshakes_total{…}`.
    fn metric(&self, series: &str) -> Option<f64> {
        let r = http_get(
            format!("127.0.0.1:{}", self.stats).parse().expect("addr"),
            "/metrics",
            &[],
        );
        r.body_str().lines().find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }
}

fn s_client(port: u16, args: &[&str]) -> String {
    let connect = format!("127.0.0.1:{port}");
    let out = Command::new("timeout")
        .args(["10", "openssl", "s_client", "-connect", &connect])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `STATUS SERVER` of an HTTPS request to `name` on 127.0.0.1:`port`, verified against `ca`.
fn status_and_server(ca: &Path, name: &str, port: u16) -> String {
    let resolve = format!("{name}:{port}:127.0.0.1");
    let out = curl(&[
        "--cacert",
        ca.to_str().expect("ca"),
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %header{server}",
        &format!("https://{name}:{port}/"),
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl")
}

#[test]
fn curl_gets_the_page_and_the_server_sees_https() {
    let pki = Pki::new();
    let cert = pki.leaf("site.pem", &["example.test"], "ec", 30);
    let site = Site::start(&format!("certificates = [\"{}\"]", cert.display()));
    let tls = site.tls;
    let resolve = format!("example.test:{tls}:127.0.0.1");
    let url = format!("https://example.test:{tls}/");
    let ca = pki.ca();
    let out = curl(&[
        "--cacert",
        ca.to_str().expect("ca"),
        "--resolve",
        &resolve,
        "-H",
        "x-echo-headers: 1",
        &url,
    ]);
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        body.contains("X-Forwarded-Proto: https"),
        "server saw: {body}"
    );
    // The plain listener of the same frontend still says http.
    let r = http_get(
        format!("127.0.0.1:{}", site.plain).parse().expect("addr"),
        "/",
        &[("x-echo-headers", "1")],
    );
    assert!(
        r.body_str().contains("X-Forwarded-Proto: http\r\n"),
        "{}",
        r.body_str()
    );
    // Keep-alive over TLS: two requests, one connection.
    let out = curl(&[
        "--cacert",
        ca.to_str().expect("ca"),
        "--resolve",
        &resolve,
        &url,
        &url,
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects}\n",
    ]);
    assert!(out.status.success());
    let connects: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        connects,
        ["1", "0"],
        "second request reused the TLS connection"
    );
}

#[test]
fn sni_picks_exact_wildcard_and_default_certificates() {
    let pki = Pki::new();
    let main = pki.leaf("a-main.pem", &["example.test", "*.example.test"], "ec", 30);
    let other = pki.leaf("b-other.pem", &["other.test"], "ec", 30);
    let site = Site::start(&format!(
        "certificates = [\"{}\", \"{}\"]",
        main.display(),
        other.display()
    ));
    let tls = site.tls;
    let ca = pki.ca();
    let ca = ca.to_str().expect("ca");
    let got = s_client(tls, &["-CAfile", ca, "-servername", "other.test"]);
    assert!(got.contains("subject=CN = other.test"), "{got}");
    assert!(got.contains("Verify return code: 0 (ok)"), "{got}");
    let got = s_client(tls, &["-CAfile", ca, "-servername", "www.example.test"]);
    assert!(got.contains("subject=CN = example.test"), "wildcard: {got}");
    let got = s_client(tls, &["-CAfile", ca, "-servername", "unknown.test"]);
    assert!(
        got.contains("subject=CN = example.test"),
        "unknown name → default: {got}"
    );
    let got = s_client(tls, &["-CAfile", ca, "-noservername"]);
    assert!(
        got.contains("subject=CN = example.test"),
        "no SNI → default: {got}"
    );
}

#[test]
fn a_directory_of_rsa_and_ecdsa_certificates_for_the_same_name() {
    let pki = Pki::new();
    let certs = pki.dir.join("certs");
    std::fs::create_dir(&certs).expect("mkdir");
    let ec = pki.leaf("ec.pem", &["example.test"], "ec", 30);
    let rsa = pki.leaf("rsa.pem", &["example.test"], "rsa", 30);
    std::fs::rename(&ec, certs.join("example-ec.pem")).expect("mv");
    std::fs::rename(&rsa, certs.join("example-rsa.pem")).expect("mv");
    let site = Site::start(&format!("certificates = [\"{}/\"]", certs.display()));
    let tls = site.tls;
    let ca = pki.ca();
    let ca = ca.to_str().expect("ca");
    let got = s_client(tls, &["-CAfile", ca, "-servername", "example.test"]);
    assert!(
        got.contains("Server public key is 256 bit"),
        "ECDSA first: {got}"
    );
    let got = s_client(
        tls,
        &[
            "-CAfile",
            ca,
            "-servername",
            "example.test",
            "-sigalgs",
            "RSA-PSS+SHA256:RSA+SHA256",
        ],
    );
    assert!(
        got.contains("Server public key is 2048 bit"),
        "RSA for an RSA-only client: {got}"
    );
}

#[test]
fn versions_suites_and_alpn() {
    let pki = Pki::new();
    let cert = pki.leaf("site.pem", &["example.test"], "ec", 30);
    let site = Site::start(&format!("certificates = [\"{}\"]", cert.display()));
    let tls = site.tls;
    let ca = pki.ca();
    let ca = ca.to_str().expect("ca");
    let got = s_client(tls, &["-CAfile", ca, "-alpn", "h2,http/1.1"]);
    assert!(got.contains("ALPN protocol: http/1.1"), "{got}");
    assert!(got.contains("TLSv1.3"), "{got}");
    let got = s_client(
        tls,
        &[
            "-CAfile",
            ca,
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ],
    );
    assert!(
        got.contains("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"),
        "{got}"
    );
    let got = s_client(tls, &["-CAfile", ca, "-tls1_1"]);
    assert!(
        !got.contains("Cipher is ECDHE"),
        "TLS 1.1 must be refused: {got}"
    );
    let got = s_client(tls, &["-CAfile", ca, "-tls1_2", "-cipher", "AES128-SHA"]);
    assert!(
        got.contains("Cipher is (NONE)") || !got.contains("Cipher is AES128"),
        "CBC suites never: {got}"
    );

    // min_version = "1.3" and a suite list.
    let site13 = Site::start(&format!(
        "certificates = [\"{}\"]\nmin_version = \"1.3\"\nciphersuites = [\"TLS_CHACHA20_POLY1305_SHA256\"]",
        cert.display()
    ));
    let tls2 = site13.tls;
    let got = s_client(tls2, &["-CAfile", ca, "-tls1_2"]);
    assert!(!got.contains("Cipher is ECDHE"), "TLS 1.2 refused: {got}");
    let got = s_client(tls2, &["-CAfile", ca]);
    assert!(got.contains("TLS_CHACHA20_POLY1305_SHA256"), "{got}");
}

#[test]
fn python_resumes_the_session_with_a_ticket() {
    let pki = Pki::new();
    let cert = pki.leaf("site.pem", &["example.test"], "ec", 30);
    let site = Site::start(&format!("certificates = [\"{}\"]", cert.display()));
    let tls = site.tls;
    let script = format!(
        r#"
import socket, ssl
ctx = ssl.create_default_context(cafile={ca:?})
def get(session=None):
    raw = socket.create_connection(("127.0.0.1", {tls}), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="example.test", session=session)
    version = s.version()
    s.sendall(b"GET / HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    out = (data.split(b"\r\n")[0].decode(), version, s.session_reused, s.session)
    s.close()
    return out
first = get()
second = get(first[3])
print(first[0], first[1], first[2])
print(second[0], second[1], second[2])
"#,
        ca = pki.ca().display().to_string(),
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "HTTP/1.1 200 OK TLSv1.3 False",
            "HTTP/1.1 200 OK TLSv1.3 True"
        ],
        "{text}"
    );
}

#[test]
fn bad_certificates_are_config_errors_at_their_line() {
    let pki = Pki::new();
    let good = pki.leaf("good.pem", &["example.test"], "ec", 90);
    let expired = pki.leaf("expired.pem", &["old.test"], "ec", 0);
    let other = pki.leaf("other.pem", &["other.test"], "ec", 30);
    // The key of one certificate after the chain of another.
    let good_pem = std::fs::read_to_string(&good).expect("read");
    let other_pem = std::fs::read_to_string(&other).expect("read");
    let cert_only = &good_pem[..good_pem.find("-----BEGIN EC PRIVATE KEY").expect("key")];
    let key_only = &other_pem[other_pem.find("-----BEGIN EC PRIVATE KEY").expect("key")..];
    let mismatch = pki.dir.join("mismatch.pem");
    std::fs::write(&mismatch, format!("{cert_only}{key_only}")).expect("write");
    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let nokey = pki.dir.join("nokey.pem");
    std::fs::write(&nokey, cert_only).expect("write");
    let missing = pki.dir.join("missing.pem");
    let web = free_addr();
    let cases: [(&Path, &str, &str); 5] = [
        (&missing, "", "cannot read certificate"),
        (&garbage, "", "not valid PEM"),
        (&mismatch, "", "does not match"),
        (&expired, "", "expired on"),
        (&nokey, "", "no private key"),
    ];
    for (path, extra, why) in cases {
        let toml = config(
            1,
            2,
            web,
            &format!("certificates = [\"{}\"]{extra}", path.display()),
        );
        let out = Ringlb::run_cli(&["check", "-c", "{config}"], &toml);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{why}: {err}");
        assert!(
            err.contains("ringlb.toml:9:17: error:"),
            "{why}: place: {err}"
        );
        assert!(
            err.contains(&path.display().to_string()),
            "{why}: path: {err}"
        );
        assert!(err.contains(why), "{why}: {err}");
    }
    let toml = config(
        1,
        2,
        web,
        &format!(
            "certificates = [\"{}\"]\ndefault_name = \"nope.test\"",
            good.display()
        ),
    );
    let out = Ringlb::run_cli(&["check", "-c", "{config}"], &toml);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no certificate serves the default name \"nope.test\""),
        "{err}"
    );
    // A good one is listed with its names, key type and expiry.
    let toml = config(
        1,
        2,
        web,
        &format!("certificates = [\"{}\"]", good.display()),
    );
    let out = Ringlb::run_cli(&["check", "-c", "{config}"], &toml);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("example.test; ECDSA P-256; expires"),
        "{text}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("expires in less than 30 days"),
        "a 90-day certificate is no cause for a warning"
    );
    // One that expires within 30 days is listed with a warning; the config is still valid.
    let soon = pki.leaf("soon.pem", &["soon.test"], "ec", 10);
    let toml = config(
        1,
        2,
        web,
        &format!("certificates = [\"{}\"]", soon.display()),
    );
    let out = Ringlb::run_cli(&["check", "-c", "{config}"], &toml);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: frontend www: certificate")
            && err.contains("expires in less than 30 days"),
        "{err}"
    );
}

fn leaf_der(pem_file: &Path) -> Vec<u8> {
    let pem = std::fs::read(pem_file).expect("read");
    rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .next()
        .expect("a cert")
        .expect("pem")
        .as_ref()
        .to_vec()
}

#[test]
fn a_reload_serves_the_new_certificate_and_fails_nothing() {
    let pki = Pki::new();
    let live = pki.dir.join("live.pem");
    let first = pki.leaf("first.pem", &["example.test"], "ec", 30);
    let second = pki.leaf("second.pem", &["example.test"], "ec", 30);
    std::fs::copy(&first, &live).expect("cp");
    let site = Site::start(&format!("certificates = [\"{}\"]", live.display()));
    let tls = site.tls;
    let mut lb = site.lb;
    let addr: SocketAddr = format!("127.0.0.1:{tls}").parse().expect("addr");
    let cfg = tls_client_config(&pki.ca());
    let (status, leaf) = common::tls_get(&cfg, addr, "example.test").expect("first request");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(leaf, leaf_der(&first));

    // Load: new TLS connections, one request each, from two threads, until told to stop (at
    // most 100,000 each should the test fail before it says so).
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ok, failed, cfg) = (stop.clone(), ok.clone(), failed.clone(), cfg.clone());
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                for _ in 0..100_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match common::tls_get(&cfg, addr, "example.test") {
                        Ok((s, _)) if s == "HTTP/1.1 200 OK" => ok.fetch_add(1, Ordering::Relaxed),
                        Ok((s, _)) => {
                            errors.push(s);
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) => {
                            errors.push(e);
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
                errors
            })
        })
        .collect();
    assert!(wait_until(Duration::from_secs(10), || ok
        .load(Ordering::Relaxed)
        >= 50));
    // A bad certificate first: the reload fails and the old one keeps serving.
    std::fs::write(&live, "not a certificate").expect("write");
    lb.signal(libc::SIGHUP);
    lb.wait_notify("RELOADING=1", Duration::from_secs(5))
        .expect("RELOADING");
    lb.wait_notify("READY=1", Duration::from_secs(5))
        .expect("READY after failed reload");
    assert!(
        wait_until(Duration::from_secs(5), || {
            let e = lb.stderr();
            e.contains("not valid PEM") || e.contains("no CERTIFICATE")
        }),
        "{}",
        lb.stderr()
    );
    let before = ok.load(Ordering::Relaxed);
    assert!(wait_until(Duration::from_secs(10), || ok
        .load(Ordering::Relaxed)
        >= before + 50));
    // Then the new certificate.
    std::fs::copy(&second, &live).expect("cp");
    lb.signal(libc::SIGHUP);
    lb.wait_notify("RELOADING=1", Duration::from_secs(5))
        .expect("RELOADING");
    lb.wait_notify("READY=1", Duration::from_secs(5))
        .expect("READY");
    let before = ok.load(Ordering::Relaxed);
    assert!(wait_until(Duration::from_secs(10), || ok
        .load(Ordering::Relaxed)
        >= before + 50));
    stop.store(true, Ordering::Relaxed);
    let errors: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    let (_, leaf) = common::tls_get(&cfg, addr, "example.test").expect("after reload");
    assert_eq!(
        leaf,
        leaf_der(&second),
        "new connections get the new certificate"
    );
    println!(
        "FIGURE: TLS reloads under load: {} requests, {} failed",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failures: {errors:?}");
}

#[test]
fn plain_http_and_garbage_on_a_tls_port_are_closed() {
    let pki = Pki::new();
    let cert = pki.leaf("site.pem", &["example.test"], "ec", 30);
    let site = Site::start(&format!("certificates = [\"{}\"]", cert.display()));
    let tls = site.tls;
    let addr: SocketAddr = format!("127.0.0.1:{tls}").parse().expect("addr");
    for bytes in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0][..],
        &[0u8; 64][..],
    ] {
        let got = raw_exchange_timeout(addr, bytes, Duration::from_secs(5));
        assert!(
            !String::from_utf8_lossy(&got).contains("HTTP/1.1"),
            "no HTTP answer on a TLS port: {got:?}"
        );
        // A TLS alert record at most.
        assert!(got.is_empty() || got[0] == 0x15, "{got:?}");
    }
    let cfg = tls_client_config(&pki.ca());
    assert_eq!(
        common::tls_get(&cfg, addr, "example.test")
            .expect("still serving")
            .0,
        "HTTP/1.1 200 OK"
    );
    // Each failure is counted; event lines are throttled but say what happened.
    let failed = r#"ringlb_frontend_tls_handshakes_total{frontend="www",outcome="failed"}"#;
    let full = r#"ringlb_frontend_tls_handshakes_total{frontend="www",outcome="full"}"#;
    assert_eq!(site.metric(failed), Some(3.0));
    assert_eq!(site.metric(full), Some(1.0));
    assert!(
        site.lb.wait_log(
            "frontend www: TLS handshake failed:",
            Duration::from_secs(5)
        ),
        "{}",
        site.lb.stderr()
    );
    let expiry = site
        .metric(&format!(
            r#"ringlb_certificate_expiry_seconds{{frontend="www",path="{}"}}"#,
            cert.display()
        ))
        .expect("expiry");
    assert!(
        expiry > 29.0 * 86_400.0 && expiry <= 30.0 * 86_400.0,
        "{expiry}"
    );
}

#[test]
fn tls_termination_in_front_of_a_tcp_backend() {
    let pki = Pki::new();
    let cert = pki.leaf("site.pem", &["example.test"], "ec", 30);
    let echo = RawBackend::echo();
    let tls = free_port();
    let _lb = Ringlb::start(&format!(
        r#"
[global]
workers = 1
[frontend.db]
mode = "tcp"
default_backend = "echo"
[frontend.db.tls]
bind = "127.0.0.1:{tls}"
certificates = ["{}"]
[backend.echo]
mode = "tcp"
[[backend.echo.server]]
name = "e1"
address = "{}"
"#,
        cert.display(),
        echo.addr()
    ));
    let cfg = tls_client_config(&pki.ca());
    let name = rustls::pki_types::ServerName::try_from("example.test").expect("name");
    let conn = rustls::ClientConnection::new(cfg, name).expect("client");
    let sock = TcpStream::connect(("127.0.0.1", tls)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut s = rustls::StreamOwned::new(conn, sock);
    let payload = pattern(200_000);
    s.write_all(&payload).expect("write");
    let mut back = vec![0u8; payload.len()];
    s.read_exact(&mut back).expect("echo back");
    assert!(back == payload, "the echo came back intact through TLS");
}

#[test]
fn routes_on_tls_and_the_server_name() {
    let pki = Pki::new();
    let cert = pki.leaf("site.pem", &["example.test", "*.example.test"], "ec", 30);
    let (web, api, secure) = (
        Backend::start("web"),
        Backend::start("api"),
        Backend::start("secure"),
    );
    let (plain, tls) = (free_port(), free_port());
    let _lb = Ringlb::start(&format!(
        r#"
[global]
workers = 1
[frontend.www]
bind = "127.0.0.1:{plain}"
default_backend = "web"
[frontend.www.tls]
bind = "127.0.0.1:{tls}"
certificates = ["{}"]
[frontend.www.acl]
api = "ssl_fc_sni api.example.test"
[[frontend.www.route]]
backend = "api"
if = "api"
[[frontend.www.route]]
backend = "secure"
if = "{{ ssl_fc }}"
[backend.web]
[[backend.web.server]]
name = "web"
address = "{}"
[backend.api]
[[backend.api.server]]
name = "api"
address = "{}"
[backend.secure]
[[backend.secure.server]]
name = "secure"
address = "{}"
"#,
        cert.display(),
        web.addr(),
        api.addr(),
        secure.addr()
    ));
    let ca = pki.ca();
    let served_by = |name: &str| status_and_server(&ca, name, tls);
    assert_eq!(served_by("api.example.test"), "200 api");
    assert_eq!(served_by("www.example.test"), "200 secure");
    let r = http_get(
        format!("127.0.0.1:{plain}").parse().expect("addr"),
        "/",
        &[],
    );
    assert_eq!(r.backend(), Some("web"), "a plain request is not ssl_fc");
}

/// TLS passed through a tcp frontend, routed by the ClientHello's server name: ringlb reads
/// the hello without answering it, and the TLS servers behind it (two TLS frontends of the
/// same ringlb here) present their own certificates.
#[test]
fn passthrough_routes_by_the_client_hello() {
    let pki = Pki::new();
    let a = pki.leaf("a.pem", &["a.test"], "ec", 30);
    let b = pki.leaf("b.pem", &["b.test"], "ec", 30);
    let (web_a, web_b) = (Backend::start("web-a"), Backend::start("web-b"));
    let (pass, ta, tb) = (free_port(), free_port(), free_port());
    let _lb = Ringlb::start(&format!(
        r#"
[global]
workers = 1
[frontend.pass]
bind = "127.0.0.1:{pass}"
mode = "tcp"
default_backend = "tls-b"
[frontend.pass.acl]
a = "req.ssl_sni a.test"
[[frontend.pass.route]]
backend = "tls-a"
if = "a"
[backend.tls-a]
mode = "tcp"
[[backend.tls-a.server]]
name = "ta"
address = "127.0.0.1:{ta}"
[backend.tls-b]
mode = "tcp"
[[backend.tls-b.server]]
name = "tb"
address = "127.0.0.1:{tb}"
[frontend.site-a]
default_backend = "web-a"
[frontend.site-a.tls]
bind = "127.0.0.1:{ta}"
certificates = ["{}"]
[frontend.site-b]
default_backend = "web-b"
[frontend.site-b.tls]
bind = "127.0.0.1:{tb}"
certificates = ["{}"]
[backend.web-a]
[[backend.web-a.server]]
name = "web-a"
address = "{}"
[backend.web-b]
[[backend.web-b.server]]
name = "web-b"
address = "{}"
"#,
        a.display(),
        b.display(),
        web_a.addr(),
        web_b.addr()
    ));
    let ca = pki.ca();
    let get = |name: &str| status_and_server(&ca, name, pass);
    // Each name reaches the TLS server holding its certificate (curl verifies it).
    assert_eq!(get("a.test"), "200 web-a");
    assert_eq!(get("b.test"), "200 web-b");
    // Not TLS at all: the default route, the bytes passed on as they are.
    let got = raw_exchange_timeout(
        format!("127.0.0.1:{pass}").parse().expect("addr"),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(
        got.is_empty() || got[0] == 0x15,
        "the TLS server behind answers TLS: {got:?}"
    );
}

/// A rustls client connection to the site's TLS listener, handshake done.
fn tls_connect(ca: &Path, port: u16) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let name = rustls::pki_types::ServerName::try_from("example.test").expect("name");
    let mut conn = rustls::ClientConnection::new(tls_client_config(ca), name).expect("client");
    conn.set_buffer_limit(None);
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    sock.set_nodelay(true).expect("nodelay");
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("handshake");
    }
    rustls::StreamOwned::new(conn, sock)
}

/// Sends everything rustls has encrypted in pieces of `piece` bytes, so that records straddle
/// the server's receives.
fn send_in_pieces(
    tls: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    piece: usize,
) {
    let mut wire = Vec::new();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut wire).expect("encrypt");
    }
    for p in wire.chunks(piece) {
        tls.sock.write_all(p).expect("send");
    }
}

/// Records that straddle receives (a 300 kB upload sent in odd pieces, a 200 kB download),
/// a key update from the client (ringlb's own key update goes out with its next response) and
/// the client's close_notify (ringlb ends the connection).
#[test]
fn split_records_large_bodies_key_update_and_close_notify() {
    let pki = Pki::new();
    let cert = pki.leaf("site.pem", &["example.test"], "ec", 30);
    let site = Site::start(&format!("certificates = [\"{}\"]", cert.display()));
    let mut tls = tls_connect(&pki.ca(), site.tls);
    let body = pattern(300_000);
    tls.conn
        .writer()
        .write_all(
            format!(
                "POST /up HTTP/1.1\r\nHost: example.test\r\nContent-Length: {}\r\nx-size: 200000\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .expect("head");
    tls.conn.writer().write_all(&body).expect("body");
    send_in_pieces(&mut tls, 1777);
    let mut wire = Wire::new(tls);
    let head = wire.read_head().expect("read").expect("a response");
    let head = parse_head(&head).expect("head");
    assert!(head.start.starts_with("HTTP/1.1 200"), "{}", head.start);
    assert_eq!(head.header("x-body-len"), Some("300000"));
    assert_eq!(
        head.header("x-body-sum"),
        Some(format!("{:x}", fnv(&body)).as_str())
    );
    let mut sum = Fnv::new();
    wire.read_exact_into(200_000, &mut |b| sum.update(b))
        .expect("download");
    assert_eq!(sum.value(), pattern_sum(200_000));
    // A key update (the client asks for ringlb's too), then a request on the new keys.
    let mut tls = wire.stream;
    tls.conn.refresh_traffic_keys().expect("key update");
    tls.conn
        .writer()
        .write_all(b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
        .expect("request");
    send_in_pieces(&mut tls, 5);
    let mut wire = Wire::new(tls);
    let head = wire.read_head().expect("read").expect("a response");
    let head = parse_head(&head).expect("head");
    assert!(head.start.starts_with("HTTP/1.1 200"), "{}", head.start);
    assert_eq!(head.header("server"), Some("web1"));
    let len: u64 = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    wire.read_exact_into(len, &mut |_| {}).expect("body");
    // close_notify: ringlb ends its side too (end of stream, not a timeout).
    let mut tls = wire.stream;
    tls.conn.send_close_notify();
    send_in_pieces(&mut tls, 64);
    let mut rest = Vec::new();
    match tls.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}"),
    }
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

/// A forged record after the handshake: ringlb answers with a fatal alert and closes.
#[test]
fn a_forged_record_gets_an_alert_and_a_close() {
    let pki = Pki::new();
    let cert = pki.leaf("site.pem", &["example.test"], "ec", 30);
    let site = Site::start(&format!("certificates = [\"{}\"]", cert.display()));
    let mut tls = tls_connect(&pki.ca(), site.tls);
    // An application-data record whose tag cannot verify.
    let mut forged = vec![0x17, 0x03, 0x03, 0x00, 0x40];
    forged.extend((0..0x40u8).map(|i| i.wrapping_mul(37)));
    tls.sock.write_all(&forged).expect("send");
    let mut got = Vec::new();
    let _ = tls.sock.read_to_end(&mut got);
    let mut rd = &got[..];
    let mut alert = None;
    while !rd.is_empty() && alert.is_none() {
        if tls.conn.read_tls(&mut rd).expect("read_tls") == 0 {
            break;
        }
        if let Err(e) = tls.conn.process_new_packets() {
            alert = Some(e);
        }
    }
    assert!(
        matches!(
            alert,
            Some(rustls::Error::AlertReceived(
                rustls::AlertDescription::BadRecordMac
            ))
        ),
        "{alert:?} after {} bytes",
        got.len()
    );
}

/// What an idle TLS keep-alive connection costs ringlb beyond a plain one: RSS growth over many
/// connections that made one request each and stay open, TLS against plain in the same
/// process. rustls's keys and state cost about 4 KiB (`docs/design.md`); a receive or send
/// buffer kept per connection would add 4 KiB or more. `scripts/bench --only tls-idle` has the
/// release figures beside HAProxy and nginx.
#[test]
fn an_idle_tls_connection_costs_little_memory() {
    const N: usize = 400;
    let pki = Pki::new();
    let cert = pki.leaf("site.pem", &["example.test"], "ec", 30);
    let ca = pki.ca();
    // Each kind in a fresh process, as the benchmark does: memory freed by one kind's
    // connections (or upstream connections pooled for them) would hide the other's cost.
    let per = |tls: bool| {
        let site = Site::start(&format!("certificates = [\"{}\"]", cert.display()));
        let open = || -> Box<dyn std::any::Any> {
            if tls {
                let mut tls = tls_connect(&ca, site.tls);
                tls.write_all(b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
                    .expect("request");
                let mut wire = Wire::new(tls);
                let head = wire.read_head().expect("read").expect("a response");
                let head = parse_head(&head).expect("head");
                assert!(head.start.starts_with("HTTP/1.1 200"), "{}", head.start);
                Box::new(wire)
            } else {
                let addr = format!("127.0.0.1:{}", site.plain).parse().expect("addr");
                let mut c = Client::connect(addr).expect("connect");
                let r = c.get("/").expect("response");
                assert_eq!(r.status, 200);
                Box::new(c)
            }
        };
        // First use (receive buffers, the worker's tables, ticket keys) is not a
        // connection's cost.
        let mut conns: Vec<_> = (0..20).map(|_| open()).collect();
        let before = rss_kib(site.lb.pid());
        conns.extend((0..N).map(|_| open()));
        let after = rss_kib(site.lb.pid());
        assert!(before > 0 && after > 0, "no RSS read");
        after.saturating_sub(before) as f64 / N as f64
    };
    let plain = per(false);
    let tls = per(true);
    println!("KiB per idle connection: plain {plain:.2}, TLS {tls:.2}");
    assert!(
        tls - plain <= 6.0,
        "an idle TLS connection costs {tls:.2} KiB, a plain one {plain:.2} KiB"
    );
}

/// Lines of `s_client -msg` until one contains `needle` (true) or the client ends (false).
fn s_client_until(port: u16, args: &[&str], stdin: &[u8], needle: &str) -> (bool, String) {
    use std::io::BufRead;
    let connect = format!("127.0.0.1:{port}");
    let mut child = Command::new("timeout")
        .args(["10", "openssl", "s_client", "-msg", "-connect", &connect])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    // s_client reads its commands once the handshake is done; the pipe stays open meanwhile.
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write to s_client");
    let mut seen = String::new();
    let mut found = false;
    for line in std::io::BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let Ok(line) = line else { break };
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(needle) {
            found = true;
            break;
        }
    }
    drop(input);
    let _ = child.kill();
    let _ = child.wait();
    (found, seen)
}

#[test]
fn renegotiation_oversized_records_and_a_stalled_hello_are_refused() {
    let pki = Pki::new();
    let cert = pki.leaf("site.pem", &["example.test"], "ec", 30);
    let site = Site::start(&format!(
        "certificates = [\"{}\"]\nmin_version = \"1.2\"\n[frontend.www.timeout]\nclient = \"1s\"",
        cert.display()
    ));
    let addr: SocketAddr = format!("127.0.0.1:{}", site.tls).parse().expect("addr");
    let failed = r#"ringlb_frontend_tls_handshakes_total{frontend="www",outcome="failed"}"#;

    // A TLS 1.2 client asking to renegotiate is told no at once (a warning alert), not left
    // waiting for a ServerHello.
    let (refused, seen) = s_client_until(
        site.tls,
        &["-tls1_2", "-servername", "example.test"],
        b"R\n",
        "no_renegotiation",
    );
    assert!(refused, "no no_renegotiation alert: {seen}");

    // A record longer than TLS allows: a fatal alert, then the close.
    let got = raw_exchange_timeout(
        addr,
        &[&[0x16, 0x03, 0x01, 0x50, 0x00][..], &[1u8; 100][..]].concat(),
        Duration::from_secs(5),
    );
    assert_eq!(got.first(), Some(&0x15), "an alert record: {got:?}");
    assert_eq!(got.get(5), Some(&2), "a fatal alert: {got:?}");

    // A ClientHello that never completes is closed at `timeout client`.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(&[
        0x16, 0x03, 0x01, 0x00, 0x80, 0x01, 0x00, 0x00, 0x7c, 0x03, 0x03,
    ])
    .expect("send");
    let mut rest = Vec::new();
    assert!(
        s.read_to_end(&mut rest).is_ok(),
        "closed by ringlb, not left open"
    );
    assert!(
        site.lb.wait_log(
            "frontend www: TLS handshake failed: timed out",
            Duration::from_secs(5)
        ),
        "{}",
        site.lb.stderr()
    );
    assert_eq!(site.metric(failed), Some(2.0));

    // And the frontend still serves.
    let cfg = tls_client_config(&pki.ca());
    assert_eq!(
        common::tls_get(&cfg, addr, "example.test")
            .expect("still serving")
            .0,
        "HTTP/1.1 200 OK"
    );
}
