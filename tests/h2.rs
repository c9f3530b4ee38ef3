//! HTTP/2 for clients, end to end with real clients: curl (`--http2` over TLS with ALPN,
//! `--http2-prior-knowledge` in cleartext) and h2load (Debian's nghttp2-client). Servers stay
//! HTTP/1.1: the test backends of `tests/common`.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]
mod common;
use common::*;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A self-signed certificate for `localhost` (chain and key in one PEM file), in `dir`.
fn certificate(dir: &Path) -> PathBuf {
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
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-days",
            "30",
        ],
    );
    let mut pem = std::fs::read(dir.join("cert.pem")).unwrap();
    pem.extend(std::fs::read(dir.join("key.pem")).unwrap());
    let path = dir.join("site.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

/// ringlb with one frontend: a plain listener (h2 with prior knowledge and HTTP/1.1), a TLS
/// listener offering h2 and http/1.1, a `[stats]` listener; backends `web` (web1, web2) and
/// `api` (api1) for paths under `/api`.
struct Site {
    lb: Ringlb,
    _web: Vec<Backend>,
    plain: SocketAddr,
    tls: u16,
    stats: SocketAddr,
    ca: PathBuf,
    dir: PathBuf,
}

impl Site {
    fn start(extra: &str) -> Site {
        let web = vec![
            Backend::start("web1"),
            Backend::start("web2"),
            Backend::start("api1"),
        ];
        let dir = unique_dir("ringlb-h2");
        let cert = certificate(&dir);
        let (plain, tls, stats) = (free_port(), free_port(), free_port());
        let toml = format!(
            r#"
[global]
workers = 1
[stats]
bind = "127.0.0.1:{stats}"
[frontend.www]
bind = "127.0.0.1:{plain}"
default_backend = "web"
log = true
[frontend.www.tls]
bind = "127.0.0.1:{tls}"
certificates = "{cert}"
alpn = ["h2", "http/1.1"]
[frontend.www.h2]
cleartext = true
{extra}
[[frontend.www.route]]
backend = "api"
if = "{{ path_beg /api }}"
[backend.web]
[[backend.web.server]]
name = "web1"
address = "{}"
[[backend.web.server]]
name = "web2"
address = "{}"
[backend.api]
[[backend.api.server]]
name = "api1"
address = "{}"
"#,
            web[0].addr(),
            web[1].addr(),
            web[2].addr(),
            cert = cert.display(),
        );
        let lb = Ringlb::start(&toml);
        Site {
            lb,
            _web: web,
            plain: format!("127.0.0.1:{plain}").parse().unwrap(),
            tls,
            stats: format!("127.0.0.1:{stats}").parse().unwrap(),
            ca: dir.join("cert.pem"),
            dir,
        }
    }

    fn h2c(&self, path: &str) -> String {
        format!("http://{}{path}", self.plain)
    }

    fn h2s(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.tls)
    }

    fn resolve(&self) -> String {
        format!("localhost:{}:127.0.0.1", self.tls)
    }

    /// The value of a Prometheus sample.
    fn metric(&self, series: &str) -> f64 {
        let r = http_get(self.stats, "/metrics", &[]);
        r.body_str()
            .lines()
            .find_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok())?
            })
            .unwrap_or(0.0)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `HTTP-VERSION STATUS BACKEND` of each transfer, one a line.
const W: &str = "%{http_version} %{http_code} %header{x-backend}\\n";

#[test]
fn cleartext_prior_knowledge_and_http11_share_the_listener() {
    let s = Site::start("");
    let o = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        W,
        &s.h2c("/a"),
    ]);
    assert_eq!(stdout(&o), "2 200 web1\n");
    // HTTP/1.1 is still served on the same listener.
    let r = http_get(s.plain, "/b", &[]);
    assert_eq!((r.status, r.backend()), (200, Some("web2")));
    // The access log names the protocol each request came in.
    assert!(s.lb.wait_log("\"GET /a HTTP/2.0\"", Duration::from_secs(5)));
    assert!(s.lb.wait_log("\"GET /b HTTP/1.1\"", Duration::from_secs(5)));
    assert_eq!(
        s.metric("ringlb_frontend_h2_connections_total{frontend=\"www\"}"),
        1.0
    );
    assert_eq!(
        s.metric("ringlb_frontend_h2_streams_total{frontend=\"www\"}"),
        1.0
    );
}

