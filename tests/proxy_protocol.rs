//! PROXY protocol, both ways, with real peers: headers accepted on a listener (from a raw
//! client and from nginx's `stream` proxy with `proxy_protocol on`), headers sent to servers
//! (nginx `listen … proxy_protocol` answers with the address it read), on health checks, in TCP
//! mode; and every way a header can be refused (malformed v1 or v2, too long, never finished,
//! a peer not allowed), each closing the connection with a log line and a counter.
//!
//! The nginx tests need nginx with the stream module (Debian: nginx-light and
//! libnginx-mod-stream, installed by `scripts/test`); without it they say so and skip.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const V2_SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// A v2 header for TCP over IPv4.
fn v2(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h
}

/// ringlb with frontend `www` (extra lines `fe`), one backend `web` with server `web1`
/// (extra lines `be` / `server`), a `[stats]` listener, and access log lines on UDP.
struct Site {
    lb: Ringlb,
    www: SocketAddr,
    stats: SocketAddr,
    log: std::net::UdpSocket,
}

impl Site {
    fn start(mode: &str, fe: &str, be: &str, server: SocketAddr, server_extra: &str) -> Site {
        let log = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        log.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (www, stats) = (free_addr(), free_addr());
        let toml = format!(
            "[global]\nworkers = 1\n[log]\ntarget = \"udp://{log}\"\n\
             [frontend.www]\nbind = \"{www}\"\nmode = \"{mode}\"\ndefault_backend = \"web\"\nlog = true\n{fe}\n\
             [backend.web]\nmode = \"{mode}\"\n{be}\n\
             [[backend.web.server]]\nname = \"web1\"\naddress = \"{server}\"\n{server_extra}\n\
             [stats]\nbind = \"{stats}\"\n",
            log = log.local_addr().unwrap(),
        );
        Site {
            lb: Ringlb::start(&toml),
            www,
            stats,
            log,
        }
    }

    /// A Prometheus sample's value (0 when absent).
    fn metric(&self, series: &str) -> u64 {
        let text = http_get(self.stats, "/metrics", &[]).body_str();
        text.lines()
            .find_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                (name == series).then(|| value.parse::<f64>().ok())?
            })
            .map_or(0, |v| v as u64)
    }

    fn errors(&self, reason: &str) -> u64 {
        self.metric(&format!(
            "ringlb_frontend_proxy_header_errors_total{{frontend=\"www\",reason=\"{reason}\"}}"
        ))
    }

    /// The frontend's counters on the JSON stats page.
    fn json_proxy(&self) -> serde_json::Value {
        let body = http_get(self.stats, "/;json", &[]).body_str();
        let v: serde_json::Value = serde_json::from_str(&body).expect("stats json");
        v["frontends"]
            .as_array()
            .expect("frontends")
            .iter()
            .find(|f| f["name"] == "www")
            .expect("www")["proxy_protocol"]
            .clone()
    }

    /// The next access log line.
    fn log_line(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self.log.recv(&mut buf).expect("an access log line");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// Connects from `source` (any 127.0.0.0/8 address), writes `parts` one write each, with a
/// pause between them, and returns all the connection received until it closed.
fn exchange_from(to: SocketAddr, source: IpAddr, parts: &[&[u8]]) -> Vec<u8> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(source, 0).into()).unwrap();
    sock.connect(&to.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            // The point of the test: the next part arrives in a later receive.
            std::thread::sleep(Duration::from_millis(50));
        }
        if s.write_all(p).is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn exchange(to: SocketAddr, parts: &[&[u8]]) -> Vec<u8> {
    exchange_from(to, IpAddr::from([127, 0, 0, 1]), parts)
}

const ECHO_GET: &[u8] =
    b"GET /pp HTTP/1.1\r\nHost: www\r\nx-echo-headers: 1\r\nConnection: close\r\n\r\n";

#[test]
fn v1_header_and_request_in_one_segment_name_the_client_everywhere() {
    let web = Backend::start("web1");
    let site = Site::start(
        "http",
        "accept_proxy = true\nforwardfor = true",
        "",
        web.addr(),
        "",
    );
    let mut bytes = b"PROXY TCP4 203.0.113.9 192.0.2.1 40000 80\r\n".to_vec();
    bytes.extend_from_slice(ECHO_GET);
    let got = String::from_utf8_lossy(&exchange(site.www, &[&bytes])).into_owned();
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    // The request that followed the header in the same segment reached the server whole.
    assert!(got.contains("GET /pp HTTP/1.1"), "{got}");
    assert!(got.contains("X-Forwarded-For: 203.0.113.9"), "{got}");
    let line = site.log_line();
    assert!(line.contains("203.0.113.9:40000"), "access log: {line}");
    assert_eq!(site.errors("failed"), 0);
}

