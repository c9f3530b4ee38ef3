//! HTTP/2 conformance and hardening (RFC 9113), end to end: the real binary, a real HTTP/1.1
//! backend, and a raw h2 client, `tests/h2/h2probe.py` (Python's `h2` package for
//! well-formed traffic, hand-made frames for what `h2` refuses to send). Each probe run is one
//! connection and prints what the server answered as JSON; the assertions are here.
//!
//! - framing errors → the connection error RFC 9113 names (GOAWAY with its code);
//! - malformed requests (§8.2–8.3) → a stream error (RST_STREAM PROTOCOL_ERROR, or a 400),
//!   never forwarded, and the connection goes on;
//! - every attack pattern of `[frontend.X.h2]` → its limit, its Prometheus counter
//!   (`ringlb_frontend_h2_limit_total{limit}`) and GOAWAY where the connection ends;
//! - GOAWAY on reload: streams opened before it finish, its last-stream-id is right, a stream
//!   opened after it is not processed.
//!
//! Needs Debian's `python3-h2` (run with `/usr/bin/python3`, which sees Debian's packages) and
//! `curl` with HTTP/2; `scripts/test` installs both.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]
mod common;
use common::*;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const PYTHON: &str = "/usr/bin/python3";

fn probe_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/h2/h2probe.py")
}

/// A self-signed P-256 certificate for `localhost` (chain and key in one PEM file, as ringlb
/// takes them) in a fresh directory; returns (directory, combined PEM, certificate PEM).
fn certificate() -> (PathBuf, PathBuf, PathBuf) {
    let dir = unique_dir("ringlb-h2");
    openssl(
        &dir,
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
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
    );
    let mut pem = std::fs::read(dir.join("cert.pem")).unwrap();
    pem.extend(std::fs::read(dir.join("key.pem")).unwrap());
    std::fs::write(dir.join("site.pem"), pem).unwrap();
    (dir.clone(), dir.join("site.pem"), dir.join("cert.pem"))
}

/// ringlb with frontend `www`: a plain listener taking h2 with prior knowledge (and
/// HTTP/1.1), a TLS listener offering h2 and http/1.1, `[frontend.www.h2]` lines as given,
/// one backend, and a stats listener for the counters.
struct Site {
    lb: Ringlb,
    web: Backend,
    plain: SocketAddr,
    tls: SocketAddr,
    stats: SocketAddr,
    dir: PathBuf,
    ca: PathBuf,
}

impl Site {
    fn start(h2_lines: &str) -> Site {
        let web = Backend::start("web1");
        let (dir, pem, ca) = certificate();
        let (plain, tls, stats) = (free_addr(), free_addr(), free_addr());
        let toml = format!(
            r#"
[global]
workers = 1
[stats]
bind = "{stats}"
[frontend.www]
bind = "{plain}"
default_backend = "web"
[frontend.www.tls]
bind = "{tls}"
certificates = ["{pem}"]
alpn = ["h2", "http/1.1"]
[frontend.www.h2]
cleartext = true
{h2_lines}
[backend.web]
[[backend.web.server]]
name = "web1"
address = "{backend}"
"#,
            pem = pem.display(),
            backend = web.addr(),
        );
        Site {
            lb: Ringlb::start(&toml),
            web,
            plain,
            tls,
            stats,
            dir,
            ca,
        }
    }

    /// Runs one probe case on the cleartext listener (`tls` false) or the TLS one.
    fn probe(&self, tls: bool, case: &str, args: &[&str]) -> Value {
        let mut cmd = self.probe_cmd(tls, case, args);
        let out = cmd.output().expect("run h2probe.py");
        parse_probe(case, &out.stdout, &out.stderr)
    }

    fn probe_cmd(&self, tls: bool, case: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.arg("60").arg(PYTHON).arg(probe_script());
        if tls {
            cmd.arg(self.tls.to_string())
                .arg("--tls")
                .arg(&self.ca)
                .args(["--sni", "localhost"]);
        } else {
            cmd.arg(self.plain.to_string());
        }
        cmd.arg(case).args(args).stdin(Stdio::null());
        cmd
    }

