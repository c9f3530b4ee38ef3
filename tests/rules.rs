//! Header rules through the real binary: one test per action, conditions, order, backend
//! rules, response rules, reload, and rule errors reported at file:line:col.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

/// A frontend `www` on a free port with backend `web` (and `other`), plus `extra` TOML.
fn site(web: &Backend, other: &Backend, extra: &str) -> (String, SocketAddr) {
    let port = free_port();
    let cfg = format!(
        r#"
[global]
workers = 1
[log]
target = "stdout"
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
log = true
[frontend.www.acl]
api = "path_beg /api/"
office = "src 127.0.0.2/32"
[[frontend.www.route]]
backend = "other"
if = "{{ path_beg /other/ }}"
[backend.web]
[[backend.web.server]]
name = "web1"
address = "{}"
[backend.other]
[[backend.other.server]]
name = "other1"
address = "{}"
{extra}
"#,
        web.addr(),
        other.addr()
    );
    (cfg, SocketAddr::from(([127, 0, 0, 1], port)))
}

struct Farm {
    lb: Ringlb,
    addr: SocketAddr,
    web: Backend,
    _other: Backend,
}

fn farm(extra: &str) -> Farm {
    let web = Backend::start("web1");
    let other = Backend::start("other1");
    let (cfg, addr) = site(&web, &other, extra);
    let lb = Ringlb::start(&cfg);
    Farm {
        lb,
        addr,
        web,
        _other: other,
    }
}

/// The request head the backend received (it echoes it as its body).
fn echoed(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> String {
    let mut h = headers.to_vec();
    h.push(("X-Echo-Headers", "1"));
    let r = http_get(addr, path, &h);
    assert_eq!(r.status, 200, "{path}: {}", r.body_str());
    r.body_str()
}

fn field<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

#[test]
fn set_header_replaces_every_field_of_that_name() {
    let f = farm(
        r#"
[[frontend.www.request_rule]]
action = "set_header"
name = "X-Forwarded-Proto"
value = "https"
"#,
    );
    let head = echoed(
        f.addr,
        "/",
        &[("X-Forwarded-Proto", "http"), ("x-forwarded-proto", "ftp")],
    );
    assert_eq!(field(&head, "x-forwarded-proto"), vec!["https"], "{head}");
}

#[test]
fn add_header_keeps_the_fields_already_there() {
    let f = farm(
        r#"
[[frontend.www.request_rule]]
action = "add_header"
name = "X-Via"
value = "ringlb"
"#,
    );
    let head = echoed(f.addr, "/", &[("X-Via", "client")]);
    assert_eq!(field(&head, "x-via"), vec!["client", "ringlb"], "{head}");
}

#[test]
fn del_header_removes_every_field_of_that_name() {
    let f = farm(
        r#"
[[frontend.www.request_rule]]
action = "del_header"
name = "X-Internal"
"#,
    );
    let head = echoed(
        f.addr,
        "/",
        &[("X-Internal", "a"), ("Other", "b"), ("x-internal", "c")],
    );
    assert!(field(&head, "x-internal").is_empty(), "{head}");
    assert_eq!(field(&head, "other"), vec!["b"]);
}

#[test]
fn replace_header_rewrites_the_whole_value_with_captures() {
    let f = farm(
        r#"
[[frontend.www.request_rule]]
action = "replace_header"
name = "Host"
regex = '^www\.(.*)$'
replace = "static.$1"
"#,
    );
    let head = echoed(f.addr, "/", &[("Host", "www.example.com")]);
    assert_eq!(field(&head, "host"), vec!["static.example.com"], "{head}");
    let head = echoed(f.addr, "/", &[("Host", "api.example.com")]);
    assert_eq!(field(&head, "host"), vec!["api.example.com"], "{head}");
}

#[test]
fn set_path_and_set_query_edit_the_request_line() {
    let f = farm(
        r#"
[[frontend.www.request_rule]]
action = "set_path"
value = "/v2/items"
if = "{ path_beg /v1/ }"
[[frontend.www.request_rule]]
action = "set_query"
value = "lang=en"
if = "{ path_beg /q }"
[[frontend.www.request_rule]]
action = "set_query"
value = ""
if = "{ path_beg /noquery }"
"#,
    );
    let head = echoed(f.addr, "/v1/items?page=2", &[]);
    assert!(
        head.starts_with("GET /v2/items?page=2 HTTP/1.1\r\n"),
        "{head}"
    );
    let head = echoed(f.addr, "/q?x=1", &[]);
    assert!(head.starts_with("GET /q?lang=en HTTP/1.1\r\n"), "{head}");
    let head = echoed(f.addr, "/noquery?secret=1", &[]);
    assert!(head.starts_with("GET /noquery HTTP/1.1\r\n"), "{head}");
}

#[test]
fn redirects_answer_without_a_server() {
    let f = farm(
        r#"
[[frontend.www.request_rule]]
action = "redirect"
scheme = "https"
code = 301
if = "!{ ssl_fc } { path_beg /secure/ }"
[[frontend.www.request_rule]]
action = "redirect"
prefix = "https://new.example.com"
code = 308
drop_query = true
if = "{ path_beg /moved/ }"
[[frontend.www.request_rule]]
action = "redirect"
location = "/login"
if = "{ path /account }"
"#,
    );
    let mut c = Client::connect(f.addr).unwrap();
    let r = c
        .request("GET", "/secure/x?a=1", &[("Host", "shop.example.com")], b"")
        .unwrap();
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://shop.example.com/secure/x?a=1")
    );
    // The connection stays open for the next request.
    let r = c.request("GET", "/moved/page?a=1", &[], b"").unwrap();
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some("https://new.example.com/moved/page")
    );
    let r = c.request("GET", "/account", &[], b"").unwrap();
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/login"));
    let r = c.request("GET", "/plain", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        f.web.requests(),
        1,
        "only the request no rule answered reached a server"
    );
}