#[test]
fn v2_header_split_across_writes_routes_by_the_carried_source() {
    let web = Backend::start("web1");
    let office = Backend::start("office1");
    let toml_fe = "accept_proxy = true\nforwardfor = true\n\
         acl.office = \"src 198.51.100.0/24\"\n\
         [[frontend.www.route]]\nbackend = \"office\"\nif = \"office\"\n";
    let site = {
        let log = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        log.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (www, stats) = (free_addr(), free_addr());
        let toml = format!(
            "[global]\nworkers = 1\n[log]\ntarget = \"udp://{log}\"\n\
             [frontend.www]\nbind = \"{www}\"\ndefault_backend = \"web\"\nlog = true\n{toml_fe}\n\
             [backend.web]\n[[backend.web.server]]\nname = \"web1\"\naddress = \"{w}\"\n\
             [backend.office]\n[[backend.office.server]]\nname = \"office1\"\naddress = \"{o}\"\n\
             [stats]\nbind = \"{stats}\"\n",
            log = log.local_addr().unwrap(),
            w = web.addr(),
            o = office.addr(),
        );
        Site {
            lb: Ringlb::start(&toml),
            www,
            stats,
            log,
        }
    };
    let header = v2([198, 51, 100, 7], 5555, [192, 0, 2, 1], 443);
    // Signature, the rest of the fixed part, the addresses and the request: four receives.
    let got = exchange(
        site.www,
        &[&header[..7], &header[7..14], &header[14..], ECHO_GET],
    );
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(got.contains("X-Backend: office1"), "routed by src: {got}");
    assert!(got.contains("X-Forwarded-For: 198.51.100.7"), "{got}");
    // Without a header naming an office address, the default backend answers.
    let header = v2([203, 0, 113, 1], 5555, [192, 0, 2, 1], 443);
    let mut bytes = header.clone();
    bytes.extend_from_slice(ECHO_GET);
    let got = String::from_utf8_lossy(&exchange(site.www, &[&bytes])).into_owned();
    assert!(got.contains("X-Backend: web1"), "{got}");
    assert!(got.contains("X-Forwarded-For: 203.0.113.1"), "{got}");
    drop(site.lb);
}

/// Every way a header is refused: the connection closes without an answer, the frontend's
/// counter moves (Prometheus and JSON), and an event line says why.
#[test]
fn bad_headers_close_the_connection_with_a_counter_and_a_line() {
    let web = Backend::start("web1");
    let mut long_v1 = b"PROXY TCP4 ".to_vec();
    long_v1.resize(200, b'1');
    let mut bad_v2 = V2_SIG.to_vec();
    bad_v2.extend_from_slice(&[0x11, 0x11, 0, 12]);
    bad_v2.extend_from_slice(&[0; 12]);
    let mut huge_v2 = V2_SIG.to_vec();
    huge_v2.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    let cases: [(&str, Vec<Vec<u8>>, &str); 6] = [
        (
            "malformed v1",
            vec![b"PROXY TCP4 203.0.113.9 nowhere 1 2\r\nGET / HTTP/1.1\r\n\r\n".to_vec()],
            "malformed PROXY v1 header",
        ),
        ("malformed v2", vec![bad_v2], "malformed PROXY v2 header"),
        ("oversized v1", vec![long_v1], "PROXY header too long"),
        ("oversized v2", vec![huge_v2], "PROXY header too long"),
        (
            "no header",
            vec![b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()],
            "no PROXY protocol header",
        ),
        (
            "header never finished",
            vec![b"PROXY TCP4 203.0.113.9 ".to_vec()],
            "PROXY header not complete in time",
        ),
    ];
    for (what, parts, line) in cases {
        // One ringlb per case: event lines are throttled to one a second.
        let site = Site::start(
            "http",
            "accept_proxy = true\ntimeout = { client = \"500ms\" }",
            "",
            web.addr(),
            "",
        );
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let got = exchange(site.www, &parts);
        assert!(
            got.is_empty(),
            "{what}: closed without an answer, got {got:?}"
        );
        assert!(
            site.lb.wait_log(
                &format!("frontend www: connection closed: {line}"),
                Duration::from_secs(5)
            ),
            "{what}: event line; stderr: {}",
            site.lb.stderr()
        );
        assert_eq!(site.errors("failed"), 1, "{what}: counter");
        assert_eq!(site.json_proxy()["failed"], 1, "{what}: JSON counter");
        assert_eq!(web.requests(), 0, "{what}: nothing reached the server");
    }
}

