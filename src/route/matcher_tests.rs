use std::net::IpAddr;

use super::*;
use crate::route::{parse_condition, parse_criterion};

/// A request with the given method, target, host and source; no headers.
fn req<'a>(method: &'a str, path: &'a str, host: Option<&'a str>, src: &str) -> RequestView<'a> {
    RequestView {
        method: method.as_bytes(),
        path: path.as_bytes(),
        host: host.map(str::as_bytes),
        src: src.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        headers: &NoHeaders,
        sni: None,
        hello_sni: None,
    }
}

fn get(path: &str) -> RequestView<'_> {
    req("GET", path, Some("www.example.com"), "192.0.2.1")
}

/// ACLs given as (name, definition).
fn acls(defs: &[(&str, &str)]) -> Vec<Acl> {
    defs.iter()
        .map(|(name, def)| Acl {
            name: (*name).to_owned(),
            criteria: vec![parse_criterion(def).unwrap_or_else(|e| panic!("{def}: {e}"))],
        })
        .collect()
}

/// A router with one route `if cond` to "hit".
fn router(defs: &[(&str, &str)], cond: &str) -> Router<&'static str> {
    let c = parse_condition(cond).unwrap_or_else(|e| panic!("{cond}: {e}"));
    let guard = Guard::If(c);
    Router::new(&acls(defs), [(&guard, "hit")]).unwrap_or_else(|e| panic!("{e}"))
}

/// Does `cond` (inline criteria or the given ACLs) hold for `r`?
fn holds(defs: &[(&str, &str)], cond: &str, r: &RequestView<'_>) -> bool {
    router(defs, cond).select(r) == Ok(Some(&"hit"))
}

fn inline(cond: &str, r: &RequestView<'_>) -> bool {
    holds(&[], cond, r)
}

#[test]
fn path_beg_end_and_exact() {
    assert!(inline(
        "{ path_beg /static/ /images/ }",
        &get("/images/a.png")
    ));
    assert!(!inline("{ path_beg /static/ }", &get("/stat")));
    assert!(inline("{ path_end .css .js }", &get("/a/b.js?v=1")));
    assert!(!inline("{ path_end .css }", &get("/a.css/x")));
    assert!(inline("{ path / }", &get("/?q")));
    assert!(!inline("{ path / }", &get("/index.html")));
    // Case-sensitive unless -i.
    assert!(!inline("{ path_beg /Static/ }", &get("/static/x")));
    assert!(inline("{ path_beg -i /Static/ }", &get("/STATIC/x")));
}

#[test]
fn path_reg_uses_the_normalised_path() {
    assert!(inline("{ path_reg ^/api/v[0-9]+/ }", &get("/api/v2/users")));
    assert!(inline(
        "{ path_reg ^/api/v[0-9]+/ }",
        &get("/x/../api/v%32/users")
    ));
    assert!(!inline("{ path_reg ^/api/v[0-9]+/ }", &get("/api/vx/")));
    assert!(inline("{ path_reg -i ^/API/ }", &get("/api/")));
    // The query is not part of the path.
    assert!(!inline("{ path_reg q=1 }", &get("/a?q=1")));
}

#[test]
fn normalised_paths_match_path_beg() {
    let c = "{ path_beg /images/ }";
    assert!(inline(c, &get("/%69mages/a.png")));
    assert!(inline(c, &get("/x/../images/")));
    assert!(inline(c, &get("/./images/")));
    assert!(!inline(c, &get("/images/../secret")));
    assert!(!inline(c, &get("/images/%2e%2e/secret")));
    assert!(!inline(c, &get("//images/")));
    assert!(inline(
        "{ path_beg /secret }",
        &get("/images/%2E%2E/secret")
    ));
    // An encoded slash is not a separator.
    assert!(!inline(c, &get("/images%2Fa")));
}

#[test]
fn invalid_path_is_an_error_only_when_a_path_is_tested() {
    let r = get("/a%zz");
    assert_eq!(
        router(&[], "{ path_beg /a }").select(&r),
        Err(InvalidPath { offset: 2 })
    );
    assert_eq!(
        router(&[], "!{ path_beg /admin }").select(&r),
        Err(InvalidPath { offset: 2 })
    );
    assert_eq!(router(&[], "{ method GET }").select(&r), Ok(Some(&"hit")));
    // Short-circuit: the path is never looked at when the host already fails.
    assert_eq!(router(&[], "{ host nope } { path / }").select(&r), Ok(None));
}

