//! ACL routing through the real binary: every condition, and/or/not, and path normalisation
//! that must not let `/%69mages/` or `/x/../images/` bypass a `/images` rule.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::net::SocketAddr;

use common::*;

struct Farm {
    _lb: Ringlb,
    addr: SocketAddr,
    _b: Vec<Backend>,
}

fn farm() -> Farm {
    let names = ["app", "static", "api", "office", "admin", "beta"];
    let backends: Vec<Backend> = names.iter().map(|n| Backend::start(n)).collect();
    let port = free_port();
    let mut cfg = format!(
        r#"
[global]
workers = 1
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "app"
[frontend.www.acl]
static = "path_beg /images/ /static/"
styles = "path_end .css .js"
api_host = "host api.example.com"
ours = "host_end .example.org"
office = "src 127.0.0.2/32 10.0.0.0/8"
deleting = "method DELETE"
beta = "hdr(X-Beta) yes"
secret = "path /admin"
regex = "path_reg ^/v[0-9]+/"
[[frontend.www.route]]
backend = "admin"
if = "secret office"
[[frontend.www.route]]
backend = "static"
if = "static || styles"
[[frontend.www.route]]
backend = "api"
if = "api_host || regex || deleting"
[[frontend.www.route]]
backend = "office"
if = "office !beta"
[[frontend.www.route]]
backend = "beta"
if = "beta || ours"
"#
    );
    for (n, b) in names.iter().zip(&backends) {
        cfg.push_str(&format!(
            "[backend.{n}]\n[[backend.{n}.server]]\nname = \"{n}1\"\naddress = \"{}\"\n",
            b.addr()
        ));
    }
    let lb = Ringlb::start(&cfg);
    Farm {
        _lb: lb,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _b: backends,
    }
}

fn who(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut c = Client::connect(addr).expect("connect");
    let r = c.request(method, path, headers, b"").expect("response");
    assert_eq!(r.status, 200, "{method} {path}");
    r.backend().unwrap_or_default().to_string()
}

fn who_from(addr: SocketAddr, src: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut c = Client::connect_from(addr, src.parse().expect("ip")).expect("connect");
    let r = c.request("GET", path, headers, b"").expect("response");
    r.backend().unwrap_or_default().to_string()
}

#[test]
fn every_condition_routes() {
    let f = farm();
    let a = f.addr;
    assert_eq!(who(a, "GET", "/", &[]), "app");
    assert_eq!(who(a, "GET", "/images/logo.png", &[]), "static");
    assert_eq!(who(a, "GET", "/static/app.js?v=3", &[]), "static");
    assert_eq!(who(a, "GET", "/theme/site.css", &[]), "static", "path_end");
    assert_eq!(
        who(a, "GET", "/theme/site.css?x=1", &[]),
        "static",
        "query ignored"
    );
    assert_eq!(
        who(a, "GET", "/x", &[("Host", "api.example.com")]),
        "api",
        "host"
    );
    assert_eq!(
        who(a, "GET", "/x", &[("Host", "API.Example.com:8080")]),
        "api",
        "host ignores case and port"
    );
    assert_eq!(who(a, "GET", "/v2/users", &[]), "api", "path_reg");
    assert_eq!(who(a, "DELETE", "/thing", &[]), "api", "method");
    assert_eq!(
        who(a, "GET", "/x", &[("Host", "www.example.org")]),
        "beta",
        "host_end"
    );
    assert_eq!(who(a, "GET", "/x", &[("X-Beta", "yes")]), "beta", "hdr");
    assert_eq!(who(a, "GET", "/x", &[("X-Beta", "no")]), "app");
}

#[test]
fn source_and_negation_and_precedence() {
    let f = farm();
    let a = f.addr;
    assert_eq!(who_from(a, "127.0.0.2", "/x", &[]), "office", "src");
    assert_eq!(who_from(a, "127.0.0.3", "/x", &[]), "app");
    assert_eq!(
        who_from(a, "127.0.0.2", "/x", &[("X-Beta", "yes")]),
        "beta",
        "office !beta"
    );
    assert_eq!(
        who_from(a, "127.0.0.2", "/admin", &[]),
        "admin",
        "secret AND office"
    );
    assert_eq!(
        who_from(a, "127.0.0.3", "/admin", &[]),
        "app",
        "secret without office"
    );
}

#[test]
fn normalised_paths_cannot_bypass_a_rule() {
    let f = farm();
    let a = f.addr;
    assert_eq!(
        who(a, "GET", "/%69mages/logo.png", &[]),
        "static",
        "percent-encoded unreserved"
    );
    assert_eq!(
        who(a, "GET", "/x/../images/logo.png", &[]),
        "static",
        "dot segments"
    );
    assert_eq!(who(a, "GET", "/./static/a", &[]), "static");
    assert_eq!(
        who(a, "GET", "/images/../app", &[]),
        "app",
        "leaving the prefix"
    );
    assert_eq!(who_from(a, "127.0.0.2", "/%61dmin", &[]), "admin");
    assert_eq!(
        who_from(a, "127.0.0.2", "/x/%2e%2e/admin", &[]),
        "admin",
        "encoded dots"
    );
    // A malformed escape cannot be matched: refused rather than guessed.
    let raw = raw_exchange(a, b"GET /images/%zz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        raw.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}