#[test]
fn a_peer_outside_accept_proxy_from_is_refused() {
    let web = Backend::start("web1");
    let site = Site::start(
        "http",
        "accept_proxy = true\naccept_proxy_from = [\"127.0.0.2\", \"10.0.0.0/8\"]",
        "",
        web.addr(),
        "",
    );
    let mut bytes = b"PROXY TCP4 203.0.113.9 192.0.2.1 40000 80\r\n".to_vec();
    bytes.extend_from_slice(ECHO_GET);
    let got = exchange_from(site.www, IpAddr::from([127, 0, 0, 3]), &[&bytes]);
    assert!(got.is_empty(), "refused: {got:?}");
    assert!(site.lb.wait_log(
        "frontend www: connection closed: peer not allowed to send a PROXY header",
        Duration::from_secs(5)
    ));
    assert_eq!(site.errors("refused"), 1);
    assert_eq!(site.json_proxy()["refused"], 1);
    // The allowed peer is served.
    let got = exchange_from(site.www, IpAddr::from([127, 0, 0, 2]), &[&bytes]);
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert_eq!(web.requests(), 1);
}

/// TCP mode: the header is read before the relay starts and the client it names is sent on
/// to the server in the header ringlb writes (its destination is the one the first header
/// named); the bytes after the header are relayed unchanged.
#[test]
fn tcp_mode_accepts_and_sends_the_header() {
    let first = Arc::new(Mutex::new(Vec::<u8>::new()));
    let seen = first.clone();
    let server = RawBackend::start(move |mut s: TcpStream| {
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        while !got.ends_with(b"hello") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        *seen.lock().unwrap() = got;
        let _ = s.write_all(b"bye");
    });
    let site = Site::start(
        "tcp",
        "accept_proxy = true",
        "send_proxy = \"v1\"",
        server.addr(),
        "",
    );
    let got = exchange(
        site.www,
        &[b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 5432\r\nhello"],
    );
    assert_eq!(got, b"bye");
    assert_eq!(
        String::from_utf8_lossy(&first.lock().unwrap()),
        "PROXY TCP6 2001:db8::7 2001:db8::1 40000 5432\r\nhello"
    );
    let line = site.log_line();
    assert!(
        line.contains("[2001:db8::7]:40000") || line.contains("2001:db8::7"),
        "{line}"
    );
}

// ---- nginx as the peer ----------------------------------------------------------------------

/// nginx, or why it cannot run here.
fn nginx() -> Result<PathBuf, String> {
    let path = PathBuf::from("/usr/sbin/nginx");
    if !path.exists() {
        return Err("nginx is not installed (Debian: nginx-light)".into());
    }
    if !Path::new(STREAM_MODULE).exists() {
        return Err(format!(
            "{STREAM_MODULE} is missing (Debian: libnginx-mod-stream)"
        ));
    }
    Ok(path)
}

const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nginx with `body` (the `http {}` / `stream {}` blocks) and waits until `ready`
/// accepts connections.
fn start_nginx(bin: &Path, body: &str, ready: SocketAddr) -> Nginx {
    let dir = unique_dir("pp-nginx");
    let d = dir.display();
    let conf = format!(
        "load_module {STREAM_MODULE};\ndaemon off;\nmaster_process off;\nworker_processes 1;\n\
         pid {d}/nginx.pid;\nerror_log {d}/error.log info;\nevents {{ worker_connections 256; }}\n{body}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut n = Nginx { child, dir };
    let up = wait_until(Duration::from_secs(10), || {
        TcpStream::connect(ready).is_ok()
    });
    if !up {
        let _ = n.child.kill();
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(n.dir.join("error.log")).unwrap_or_default()
        );
    }
    n
}

/// An nginx `http {}` server that reads a PROXY header and answers with what it carried.
fn nginx_pp_http(port: u16) -> String {
    format!(
        "http {{\n  access_log off;\n  client_body_temp_path tmp;\n  proxy_temp_path tmp;\n\
         fastcgi_temp_path tmp;\n  uwsgi_temp_path tmp;\n  scgi_temp_path tmp;\n\
         server {{\n    listen 127.0.0.1:{port} proxy_protocol;\n\
         location / {{ default_type text/plain; return 200 \"pp=$proxy_protocol_addr:$proxy_protocol_port remote=$remote_addr\\n\"; }}\n\
         }}\n}}\n"
    )
}

/// ringlb sends v1 and v2 headers to nginx `listen … proxy_protocol`: nginx reads the
/// client's address from them, for each client on its own (keep-alive connections to the
/// server are never shared between clients), and the health check sends one too (without
/// it nginx refuses the check's request and the server goes down).
#[test]
fn nginx_behind_ringlb_reads_the_client_from_v1_and_v2() {
    let bin = match nginx() {
        Ok(b) => b,
        Err(why) => {
            eprintln!("SKIP nginx_behind_ringlb_reads_the_client_from_v1_and_v2: {why}");
            return;
        }
    };
    let port = free_port();
    let ng_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let _ng = start_nginx(&bin, &nginx_pp_http(port), ng_addr);
    for version in ["v1", "v2"] {
        let site = Site::start(
            "http",
            "",
            // v1: checks send the header because the server is sent one; v2: said outright.
            &format!(
                "send_proxy = \"{version}\"\n[backend.web.check]\ntype = \"http\"\ninter = \"100ms\"\nrise = 1\nfall = 1\n{}",
                if version == "v2" { "send_proxy = true" } else { "" }
            ),
            ng_addr,
            "",
        );
        for (source, requests) in [([127, 0, 0, 5], 2), ([127, 0, 0, 6], 2)] {
            let mut c = Client::connect_from(site.www, IpAddr::from(source)).unwrap();
            for _ in 0..requests {
                let r = c.get("/").unwrap();
                assert_eq!(r.status, 200, "{version}");
                let want = format!(
                    "pp={}.{}.{}.{}:",
                    source[0], source[1], source[2], source[3]
                );
                assert!(
                    r.body_str().starts_with(&want),
                    "{version}: nginx read {} (want {want})",
                    r.body_str()
                );
                assert!(
                    r.body_str().contains("remote=127.0.0.1"),
                    "{}",
                    r.body_str()
                );
            }
        }
        // Health checks keep passing: their header (UNKNOWN / LOCAL) is accepted by nginx.
        let ok = wait_until(Duration::from_secs(5), || {
            http_get(site.stats, "/;json", &[])
                .body_str()
                .contains("L7OK")
        });
        assert!(ok, "{version}: the check passes with its PROXY header");
    }
    // Without the check's header nginx refuses it: the server goes down.
    let site = Site::start(
        "http",
        "",
        "send_proxy = \"v1\"\n[backend.web.check]\ntype = \"http\"\ninter = \"100ms\"\nrise = 1\nfall = 1\nsend_proxy = false",
        ng_addr,
        "",
    );
    assert!(site
        .lb
        .wait_log("server web/web1 is DOWN", Duration::from_secs(5)));
}

/// nginx's `stream` proxy with `proxy_protocol on` in front of ringlb: the address ringlb
/// puts in X-Forwarded-For and in its access log is the one nginx's header names (the
/// client's), not nginx's own.
#[test]
fn nginx_stream_in_front_of_ringlb_names_the_client() {
    let bin = match nginx() {
        Ok(b) => b,
        Err(why) => {
            eprintln!("SKIP nginx_stream_in_front_of_ringlb_names_the_client: {why}");
            return;
        }
    };
    let web = Backend::start("web1");
    let site = Site::start(
        "http",
        "accept_proxy = true\naccept_proxy_from = [\"127.0.0.1\"]\nforwardfor = true",
        "",
        web.addr(),
        "",
    );
    let port = free_port();
    let front = SocketAddr::from(([127, 0, 0, 1], port));
    let body = format!(
        "stream {{\n  server {{\n    listen 127.0.0.1:{port};\n    proxy_pass {};\n    proxy_protocol on;\n  }}\n}}\n",
        site.www
    );
    let _ng = start_nginx(&bin, &body, front);
    let got = exchange_from(front, IpAddr::from([127, 0, 0, 9]), &[ECHO_GET]);
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.contains("X-Forwarded-For: 127.0.0.9\r\n"), "{got}");
    let line = site.log_line();
    assert!(
        line.contains("127.0.0.9:"),
        "access log names the client: {line}"
    );
    assert_eq!(site.errors("failed"), 0);
}

