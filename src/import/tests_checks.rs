//! Unit tests of the translator: health checks, cookie persistence and the stats page.

use std::time::Duration;

use super::tests::{be, load, web};
use super::*;
use crate::config::{CheckKind, CookieMode};

#[test]
fn httpchk_forms_and_notes() {
    let c = settings::httpchk(&[]);
    assert_eq!((c.v.method.as_str(), c.v.path.as_str()), ("OPTIONS", "/"));
    let c = settings::httpchk(&["/health".into()]);
    assert_eq!(c.v.path, "/health");
    let c = settings::httpchk(&[
        "HEAD".into(),
        "/".into(),
        "HTTP/1.1\r\nHost: www.example.com".into(),
    ]);
    assert_eq!(c.v.method, "HEAD");
    assert_eq!(c.v.host.as_deref(), Some("www.example.com"));
    assert!(c.note.unwrap().contains("HTTP/1.1 check"));
}

#[test]
fn only_servers_with_check_are_checked() {
    let (t, c) = load(&web(
        "backend b\n mode http\n option httpchk HEAD /ping HTTP/1.0\n \
         server s1 10.0.0.1:80 check inter 3s rise 4 fall 5\n server s2 10.0.0.2:80 check inter 3s rise 4 fall 5\n \
         server s3 10.0.0.3:80\n",
    ));
    let b = &be(&c, "b");
    let chk = b.check.as_ref().expect("check table");
    assert_eq!(
        (chk.inter, chk.rise, chk.fall),
        (Duration::from_secs(3), 4, 5)
    );
    match &chk.kind {
        CheckKind::Http(h) => assert_eq!((h.method.as_str(), h.path.as_str()), ("HEAD", "/ping")),
        CheckKind::Tcp => panic!("expected http check"),
    }
    assert!(b.servers[0].check.is_some());
    assert!(b.servers[2].check.is_none());
    assert!(t
        .toml
        .contains("option httpchk HEAD /ping HTTP/1.0 → HTTP/1.1 check"));
}

#[test]
fn per_server_check_intervals_stay_per_server() {
    let (_, c) = load(&web(
        "backend b\n mode http\n server s1 10.0.0.1:80 check inter 1s fastinter 200ms downinter 9s\n \
         server s2 10.0.0.2:80 check inter 4s\n",
    ));
    let b = &be(&c, "b");
    let s1 = b.servers[0].check.as_ref().unwrap();
    let s2 = b.servers[1].check.as_ref().unwrap();
    assert_eq!(
        (s1.inter, s1.fastinter, s1.downinter),
        (
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(9)
        )
    );
    assert_eq!(s2.inter, Duration::from_secs(4));
    assert!(matches!(b.check.as_ref().unwrap().kind, CheckKind::Tcp));
}

#[test]
fn default_server_applies_to_later_servers() {
    let (_, c) = load(&web(
        "backend b\n mode http\n default-server check inter 7s fall 2 maxconn 50\n \
         server s1 10.0.0.1:80\n server s2 10.0.0.2:80 no-check\n",
    ));
    let b = &be(&c, "b");
    assert_eq!(b.check.as_ref().unwrap().inter, Duration::from_secs(7));
    assert_eq!(b.servers[0].maxconn, 50);
    assert!(b.servers[1].check.is_none());
}

