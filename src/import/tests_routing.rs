//! Unit tests of ACLs, conditions, `use_backend` and `default_backend` translation.

use std::collections::HashMap;

use super::acl::{self, AclState, Cond};
use super::tests::{be, load};
use super::translate;
use crate::config::Config;
use crate::route::{Guard, RequestView, Router};

const HTTP: acl::Where = acl::Where {
    tcp: false,
    tls: false,
    track: 0,
};
const TCP: acl::Where = acl::Where {
    tcp: true,
    tls: false,
    track: 0,
};

fn w(s: &str) -> Vec<String> {
    super::lex::words(s)
}

fn crit(s: &str) -> Result<String, String> {
    acl::criterion(&w(s), HTTP).map(|(t, _)| t)
}

/// A frontend `www` with the given acl/use_backend lines, backends app (default), st, api.
fn routed(lines: &str) -> String {
    format!(
        "defaults\n mode http\nfrontend www\n bind :80\n{lines}\n default_backend app\n\
         backend app\n server a 10.0.0.1:80\nbackend st\n server s 10.0.0.2:80\n\
         backend api\n server p 10.0.0.3:80\n"
    )
}

/// Which backend ringlb's own router picks for a request on frontend `www`.
fn pick(c: &Config, method: &str, path: &str, host: &str) -> String {
    let f = c.frontends.iter().find(|f| f.name == "www").unwrap();
    let router = Router::new(
        &f.acls,
        f.routes.iter().map(|r| (&r.guard, r.backend.clone())),
    )
    .expect("router");
    let headers: [(&[u8], &[u8]); 1] = [(b"host", host.as_bytes())];
    let view = RequestView {
        method: method.as_bytes(),
        path: path.as_bytes(),
        host: Some(host.as_bytes()),
        src: "192.0.2.1".parse().unwrap(),
        headers: &crate::route::Pairs(&headers),
        sni: None,
        hello_sni: None,
    };
    match router.select(&view) {
        Ok(Some(b)) => b.clone(),
        Ok(None) => f.default_backend.clone(),
        Err(_) => "400".into(),
    }
}

#[test]
fn path_criteria_map_one_to_one() {
    assert_eq!(
        crit("path_beg /static/ /images/").unwrap(),
        "path_beg /static/ /images/"
    );
    assert_eq!(
        crit("path_end -i .css .js").unwrap(),
        "path_end -i .css .js"
    );
    assert_eq!(crit("path /favicon.ico").unwrap(), "path /favicon.ico");
    assert_eq!(
        crit(r"path_reg ^/api/v[0-9]+/").unwrap(),
        "path_reg ^/api/v[0-9]+/"
    );
    assert_eq!(crit("path -m beg /x").unwrap(), "path_beg /x");
}

#[test]
fn host_header_criteria_become_host_criteria() {
    let (t, note) = acl::criterion(&w("hdr(host) -i www.example.com"), HTTP).unwrap();
    assert_eq!(t, "host -i www.example.com");
    assert!(note.unwrap().contains("without its port"));
    assert_eq!(
        crit("hdr_end(Host) .example.com").unwrap(),
        "host_end .example.com"
    );
    assert_eq!(
        crit("hdr_beg(host) -i blog.").unwrap(),
        "hdr_beg(host) -i blog."
    );
    // a pattern with a port cannot be a ringlb host: the exact header test keeps the meaning
    assert_eq!(
        crit("hdr(host) example.com:8080").unwrap(),
        "hdr(host) example.com:8080"
    );
}

