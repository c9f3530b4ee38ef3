//! ACME end to end against Pebble, the ACME test server (Debian package `pebble`), started on
//! loopback with `pebble-challtestsrv` as its DNS (every name → 127.0.0.1) and its validation
//! ports pointed at ringlb's listeners: first issuance by `http-01` and by `tls-alpn-01`, the
//! certificate served to a client trusting Pebble's root, renewal of a short-lived
//! certificate under TLS load, and the failure paths (server down, challenge failing, 429
//! with `Retry-After`) with the previous certificate still served and the reason reported.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]
mod common;
use common::*;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NAME: &str = "www.ringlb.test";

/// Skips the test, loudly, where Pebble is not installed.
fn have_pebble() -> bool {
    let ok =
        Path::new("/usr/bin/pebble").exists() && Path::new("/usr/bin/pebble-challtestsrv").exists();
    if !ok {
        eprintln!("SKIPPED: pebble is not installed (apt-get install pebble)");
    }
    ok
}

/// Pebble and its DNS server, killed on drop.
struct Pebble {
    dir: PathBuf,
    acme: Child,
    dns: Child,
    port: u16,
    mgmt: u16,
    /// Pebble's own HTTPS certificate: the `ca` ringlb verifies it with.
    wfe_ca: PathBuf,
}

/// Where Pebble sends its validations, and how long the certificates it issues are valid.
struct PebbleOpts {
    http_port: u16,
    tls_port: u16,
    validity_s: u64,
}

impl Pebble {
    fn start(o: PebbleOpts) -> Pebble {
        let dir = unique_dir("ringlb-pebble");
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "wfe.key",
                "-out",
                "wfe.pem",
                "-days",
                "2",
                "-subj",
                "/CN=pebble",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
            ],
        );
        let port = free_port();
        let mgmt = free_port();
        Self::start_in(dir, port, mgmt, o)
    }

    /// Starts Pebble in `dir` (holding `wfe.pem`/`wfe.key`) on `port`: again after a stop.
    fn start_in(dir: PathBuf, port: u16, mgmt: u16, o: PebbleOpts) -> Pebble {
        let dns_port = free_port();
        let dns = Command::new("pebble-challtestsrv")
            .args([
                "-dns01",
                &format!("127.0.0.1:{dns_port}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{}", free_port()),
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ])
            .stdout(std::fs::File::create(dir.join("dns.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble-challtestsrv");
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.join("wfe.pem"),
            "privateKey": dir.join("wfe.key"),
            "httpPort": o.http_port,
            "tlsPort": o.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": o.validity_s,
        }});
        std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
        let acme = Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .arg("-dnsserver")
            .arg(format!("127.0.0.1:{dns_port}"))
            // No random wait before validating; a fresh authorization for every order, so
            // that a renewal answers its challenges again.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(std::fs::File::create(dir.join("pebble.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("pebble.err")).unwrap())
            .spawn()
            .expect("start pebble");
        let wfe_ca = dir.join("wfe.pem");
        let p = Pebble {
            dir,
            acme,
            dns,
            port,
            mgmt,
            wfe_ca,
        };
        assert!(
            wait_until(Duration::from_secs(20), || {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && TcpStream::connect(("127.0.0.1", mgmt)).is_ok()
            }),
            "pebble did not start: {}",
            std::fs::read_to_string(p.dir.join("pebble.log")).unwrap_or_default()
        );
        p
    }

    fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// Pebble's issuing root (from its management API), written to a PEM file.
    fn root(&self) -> PathBuf {
        let out = Command::new("curl")
            .args(["-sf", "--cacert"])
            .arg(&self.wfe_ca)
            .arg(format!("https://127.0.0.1:{}/roots/0", self.mgmt))
            .output()
            .expect("curl");
        assert!(out.status.success(), "cannot fetch pebble's root");
        let path = self.dir.join("root.pem");
        std::fs::write(&path, &out.stdout).unwrap();
        path
    }

    fn stop(&mut self) {
        let _ = self.acme.kill();
        let _ = self.acme.wait();
        let _ = self.dns.kill();
        let _ = self.dns.wait();
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The ports and files of one ringlb with one ACME frontend.
struct Site {
    http: u16,
    https: u16,
    state: PathBuf,
    admin: PathBuf,
    backend: SocketAddr,
}

impl Site {
    fn new(backend: SocketAddr) -> Site {
        let dir = unique_dir("ringlb-acme");
        Site {
            http: free_port(),
            https: free_port(),
            state: dir.join("acme"),
            admin: dir.join("admin.sock"),
            backend,
        }
    }

    /// The config: `[acme]` at `directory` verified with `ca`, one frontend wanting `NAME`
    /// by `challenge`, `extra` lines in `[acme]`.
    fn toml(&self, directory: &str, ca: &Path, challenge: &str, extra: &str) -> String {
        format!(
            r#"
[global]
admin_socket = "{admin}"

[acme]
directory = "{directory}"
contact = ["ops@example.com"]
ca = "{ca}"
agree_terms = true
state_dir = "{state}"
retry_min = "1s"
retry_max = "4s"
{extra}

[frontend.www]
bind = "127.0.0.1:{http}"
default_backend = "web"
stats = {{ uri = "/ringlb-stats" }}

[frontend.www.tls]
bind = "127.0.0.1:{https}"
acme = ["{NAME}"]
acme_challenge = "{challenge}"

[backend.web]
[[backend.web.server]]
name = "web1"
address = "{backend}"
"#,
            admin = self.admin.display(),
            ca = ca.display(),
            state = self.state.display(),
            http = self.http,
            https = self.https,
            backend = self.backend,
        )
    }

    fn tls_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.https))
    }

    fn http_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.http))
    }

    /// `ringlb admin CMD` through the admin socket.
    fn admin(&self, lb: &Ringlb, cmd: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
            .arg("admin")
            .arg("-c")
            .arg(lb.config_path())
            .args(cmd)
            .output()
            .expect("ringlb admin");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The `acme` line of `show certs`.
    fn acme_line(&self, lb: &Ringlb) -> String {
        self.admin(lb, &["show", "certs"])
            .lines()
            .find(|l| l.starts_with("acme www "))
            .unwrap_or("")
            .to_owned()
    }
}