#[test]
fn http_check_send_and_expect() {
    let (t, c) = load(&web(
        "backend b\n mode http\n option httpchk\n http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host svc.local\n \
         http-check expect status 200-204,302\n server s1 10.0.0.1:80 check\n",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let CheckKind::Http(h) = &be(&c, "b").check.as_ref().unwrap().kind else {
        panic!("http check expected")
    };
    assert_eq!(h.path, "/healthz");
    assert_eq!(h.host.as_deref(), Some("svc.local"));
    let ranges: Vec<(u16, u16)> = h.expect_status.iter().map(|r| (r.lo, r.hi)).collect();
    assert_eq!(ranges, [(200, 204), (302, 302)]);
}

#[test]
fn expect_rstatus_and_negation_become_code_ranges() {
    let e = settings::expect(&["rstatus".into(), "^2".into()]).unwrap();
    assert_eq!(e.v, [(200, 299)]);
    assert!(e.note.is_some());
    let e = settings::expect(&["!".into(), "status".into(), "500-599".into()]).unwrap();
    assert_eq!(e.v, [(100, 499)]);
    let e = settings::expect(&["rstatus".into(), "^(2|3)0[0-2]$".into()]).unwrap();
    assert_eq!(e.v, [(200, 202), (300, 302)]);
    assert!(settings::expect(&["string".into(), "ok".into()]).is_err());
}

#[test]
fn timeout_check_goes_to_the_check_table() {
    let (_, c) = load(&web(
        "backend b\n mode http\n timeout check 1500ms\n server s1 10.0.0.1:80 check\n",
    ));
    assert_eq!(
        be(&c, "b").check.as_ref().unwrap().timeout,
        Duration::from_millis(1500)
    );
}

#[test]
fn other_check_types_are_reported() {
    let t = translate(
        &web("backend b\n option mysql-check user haproxy\n server s 10.0.0.1:3306 check\n"),
        "h",
    );
    assert_eq!(t.skipped.len(), 1);
    assert!(t.skipped[0].why.contains("tcp connect check"));
}

// ---- cookies ----------------------------------------------------------------------------------

#[test]
fn cookie_insert_with_all_options() {
    let (t, c) = load(&web(
        "backend b\n mode http\n cookie SRV insert indirect nocache httponly secure domain .ex.com \
         maxidle 30m maxlife 8h\n server s1 10.0.0.1:80 cookie s1\n server s2 10.0.0.2:80 cookie s2\n",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let k = be(&c, "b").cookie.as_ref().unwrap();
    assert_eq!((k.name.as_str(), k.mode), ("SRV", CookieMode::Insert));
    assert!(k.indirect && k.nocache && k.httponly && k.secure);
    assert_eq!(k.domain.as_deref(), Some(".ex.com"));
    assert_eq!(k.maxidle, Some(Duration::from_secs(1800)));
    assert_eq!(k.maxlife, Some(Duration::from_secs(8 * 3600)));
    assert_eq!(be(&c, "b").servers[1].cookie, "s2");
}

#[test]
fn cookie_prefix_and_rewrite() {
    let (_, c) = load(&web(
        "backend b\n mode http\n cookie JSESSIONID prefix\n server s1 10.0.0.1:80 cookie a\n",
    ));
    assert_eq!(
        be(&c, "b").cookie.as_ref().unwrap().mode,
        CookieMode::Prefix
    );
    let (_, c) = load(&web(
        "backend b\n mode http\n cookie SRV rewrite\n server s1 10.0.0.1:80 cookie a\n",
    ));
    assert_eq!(
        be(&c, "b").cookie.as_ref().unwrap().mode,
        CookieMode::Rewrite
    );
}

#[test]
fn passive_cookie_is_reported_and_inserted() {
    let t = translate(
        &web("backend b\n mode http\n cookie SRV\n server s1 10.0.0.1:80 cookie a\n"),
        "h",
    );
    assert_eq!(t.skipped.len(), 1);
    assert!(t.skipped[0].why.contains("inserts its own"));
}

#[test]
fn servers_without_cookie_value_are_noted() {
    let (t, c) = load(&web(
        "backend b\n mode http\n cookie SRV insert\n server s1 10.0.0.1:80\n",
    ));
    assert_eq!(be(&c, "b").servers[0].cookie, "s1");
    assert!(t.toml.contains("no cookie value in HAProxy"));
}

// ---- stats ------------------------------------------------------------------------------------

#[test]
fn stats_on_a_listen_with_servers_is_a_frontend_page() {
    let cfg = "listen web :80\n mode http\n stats enable\n stats uri /st\n stats realm My\\ LB\n \
               stats auth a:1\n stats auth b:2\n stats refresh 5s\n stats admin if TRUE\n \
               server s 10.0.0.1:80\n";
    let (t, c) = load(cfg);
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let st = c.frontends[0].stats.as_ref().unwrap();
    assert_eq!((st.uri.as_str(), st.realm.as_str()), ("/st", "My LB"));
    assert_eq!(st.users.len(), 2);
    assert_eq!(st.refresh, Some(Duration::from_secs(5)));
    assert!(st.admin);
}

#[test]
fn stats_admin_condition_is_dropped_with_a_comment() {
    let cfg = "listen web :80\n mode http\n stats auth a:1\n stats admin if LOCALHOST\n server s 10.0.0.1:80\n";
    let (t, c) = load(cfg);
    assert!(c.frontends[0].stats.as_ref().unwrap().admin);
    assert!(t.toml.contains("the condition is dropped"));
}

#[test]
fn a_stats_only_listen_becomes_the_stats_listener() {
    let cfg = "listen stats\n bind 127.0.0.1:8404\n mode http\n stats enable\n stats auth a:b\n";
    let (_, c) = load(&format!("{}{cfg}", web("")));
    let s = c.stats.as_ref().unwrap();
    assert_eq!(s.bind, "127.0.0.1:8404".parse().unwrap());
    assert_eq!(
        s.page.uri, "/haproxy?stats",
        "HAProxy's default uri is kept"
    );
    assert_eq!(c.frontends.len(), 1);
}

#[test]
fn stats_admin_without_users_is_reported() {
    let cfg =
        "listen web :80\n mode http\n stats enable\n stats admin if TRUE\n server s 10.0.0.1:80\n";
    let (t, c) = load(cfg);
    assert!(!c.frontends[0].stats.as_ref().unwrap().admin);
    assert_eq!(t.skipped.len(), 1);
}

// ---- unsupported sections and directives ------------------------------------------------------