#[test]
fn deny_answers_with_its_status_and_is_logged() {
    let f = farm(
        r#"
[[frontend.www.request_rule]]
action = "deny"
if = "{ path_beg /admin } !office"
[[frontend.www.request_rule]]
action = "deny"
status = 429
if = "{ hdr(X-Flood) yes }"
"#,
    );
    let r = http_get(f.addr, "/admin/x", &[]);
    assert_eq!(r.status, 403);
    assert!(r.body_str().contains("403 Forbidden"));
    let r = http_get(f.addr, "/", &[("X-Flood", "yes")]);
    assert_eq!(r.status, 429);
    // From the office network the same path is served.
    let mut c = Client::connect_from(f.addr, "127.0.0.2".parse().unwrap()).unwrap();
    assert_eq!(c.get("/admin/x").unwrap().status, 200);
    assert_eq!(f.web.requests(), 1);
    // Logged like ringlb's other refusals: status 403, termination code PR, no server.
    assert!(
        f.lb.wait_log(" 403 ", Duration::from_secs(5))
            && f.lb.wait_log(" PR", Duration::from_secs(5)),
        "a denied request is logged: {}",
        f.lb.stdout()
    );
}

#[test]
fn return_answers_with_an_inline_or_file_body() {
    let dir = unique_dir("rules-return");
    let file = dir.join("maintenance.html");
    std::fs::write(&file, "<h1>back soon</h1>\n").unwrap();
    let f = farm(&format!(
        r#"
[[frontend.www.request_rule]]
action = "return"
status = 200
content_type = "text/plain"
body = "pong\n"
if = "{{ path /ping }}"
[[frontend.www.request_rule]]
action = "return"
status = 503
content_type = "text/html"
file = "{}"
if = "{{ path_beg /maint }}"
"#,
        file.display()
    ));
    let mut c = Client::connect(f.addr).unwrap();
    let r = c.get("/ping").unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "pong\n"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = c.get("/maint").unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.body_str(), "<h1>back soon</h1>\n");
    // HEAD gets the head alone, and the connection stays in step for the next request.
    let r = c.request("HEAD", "/ping", &[], b"").unwrap();
    assert_eq!((r.status, r.header("content-length")), (200, Some("5")));
    assert_eq!(c.get("/ping").unwrap().body_str(), "pong\n");
    assert_eq!(f.web.requests(), 0);
}

