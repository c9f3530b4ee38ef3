//! TLS from ringlb to its servers, end to end: nginx with `listen … ssl` as the server (its
//! variables echo what it saw: `$ssl_server_name`, `$connection`, `$ssl_client_s_dn`),
//! certificates from a throw-away CA made with the `openssl` command. Also the access log's
//! TLS fields and a handshake flood against a TLS listener that must not starve an
//! established client.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]
mod common;
use common::backend::{parse_head, Wire};
use common::*;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A test CA in one directory, and certificates it signs (key and certificate in two files).
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(prefix: &str) -> Pki {
        let dir = unique_dir(prefix);
        ec_key(&dir, "ca.key");
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-subj",
                "/CN=ringlb upstream test CA",
                "-days",
                "30",
                "-out",
                "ca.pem",
            ],
        );
        Pki { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// `NAME.crt` and `NAME.key` for DNS name `cn`, signed by the CA; `client` makes it a
    /// client certificate.
    fn leaf(&self, name: &str, cn: &str, client: bool) -> (PathBuf, PathBuf) {
        let key = format!("{name}.key");
        ec_key(&self.dir, &key);
        let csr = format!("{name}.csr");
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
        let ext = format!("{name}.ext");
        let usage = if client {
            "extendedKeyUsage=clientAuth\n".to_owned()
        } else {
            format!("subjectAltName=DNS:{cn}\nextendedKeyUsage=serverAuth\n")
        };
        std::fs::write(self.dir.join(&ext), usage).expect("write ext");
        let crt = format!("{name}.crt");
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
                "30",
                "-extfile",
                &ext,
                "-out",
                &crt,
            ],
        );
        (self.path(&crt), self.path(&key))
    }

    /// A self-signed certificate for `cn`, no CA involved.
    fn self_signed(&self, name: &str, cn: &str) -> (PathBuf, PathBuf) {
        let key = format!("{name}.key");
        ec_key(&self.dir, &key);
        let crt = format!("{name}.crt");
        openssl(
            &self.dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &key,
                "-subj",
                &format!("/CN={cn}"),
                "-addext",
                &format!("subjectAltName=DNS:{cn}"),
                "-days",
                "30",
                "-out",
                &crt,
            ],
        );
        (self.path(&crt), self.path(&key))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ec_key(dir: &Path, file: &str) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            file,
        ],
    );
}

/// Size of the file nginx serves at `/big.bin` (the body pattern of the test backends).
const BIG: usize = 3 << 20;