#[test]
fn tls_offers_h2_by_alpn_and_still_serves_http11() {
    let s = Site::start("");
    let ca = s.ca.to_str().unwrap();
    let resolve = s.resolve();
    let url = s.h2s("/x");
    let o = curl(&[
        "--http2",
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
        "-w",
        W,
        &url,
    ]);
    assert_eq!(stdout(&o), "2 200 web1\n");
    let o = curl(&[
        "--http1.1",
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
        "-w",
        W,
        &url,
    ]);
    assert_eq!(stdout(&o), "1.1 200 web2\n");
    // X-Forwarded-Proto comes from the connection's TLS, for every stream.
    let o = curl(&[
        "--http2",
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "-H",
        "x-echo-headers: 1",
        &url,
    ]);
    let echoed = stdout(&o).to_ascii_lowercase();
    assert!(echoed.contains("x-forwarded-proto: https"), "{echoed}");
    assert!(echoed.starts_with("get /x http/1.1\r\n"), "{echoed}");
}

#[test]
fn many_streams_on_one_connection_are_balanced_and_routed() {
    let s = Site::start("");
    // Over TLS: curl 7.88.1 (Debian 12) fails streams it multiplexes on a reused
    // prior-knowledge connection (curl issue 10634), whatever the server.
    let urls: Vec<String> = (0..6)
        .map(|i| s.h2s(&format!("/p{i}")))
        .chain((0..2).map(|i| s.h2s(&format!("/api/{i}"))))
        .collect();
    let (ca, resolve) = (s.ca.to_str().unwrap().to_owned(), s.resolve());
    let mut args = vec![
        "--http2",
        "--cacert",
        &ca,
        "--resolve",
        &resolve,
        "--parallel",
        "--parallel-max",
        "8",
        "-w",
        "%{http_version} %{http_code} %header{x-backend} %{num_connects} %{url_effective}\\n",
    ];
    for u in &urls {
        args.extend(["-o", "/dev/null", u.as_str()]);
    }
    let out = stdout(&curl(&args));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 8, "{out}");
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    let mut connects = 0;
    for l in &lines {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!((f[0], f[1]), ("2", "200"), "{l}");
        connects += f[3].parse::<u32>().unwrap();
        if f[4].contains("/api/") {
            assert_eq!(f[2], "api1", "routed by path: {l}");
        }
        *seen.entry(f[2]).or_default() += 1;
    }
    assert_eq!(seen.get("web1"), Some(&3), "{out}");
    assert_eq!(seen.get("web2"), Some(&3), "{out}");
    assert_eq!(seen.get("api1"), Some(&2), "{out}");
    assert_eq!(connects, 1, "one connection carries every stream: {out}");
    assert_eq!(
        s.metric("ringlb_frontend_h2_streams_total{frontend=\"www\"}"),
        8.0
    );
}

/// Two URLs on one connection, the second requested once the first ended: `curl --http2`
/// over TLS, and h2load one stream at a time in cleartext.
#[test]
fn two_urls_one_after_the_other_share_one_connection() {
    let s = Site::start("");
    let (ca, resolve) = (s.ca.to_str().unwrap().to_owned(), s.resolve());
    let w = "%{http_version} %{http_code} %{num_connects}\\n";
    let (a, b) = (s.h2s("/a"), s.h2s("/b"));
    let o = curl(&[
        "--http2",
        "--cacert",
        &ca,
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
        "-w",
        w,
        &a,
        "-o",
        "/dev/null",
        "-w",
        w,
        &b,
    ]);
    assert_eq!(stdout(&o), "2 200 1\n2 200 0\n");
    // curl 7.88 (Debian 12) cannot reuse a prior-knowledge connection: it fails the second
    // transfer before sending it, whatever the server (curl issue 10634, fixed in 8.0).
    let version = curl(&["--version"]);
    let v = stdout(&version);
    let major: u32 = v
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.split('.').next())
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let mut streams = 2.0;
    if major >= 8 {
        let o = curl(&[
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            w,
            &s.h2c("/a"),
            "-o",
            "/dev/null",
            "-w",
            w,
            &s.h2c("/b"),
        ]);
        assert_eq!(stdout(&o), "2 200 1\n2 200 0\n");
        streams += 2.0;
    }
    // h2load: one connection, one stream at a time.
    h2load(&["-n", "5", "-c", "1", "-m", "1", &s.h2c("/")], 5);
    streams += 5.0;
    assert_eq!(
        s.metric("ringlb_frontend_h2_streams_total{frontend=\"www\"}"),
        streams
    );
    assert_eq!(
        s.metric("ringlb_frontend_h2_connections_total{frontend=\"www\"}"),
        if major >= 8 { 3.0 } else { 2.0 }
    );
}