#[test]
fn host_exact_suffix_case_and_port() {
    let r = req("GET", "/", Some("API.Example.com:8443"), "192.0.2.1");
    assert!(inline("{ host api.example.com }", &r));
    assert!(inline("{ host_end .example.com }", &r));
    assert!(!inline("{ host example.com }", &r));
    assert!(!inline("{ host_end .example.org }", &r));
    let v6 = req("GET", "/", Some("[2001:db8::1]:80"), "192.0.2.1");
    assert!(inline("{ host [2001:db8::1] }", &v6));
    let none = req("GET", "/", None, "192.0.2.1");
    assert!(!inline("{ host api.example.com }", &none));
    assert!(inline("!{ host api.example.com }", &none));
}

#[test]
fn src_cidr_v4_v6_and_mapped() {
    let c = "{ src 10.0.0.0/8 192.168.0.0/16 2001:db8::/32 ::1 }";
    let from = |ip: &str| req("GET", "/", None, ip);
    assert!(inline(c, &from("10.200.3.4")));
    assert!(inline(c, &from("192.168.255.1")));
    assert!(!inline(c, &from("192.169.0.1")));
    assert!(inline(c, &from("2001:db8:ffff::5")));
    assert!(!inline(c, &from("2001:db9::5")));
    assert!(inline(c, &from("::1")));
    assert!(!inline(c, &from("::2")));
    // A dual-stack listener reports IPv4 clients as mapped IPv6.
    assert!(inline(c, &from("::ffff:10.1.1.1")));
    assert!(inline("{ src 0.0.0.0/0 }", &from("203.0.113.9")));
    assert!(!inline("{ src 0.0.0.0/0 }", &from("2001:db8::1")));
    assert!(inline("{ src 192.0.2.7 }", &from("192.0.2.7")));
    assert!(!inline("{ src 192.0.2.7 }", &from("192.0.2.8")));
}

#[test]
fn method_is_case_sensitive_unless_i() {
    assert!(inline(
        "{ method GET HEAD }",
        &req("HEAD", "/", None, "::1")
    ));
    assert!(!inline("{ method GET }", &req("get", "/", None, "::1")));
    assert!(inline("{ method -i GET }", &req("get", "/", None, "::1")));
}

#[test]
fn headers_from_pairs() {
    let fields: [(&[u8], &[u8]); 3] = [
        (b"X-Tenant", b" blue "),
        (b"user-agent", b"curl/8.5"),
        (b"X-Tenant", b"green"),
    ];
    let pairs = Pairs(&fields);
    let r = RequestView {
        headers: &pairs,
        ..get("/")
    };
    assert!(inline("{ hdr(x-tenant) green }", &r));
    assert!(inline("{ hdr(X-TENANT) blue }", &r));
    assert!(!inline("{ hdr(X-Tenant) Blue }", &r));
    assert!(inline("{ hdr(X-Tenant) -i Blue }", &r));
    assert!(inline("{ hdr_beg(User-Agent) curl/ }", &r));
    assert!(inline("{ hdr_end(User-Agent) 8.5 }", &r));
    assert!(!inline("{ hdr(Missing) x }", &r));
}

#[test]
fn headers_from_a_raw_head() {
    let head = b"Host: a\r\nX-Tenant:\tblue\r\nX-Empty:\r\n\r\nX-After: body\r\n";
    let fields = crate::http::FieldSection::new(head);
    let r = RequestView {
        headers: &fields,
        ..get("/")
    };
    assert!(inline("{ hdr(x-tenant) blue }", &r));
    assert!(!inline("{ hdr(x-after) body }", &r));
    assert!(!inline("{ hdr_beg(x-empty) x }", &r));
    // Every value begins with the empty string, so an empty field matches hdr_beg("").
    assert!(inline("{ hdr_beg(x-empty) \"\" }", &r));
}

#[test]
fn headers_from_a_field_section() {
    let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Tenant: blue \r\nx-tenant: green\r\n\r\n";
    let fields = crate::http::FieldSection::of_head(head);
    let r = RequestView {
        headers: &fields,
        ..get("/")
    };
    assert!(inline("{ hdr(x-tenant) blue }", &r));
    assert!(inline("{ hdr(X-TENANT) green }", &r));
    assert!(!inline("{ hdr(host) b }", &r));
}

#[test]
fn and_or_not_precedence() {
    let defs = [
        ("a", "path_beg /a"),
        ("b", "method POST"),
        ("c", "src 10.0.0.0/8"),
    ];
    let r = req("GET", "/a", None, "10.0.0.1"); // a: true, b: false, c: true
    assert!(!holds(&defs, "a b", &r));
    assert!(holds(&defs, "a !b", &r));
    assert!(holds(&defs, "b || a c", &r)); // b || (a && c)
    assert!(!holds(&defs, "b a || b c", &r));
    assert!(holds(&defs, "b and a or c", &r)); // (b && a) || c
    assert!(!holds(&defs, "!a || b", &r));
    assert!(holds(&defs, "!!a && c", &r));
}