/// nginx serving HTTPS on a free port; its answer says what it saw of the connection.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Nginx {
    /// `extra` goes into the `server` block (e.g. client certificate settings).
    fn start(cert: &Path, key: &Path, extra: &str) -> Nginx {
        let dir = unique_dir("ringlb-nginx");
        let addr = free_addr();
        let d = dir.display();
        // Also on [::1] where the machine has it: `localhost` may resolve to either.
        let v6 = std::net::TcpListener::bind(("::1", addr.port())).is_ok();
        let listen6 = if v6 {
            format!("listen [::1]:{} ssl;", addr.port())
        } else {
            String::new()
        };
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
             \x20 server {{\n    listen {addr} ssl;\n    {listen6}\n    ssl_certificate {};\n\
             \x20   ssl_certificate_key {};\n    keepalive_requests 10000;\n    {extra}\n\
             \x20   client_max_body_size 8m;\n    location = /big.bin {{ root {d}; }}\n\
             \x20   location / {{ default_type text/plain; return 200 \
             \"sni=$ssl_server_name conn=$connection alpn=$ssl_alpn_protocol client=$ssl_client_s_dn\\n\"; }}\n\
             \x20 }}\n}}\n",
            cert.display(),
            key.display()
        );
        std::fs::write(dir.join("big.bin"), pattern(BIG)).expect("write big.bin");
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let child = Command::new("nginx")
            .args([
                "-c",
                path.to_str().expect("path"),
                "-p",
                dir.to_str().expect("dir"),
            ])
            .args(["-e", "stderr"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx (Debian: nginx-light)");
        let mut n = Nginx { child, addr, dir };
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect(addr).is_ok()),
            "nginx did not listen on {addr}: {}",
            n.error_log()
        );
        if let Ok(Some(st)) = n.child.try_wait() {
            panic!("nginx exited ({st}): {}", n.error_log());
        }
        n
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// ringlb in `mode` with one backend of `servers` (TOML server sections) whose backend
/// table gets `backend` (e.g. its `[backend.web.tls]`).
fn config(port: u16, mode: &str, backend: &str, servers: &str) -> String {
    format!(
        r#"
[global]
workers = 1
[frontend.www]
bind = "127.0.0.1:{port}"
mode = "{mode}"
default_backend = "web"
[backend.web]
mode = "{mode}"
retries = 0
{backend}
{servers}
"#
    )
}

fn server(name: &str, addr: SocketAddr) -> String {
    format!("[[backend.web.server]]\nname = \"{name}\"\naddress = \"{addr}\"\n")
}

fn lb_addr(port: u16) -> SocketAddr {
    format!("127.0.0.1:{port}").parse().expect("addr")
}

#[test]
fn verified_server_gets_the_request_with_sni_and_alpn() {
    let pki = Pki::new("ringlb-up-ok");
    let (crt, key) = pki.leaf("web", "backend.test", false);
    let web = Nginx::start(&crt, &key, "");
    let port = free_port();
    let tls = format!(
        "[backend.web.tls]\nca_file = \"{}\"\nsni = \"backend.test\"",
        pki.ca().display()
    );
    let _lb = Ringlb::start(&config(port, "http", &tls, &server("web1", web.addr)));
    let r = http_get(lb_addr(port), "/", &[]);
    assert_eq!(r.status, 200, "{}", r.body_str());
    let body = r.body_str();
    assert!(body.contains("sni=backend.test "), "{body}");
    assert!(body.contains("alpn=http/1.1 "), "{body}");
}

#[test]
fn the_host_name_of_the_address_is_the_sni_and_the_verified_name() {
    let pki = Pki::new("ringlb-up-host");
    let (crt, key) = pki.leaf("web", "localhost", false);
    let web = Nginx::start(&crt, &key, "");
    let port = free_port();
    let tls = format!("[backend.web.tls]\nca_file = \"{}\"", pki.ca().display());
    let srv = format!(
        "[[backend.web.server]]\nname = \"web1\"\naddress = \"localhost:{}\"\n",
        web.addr.port()
    );
    let _lb = Ringlb::start(&config(port, "http", &tls, &srv));
    let r = http_get(lb_addr(port), "/", &[]);
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert!(r.body_str().contains("sni=localhost "), "{}", r.body_str());
}

#[test]
fn wrong_ca_is_a_connect_failure_with_a_reason() {
    let pki = Pki::new("ringlb-up-badca");
    let (crt, key) = pki.leaf("web", "backend.test", false);
    let web = Nginx::start(&crt, &key, "");
    let other = Pki::new("ringlb-up-otherca");
    let port = free_port();
    let tls = format!(
        "[backend.web.tls]\nca_file = \"{}\"\nsni = \"backend.test\"",
        other.ca().display()
    );
    let lb = Ringlb::start(&config(port, "http", &tls, &server("web1", web.addr)));
    let r = http_get(lb_addr(port), "/", &[]);
    assert_eq!(r.status, 503, "{}", r.body_str());
    assert!(
        lb.wait_log(
            "server web/web1: TLS handshake failed: invalid peer certificate",
            Duration::from_secs(5)
        ),
        "{}",
        lb.stderr()
    );
}

#[test]
fn a_failed_handshake_is_retried_on_another_server() {
    let pki = Pki::new("ringlb-up-redispatch");
    let (crt, key) = pki.leaf("web", "backend.test", false);
    let good = Nginx::start(&crt, &key, "");
    let (scrt, skey) = pki.self_signed("rogue", "backend.test");
    let rogue = Nginx::start(&scrt, &skey, "");
    let port = free_port();
    let backend = format!(
        "retries = 1\nredispatch = true\n[backend.web.tls]\nca_file = \"{}\"\n\
         sni = \"backend.test\"",
        pki.ca().display()
    );
    let text = config(
        port,
        "http",
        &backend,
        &(server("rogue", rogue.addr) + &server("good", good.addr)),
    )
    .replace("retries = 0\n", "");
    let lb = Ringlb::start(&text);
    // Round robin sends every other request to the rogue server first: its certificate does
    // not verify, and the retry goes to the good one.
    for _ in 0..4 {
        let r = http_get(lb_addr(port), "/", &[]);
        assert_eq!(r.status, 200, "{}", r.body_str());
        assert!(
            r.body_str().starts_with("sni=backend.test"),
            "{}",
            r.body_str()
        );
    }
    assert!(
        lb.wait_log(
            "server web/rogue: TLS handshake failed: invalid peer certificate",
            Duration::from_secs(5)
        ),
        "{}",
        lb.stderr()
    );
}

#[test]
fn verify_none_accepts_a_self_signed_server_and_warns() {
    let pki = Pki::new("ringlb-up-none");
    let (crt, key) = pki.self_signed("web", "self.test");
    let web = Nginx::start(&crt, &key, "");
    let port = free_port();
    let lb = Ringlb::start(&config(
        port,
        "http",
        "[backend.web.tls]\nverify = \"none\"",
        &server("web1", web.addr),
    ));
    assert!(lb
        .stderr()
        .contains("warning: server web/web1: TLS without certificate verification"));
    let r = http_get(lb_addr(port), "/", &[]);
    assert_eq!(r.status, 200, "{}", r.body_str());
    // A server given by IP address and no `sni`: no name is sent.
    assert!(r.body_str().contains("sni= "), "{}", r.body_str());
}

#[test]
fn client_certificate_is_presented_to_a_server_that_requires_one() {
    let pki = Pki::new("ringlb-up-mtls");
    let (crt, key) = pki.leaf("web", "backend.test", false);
    let (ccrt, ckey) = pki.leaf("client", "ringlb-client", true);
    let extra = format!(
        "ssl_verify_client on;\n    ssl_client_certificate {};",
        pki.ca().display()
    );
    let web = Nginx::start(&crt, &key, &extra);
    let port = free_port();
    let base = format!(
        "ca_file = \"{}\"\nsni = \"backend.test\"",
        pki.ca().display()
    );
    // Without a client certificate nginx refuses the request (400): the certificate is what
    // makes the difference below.
    {
        let _lb = Ringlb::start(&config(
            port,
            "http",
            &format!("[backend.web.tls]\n{base}"),
            &server("web1", web.addr),
        ));
        let r = http_get(lb_addr(port), "/", &[]);
        assert_eq!(r.status, 400, "{}", r.body_str());
    }
    let port = free_port();
    let tls = format!(
        "[backend.web.tls]\n{base}\ncert = \"{}\"\nkey = \"{}\"",
        ccrt.display(),
        ckey.display()
    );
    let _lb = Ringlb::start(&config(port, "http", &tls, &server("web1", web.addr)));
    let r = http_get(lb_addr(port), "/", &[]);
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert!(
        r.body_str().contains("client=CN=ringlb-client"),
        "{}",
        r.body_str()
    );
}

/// The `conn=N` nginx reports: its connection serial number.
fn nginx_conn(body: &str) -> String {
    body.split_whitespace()
        .find_map(|w| w.strip_prefix("conn="))
        .unwrap_or("")
        .to_owned()
}

#[test]
fn tls_server_connections_are_reused() {
    let pki = Pki::new("ringlb-up-reuse");
    let (crt, key) = pki.leaf("web", "backend.test", false);
    let web = Nginx::start(&crt, &key, "");
    let port = free_port();
    // The server is set on the server itself (its own `tls` table), not on the backend.
    let srv = format!(
        "{}tls = {{ ca_file = \"{}\", sni = \"backend.test\" }}\n",
        server("web1", web.addr),
        pki.ca().display()
    );
    let _lb = Ringlb::start(&config(port, "http", "", &srv));
    let mut c = Client::connect(lb_addr(port)).expect("connect");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let r = c.get("/").expect("get");
        assert_eq!(r.status, 200, "{}", r.body_str());
        seen.push(nginx_conn(&r.body_str()));
    }
    assert!(!seen[0].is_empty(), "{seen:?}");
    assert!(
        seen.iter().all(|c| *c == seen[0]),
        "one server connection expected: {seen:?}"
    );
}

#[test]
fn large_bodies_cross_tls_both_ways_on_one_server_connection() {
    let pki = Pki::new("ringlb-up-big");
    let (crt, key) = pki.leaf("web", "backend.test", false);
    let web = Nginx::start(&crt, &key, "");
    let port = free_port();
    let tls = format!(
        "[backend.web.tls]\nca_file = \"{}\"\nsni = \"backend.test\"",
        pki.ca().display()
    );
    let _lb = Ringlb::start(&config(port, "http", &tls, &server("web1", web.addr)));
    let mut c = Client::connect(lb_addr(port)).expect("connect");
    let first = c.get("/").expect("get");
    assert_eq!(first.status, 200);
    let r = c.get("/big.bin").expect("download");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_len, BIG as u64);
    assert_eq!(
        r.body_sum,
        pattern_sum(BIG as u64),
        "the download arrived intact"
    );
    let up = c
        .request("POST", "/", &[], &pattern(1 << 20))
        .expect("upload");
    assert_eq!(up.status, 200, "{}", up.body_str());
    // Both went over the connection of the first request: records in both directions never
    // left it in a state that could not be reused.
    assert_eq!(nginx_conn(&up.body_str()), nginx_conn(&first.body_str()));
}

#[test]
fn health_check_over_tls_marks_a_plain_server_down() {
    let pki = Pki::new("ringlb-up-check");
    let (crt, key) = pki.leaf("web", "backend.test", false);
    let web = Nginx::start(&crt, &key, "");
    let plain = Backend::start("plain");
    let port = free_port();
    let backend = format!(
        "[backend.web.tls]\nca_file = \"{}\"\nsni = \"backend.test\"\n\
         [backend.web.check]\ntype = \"http\"\ninter = \"100ms\"\nfastinter = \"50ms\"\n\
         downinter = \"100ms\"\nrise = 1\nfall = 2\ntimeout = \"1s\"",
        pki.ca().display()
    );
    let servers = server("tls", web.addr) + &server("plain", plain.addr());
    let lb = Ringlb::start(&config(port, "http", &backend, &servers));
    assert!(
        lb.wait_log(
            "server web/plain is DOWN, reason: L6RSP TLS handshake failed",
            Duration::from_secs(10)
        ),
        "{}",
        lb.stderr()
    );
    assert!(
        !lb.stderr().contains("server web/tls is DOWN"),
        "{}",
        lb.stderr()
    );
    for _ in 0..4 {
        let r = http_get(lb_addr(port), "/", &[]);
        assert_eq!(r.status, 200);
        assert!(
            r.body_str().starts_with("sni=backend.test"),
            "{}",
            r.body_str()
        );
    }
}

#[test]
fn tcp_mode_speaks_tls_to_the_server() {
    let pki = Pki::new("ringlb-up-tcp");
    let (crt, key) = pki.leaf("web", "backend.test", false);
    let web = Nginx::start(&crt, &key, "");
    let port = free_port();
    let tls = format!(
        "[backend.web.tls]\nca_file = \"{}\"\nsni = \"backend.test\"",
        pki.ca().display()
    );
    let _lb = Ringlb::start(&config(port, "tcp", &tls, &server("web1", web.addr)));
    // Plain HTTP in, TLS to nginx: nginx answers over TLS, ringlb passes the plaintext back.
    let r = http_get(lb_addr(port), "/", &[]);
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert!(
        r.body_str().contains("sni=backend.test"),
        "{}",
        r.body_str()
    );
    // TCP mode offers no ALPN: the bytes are not known to be HTTP.
    assert!(r.body_str().contains("alpn= "), "{}", r.body_str());
}

#[test]
fn a_missing_ca_file_is_a_config_error_at_its_line() {
    let toml = config(
        free_port(),
        "http",
        "[backend.web.tls]\nca_file = \"/nonexistent/ca.pem\"",
        &server("web1", "127.0.0.1:9".parse().expect("addr")),
    );
    let out = Ringlb::run_cli(&["check", "-c", "{config}"], &toml);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("ringlb.toml:12:11: "), "{err}");
    assert!(
        err.contains("cannot read CA file /nonexistent/ca.pem"),
        "{err}"
    );
}

// ---- the client side: access log fields and a handshake flood ------------------------------

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(cfg: &Arc<rustls::ClientConfig>, addr: SocketAddr, name: &str) -> TlsStream {
    let server_name = rustls::pki_types::ServerName::try_from(name.to_owned()).expect("name");
    let conn = rustls::ClientConnection::new(cfg.clone(), server_name).expect("client");
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, sock)
}