// ---- import-haproxy: behind a cloud load balancer --------------------------------------------

/// `tests/configs/haproxy/cloud-lb-accept-proxy.cfg` translates completely (`accept-proxy` on
/// both listeners, `send-proxy-v2` on the database server), passes `ringlb check`, and the
/// result, run with test servers in place of the addresses, routes the office network by the
/// address in the PROXY header, names the client in X-Forwarded-For and sends the client on to
/// the database server in a v2 header.
#[test]
fn imported_cloud_lb_config_takes_the_client_from_the_header() {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs/haproxy/cloud-lb-accept-proxy.cfg");
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("import-haproxy")
        .arg(&cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let toml = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "every line translated: {stderr}\n{toml}"
    );
    let c = ringlb::config::parse_str(&toml, "cloud.toml").unwrap_or_else(|d| panic!("{}", d[0]));
    let fe = |n: &str| c.frontends.iter().find(|f| f.name == n).unwrap();
    assert!(fe("www").accept_proxy && fe("pg").accept_proxy);
    let pg1 = c
        .backends
        .iter()
        .flat_map(|b| &b.servers)
        .find(|s| s.name == "pg1")
        .unwrap();
    assert_eq!(pg1.send_proxy, Some(ringlb::config::ProxyVersion::V2));
    let check = Ringlb::run_cli(&["check", "-c", "{config}"], &toml);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // Traffic: test servers and free ports in place of the addresses.
    let mut toml = toml;
    let mut web = Vec::new();
    for (placeholder, name) in [
        ("127.0.0.1:18181", "app1"),
        ("127.0.0.1:18182", "app2"),
        ("127.0.0.1:18183", "admin1"),
    ] {
        let b = Backend::start(name);
        toml = toml.replace(placeholder, &b.addr().to_string());
        web.push(b);
    }
    let db_saw = Arc::new(Mutex::new(Vec::<u8>::new()));
    let seen = db_saw.clone();
    let db = RawBackend::start(move |mut s: TcpStream| {
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        while !got.ends_with(b"SELECT 1") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        *seen.lock().unwrap() = got;
        let _ = s.write_all(b"1 row");
    });
    toml = toml.replace("127.0.0.1:15433", &db.addr().to_string());
    let (www, pg) = (free_addr(), free_addr());
    toml = toml.replace("127.0.0.1:18180", &www.to_string());
    toml = toml.replace("127.0.0.1:15432", &pg.to_string());
    // The fixture's syslog and account are the appliance's; here: no log target, no switch.
    let toml: String = toml
        .lines()
        .filter(|l| {
            !l.starts_with("user =")
                && !l.starts_with("group =")
                && *l != "target = \"unix:///dev/log\""
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let _lb = Ringlb::start(&toml);

    let get = |header: &[u8], path: &str| -> String {
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(
            format!("GET {path} HTTP/1.1\r\nHost: www\r\nx-echo-headers: 1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        String::from_utf8_lossy(&exchange(www, &[&bytes])).into_owned()
    };
    let office = get(
        b"PROXY TCP4 198.51.100.7 10.0.0.5 40000 80\r\n",
        "/admin/users",
    );
    assert!(office.contains("X-Backend: admin1"), "{office}");
    assert!(
        office.contains("X-Forwarded-For: 198.51.100.7\r\n"),
        "{office}"
    );
    let outside = get(
        &v2([203, 0, 113, 5], 40001, [10, 0, 0, 5], 80),
        "/admin/users",
    );
    assert!(!outside.contains("X-Backend: admin1"), "{outside}");
    assert!(
        outside.contains("X-Forwarded-For: 203.0.113.5\r\n"),
        "{outside}"
    );
    // Balancing by source follows the header's address: one client, one server.
    let first = get(&v2([203, 0, 113, 5], 1, [10, 0, 0, 5], 80), "/");
    let pick = |r: &str| {
        r.lines()
            .find(|l| l.starts_with("X-Backend:"))
            .map(str::to_owned)
    };
    for port in 2..6 {
        let again = get(&v2([203, 0, 113, 5], port, [10, 0, 0, 5], 80), "/");
        assert_eq!(pick(&again), pick(&first), "{again}");
    }
    // Without a header the connection is closed unanswered.
    assert!(exchange(www, &[ECHO_GET]).is_empty());

    // TCP: the database server gets the client in a v2 header, then the bytes.
    let got = exchange(
        pg,
        &[b"PROXY TCP4 198.51.100.7 10.0.0.5 40000 5432\r\nSELECT 1"],
    );
    assert_eq!(got, b"1 row");
    let saw = db_saw.lock().unwrap().clone();
    let mut want = v2([198, 51, 100, 7], 40000, [10, 0, 0, 5], 5432);
    want.extend_from_slice(b"SELECT 1");
    assert_eq!(saw, want);
}