#[test]
fn request_bodies_go_up_and_large_bodies_come_down() {
    let s = Site::start("");
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = s.dir.join("upload.bin");
    std::fs::write(&file, &body).unwrap();
    let at = format!("@{}", file.display());
    let want = format!("{} {:x}", body.len(), fnv(&body));
    let w = "%{http_version} %{http_code} %header{x-body-len} %header{x-body-sum}";
    // With content-length.
    let o = curl(&[
        "--http2-prior-knowledge",
        "--data-binary",
        &at,
        "-o",
        "/dev/null",
        "-w",
        w,
        &s.h2c("/up"),
    ]);
    assert_eq!(stdout(&o), format!("2 200 {want}"));
    // Without: from a pipe, so curl cannot know the length (the server gets it chunked).
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cat {} | curl -sS --max-time 20 --http2-prior-knowledge -T - -o /dev/null -w '{w}' {}",
            file.display(),
            s.h2c("/up")
        ))
        .output()
        .unwrap();
    assert_eq!(stdout(&o), format!("2 200 {want}"));
    // Over TLS too.
    let ca = s.ca.to_str().unwrap();
    let resolve = s.resolve();
    let o = curl(&[
        "--http2",
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "--data-binary",
        &at,
        "-o",
        "/dev/null",
        "-w",
        w,
        &s.h2s("/up"),
    ]);
    assert_eq!(stdout(&o), format!("2 200 {want}"));
    // A large download, fixed length and chunked, through the client's flow-control windows.
    for chunked in ["0", "1"] {
        let n = 8 << 20;
        let out = s.dir.join("down.bin");
        let o = curl(&[
            "--http2-prior-knowledge",
            "-H",
            &format!("x-size: {n}"),
            "-H",
            &format!("x-chunked: {chunked}"),
            "-o",
            out.to_str().unwrap(),
            "-w",
            "%{http_version} %{http_code}",
            &s.h2c("/down"),
        ]);
        assert_eq!(stdout(&o), "2 200");
        let got = std::fs::read(&out).unwrap();
        assert_eq!(got.len(), n, "chunked={chunked}");
        assert!(got == pattern(n), "chunked={chunked}: body intact");
    }
}

/// Responses without a body (to HEAD, 204, 304) end their stream with the HEADERS frame, and
/// the responses after them on the same connection still decode: every head goes through the
/// connection's HPACK table, and the stream frames each one by the framing the session read.
#[test]
fn bodiless_responses_end_their_streams_and_the_connection_goes_on() {
    let s = Site::start("");
    let (ca, resolve) = (s.ca.to_str().unwrap().to_owned(), s.resolve());
    let w = "%{http_version} %{http_code} %{size_download} %{num_connects}\\n";
    let url = s.h2s("/x");
    let mut args: Vec<&str> = Vec::new();
    let parts: [&[&str]; 5] = [
        &["--head"],
        &["-H", "x-status: 204"],
        &["-H", "x-status: 304"],
        &["-H", "x-chunked: 1"],
        &[],
    ];
    for (i, extra) in parts.iter().enumerate() {
        if i > 0 {
            args.push("--next");
        }
        args.extend(["--http2", "--cacert", &ca, "--resolve", &resolve]);
        args.extend(extra.iter());
        args.extend(["-o", "/dev/null", "-w", w, &url]);
    }
    let o = curl(&args);
    // The HEAD answer's headers are not counted as downloaded; the GETs get "web1\n".
    assert_eq!(
        stdout(&o),
        "2 200 0 1\n2 204 0 0\n2 304 0 0\n2 200 5 0\n2 200 5 0\n"
    );
}

/// ringlb's HPACK table follows each client's `SETTINGS_HEADER_TABLE_SIZE`: none at all, one
/// smaller than a single response's fields (entries evicted at every response), the default
/// and one larger than ringlb keeps. nghttp2's decoder (h2load) refuses a reference past its
/// table, a size update past its setting, and a first block without the size update RFC 7541
/// §4.2 requires after the client lowered its table (which a stateless encoder never sent:
/// such clients got COMPRESSION_ERROR), so any slip is an error here. The header bytes show
/// the table at work: far fewer per response with a table than without.
#[test]
fn responses_follow_the_client_s_hpack_table_size() {
    let s = Site::start("");
    let url = s.h2c("/");
    let mut header_bytes = Vec::new();
    for size in ["0", "100", "4096", "65536"] {
        let out = h2load(
            &[
                "-n",
                "300",
                "-c",
                "2",
                "-m",
                "5",
                "--header-table-size",
                size,
                &url,
            ],
            300,
        );
        // "traffic: 40.01KB (40972) total, 8.33KB (8532) headers (space savings …), …"
        let headers: u64 = out
            .lines()
            .find(|l| l.starts_with("traffic:"))
            .and_then(|l| l.split(" headers").next())
            .and_then(|l| l.rsplit('(').next())
            .and_then(|n| n.trim_end_matches(')').parse().ok())
            .unwrap_or_else(|| panic!("no traffic line: {out}"));
        header_bytes.push(headers);
    }
    // Without a table every response carries its fields in full; with the default one all
    // but the first few per connection are references.
    assert!(
        header_bytes[2] * 3 < header_bytes[0],
        "header bytes by table size 0/100/4096/65536: {header_bytes:?}"
    );
}