/// One keep-alive request on `s`; the status line, after reading the whole response.
fn keep_alive_get(s: &mut TlsStream, name: &str) -> String {
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {name}\r\n\r\n").as_bytes())
        .expect("write");
    let mut w = Wire::new(s);
    let head = w.read_head().expect("read head").expect("a response");
    let h = parse_head(&head).expect("head");
    let n = h.content_length().expect("length").expect("content-length");
    w.read_exact_into(n, &mut |_| {}).expect("body");
    assert!(w.buffered().is_empty(), "stray bytes after the response");
    String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or(&[])).into_owned()
}

/// A TLS frontend (certificate for `front.test`) before a plain backend, logging to stdout.
fn tls_front(pki: &Pki, web: SocketAddr, port: u16) -> Ringlb {
    let (crt, key) = pki.leaf("front", "front.test", false);
    Ringlb::start(&format!(
        r#"
[global]
workers = 1
[log]
target = "stdout"
[frontend.www]
default_backend = "web"
log = true
[frontend.www.tls]
bind = "127.0.0.1:{port}"
[[frontend.www.tls.certificate]]
cert = "{}"
key = "{}"
[backend.web]
[[backend.web.server]]
name = "web1"
address = "{web}"
"#,
        crt.display(),
        key.display()
    ))
}