    /// The sum of the Prometheus samples of `name` whose labels include every `labels` pair
    /// (0 when there is none).
    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = http_get(self.stats, "/metrics", &[]).body_str();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let (n, rest) = series.split_once('{').unwrap_or((series, ""));
                (n == name
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
                .then(|| value.parse::<f64>().ok())?
            })
            .sum()
    }

    fn limit(&self, limit: &str) -> f64 {
        self.metric(
            "ringlb_frontend_h2_limit_total",
            &[("frontend", "www"), ("limit", limit)],
        )
    }

    fn goaways(&self, error: &str) -> f64 {
        self.metric(
            "ringlb_frontend_h2_goaway_total",
            &[("frontend", "www"), ("error", error)],
        )
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn parse_probe(case: &str, stdout: &[u8], stderr: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().rev().find(|l| l.starts_with('{'));
    match line.map(serde_json::from_str::<Value>) {
        Some(Ok(v)) => v,
        _ => panic!(
            "h2probe {case} gave no result\nstdout: {text}\nstderr: {}",
            String::from_utf8_lossy(stderr)
        ),
    }
}

fn goaway_error(v: &Value) -> Option<&str> {
    v["goaway"]["error"].as_str()
}

fn status(v: &Value, stream: u32) -> Option<u64> {
    v["responses"][stream.to_string()]["status"].as_u64()
}

fn reset(v: &Value, stream: u32) -> Option<&str> {
    v["resets"][stream.to_string()].as_str()
}

/// Frames the server sent last, for failure messages.
fn frames(v: &Value) -> String {
    let f = v["frames"].as_array().cloned().unwrap_or_default();
    serde_json::to_string(&f).unwrap_or_default()
}

#[test]
fn curl_and_the_h2_package_speak_h2_over_tls_and_cleartext() {
    let site = Site::start("");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-o", "/dev/null"])
            .args(["-w", "%{http_version} %{http_code}"])
            .args(args)
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let url = format!("http://{}/", site.plain);
    assert_eq!(curl(&["--http2-prior-knowledge", &url]), "2 200");
    assert_eq!(curl(&[&url]), "1.1 200", "HTTP/1.1 on the same listener");
    let resolve = format!("localhost:{}:127.0.0.1", site.tls.port());
    let https = format!("https://localhost:{}/", site.tls.port());
    let ca = site.ca.to_str().unwrap();
    assert_eq!(
        curl(&["--http2", "--cacert", ca, "--resolve", &resolve, &https]),
        "2 200"
    );
    assert_eq!(
        curl(&["--http1.1", "--cacert", ca, "--resolve", &resolve, &https]),
        "1.1 200",
        "ALPN http/1.1 still served"
    );

    // The h2 package: a GET and a 200 KB POST through flow control (windows of 64 KiB).
    for tls in [false, true] {
        let v = site.probe(tls, "good_h2lib", &["size=200000"]);
        assert_eq!(v["goaway"], Value::Null, "{v}");
        assert_eq!(v["responses"]["1"]["status"], 200, "{v}");
        assert_eq!(v["responses"]["3"]["status"], 200, "{v}");
        assert_eq!(v["responses"]["3"]["x-body-len"], "200000", "{v}");
    }

    // RFC 9113 §8.3.1 / §8.2.3: :authority becomes Host, cookie fields are joined with "; ".
    let v = site.probe(
        false,
        "get",
        &["headers=x-echo-headers:1|cookie:a=1|cookie:b=2"],
    );
    let body = v["responses"]["1"]["body"].as_str().unwrap_or_default();
    let host = format!("host: {}", site.plain);
    assert!(body.to_ascii_lowercase().contains(&host), "{body}");
    assert!(
        body.to_ascii_lowercase().contains("cookie: a=1; b=2"),
        "{body}"
    );

    // Ten streams at once on one connection, all answered.
    let v = site.probe(true, "get", &["n=10"]);
    for i in 0..10 {
        assert_eq!(status(&v, 1 + 2 * i), Some(200), "{v}");
    }
    assert!(
        site.metric(
            "ringlb_frontend_h2_connections_total",
            &[("frontend", "www")]
        ) >= 6.0
    );
    assert!(site.metric("ringlb_frontend_h2_streams_total", &[("frontend", "www")]) >= 16.0);
}

/// Two URLs on one connection the way curl 7.88 fetches them (`curl --http2-prior-knowledge
/// URL1 URL2`): curl's SETTINGS and WINDOW_UPDATE, the first GET with the preface, the second
/// on stream 3 once the first response ended, its fields partly taken from the HPACK table
/// the first one filled. (curl 7.88.1 itself fails that second transfer with "Error in the
/// HTTP2 framing layer" before it sends a byte of it, against any server: curl issue 10634,
/// fixed in curl 8.0.) Pinned: every frame ringlb sends, in order, on both listeners.
#[test]
fn a_second_request_after_the_first_ended_is_answered_on_the_same_connection() {
    let site = Site::start("");
    let want = [
        ("SETTINGS", 0, 0),
        ("WINDOW_UPDATE", 0, 0),
        ("SETTINGS", 0, 1),
        ("HEADERS", 1, 4),
        ("DATA", 1, 1),
        ("HEADERS", 3, 4),
        ("DATA", 3, 1),
    ];
    for tls in [false, true] {
        let v = site.probe(tls, "one_after_another", &[]);
        let got: Vec<(String, u64, u64)> = v["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let t = f["type"].as_str().unwrap().to_owned();
                (
                    t,
                    f["stream"].as_u64().unwrap(),
                    f["flags"].as_u64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, u64, u64)> =
            want.iter().map(|&(t, s, f)| (t.to_owned(), s, f)).collect();
        assert_eq!(got, want, "tls {tls}: {v}");
        assert_eq!(status(&v, 1), Some(200), "{v}");
        assert_eq!(status(&v, 3), Some(200), "{v}");
        assert_eq!(v["responses"]["3"]["body"], "web1\n", "{v}");
        assert_eq!(v["closed"], false, "{v}");
    }
    assert_eq!(site.web.requests(), 4);
}

/// Connection errors: (probe case and arguments, the GOAWAY error RFC 9113 requires).
const CONNECTION_ERRORS: &[(&str, &[&str], &str)] = &[
    // §6.1: DATA on stream 0.
    ("data_stream0", &[], "PROTOCOL_ERROR"),
    // §5.1.1: a client opens odd streams only.
    ("headers_even_stream", &[], "PROTOCOL_ERROR"),
    // §6.5.2: ENABLE_PUSH other than 0 or 1; INITIAL_WINDOW_SIZE over 2^31-1
    // (FLOW_CONTROL_ERROR); MAX_FRAME_SIZE outside 2^14..2^24-1.
    ("settings", &["kind=push"], "PROTOCOL_ERROR"),
    ("settings", &["kind=window"], "FLOW_CONTROL_ERROR"),
    ("settings", &["kind=frame_small"], "PROTOCOL_ERROR"),
    ("settings", &["kind=frame_big"], "PROTOCOL_ERROR"),
    // §6.5: a length not a multiple of 6, an ACK with a payload: FRAME_SIZE_ERROR; SETTINGS
    // on a stream: PROTOCOL_ERROR.
    ("settings", &["kind=length"], "FRAME_SIZE_ERROR"),
    ("settings", &["kind=ack_payload"], "FRAME_SIZE_ERROR"),
    ("settings", &["kind=stream"], "PROTOCOL_ERROR"),
    // §6.9: an increment of 0 on the connection; §6.9.1: a window past 2^31-1.
    ("window_update_zero", &["on=conn"], "PROTOCOL_ERROR"),
    ("window_overflow", &[], "FLOW_CONTROL_ERROR"),
    // §4.2: a frame over SETTINGS_MAX_FRAME_SIZE that carries a field block; §6.7: a PING
    // whose length is not 8.
    ("oversized_frame", &["of=headers"], "FRAME_SIZE_ERROR"),
    ("oversized_frame", &["of=ping"], "FRAME_SIZE_ERROR"),
    // §6.10: CONTINUATION without HEADERS, or another frame inside a field block.
    ("continuation_without_headers", &[], "PROTOCOL_ERROR"),
    ("headers_interrupted", &[], "PROTOCOL_ERROR"),
    // §4.3: a field block that cannot be decoded.
    ("bad_hpack", &[], "COMPRESSION_ERROR"),
    // §5.1: RST_STREAM or DATA on an idle stream.
    ("rst_idle_stream", &[], "PROTOCOL_ERROR"),
    ("data_idle_stream", &[], "PROTOCOL_ERROR"),
    // §8.4: a client never pushes.
    ("push_promise", &[], "PROTOCOL_ERROR"),
];

#[test]
fn framing_errors_are_connection_errors_with_the_code_rfc_9113_names() {
    let site = Site::start("");
    let mut failures = Vec::new();
    let mut expected: std::collections::HashMap<&str, f64> = Default::default();
    for (i, (case, args, error)) in CONNECTION_ERRORS.iter().enumerate() {
        // Alternate listeners: the same connection code runs behind both.
        let v = site.probe(i % 2 == 1, case, args);
        if goaway_error(&v) != Some(*error) || v["closed"] != true {
            failures.push(format!(
                "{case} {args:?}: wanted GOAWAY {error} and a close, got goaway {} closed {} \
                 frames {}",
                v["goaway"],
                v["closed"],
                frames(&v)
            ));
        }
        *expected.entry(error).or_default() += 1.0;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(site.web.requests(), 0, "no request reached the server");
    for (error, n) in expected {
        assert_eq!(site.goaways(error), n, "goaway counter of {error}");
    }
}

/// RFC 9113 §5.1.1 makes a HEADERS frame on a stream id lower than one the client already
/// opened, and never used, a connection error PROTOCOL_ERROR: it is never processed as a
/// request, and the streams before it are answered.
#[test]
fn a_headers_frame_on_a_lower_stream_id_is_never_processed() {
    let site = Site::start("");
    let v = site.probe(false, "stream_id_backwards", &[]);
    assert_eq!(status(&v, 5), Some(200), "{v}");
    assert_eq!(status(&v, 3), None, "{v}");
    assert_eq!(goaway_error(&v), Some("PROTOCOL_ERROR"), "{v}");
    assert_eq!(site.web.requests(), 1, "stream 5 only");
}

/// A second HEADERS frame on stream 1, by the stream's state (RFC 9113 §5.1, §8.1): (state,
/// END_STREAM on it, the stream error it gets, the connection error it gets).
const HEADERS_AGAIN: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    // Open, without END_STREAM: not trailers, a malformed request (§8.1.1).
    ("open", "0", Some("PROTOCOL_ERROR"), None),
    // half-closed (remote): the request ended already; a stream error STREAM_CLOSED.
    ("half_closed", "0", Some("STREAM_CLOSED"), None),
    ("half_closed", "1", Some("STREAM_CLOSED"), None),
    // Closed by ringlb's RST_STREAM (its DATA passed its content-length) while the client was
    // still sending: dropped, no second reset.
    ("server_reset", "0", Some("PROTOCOL_ERROR"), None),
    ("server_reset", "1", Some("PROTOCOL_ERROR"), None),
    // Closed by the client's RST_STREAM, or by both ends' END_STREAM: the client broke the
    // protocol; a connection error STREAM_CLOSED.
    ("client_reset", "0", None, Some("STREAM_CLOSED")),
    ("client_reset", "1", None, Some("STREAM_CLOSED")),
    ("closed", "0", None, Some("STREAM_CLOSED")),
    ("closed", "1", None, Some("STREAM_CLOSED")),
];

#[test]
fn headers_on_a_stream_no_longer_open_get_the_error_its_state_calls_for() {
    let site = Site::start("");
    let mut failures = Vec::new();
    for (state, end, stream_error, conn_error) in HEADERS_AGAIN {
        let v = site.probe(
            false,
            "headers_again",
            &[&format!("state={state}"), &format!("end={end}")],
        );
        let resets = v["frames"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["type"] == "RST_STREAM" && f["stream"] == 1)
            .count();
        let ok = reset(&v, 1) == *stream_error
            && resets == usize::from(stream_error.is_some())
            && goaway_error(&v) == *conn_error
            // After a stream error the connection goes on, its HPACK state in step.
            && (conn_error.is_some() || v["after_status"] == 200)
            && (conn_error.is_none() || v["closed"] == true);
        if !ok {
            failures.push(format!(
                "{state} end={end}: wanted reset {stream_error:?} goaway {conn_error:?}, got \
                 resets {} goaway {} closed {} after {} frames {}",
                v["resets"],
                v["goaway"],
                v["closed"],
                v["after_status"],
                frames(&v)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn response_header<'a>(v: &'a Value, stream: u32, name: &str) -> Option<&'a str> {
    v["responses"][stream.to_string()]["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0] == name)
        .and_then(|h| h[1].as_str())
}

/// Request trailers (a HEADERS frame with END_STREAM after the DATA): after a body without
/// `content-length` they go to the server as the trailer section of its chunked body; after
/// one with `content-length`, which HTTP/1.1 cannot follow with trailers, they are dropped,
/// counted and logged; malformed ones (RFC 9113 §8.1) or ones RFC 9110 §6.5.1 keeps out of
/// trailers reset the stream.
#[test]
fn request_trailers_are_forwarded_in_a_chunked_body_or_dropped_and_counted() {
    let site = Site::start("");
    for tls in [false, true] {
        let v = site.probe(tls, "trailers", &["fields=x-checksum:abc|x-more:2"]);
        assert_eq!(status(&v, 1), Some(200), "{v}");
        assert_eq!(response_header(&v, 1, "x-body-len"), Some("5"), "{v}");
        assert_eq!(
            response_header(&v, 1, "x-trailers"),
            Some("x-checksum: abc | x-more: 2"),
            "{v}"
        );
        assert_eq!(v["after_status"], 200, "{v}");
    }
    // No trailer field at all: the chunked body just ends.
    let v = site.probe(false, "trailers", &[]);
    assert_eq!(status(&v, 1), Some(200), "{v}");
    assert_eq!(response_header(&v, 1, "x-trailers"), None, "{v}");

    let dropped = |site: &Site| {
        site.metric(
            "ringlb_frontend_h2_trailers_dropped_total",
            &[("frontend", "www")],
        )
    };
    assert_eq!(dropped(&site), 0.0);
    let v = site.probe(false, "trailers", &["length=1", "fields=x-checksum:abc"]);
    assert_eq!(status(&v, 1), Some(200), "{v}");
    assert_eq!(response_header(&v, 1, "x-body-len"), Some("5"), "{v}");
    assert_eq!(response_header(&v, 1, "x-trailers"), None, "{v}");
    assert_eq!(dropped(&site), 1.0);
    assert!(site.lb.wait_log(
        "stream 1 dropped: the request went to its server with content-length",
        Duration::from_secs(5)
    ));

    for fields in [
        "X-Upper:1",
        "connection:close",
        "host:other.example",
        "content-length:5",
    ] {
        for length in ["0", "1"] {
            let v = site.probe(
                false,
                "trailers",
                &[
                    &format!("fields=x-ok:1|{fields}"),
                    &format!("length={length}"),
                ],
            );
            assert_eq!(reset(&v, 1), Some("PROTOCOL_ERROR"), "{fields}: {v}");
            assert_eq!(response_header(&v, 1, "x-trailers"), None, "{v}");
            assert_eq!(v["after_status"], 200, "{fields}: {v}");
        }
    }
    assert_eq!(dropped(&site), 1.0);
}

#[test]
fn an_invalid_preface_ends_the_connection() {
    let site = Site::start("");
    // §3.4: on TLS with ALPN h2 a wrong preface is a connection error (GOAWAY optional).
    let v = site.probe(true, "bad_preface", &[]);
    assert_eq!(v["closed"], true, "{v}");
    if let Some(e) = v["goaway"]["error"].as_str() {
        assert_eq!(e, "PROTOCOL_ERROR", "{v}");
    }
    assert_eq!(site.web.requests(), 0);
}

/// Malformed requests (RFC 9113 §8.1.1, §8.2, §8.3): a stream error, the connection goes on.
const MALFORMED: &[(&str, &[&str])] = &[
    ("malformed", &["kind=uppercase"]),
    ("malformed", &["kind=connection"]),
    ("malformed", &["kind=keep_alive"]),
    ("malformed", &["kind=transfer_encoding"]),
    ("malformed", &["kind=upgrade"]),
    ("malformed", &["kind=te_gzip"]),
    ("malformed", &["kind=name_space"]),
    ("malformed", &["kind=value_newline"]),
    ("malformed", &["kind=no_method"]),
    ("malformed", &["kind=no_path"]),
    ("malformed", &["kind=no_scheme"]),
    ("malformed", &["kind=empty_path"]),
    ("malformed", &["kind=unknown_pseudo"]),
    ("malformed", &["kind=status_in_request"]),
    ("malformed", &["kind=pseudo_after_regular"]),
    ("malformed", &["kind=duplicate_path"]),
    ("content_length", &["mode=short"]),
    ("content_length", &["mode=long"]),
];

#[test]
fn malformed_requests_are_stream_errors_and_never_reach_the_server() {
    let site = Site::start("");
    let mut failures = Vec::new();
    let mut after = 0;
    let mut forwarded_bodies = 0;
    for (i, (case, args)) in MALFORMED.iter().enumerate() {
        let v = site.probe(i % 2 == 0, case, args);
        let refused = reset(&v, 1) == Some("PROTOCOL_ERROR") || status(&v, 1) == Some(400);
        if !refused || v["goaway"] != Value::Null || v["after_status"] != 200 {
            failures.push(format!(
                "{case} {args:?}: wanted RST_STREAM PROTOCOL_ERROR or 400 on stream 1 and a \
                 working connection, got resets {} responses {} goaway {} after {}",
                v["resets"], v["responses"], v["goaway"], v["after_status"]
            ));
        }
        after += 1;
        // A content-length mismatch is seen only as the body arrives: the head may have been
        // sent on already (the server then sees the request cut short, never completed).
        if *case == "content_length" {
            forwarded_bodies += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let seen = site.web.requests();
    assert!(
        seen >= after && seen <= after + forwarded_bodies,
        "the server saw {seen} requests: only the {after} well-formed ones belong there"
    );
}

#[test]
fn stream_level_errors_reset_the_stream_only() {
    let site = Site::start("");
    // §6.9: a WINDOW_UPDATE of 0 on a stream is a stream error.
    let v = site.probe(false, "window_update_zero", &["on=stream"]);
    assert_eq!(reset(&v, 1), Some("PROTOCOL_ERROR"), "{v}");
    assert_eq!(v["goaway"], Value::Null, "{v}");
    assert_eq!(v["after_status"], 200, "{v}");
    // §4.2: an oversized DATA frame: FRAME_SIZE_ERROR, for the stream or the connection.
    let v = site.probe(true, "oversized_frame", &["of=data"]);
    let code = reset(&v, 1).or(goaway_error(&v));
    assert_eq!(code, Some("FRAME_SIZE_ERROR"), "{v}");
    // §5.5, §5.3.2: unknown frame types and priority signals are ignored.
    let v = site.probe(false, "ignored_frames", &[]);
    assert_eq!(status(&v, 1), Some(200), "{v}");
    assert_eq!(v["after_status"], 200, "{v}");
}

#[test]
fn rapid_reset_ends_the_connection_with_enhance_your_calm() {
    let site = Site::start("max_resets = 20\nflood_window = \"10s\"");
    let v = site.probe(false, "rapid_reset", &["n=1000"]);
    assert_eq!(
        goaway_error(&v),
        Some("ENHANCE_YOUR_CALM"),
        "{}",
        frames(&v)
    );
    assert!(v["sent"].as_u64().unwrap() < 1000, "stopped early: {v}");
    assert_eq!(site.limit("rapid_reset"), 1.0);
    assert_eq!(site.goaways("ENHANCE_YOUR_CALM"), 1.0);
    assert!(site.lb.wait_log("rapid_reset", Duration::from_secs(5)));
    // A client that resets a few streams is left alone.
    let v = site.probe(true, "rapid_reset", &["n=10"]);
    assert_eq!(v["goaway"], Value::Null, "{v}");
    assert_eq!(site.limit("rapid_reset"), 1.0);
}

#[test]
fn continuation_flood_ends_the_connection() {
    let site = Site::start("max_continuation_frames = 8");
    for args in [&["n=5000"][..], &["n=5000", "empty=1"][..]] {
        let v = site.probe(false, "continuation_flood", args);
        assert_eq!(
            goaway_error(&v),
            Some("ENHANCE_YOUR_CALM"),
            "{args:?}: {}",
            frames(&v)
        );
        assert_eq!(v["closed"], true);
    }
    assert_eq!(site.limit("continuation"), 2.0);
    assert_eq!(site.web.requests(), 0);
}

#[test]
fn oversized_header_lists_and_hpack_bombs_are_refused() {
    let site = Site::start("max_header_list_size = 4096");
    let mut answered = 1;
    assert_eq!(
        site.probe(false, "get", &[])["settings"]["6"],
        4096,
        "SETTINGS_MAX_HEADER_LIST_SIZE announced"
    );
    // 8 KB of fields in HEADERS + CONTINUATION: 431, or the connection ends.
    let v = site.probe(false, "header_list", &["size=8000"]);
    let refused = status(&v, 1) == Some(431) || goaway_error(&v) == Some("ENHANCE_YOUR_CALM");
    assert!(refused, "{v}");
    answered += u64::from(v["after_status"] == 200);
    // A 4 KB field stored once and referenced 4,000 times (16 MB decoded from 12 KB).
    let v = site.probe(true, "hpack_bomb", &["refs=4000"]);
    let refused = status(&v, 1) == Some(431)
        || matches!(
            goaway_error(&v),
            Some("ENHANCE_YOUR_CALM" | "COMPRESSION_ERROR")
        );
    assert!(refused, "{v}");
    answered += u64::from(v["after_status"] == 200);
    assert_eq!(site.limit("header_list"), 2.0);
    assert_eq!(
        site.web.requests(),
        answered,
        "only the plain GETs reached the server"
    );
    // ringlb is fine afterwards.
    assert_eq!(status(&site.probe(false, "get", &[]), 1), Some(200));
}

#[test]
fn settings_and_ping_floods_end_the_connection() {
    let site = Site::start("max_settings = 20\nmax_pings = 20\nflood_window = \"10s\"");
    let v = site.probe(false, "settings_flood", &["n=2000"]);
    assert_eq!(
        goaway_error(&v),
        Some("ENHANCE_YOUR_CALM"),
        "{}",
        frames(&v)
    );
    let v = site.probe(true, "ping_flood", &["n=2000"]);
    assert_eq!(
        goaway_error(&v),
        Some("ENHANCE_YOUR_CALM"),
        "{}",
        frames(&v)
    );
    assert_eq!(site.limit("settings_flood"), 1.0);
    assert_eq!(site.limit("ping_flood"), 1.0);
    assert_eq!(site.goaways("ENHANCE_YOUR_CALM"), 2.0);
    // Within the limit, every PING is answered.
    let v = site.probe(false, "ping_flood", &["n=10"]);
    assert_eq!(v["goaway"], Value::Null, "{v}");
}

#[test]
fn a_response_stalled_on_a_zero_window_is_reset() {
    let site = Site::start("zero_window_timeout = \"1s\"");
    let v = site.probe(false, "zero_window", &["size=100000", "wait=20"]);
    assert_eq!(
        status(&v, 1),
        Some(200),
        "the head is not flow-controlled: {v}"
    );
    assert_eq!(v["responses"]["1"]["body_len"], 0, "{v}");
    assert!(reset(&v, 1).is_some(), "the stalled stream is reset: {v}");
    assert!(
        v["elapsed"].as_f64().unwrap() >= 1.0,
        "not before its time: {v}"
    );
    assert_eq!(site.limit("zero_window"), 1.0);
}

#[test]
fn streams_past_max_concurrent_streams_are_refused() {
    let site = Site::start("max_concurrent_streams = 4");
    let v = site.probe(false, "concurrent", &["n=10", "delay=1000"]);
    assert_eq!(
        v["settings"]["3"], 4,
        "SETTINGS_MAX_CONCURRENT_STREAMS announced: {v}"
    );
    assert_eq!(v["ok"], 4, "{v}");
    assert_eq!(v["refused"], 6, "{v}");
    for i in 4..10 {
        assert_eq!(reset(&v, 1 + 2 * i), Some("REFUSED_STREAM"), "{v}");
    }
    assert_eq!(v["goaway"], Value::Null);
    assert_eq!(site.limit("concurrent_streams"), 6.0);
    assert_eq!(
        site.web.requests(),
        4,
        "refused streams never reach the server"
    );
}

#[test]
fn idle_and_unfinished_connections_time_out() {
    let site = Site::start("idle_timeout = \"1s\"\nrequest_timeout = \"1s\"");
    let v = site.probe(false, "idle", &["wait=20"]);
    assert_eq!(v["closed"], true, "{v}");
    assert_eq!(goaway_error(&v), Some("NO_ERROR"), "{v}");
    assert!(
        v["elapsed"].as_f64().unwrap() >= 1.0,
        "not before its time: {v}"
    );
    assert_eq!(site.limit("idle_timeout"), 1.0);

    // A field block never finished, a preface never finished.
    let v = site.probe(true, "request_timeout", &["mode=headers", "wait=20"]);
    assert_eq!(v["closed"], true, "{v}");
    assert!(v["elapsed"].as_f64().unwrap() >= 1.0, "{v}");
    let v = site.probe(true, "slow_preface", &["wait=20"]);
    assert_eq!(v["closed"], true, "{v}");
    assert_eq!(site.limit("request_timeout"), 2.0);
    assert_eq!(site.web.requests(), 0);
}

/// Opens five slow streams; `act` then upgrades or stops ringlb and returns the pid that is
/// left to stop (or none) and how many requests of its own it sent to the backend. Checks the GOAWAY and that nothing opened before it was
/// lost.
fn goaway_loses_nothing(act: impl FnOnce(&mut Site) -> (Option<u32>, u64)) {
    let mut site = Site::start("");
    let mut child = site
        .probe_cmd(false, "goaway_drain", &["n=5", "delay=1500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run h2probe.py");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "opened");
    assert!(
        wait_until(Duration::from_secs(10), || site.web.active() >= 5),
        "the five streams reached the server"
    );
    let (successor, own) = act(&mut site);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    if let Some(pid) = successor {
        signal_pid(pid, libc::SIGTERM);
        assert!(wait_until(Duration::from_secs(20), || !Path::new(
            &format!("/proc/{pid}")
        )
        .exists()));
    }
    let v = parse_probe("goaway_drain", rest.as_bytes(), &out.stderr);
    let goaways = v["goaways"].as_array().cloned().unwrap_or_default();
    assert!(!goaways.is_empty(), "no GOAWAY: {v}");
    assert!(goaways.iter().all(|g| g["error"] == "NO_ERROR"), "{v}");
    // RFC 9113 §6.8: a graceful close may first name 2^31-1; a stream sent then is still
    // processed and named by the final GOAWAY.
    let graceful = goaways[0]["last_stream_id"] == 0x7FFF_FFFF;
    let last = if graceful { 11 } else { 9 };
    assert_eq!(
        goaways.last().unwrap()["last_stream_id"],
        last,
        "the final GOAWAY names the last stream processed: {v}"
    );
    for s in (1..=last).step_by(2) {
        assert_eq!(status(&v, s), Some(200), "stream {s}: {v}");
        assert_eq!(v["responses"][s.to_string()]["ended"], true, "{v}");
    }
    assert_eq!(v["mid_answered"], graceful, "{v}");
    assert_eq!(
        v["late_answered"], false,
        "a stream after the final GOAWAY is not processed: {v}"
    );
    assert_eq!(v["closed"], true, "{v}");
    let own = own + u64::from(graceful);
    assert_eq!(site.web.requests(), 5 + own);
}

#[test]
fn goaway_on_shutdown_drains_the_streams_in_flight() {
    goaway_loses_nothing(|site| {
        site.lb.signal(libc::SIGTERM);
        (None, 0)
    });
}

#[test]
fn goaway_on_binary_upgrade_drains_the_streams_in_flight() {
    goaway_loses_nothing(|site| {
        site.lb.signal(libc::SIGUSR2);
        let msg = site
            .lb
            .wait_notify_any("MAINPID=", Duration::from_secs(20))
            .expect("the new process announces MAINPID=");
        let pid = msg
            .lines()
            .find_map(|l| l.strip_prefix("MAINPID="))
            .and_then(|v| v.trim().parse().ok())
            .expect("MAINPID value");
        // The new process serves new connections meanwhile.
        let v = site.probe(false, "get", &[]);
        assert_eq!(status(&v, 1), Some(200), "{v}");
        (Some(pid), 1)
    });
}

/// A reload applies to the next stream, as to the next HTTP/1.1 request: the connection is
/// kept, the streams in flight finish on the config they started with, the next one uses
/// the new config.
#[test]
fn a_reload_keeps_h2_connections_and_loses_nothing() {
    let site = Site::start("");
    let web2 = Backend::start("web2");
    let mut child = site
        .probe_cmd(false, "across_reload", &["n=5", "delay=1500"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run h2probe.py");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "opened");
    assert!(wait_until(Duration::from_secs(10), || site.web.active() >= 5));
    let config = std::fs::read_to_string(site.lb.config_path()).unwrap();
    site.lb.write_config(
        &config
            .replace("name = \"web1\"", "name = \"web2\"")
            .replace(&site.web.addr().to_string(), &web2.addr().to_string()),
    );
    site.lb.signal(libc::SIGHUP);
    assert!(site.lb.wait_log("reload done", Duration::from_secs(10)));
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let v = parse_probe("across_reload", rest.as_bytes(), &out.stderr);
    assert_eq!(v["goaway"], Value::Null, "{v}");
    let backend = |s: u32| {
        v["responses"][s.to_string()]["headers"]
            .as_array()
            .and_then(|h| h.iter().find(|f| f[0] == "x-backend"))
            .map(|f| f[1].as_str().unwrap_or_default().to_owned())
    };
    for s in [1, 3, 5, 7, 9] {
        assert_eq!(status(&v, s), Some(200), "stream {s}: {v}");
        assert_eq!(backend(s).as_deref(), Some("web1"), "{v}");
    }
    assert_eq!(status(&v, 11), Some(200), "{v}");
    assert_eq!(backend(11).as_deref(), Some("web2"), "the new config: {v}");
    assert_eq!((site.web.requests(), web2.requests()), (5, 1));
}