#[test]
fn other_criteria_map_or_explain() {
    assert_eq!(crit("hdr(X-Tenant) blue").unwrap(), "hdr(X-Tenant) blue");
    assert_eq!(crit("req.hdr(X-A) -m end z").unwrap(), "hdr_end(X-A) z");
    assert_eq!(
        crit("src 10.0.0.0/8 192.168.1.7").unwrap(),
        "src 10.0.0.0/8 192.168.1.7"
    );
    assert_eq!(crit("method POST PUT").unwrap(), "method POST PUT");
    assert_eq!(crit("url_beg /old/").unwrap(), "path_beg /old/");
    assert!(crit("hdr_dom(host) example.com")
        .unwrap_err()
        .contains("ringlb's criteria"));
    assert!(crit("path_sub admin").is_err());
    assert_eq!(crit("ssl_fc").unwrap(), "ssl_fc");
    assert!(crit("ssl_fc_sni www.example.com")
        .unwrap_err()
        .contains("no TLS listener"));
    assert!(crit("ssl_fc_has_sni").is_err());
    assert!(crit("path_beg -f /etc/haproxy/paths.lst")
        .unwrap_err()
        .contains("pattern files"));
    assert!(crit("url_beg /x?y").is_err());
}

#[test]
fn values_needing_quotes_or_an_end_of_flags_are_written_so() {
    assert_eq!(crit(r"hdr(X-A) a\ b").unwrap(), r#"hdr(X-A) "a b""#);
    assert_eq!(crit("hdr(X-A) -- -1").unwrap(), "hdr(X-A) -- -1");
}

#[test]
fn tcp_frontends_accept_src_only() {
    assert!(acl::criterion(&w("src 10.0.0.0/8"), TCP).is_ok());
    let e = acl::criterion(&w("path_beg /x"), TCP).unwrap_err();
    assert!(e.contains("tcp frontend"));
}

#[test]
fn acl_names_follow_ringlb_rules() {
    assert_eq!(acl::acl_name("is:static"), "is_static");
    assert_eq!(acl::acl_name("host"), "host_acl");
    assert_eq!(acl::acl_name("ok-name.1"), "ok-name.1");
}

fn cond(s: &str) -> Result<Cond, String> {
    let mut acls = HashMap::new();
    acls.insert("a".to_owned(), AclState::Ok("a".into()));
    acls.insert("b".to_owned(), AclState::Ok("b".into()));
    acls.insert("bad".to_owned(), AclState::Bad(7));
    acl::condition(&w(s), &acls, HTTP, &mut Vec::new())
}

#[test]
fn conditions_keep_haproxy_grammar() {
    assert_eq!(cond("a b || !a").unwrap(), Cond::Text("a b || !a".into()));
    assert_eq!(cond("a or ! b").unwrap(), Cond::Text("a || !b".into()));
    assert_eq!(
        cond("a { path_beg /x } !{ hdr(host) h.example }").unwrap(),
        Cond::Text("a { path_beg /x } !{ host h.example }".into())
    );
}

#[test]
fn predefined_acls_are_expanded_or_folded() {
    assert_eq!(cond("TRUE").unwrap(), Cond::Always);
    assert_eq!(cond("a FALSE").unwrap(), Cond::Never);
    assert_eq!(cond("a FALSE || b").unwrap(), Cond::Text("b".into()));
    assert_eq!(cond("a !FALSE").unwrap(), Cond::Text("a".into()));
    assert_eq!(cond("a || TRUE").unwrap(), Cond::Always);
    assert_eq!(
        cond("METH_GET LOCALHOST").unwrap(),
        Cond::Text("{ method GET HEAD } { src 127.0.0.0/8 ::1 }".into())
    );
    assert!(cond("HTTP_1.1").unwrap_err().contains("predefined"));
}

#[test]
fn conditions_on_missing_or_untranslated_acls_fail() {
    assert!(cond("nope").unwrap_err().contains("not defined"));
    assert!(cond("a bad").unwrap_err().contains("line 7"));
    assert!(cond("a ||").is_err());
    assert!(cond("{ path_beg /x").unwrap_err().contains("never closed"));
}

#[test]
fn acls_with_several_lines_are_ored_and_route_like_haproxy() {
    let (t, c) = load(&routed(
        " acl is_static path_beg /static/\n acl is_static path_end .css\n \
         acl api_host hdr(host) -i api.example.com\n use_backend st if is_static\n \
         use_backend api if api_host !{ method TRACE }\n",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert!(t
        .toml
        .contains(r#"is_static = ["path_beg /static/", "path_end .css"]"#));
    assert_eq!(pick(&c, "GET", "/static/a.png", "www.example.com"), "st");
    assert_eq!(pick(&c, "GET", "/x/y.css", "www.example.com"), "st");
    assert_eq!(pick(&c, "GET", "/", "API.example.com:8080"), "api");
    assert_eq!(pick(&c, "TRACE", "/", "api.example.com"), "app");
    assert_eq!(pick(&c, "GET", "/index.html", "www.example.com"), "app");
}

#[test]
fn unless_routes_and_always_routes() {
    let (_, c) = load(&routed(
        " acl st_path path_beg /s/\n use_backend api unless st_path\n",
    ));
    assert!(matches!(c.frontends[0].routes[0].guard, Guard::Unless(_)));
    assert_eq!(pick(&c, "GET", "/s/1", "h"), "app");
    assert_eq!(pick(&c, "GET", "/t", "h"), "api");
    let (_, c) = load(&routed(" use_backend st if TRUE\n"));
    assert_eq!(c.frontends[0].routes[0].guard, Guard::Always);
}

#[test]
fn a_never_matching_route_is_left_out_with_a_comment() {
    let (t, c) = load(&routed(" use_backend st if FALSE\n"));
    assert!(c.frontends[0].routes.is_empty());
    assert!(t.toml.contains("never applies, left out"));
    assert!(t.skipped.is_empty());
}

#[test]
fn routes_to_unknown_backends_or_with_bad_acls_are_reported() {
    let t = translate(
        &routed(" acl tls path_sub x\n use_backend nowhere if TRUE\n use_backend st if tls\n"),
        "h",
    );
    let whys: Vec<&str> = t.skipped.iter().map(|s| s.why.as_str()).collect();
    assert_eq!(whys.len(), 3, "{whys:?}");
    assert!(whys[1].contains("backend nowhere is not defined"));
    assert!(whys[2].contains("not translated (line 5)"));
}

#[test]
fn a_frontend_without_default_backend_gets_the_503_placeholder() {
    let cfg = "defaults\n mode http\nfrontend www\n bind :80\n acl s path_beg /s/\n use_backend st if s\n\
               backend st\n server s 10.0.0.2:80\n";
    let (t, c) = load(cfg);
    assert_eq!(c.frontends[0].default_backend, "no-backend");
    assert_eq!(be(&c, "no-backend").retries, 0);
    assert!(t.toml.contains("HAProxy answers 503"));
}

#[test]
fn a_stats_backend_moves_its_page_to_the_frontend() {
    let cfg = "defaults\n mode http\nfrontend www\n bind :80\n use_backend stats if { path_beg /stats }\n \
               default_backend app\nbackend app\n server a 10.0.0.1:80\n\
               backend stats\n stats enable\n stats uri /stats\n";
    let (t, c) = load(cfg);
    let f = &c.frontends[0];
    assert_eq!(f.stats.as_ref().unwrap().uri, "/stats");
    assert!(f.routes.is_empty());
    assert!(c.backends.iter().all(|b| b.name != "stats"));
    assert!(t.toml.contains("stats page of stats is served"));
}

#[test]
fn tcp_frontends_route_on_src() {
    let cfg = "defaults\n mode tcp\nfrontend db\n bind :5432\n acl office src 10.0.0.0/8\n \
               acl bad_one path_beg /x\n use_backend replica if !office\n default_backend primary\n\
               backend primary\n server p 10.0.0.1:5432\nbackend replica\n server r 10.0.0.2:5432\n";
    let (t, c) = load(cfg);
    assert_eq!(c.frontends[0].routes.len(), 1);
    assert_eq!(t.skipped.len(), 1);
    assert!(t.skipped[0].why.contains("tcp frontend"));
}

#[test]
fn mode_mismatch_between_frontend_and_backend_is_reported() {
    let cfg = "frontend www\n bind :80\n mode http\n use_backend db if TRUE\n default_backend app\n\
               backend app\n mode http\n server a 10.0.0.1:80\nbackend db\n mode tcp\n server d 10.0.0.2:5432\n";
    let (t, _) = load(cfg);
    assert_eq!(t.skipped.len(), 1);
    assert!(t.skipped[0].why.contains("tcp mode"));
}
