//! Error pages (`errorfile`) through the real binary: one test per status ringlb can be made
//! to answer here, the backend's page winning over the frontend's, and errorfiles checked at
//! start and reload (a bad one is a config error at its line, with its path).

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::backend::Wire;
use common::*;

const STATUSES: [u16; 8] = [400, 403, 408, 429, 500, 502, 503, 504];

/// Writes an errorfile for each status in HAProxy's format (LF line ends, as many are
/// written by hand) and returns the directory.
fn pages(tag: &str) -> PathBuf {
    let dir = unique_dir("errorfiles");
    for s in STATUSES {
        let body = format!("<p>{tag} page {s}</p>\n");
        let text = format!(
            "HTTP/1.0 {s} Custom\nCache-Control: no-cache\nConnection: close\nContent-Type: text/html\n\n{body}"
        );
        std::fs::write(dir.join(format!("{s}.http")), text).unwrap();
    }
    dir
}

fn errorfile_table(section: &str, dir: &Path) -> String {
    let mut t = format!("[{section}.errorfile]\n");
    for s in STATUSES {
        t.push_str(&format!(
            "{s} = \"{}\"\n",
            dir.join(format!("{s}.http")).display()
        ));
    }
    t
}

/// A backend that answers every request head with garbage.
fn garbage() -> RawBackend {
    RawBackend::start(|s| {
        let Ok(mut out) = s.try_clone() else { return };
        let mut wire = Wire::new(s);
        if let Ok(Some(_)) = wire.read_head() {
            let _ = out.write_all(b"this is not http\r\n\r\n");
        }
    })
}

struct Farm {
    lb: Ringlb,
    addr: SocketAddr,
    _web: Backend,
    _bad: RawBackend,
    _down: RefusingAddr,
    cfg: String,
}

fn farm(front: &Path, back: Option<&Path>) -> Farm {
    let web = Backend::start("web1");
    let bad = garbage();
    let down = RefusingAddr::new();
    let port = free_port();
    let cfg = format!(
        r#"
[global]
workers = 1
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
timeout = {{ http_request = "300ms" }}
[[frontend.www.route]]
backend = "bad"
if = "{{ path_beg /bad }}"
[[frontend.www.route]]
backend = "down"
if = "{{ path_beg /down }}"
[[frontend.www.request_rule]]
action = "deny"
if = "{{ path_beg /forbidden }}"
[[frontend.www.request_rule]]
action = "deny"
status = 429
if = "{{ path_beg /flood }}"
[[frontend.www.request_rule]]
action = "deny"
status = 500
if = "{{ path_beg /broken }}"
{front_pages}
[backend.web]
timeout = {{ server = "300ms" }}
[[backend.web.server]]
name = "web1"
address = "{web}"
[backend.bad]
[[backend.bad.server]]
name = "bad1"
address = "{bad}"
[backend.down]
retries = 0
[[backend.down.server]]
name = "down1"
address = "{down}"
{back_pages}
"#,
        front_pages = errorfile_table("frontend.www", front),
        back_pages = back.map_or(String::new(), |d| errorfile_table("backend.down", d)),
        web = web.addr(),
        bad = bad.addr(),
        down = down.addr(),
    );
    let lb = Ringlb::start(&cfg);
    Farm {
        lb,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _web: web,
        _bad: bad,
        _down: down,
        cfg,
    }
}

/// Asserts that the answer is the errorfile: status, body, framing set by ringlb, closed.
fn assert_page(mut c: Client, r: std::io::Result<Response>, status: u16, tag: &str) {
    let r = r.unwrap_or_else(|e| panic!("{status}: {e}"));
    assert_eq!(r.status, status);
    assert_eq!(r.reason, "Custom");
    assert_eq!(r.body_str(), format!("<p>{tag} page {status}</p>\n"));
    assert_eq!(r.header("content-length"), Some(&*r.body.len().to_string()));
    assert_eq!(r.header_all("connection"), vec!["close"]);
    assert!(
        c.is_closed(Duration::from_secs(3)),
        "{status}: connection left open"
    );
}

fn get(f: &Farm, path: &str, headers: &[(&str, &str)]) -> (Client, std::io::Result<Response>) {
    let mut c = Client::connect(f.addr).unwrap();
    let r = c.request("GET", path, headers, b"");
    (c, r)
}

#[test]
fn page_400_for_a_malformed_request() {
    let f = farm(&pages("fe"), None);
    let mut c = Client::connect(f.addr).unwrap();
    c.send_raw(b"GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n")
        .unwrap();
    let r = c.read_response(false);
    assert_page(c, r, 400, "fe");
}