/// The leaf certificate a TLS handshake with `NAME` gets, without verifying it.
fn served_leaf(addr: SocketAddr) -> Vec<u8> {
    #[derive(Debug)]
    struct Any;
    impl rustls::client::danger::ServerCertVerifier for Any {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Any))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(NAME).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("handshake");
    }
    conn.peer_certificates().unwrap()[0].as_ref().to_vec()
}

/// The subject CN of a DER certificate, as openssl prints it.
fn subject(der: &[u8]) -> String {
    let dir = unique_dir("ringlb-acme-cert");
    std::fs::write(dir.join("c.der"), der).unwrap();
    let out = Command::new("openssl")
        .args([
            "x509", "-inform", "der", "-noout", "-subject", "-issuer", "-in",
        ])
        .arg(dir.join("c.der"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_placeholder(der: &[u8]) -> bool {
    subject(der).contains("ringlb placeholder")
}

/// Waits until the served certificate is no longer the placeholder.
fn wait_issued(lb: &Ringlb, site: &Site, within: Duration) {
    let ok = wait_until(within, || !is_placeholder(&served_leaf(site.tls_addr())));
    assert!(
        ok,
        "no certificate issued within {within:?}: {}\n{}\n{}",
        site.acme_line(lb),
        lb.stdout(),
        lb.stderr()
    );
}

#[test]
fn http01_first_issuance_serves_a_certificate_a_client_trusting_pebble_accepts() {
    if !have_pebble() {
        return;
    }
    let web = Backend::start("web1");
    let site = Site::new(web.addr());
    let closed = free_port();
    let pebble = Pebble::start(PebbleOpts {
        http_port: site.http,
        tls_port: closed,
        validity_s: 90 * 86_400,
    });
    let lb = Ringlb::start(&site.toml(&pebble.directory(), &pebble.wfe_ca, "http-01", ""));
    wait_issued(&lb, &site, Duration::from_secs(60));
    let root = pebble.root();
    let cfg = tls_client_config(&root);
    let (status, leaf) =
        common::tls_get(&cfg, site.tls_addr(), NAME).expect("verified TLS request");
    assert!(status.contains("200"), "{status}");
    assert!(
        subject(&leaf).contains("Pebble"),
        "issued by Pebble: {}",
        subject(&leaf)
    );
    assert!(lb.wait_log(
        "acme: frontend www: new certificate installed",
        Duration::from_secs(5)
    ));
    // The state directory is private, its keys 0600, and the certificate is kept there.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&site.state), 0o700);
    assert_eq!(mode(&site.state.join("account.key")), 0o600);
    assert_eq!(mode(&site.state.join("certs/www.pem")), 0o600);
    // Reported as issued everywhere.
    let line = site.acme_line(&lb);
    assert!(
        line.contains(" issued ") && line.contains("http-01"),
        "{line}"
    );
    let page = http_get(site.http_addr(), "/ringlb-stats", &[]).body_str();
    assert!(
        page.contains("ACME (http-01) for www.ringlb.test: issued"),
        "{page}"
    );
    let metrics = http_get(site.http_addr(), "/ringlb-stats;metrics", &[]).body_str();
    assert!(
        metrics.contains("ringlb_acme_placeholder{frontend=\"www\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ringlb_acme_issued_total{frontend=\"www\"} 1"),
        "{metrics}"
    );
    // A restart finds the certificate in the state directory: no new order.
    drop(lb);
    let lb = Ringlb::start(&site.toml(&pebble.directory(), &pebble.wfe_ca, "http-01", ""));
    let (_, again) = common::tls_get(&cfg, site.tls_addr(), NAME).expect("after restart");
    assert_eq!(
        again, leaf,
        "the stored certificate is served after a restart"
    );
    assert!(!lb.stdout().contains("ordering a certificate") && !lb.stderr().contains("ordering"));
}

#[test]
fn tls_alpn01_first_issuance_is_answered_on_the_tls_listener() {
    if !have_pebble() {
        return;
    }
    let web = Backend::start("web1");
    let site = Site::new(web.addr());
    // http-01 validations would go to a closed port: only tls-alpn-01 can succeed.
    let pebble = Pebble::start(PebbleOpts {
        http_port: free_port(),
        tls_port: site.https,
        validity_s: 90 * 86_400,
    });
    let lb = Ringlb::start(&site.toml(&pebble.directory(), &pebble.wfe_ca, "tls-alpn-01", ""));
    wait_issued(&lb, &site, Duration::from_secs(60));
    let cfg = tls_client_config(&pebble.root());
    let (status, _) = common::tls_get(&cfg, site.tls_addr(), NAME).expect("verified TLS request");
    assert!(status.contains("200"), "{status}");
    assert!(site.acme_line(&lb).contains("tls-alpn-01"));
    // A client offering only acme-tls/1 outside a challenge gets no certificate.
    let out = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(site.tls_addr().to_string())
        .args(["-servername", NAME, "-alpn", "acme-tls/1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("BEGIN CERTIFICATE"), "{text}");
}

#[test]
fn acme_server_down_keeps_the_placeholder_and_says_why_then_issues_when_it_is_back() {
    if !have_pebble() {
        return;
    }
    let web = Backend::start("web1");
    let site = Site::new(web.addr());
    let mut pebble = Pebble::start(PebbleOpts {
        http_port: site.http,
        tls_port: free_port(),
        validity_s: 90 * 86_400,
    });
    let (dir, port, mgmt) = (pebble.dir.clone(), pebble.port, pebble.mgmt);
    pebble.stop();
    let lb = Ringlb::start(&site.toml(&pebble.directory(), &pebble.wfe_ca, "http-01", ""));
    assert!(lb.wait_log(
        "acme: frontend www: no certificate: directory",
        Duration::from_secs(30)
    ));
    assert!(lb.wait_log(
        "still serving the self-signed placeholder",
        Duration::from_secs(5)
    ));
    assert!(is_placeholder(&served_leaf(site.tls_addr())));
    let line = site.acme_line(&lb);
    assert!(
        line.contains("placeholder") && line.contains("directory"),
        "{line}"
    );
    let page = http_get(site.http_addr(), "/ringlb-stats", &[]).body_str();
    assert!(page.contains("self-signed placeholder"), "{page}");
    assert!(page.contains("ACME failed"), "{page}");
    let metrics = http_get(site.http_addr(), "/ringlb-stats;metrics", &[]).body_str();
    assert!(
        metrics.contains("ringlb_acme_placeholder{frontend=\"www\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ringlb_acme_last_failure_info{frontend=\"www\",reason=\"directory"),
        "{metrics}"
    );
    // Pebble comes back on the same address: the next attempt (backoff ≤ 4 s) issues.
    let _pebble = Pebble::start_in(
        dir,
        port,
        mgmt,
        PebbleOpts {
            http_port: site.http,
            tls_port: free_port(),
            validity_s: 90 * 86_400,
        },
    );
    wait_issued(&lb, &site, Duration::from_secs(60));
    let line = site.acme_line(&lb);
    assert!(
        line.contains(" issued ") && line.ends_with(" -"),
        "error cleared: {line}"
    );
}

#[test]
fn a_failing_challenge_keeps_the_issued_certificate_and_reports_why() {
    if !have_pebble() {
        return;
    }
    let web = Backend::start("web1");
    let site = Site::new(web.addr());
    // tls-alpn-01 validations go to a closed port.
    let pebble = Pebble::start(PebbleOpts {
        http_port: site.http,
        tls_port: free_port(),
        validity_s: 90 * 86_400,
    });
    let lb = Ringlb::start(&site.toml(&pebble.directory(), &pebble.wfe_ca, "http-01", ""));
    wait_issued(&lb, &site, Duration::from_secs(60));
    let before = served_leaf(site.tls_addr());
    // Reload onto tls-alpn-01 (which Pebble cannot reach) and force a renewal.
    lb.write_config(&site.toml(&pebble.directory(), &pebble.wfe_ca, "tls-alpn-01", ""));
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .args(["reload", "-c"])
        .arg(lb.config_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = site.admin(&lb, &["renew", "certs", "www"]);
    assert!(said.contains("renewal started for www"), "{said}");
    assert!(
        lb.wait_log(
            "acme: frontend www: no certificate: tls-alpn-01 for www.ringlb.test failed",
            Duration::from_secs(60)
        ),
        "{}",
        lb.stdout()
    );
    assert!(lb.wait_log(
        "still serving the current certificate",
        Duration::from_secs(5)
    ));
    assert_eq!(
        served_leaf(site.tls_addr()),
        before,
        "the issued certificate is still served"
    );
    let cfg = tls_client_config(&pebble.root());
    let (status, _) = common::tls_get(&cfg, site.tls_addr(), NAME).expect("still trusted");
    assert!(status.contains("200"));
    let line = site.acme_line(&lb);
    assert!(
        line.contains(" issued ") && line.contains("tls-alpn-01 for www.ringlb.test failed"),
        "{line}"
    );
    let metrics = http_get(site.http_addr(), "/ringlb-stats;metrics", &[]).body_str();
    assert!(
        metrics.contains("ringlb_acme_consecutive_failures{frontend=\"www\"} 1")
            || metrics.contains("ringlb_acme_consecutive_failures{frontend=\"www\"} 2"),
        "{metrics}"
    );
    let page = http_get(site.http_addr(), "/ringlb-stats", &[]).body_str();
    assert!(
        page.contains("ACME failed") && page.contains("issued, expires in"),
        "{page}"
    );
}

/// A stand-in ACME directory that answers every request 429 with `Retry-After`, recording
/// when each request came.
fn rate_limiting_server(dir: &Path, retry_after: u64) -> (Child, u16) {
    let port = free_port();
    let script = format!(
        r#"
import http.server, ssl, time, json
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open("{log}", "a") as f:
            f.write("%f %s %s\n" % (time.time(), self.requestline, self.headers.get("User-Agent")))
        body = json.dumps({{"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many new orders"}}).encode()
        self.send_response(429)
        self.send_header("Retry-After", "{retry_after}")
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", {port}), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
c.load_cert_chain("{cert}", "{key}")
s.socket = c.wrap_socket(s.socket, server_side=True)
s.serve_forever()
"#,
        log = dir.join("hits").display(),
        cert = dir.join("wfe.pem").display(),
        key = dir.join("wfe.key").display(),
    );
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("py.err")).unwrap())
        .spawn()
        .expect("python3");
    assert!(wait_until(Duration::from_secs(10), || TcpStream::connect(
        ("127.0.0.1", port)
    )
    .is_ok()));
    (child, port)
}

#[test]
fn a_429_with_retry_after_is_honoured_and_reported() {
    let web = Backend::start("web1");
    let site = Site::new(web.addr());
    let dir = unique_dir("ringlb-acme-429");
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "wfe.key",
            "-out",
            "wfe.pem",
            "-days",
            "2",
            "-subj",
            "/CN=limiter",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    );
    let (mut server, port) = rate_limiting_server(&dir, 3);
    let directory = format!("https://127.0.0.1:{port}/dir");
    // retry_min is 1 s: only the server's Retry-After explains a 3 s wait.
    let lb = Ringlb::start(&site.toml(&directory, &dir.join("wfe.pem"), "http-01", ""));
    assert!(
        lb.wait_log(
            "rateLimited: too many new orders (retry after",
            Duration::from_secs(30)
        ),
        "{}",
        lb.stdout()
    );
    assert!(
        lb.wait_log("next attempt in 3s", Duration::from_secs(5)),
        "{}",
        lb.stdout()
    );
    let hits = || -> Vec<f64> {
        std::fs::read_to_string(dir.join("hits"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(20), || hits().len() >= 2),
        "no second attempt"
    );
    let h = hits();
    assert!(
        h[1] - h[0] >= 2.9,
        "second attempt {:.2}s after the first, before Retry-After",
        h[1] - h[0]
    );
    assert!(is_placeholder(&served_leaf(site.tls_addr())));
    let line = site.acme_line(&lb);
    assert!(
        line.contains("placeholder") && line.contains("rateLimited"),
        "{line}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn renewal_of_a_short_lived_certificate_under_tls_load_fails_no_request() {
    if !have_pebble() {
        return;
    }
    let web = Backend::start("web1");
    let site = Site::new(web.addr());
    // 30 s certificates: renewed when a third (10 s) is left.
    let pebble = Pebble::start(PebbleOpts {
        http_port: site.http,
        tls_port: free_port(),
        validity_s: 30,
    });
    let lb = Ringlb::start(&site.toml(&pebble.directory(), &pebble.wfe_ca, "http-01", ""));
    wait_issued(&lb, &site, Duration::from_secs(60));
    let cfg = tls_client_config(&pebble.root());
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let leaves = Arc::new(Mutex::new(HashSet::<Vec<u8>>::new()));
    let addr = site.tls_addr();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (stop, ok, failed, leaves, cfg) = (
                stop.clone(),
                ok.clone(),
                failed.clone(),
                leaves.clone(),
                cfg.clone(),
            );
            std::thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(90) {
                    match common::tls_get(&cfg, addr, NAME) {
                        Ok((status, leaf)) if status.contains("200") => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            leaves.lock().unwrap().insert(leaf);
                        }
                        Ok((status, _)) => failed.lock().unwrap().push(status),
                        Err(e) => failed.lock().unwrap().push(e),
                    }
                }
            })
        })
        .collect();
    let renewed = wait_until(Duration::from_secs(60), || {
        leaves.lock().unwrap().len() >= 2
    });
    // Some more requests on the new certificate.
    let after = ok.load(Ordering::Relaxed);
    wait_until(Duration::from_secs(10), || {
        ok.load(Ordering::Relaxed) >= after + 20
    });
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(
        renewed,
        "no renewal seen: {}\n{}",
        site.acme_line(&lb),
        lb.stdout()
    );
    let failed = failed.lock().unwrap();
    let n = ok.load(Ordering::Relaxed);
    eprintln!("renewal under load: {n} requests, {} failed", failed.len());
    assert!(
        failed.is_empty(),
        "{} of {n} requests failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(n > 20);
    let line = site.acme_line(&lb);
    assert!(line.contains(" issued "), "{line}");
}