#[test]
fn acl_defined_twice_is_ored() {
    let defs = [("api", "path_beg /api/"), ("api", "host api.example.com")];
    assert!(holds(&defs, "api", &get("/api/x")));
    assert!(holds(
        &defs,
        "api",
        &req("GET", "/", Some("api.example.com"), "::1")
    ));
    assert!(!holds(&defs, "api", &get("/")));
}

#[test]
fn first_matching_route_wins_and_unless_inverts() {
    let defs = acls(&[
        ("static", "path_beg /static/"),
        ("api", "host api.example.com"),
    ]);
    let cond = |s: &str| parse_condition(s).unwrap_or_else(|e| panic!("{e}"));
    let g1 = Guard::If(cond("static"));
    let g2 = Guard::Unless(cond("api"));
    let g3 = Guard::Always;
    let r =
        Router::new(&defs, [(&g1, 0usize), (&g2, 1), (&g3, 2)]).unwrap_or_else(|e| panic!("{e}"));
    let api = |p: &'static str| req("GET", p, Some("api.example.com"), "::1");
    assert_eq!(r.select(&api("/static/x")), Ok(Some(&0)));
    assert_eq!(r.select(&get("/")), Ok(Some(&1)));
    assert_eq!(r.select(&api("/")), Ok(Some(&2)));
    let only_if = Router::new(&defs, [(&g1, 0usize)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(only_if.select(&get("/")), Ok(None));
    assert!(Router::<u8>::new(&defs, []).is_ok_and(|r| r.is_empty()));
}

#[test]
fn unknown_acl_is_refused_when_compiling() {
    let g = Guard::If(parse_condition("nope").unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        Router::new(&[], [(&g, ())]).map(|_| ()),
        Err(UnknownAcl("nope".into()))
    );
}

#[test]
fn host_port_stripping() {
    assert_eq!(host_without_port(b"a.com:80"), b"a.com");
    assert_eq!(host_without_port(b"a.com"), b"a.com");
    assert_eq!(host_without_port(b"[::1]:80"), b"[::1]");
    assert_eq!(host_without_port(b"[::1]"), b"[::1]");
}

#[test]
fn unless_with_an_invalid_path_is_an_error_not_a_match() {
    let g = Guard::Unless(parse_condition("{ path_beg /admin }").unwrap_or_else(|e| panic!("{e}")));
    let r = Router::new(&[], [(&g, "public")]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.select(&get("/admin%")), Err(InvalidPath { offset: 6 }));
    assert_eq!(r.select(&get("/admin/x")), Ok(None));
    assert_eq!(r.select(&get("/x")), Ok(Some(&"public")));
}

#[test]
fn path_exact_ignores_query_and_normalises() {
    assert!(inline("{ path /login }", &get("/login?next=/")));
    assert!(inline("{ path /login }", &get("/a/../%6Cogin")));
    assert!(!inline("{ path /login }", &get("/login/")));
}

#[test]
fn path_end_with_escaped_pattern() {
    assert!(inline("{ path_end %2Ecss }", &get("/a.css")));
    assert!(inline("{ path_end .css }", &get("/a%2ecss")));
}

#[test]
fn empty_route_list_selects_nothing() {
    let r: Router<u8> = Router::new(&[], []).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.select(&get("/")), Ok(None));
}

#[test]
fn always_guard_matches_even_an_invalid_path() {
    let g = Guard::Always;
    let r = Router::new(&[], [(&g, 7u8)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.select(&get("/%")), Ok(Some(&7)));
}

#[test]
fn tls_and_sni_criteria() {
    let plain = get("/");
    let over_tls = RequestView {
        sni: Some(b"api.example.com"),
        ..get("/")
    };
    let no_sni = RequestView {
        sni: Some(b""),
        ..get("/")
    };
    assert!(inline("{ ssl_fc }", &over_tls));
    assert!(inline("{ ssl_fc }", &no_sni));
    assert!(!inline("{ ssl_fc }", &plain));
    assert!(inline("!{ ssl_fc }", &plain));
    assert!(inline("{ ssl_fc_sni API.example.com }", &over_tls));
    assert!(!inline("{ ssl_fc_sni www.example.com }", &over_tls));
    assert!(inline("{ ssl_fc_sni_end .example.com }", &over_tls));
    assert!(!inline("{ ssl_fc_sni_end .example.com }", &no_sni));
    assert!(!inline("{ ssl_fc_sni_end .example.com }", &plain));
}