/// Runs h2load and returns its output; asserts every request succeeded.
fn h2load(args: &[&str], n: u64) -> String {
    let out = Command::new("timeout")
        .arg("120")
        .arg("h2load")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run h2load (Debian package nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let want = format!(
        "requests: {n} total, {n} started, {n} done, {n} succeeded, 0 failed, 0 errored, 0 timeout"
    );
    assert!(text.contains(&want), "h2load: {text}");
    assert!(text.contains(&format!("status codes: {n} 2xx")), "{text}");
    text
}

#[test]
fn h2load_over_cleartext_and_tls_has_no_errors() {
    let s = Site::start("");
    let out = h2load(&["-n", "2000", "-c", "10", "-m", "10", &s.h2c("/")], 2000);
    println!(
        "h2load cleartext: {}",
        out.lines()
            .find(|l| l.starts_with("finished"))
            .unwrap_or("")
    );
    let out = h2load(
        &[
            "-n",
            "2000",
            "-c",
            "10",
            "-m",
            "10",
            &format!("https://127.0.0.1:{}/", s.tls),
        ],
        2000,
    );
    println!(
        "h2load TLS: {}",
        out.lines()
            .find(|l| l.starts_with("finished"))
            .unwrap_or("")
    );
    assert_eq!(
        s.metric("ringlb_frontend_h2_streams_total{frontend=\"www\"}"),
        4000.0
    );
    assert_eq!(
        s.metric("ringlb_frontend_h2_connections_total{frontend=\"www\"}"),
        20.0
    );
}

fn successor(lb: &mut Ringlb) -> u32 {
    let msg = lb
        .wait_notify_any("MAINPID=", Duration::from_secs(20))
        .expect("a new process announces MAINPID=");
    msg.lines()
        .find_map(|l| l.strip_prefix("MAINPID="))
        .and_then(|v| v.trim().parse().ok())
        .expect("MAINPID value")
}

#[test]
fn upgrade_sends_goaway_and_loses_no_stream() {
    let mut s = Site::start("");
    let url = s.h2c("/");
    let load = std::thread::spawn(move || {
        Command::new("timeout")
            .args([
                "120",
                "h2load",
                "-n",
                "3000",
                "-c",
                "4",
                "-m",
                "10",
                "-H",
                "x-delay-ms: 5",
                &url,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run h2load")
    });
    let stats = s.stats;
    assert!(wait_until(Duration::from_secs(20), || {
        let r = http_get(stats, "/metrics", &[]);
        r.body_str().lines().any(|l| {
            l.starts_with("ringlb_frontend_h2_streams_total{frontend=\"www\"}")
                && l.rsplit_once(' ')
                    .and_then(|(_, v)| v.parse::<f64>().ok())
                    .is_some_and(|v| v > 200.0)
        })
    }));
    let old = s.lb.pid();
    s.lb.signal(libc::SIGUSR2);
    let new = successor(&mut s.lb);
    assert_ne!(new, old);
    let out = load.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // h2load opens no new connection after a GOAWAY: what it never started is "errored".
    // Every stream it did start was answered: none was cut or refused.
    let line = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("h2load: {text}"));
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let (total, started, done, ok) = (n[0], n[1], n[2], n[3]);
    println!("across the upgrade: {line}");
    // Every stream h2load started finished; every request that reached a server came back
    // with its response. (A stream h2load queued before it read the GOAWAY is failed by its
    // own HTTP/2 library, unsent: "started", never processed.)
    assert_eq!(started, done, "{line}");
    let forwarded: u64 = s._web.iter().map(|b| b.requests()).sum();
    assert_eq!(forwarded, ok, "{line}");
    assert!(ok >= 200 && started <= total, "{line}");
    let count = |lb: &Ringlb| {
        let logs = lb.stderr() + &lb.stdout();
        logs.lines().filter(|l| l.contains("HTTP/2.0\"")).count() as u64
    };
    wait_until(Duration::from_secs(10), || count(&s.lb) >= ok);
    let logs = s.lb.stderr() + &s.lb.stdout();
    let h2_lines: Vec<&str> = logs.lines().filter(|l| l.contains("HTTP/2.0\"")).collect();
    assert_eq!(h2_lines.len() as u64, ok, "one access log line per stream");
    for l in h2_lines {
        assert!(l.contains(" 200 ") && l.contains(" ---- "), "{l}");
    }
    // The new process serves h2 at once.
    h2load(&["-n", "500", "-c", "4", "-m", "10", &s.h2c("/")], 500);
    signal_pid(new, libc::SIGTERM);
}

/// Opens an h2 connection with prior knowledge, sends `GET /` on stream 1 (static-table
/// indexes and a literal `:authority` without indexing, so the HPACK table stays empty) and
/// reads until the stream ends, acknowledging the server's SETTINGS. Returns the socket.
fn h2c_one_get(addr: SocketAddr) -> std::net::TcpStream {
    use std::io::{Read, Write};
    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(stream.to_be_bytes());
        f.extend(payload);
        f
    }
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = addr.to_string();
    let mut block = vec![0x82, 0x86, 0x84, 0x01, auth.len() as u8];
    block.extend(auth.as_bytes());
    let mut req = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    req.extend(frame(4, 0, 0, b""));
    req.extend(frame(1, 0x5, 1, &block));
    s.write_all(&req).unwrap();
    let mut buf = Vec::new();
    let mut status = None;
    loop {
        while buf.len() >= 9 {
            let n = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
            if buf.len() < 9 + n {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            let payload = buf[9..9 + n].to_vec();
            buf.drain(..9 + n);
            if kind == 4 && flags & 1 == 0 {
                s.write_all(&frame(4, 1, 0, b"")).unwrap();
            }
            assert_ne!(kind, 7, "GOAWAY while opening idle h2 connections");
            if stream == 1 && kind == 1 {
                // `:status 200`, static-table index 8, after the table size updates
                // (`001xxxxx`, continued while the high bit is set).
                let mut at = 0;
                while payload.get(at).is_some_and(|b| b & 0xe0 == 0x20) {
                    let long = payload[at] & 0x1f == 0x1f;
                    at += 1;
                    while long && payload.get(at).is_some_and(|b| b & 0x80 != 0) {
                        at += 1;
                    }
                    at += usize::from(long);
                }
                status = Some(payload.get(at) == Some(&0x88));
            }
            if stream == 1 && (kind == 0 || kind == 1) && flags & 1 != 0 {
                assert_eq!(status, Some(true), "not a 200");
                return s;
            }
        }
        let mut chunk = [0u8; 16384];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed while opening idle h2 connections");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// What an idle cleartext h2 connection costs ringlb beyond an HTTP/1.1 one on the same
/// listener: RSS growth over many connections that made one request each and stay open, each
/// kind in a fresh process. The connection keeps its task and shared state, no buffers, no
/// stream table (`docs/design.md`, memory of an idle h2 connection); the output writer, the
/// stream list and the flood counters used to stay with it (about 4 KiB more).
/// `scripts/bench --only h2c-idle` has the release figures beside HAProxy and nginx.
#[test]
fn an_idle_h2_connection_costs_little_memory() {
    const N: usize = 400;
    let per = |h2: bool| {
        let site = Site::start("");
        let open = || -> Box<dyn std::any::Any> {
            if h2 {
                Box::new(h2c_one_get(site.plain))
            } else {
                let mut c = Client::connect(site.plain).unwrap();
                assert_eq!(c.get("/").unwrap().status, 200);
                Box::new(c)
            }
        };
        // First use (receive buffers, pooled server connections, the worker's tables) is not
        // a connection's cost.
        let mut conns: Vec<_> = (0..20).map(|_| open()).collect();
        let before = common::conf::rss_kib(site.lb.pid());
        conns.extend((0..N).map(|_| open()));
        let after = common::conf::rss_kib(site.lb.pid());
        assert!(before > 0 && after > 0, "no RSS read");
        after.saturating_sub(before) as f64 / N as f64
    };
    let plain = per(false);
    let h2 = per(true);
    println!("KiB per idle connection: HTTP/1.1 {plain:.2}, h2c {h2:.2}");
    assert!(
        h2 - plain <= 1.5,
        "an idle h2c connection costs {h2:.2} KiB, an HTTP/1.1 one {plain:.2} KiB"
    );
}