#[test]
fn access_log_has_sni_version_and_cipher() {
    let pki = Pki::new("ringlb-up-log");
    let web = Backend::start("web1");
    let port = free_port();
    let lb = tls_front(&pki, web.addr(), port);
    let cfg = tls_client_config(&pki.ca());
    let mut s = tls_connect(&cfg, lb_addr(port), "front.test");
    assert_eq!(keep_alive_get(&mut s, "front.test"), "HTTP/1.1 200 OK");
    assert!(
        lb.wait_log(
            "\"GET / HTTP/1.1\" front.test/TLSv1.3/TLS13_",
            Duration::from_secs(5)
        ),
        "{}",
        lb.stdout()
    );
}

/// Handshakes started against the frontend during the flood.
const FLOOD_HANDSHAKES: u64 = 2_000;
const FLOOD_THREADS: u64 = 4;

#[test]
fn a_handshake_flood_does_not_starve_an_established_client() {
    let pki = Pki::new("ringlb-up-flood");
    let web = Backend::start("web1");
    let port = free_port();
    let _lb = tls_front(&pki, web.addr(), port);
    let addr = lb_addr(port);
    let cfg = tls_client_config(&pki.ca());
    let mut established = tls_connect(&cfg, addr, "front.test");
    assert_eq!(
        keep_alive_get(&mut established, "front.test"),
        "HTTP/1.1 200 OK"
    );

    let done = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    let flooders: Vec<_> = (0..FLOOD_THREADS)
        .map(|_| {
            let (cfg, completed) = (cfg.clone(), completed.clone());
            std::thread::spawn(move || {
                for _ in 0..FLOOD_HANDSHAKES / FLOOD_THREADS {
                    let mut s = tls_connect(&cfg, addr, "front.test");
                    // Drives the handshake to its end, then closes without a request.
                    while s.conn.is_handshaking() {
                        if s.conn.complete_io(&mut s.sock).is_err() {
                            break;
                        }
                    }
                    if !s.conn.is_handshaking() {
                        completed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut answered = 0u64;
            while !done.load(Ordering::Relaxed) {
                assert_eq!(
                    keep_alive_get(&mut established, "front.test"),
                    "HTTP/1.1 200 OK"
                );
                answered += 1;
            }
            answered
        })
    };
    for f in flooders {
        f.join().expect("flood thread");
    }
    done.store(true, Ordering::Relaxed);
    let answered = watcher
        .join()
        .expect("every request of the established client succeeded");
    assert!(answered > 0);
    // The flood was real: nearly every handshake completed.
    let n = completed.load(Ordering::Relaxed);
    assert!(
        n >= FLOOD_HANDSHAKES * 9 / 10,
        "{n} of {FLOOD_HANDSHAKES} handshakes completed"
    );
    eprintln!("{n} handshakes during the flood; the established client got {answered} answers");
}