#[test]
fn response_rules_set_hsts_and_hide_the_server() {
    let f = farm(
        r#"
[[frontend.www.response_rule]]
action = "set_header"
name = "Strict-Transport-Security"
value = "max-age=31536000"
[[frontend.www.response_rule]]
action = "del_header"
name = "Server"
[[frontend.www.response_rule]]
action = "add_header"
name = "X-Api"
value = "1"
if = "api"
[[frontend.www.response_rule]]
action = "replace_header"
name = "X-Backend"
regex = '^(.*)1$'
replace = "$1-one"
"#,
    );
    let r = http_get(f.addr, "/", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert_eq!(r.header("server"), None);
    assert_eq!(r.header("x-api"), None);
    assert_eq!(r.header("x-backend"), Some("web-one"));
    let r = http_get(f.addr, "/api/x", &[]);
    assert_eq!(
        r.header("x-api"),
        Some("1"),
        "a response rule's condition tests the request"
    );
}

#[test]
fn rules_run_in_order_frontend_then_backend() {
    let f = farm(
        r#"
[[frontend.www.request_rule]]
action = "set_header"
name = "X-Step"
value = "frontend"
[[frontend.www.request_rule]]
action = "add_header"
name = "X-Order"
value = "1"
[[frontend.www.request_rule]]
action = "del_header"
name = "X-Order"
unless = "api"
[[frontend.www.request_rule]]
action = "add_header"
name = "X-Order"
value = "2"
[backend.web.acl]
tagged = "hdr(X-Tag) yes"
[[backend.web.request_rule]]
action = "set_header"
name = "X-Step"
value = "backend"
if = "tagged"
[[backend.web.response_rule]]
action = "add_header"
name = "X-Seen-By"
value = "backend"
[[frontend.www.response_rule]]
action = "set_header"
name = "X-Seen-By"
value = "frontend"
"#,
    );
    let head = echoed(f.addr, "/", &[]);
    assert_eq!(field(&head, "x-step"), vec!["frontend"], "{head}");
    assert_eq!(
        field(&head, "x-order"),
        vec!["2"],
        "del ran between the adds: {head}"
    );
    let head = echoed(f.addr, "/api/x", &[("X-Tag", "yes")]);
    assert_eq!(field(&head, "x-step"), vec!["backend"], "{head}");
    assert_eq!(field(&head, "x-order"), vec!["1", "2"], "{head}");
    let r = http_get(f.addr, "/", &[]);
    assert_eq!(
        r.header_all("x-seen-by"),
        vec!["frontend"],
        "the frontend's rules run last"
    );
    // The other backend has no rules of its own.
    let r = http_get(f.addr, "/other/x", &[("X-Tag", "yes")]);
    assert_eq!(r.backend(), Some("other1"));
}

#[test]
fn reload_replaces_the_rules() {
    let web = Backend::start("web1");
    let other = Backend::start("other1");
    let rule = |value: &str| {
        format!("[[frontend.www.request_rule]]\naction = \"set_header\"\nname = \"X-Gen\"\nvalue = \"{value}\"\n")
    };
    let (one, addr) = site(&web, &other, &rule("one"));
    let mut lb = Ringlb::start(&one);
    assert_eq!(field(&echoed(addr, "/", &[]), "x-gen"), vec!["one"]);
    let port = addr.port();
    let two = one.replace(&rule("one"), &rule("two"));
    assert!(two.contains(&format!("127.0.0.1:{port}")));
    lb.write_config(&two);
    lb.signal(libc::SIGHUP);
    lb.wait_notify("READY=1", Duration::from_secs(10))
        .expect("reloaded");
    assert_eq!(field(&echoed(addr, "/", &[]), "x-gen"), vec!["two"]);
    // A bad regex fails the reload and keeps the rules in force.
    let bad = format!(
        "{two}[[frontend.www.request_rule]]\naction = \"replace_header\"\nname = \"X\"\nregex = \"(unclosed\"\nreplace = \"y\"\n"
    );
    lb.write_config(&bad);
    lb.signal(libc::SIGHUP);
    let ready = lb
        .wait_notify("READY=1", Duration::from_secs(10))
        .expect("reload answered");
    assert!(ready.contains("reload failed"), "{ready}");
    assert_eq!(field(&echoed(addr, "/", &[]), "x-gen"), vec!["two"]);
}

#[test]
fn rule_errors_name_file_line_and_column() {
    let web = Backend::start("web1");
    let other = Backend::start("other1");
    let (cfg, _) = site(
        &web,
        &other,
        r#"[[frontend.www.request_rule]]
action = "replace_header"
name = "Host"
regex = "(unclosed"
replace = "x"
[[frontend.www.request_rule]]
action = "set_header"
name = "Bad Name"
value = "v"
[[frontend.www.request_rule]]
action = "deny"
status = 299
[[frontend.www.request_rule]]
action = "redirect"
scheme = "https"
code = 305
[[frontend.www.response_rule]]
action = "deny"
[[frontend.www.request_rule]]
action = "set_header"
name = "X"
value = "v"
if = "nosuchacl"
"#,
    );
    let out = Ringlb::run_cli(&["check", "-c", "{config}"], &cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let line_of = |needle: &str| cfg.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (needle, message) in [
        ("(unclosed", "invalid regex \"(unclosed\""),
        ("Bad Name", "invalid header name \"Bad Name\""),
        (
            "status = 299",
            "status 299 is not one ringlb has a page for",
        ),
        ("code = 305", "redirect code 305 is not allowed"),
        ("if = \"nosuchacl\"", "unknown ACL \"nosuchacl\""),
    ] {
        let at = format!("ringlb.toml:{}:", line_of(needle));
        assert!(
            err.lines().any(|l| l.contains(&at) && l.contains(message)),
            "expected {at} … {message} in:\n{err}"
        );
    }
    assert!(
        err.contains("action \"deny\" is for requests, not responses"),
        "{err}"
    );
}

#[test]
fn a_missing_return_file_is_a_config_error_at_its_rule() {
    let web = Backend::start("web1");
    let other = Backend::start("other1");
    let (cfg, _) = site(
        &web,
        &other,
        "[[frontend.www.request_rule]]\naction = \"return\"\nfile = \"/nonexistent/ringlb/body.html\"\n",
    );
    let out = Ringlb::run_cli(&["check", "-c", "{config}"], &cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let line = cfg
        .lines()
        .position(|l| l.contains("[[frontend.www.request_rule]]"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("ringlb.toml:{line}:"))
            && err.contains("\"/nonexistent/ringlb/body.html\""),
        "{err}"
    );
}