#[test]
fn page_403_for_a_deny() {
    let f = farm(&pages("fe"), None);
    let (c, r) = get(&f, "/forbidden", &[]);
    assert_page(c, r, 403, "fe");
}

#[test]
fn page_408_for_a_request_too_slow() {
    let f = farm(&pages("fe"), None);
    let mut c = Client::connect(f.addr).unwrap();
    c.send_raw(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let r = c.read_response(false);
    assert_page(c, r, 408, "fe");
}

#[test]
fn page_429_and_500_for_denies_with_a_status() {
    let f = farm(&pages("fe"), None);
    let (c, r) = get(&f, "/flood", &[]);
    assert_page(c, r, 429, "fe");
    let (c, r) = get(&f, "/broken", &[]);
    assert_page(c, r, 500, "fe");
}

#[test]
fn page_502_for_a_bad_response() {
    let f = farm(&pages("fe"), None);
    let (c, r) = get(&f, "/bad", &[]);
    assert_page(c, r, 502, "fe");
}

#[test]
fn page_503_for_no_server() {
    let f = farm(&pages("fe"), None);
    let (c, r) = get(&f, "/down", &[]);
    assert_page(c, r, 503, "fe");
}

#[test]
fn page_504_for_a_silent_server() {
    let f = farm(&pages("fe"), None);
    let (c, r) = get(&f, "/", &[("X-Hang", "1")]);
    assert_page(c, r, 504, "fe");
}

#[test]
fn the_backends_page_wins_for_its_requests() {
    let f = farm(&pages("fe"), Some(&pages("be")));
    let (c, r) = get(&f, "/down", &[]);
    assert_page(c, r, 503, "be");
    // Refused before a backend was chosen: the frontend's page.
    let (c, r) = get(&f, "/forbidden", &[]);
    assert_page(c, r, 403, "fe");
}

#[test]
fn a_failed_reload_keeps_the_old_pages_and_a_good_one_replaces_them() {
    let dir = pages("one");
    let mut f = farm(&dir, None);
    let path_503 = dir.join("503.http");
    // A page that no longer parses: the reload is refused, the page in memory stays.
    std::fs::write(&path_503, "<h1>only a body</h1>\n").unwrap();
    f.lb.write_config(&f.cfg);
    f.lb.signal(libc::SIGHUP);
    let ready =
        f.lb.wait_notify("READY=1", Duration::from_secs(10))
            .unwrap();
    assert!(ready.contains("reload failed"), "{ready}");
    let (c, r) = get(&f, "/down", &[]);
    assert_page(c, r, 503, "one");
    // A good page is read at the next reload.
    std::fs::write(
        &path_503,
        "HTTP/1.1 503 Custom\r\nContent-Type: text/html\r\n\r\n<p>two page 503</p>\n",
    )
    .unwrap();
    f.lb.signal(libc::SIGHUP);
    let ready =
        f.lb.wait_notify("READY=1", Duration::from_secs(10))
            .unwrap();
    assert!(!ready.contains("reload failed"), "{ready}");
    let (c, r) = get(&f, "/down", &[]);
    assert_page(c, r, 503, "two");
}

#[test]
fn missing_or_malformed_errorfiles_are_config_errors_at_their_line() {
    let dir = unique_dir("errorfiles-bad");
    let broken = dir.join("broken.http");
    std::fs::write(&broken, "HTTP/1.1 503 x\r\nContent-Length: 99\r\n\r\nshort").unwrap();
    let web = Backend::start("web1");
    let base = format!(
        "[frontend.www]\nbind = \"127.0.0.1:{}\"\ndefault_backend = \"web\"\n[backend.web]\n[[backend.web.server]]\nname = \"web1\"\naddress = \"{}\"\n",
        free_port(),
        web.addr()
    );
    for (table, message) in [
        (
            "[frontend.www.errorfile]\n503 = \"/nonexistent/ringlb/503.http\"\n",
            "cannot read errorfile \"/nonexistent/ringlb/503.http\"",
        ),
        (
            &*format!("[backend.web.errorfile]\n503 = \"{}\"\n", broken.display()),
            "Content-Length says 99 but the body after the empty line has 5 bytes",
        ),
        (
            "[frontend.www.errorfile]\n302 = \"/x\"\n",
            "no error page for status \"302\"",
        ),
    ] {
        let cfg = format!("{base}{table}");
        let out = Ringlb::run_cli(&["check", "-c", "{config}"], &cfg);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        let line = cfg.lines().count();
        assert!(
            err.contains(&format!("ringlb.toml:{line}:")) && err.contains(message),
            "expected line {line} and {message:?} in:\n{err}"
        );
    }
}
