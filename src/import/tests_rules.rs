//! Unit tests of header rules, redirects, error pages and backend stats pages in translation.

use super::tests::load;
use super::translate;

/// A frontend `www` and a backend `app`, each with extra lines.
fn site(front: &str, back: &str) -> String {
    format!(
        "defaults\n mode http\nfrontend www\n bind :80\n{front}\n default_backend app\n\
         backend app\n server a1 10.0.0.1:80\n{back}\n"
    )
}

fn why(cfg: &str, line_text: &str) -> String {
    let t = translate(cfg, "h");
    t.skipped
        .iter()
        .filter(|s| s.text.contains(line_text))
        .map(|s| s.why.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn pre_16_rewrites_translate_when_they_name_one_header() {
    let (t, c) = load(&site(
        " reqirep ^Host:\\ www\\.old\\.com(.*) Host:\\ www.new.com\\1\n rspdel ^X-Powered-By:\n reqadd X-Proto:\\ http",
        " rsprep ^Location:\\ http://(.*) Location:\\ https://\\1",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let f = &c.frontends[0];
    assert_eq!(f.request_rules.len(), 2);
    assert_eq!(f.response_rules.len(), 1);
    assert!(
        t.toml
            .contains("regex = \"(?i)^www\\\\.old\\\\.com(.*)\"\nreplace = \"www.new.com${1}\""),
        "{}",
        t.toml
    );
    assert!(t
        .toml
        .contains("rspdel: ringlb matches header names ignoring case"));
    assert!(t
        .toml
        .contains("regex = \"^http://(.*)\"\nreplace = \"https://${1}\""));
    assert_eq!(c.backends[0].response_rules.len(), 1);
}

#[test]
fn what_does_not_translate_says_why() {
    let s = |front: &str| site(front, "");
    assert!(why(
        &s(" reqrep ^([^\\ ]*)\\ /old/(.*) \\1\\ /new/\\2"),
        "reqrep"
    )
    .contains("does not name one header"));
    assert!(why(&s(" reqideny ^User-Agent:.*bot"), "reqideny").contains("hdr_beg"));
    assert!(
        why(&s(" http-request set-header X-Client %[src]"), "set-header").contains("log-format")
    );
    assert!(why(&s(" http-request auth realm x"), "auth").contains("no http-request auth"));
    assert!(why(&s(" http-response set-status 200"), "set-status")
        .contains("no http-response set-status"));
    assert!(why(&s(" redirect prefix /x set-cookie A=1"), "redirect").contains("set-cookie"));
    assert!(why(&s(" errorfile 200 /x.http"), "errorfile").contains("never answers 200"));
    assert!(why(&s(" http-request deny if nosuch"), "deny").contains("not defined"));
    assert!(why(&s(" block"), "block").contains("needs a condition"));
}

#[test]
fn rules_in_a_tcp_section_are_reported() {
    let cfg = "frontend db\n mode tcp\n bind :5432\n http-request deny\n default_backend pg\n\
               backend pg\n mode tcp\n server p 10.0.0.5:5432\n";
    assert!(why(cfg, "http-request deny").contains("tcp mode"));
}

#[test]
fn errorfiles_come_from_defaults_and_sections() {
    let cfg = "defaults\n mode http\n errorfile 503 /e/503.http\n\
               frontend www\n bind :80\n errorfile 403 /e/403.http\n default_backend app\n\
               backend app\n errorfile 503 /e/app-503.http\n server a1 10.0.0.1:80\n";
    let t = translate(cfg, "h");
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert!(
        t.toml
            .contains("[frontend.www.errorfile]\n503 = \"/e/503.http\"\n403 = \"/e/403.http\"\n"),
        "{}",
        t.toml
    );
    assert!(
        t.toml
            .contains("[backend.app.errorfile]\n503 = \"/e/app-503.http\"\n"),
        "{}",
        t.toml
    );
}

#[test]
fn a_backend_stats_page_with_servers_is_served_or_reported() {
    let used = site("", " stats enable\n stats uri /st");
    let t = translate(&used, "h");
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert!(
        t.toml
            .contains("[frontend.www.stats]\n# stats page of backend app (which also has servers)"),
        "{}",
        t.toml
    );
    assert!(t.toml.contains("uri = \"/st\""));
    let unused = format!("{used}backend lonely\n server b 10.0.0.2:80\n stats enable\n");
    let t = translate(&unused, "h");
    assert!(
        t.skipped
            .iter()
            .any(|s| s.text.contains("backend lonely") && s.why.contains("not served")),
        "{:?}",
        t.skipped
    );
}

#[test]
fn backend_acls_guard_backend_rules() {
    let (t, c) = load(&site(
        "",
        " acl api path_beg /api\n http-request set-header X-Api 1 if api\n http-response del-header Server",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let b = &c.backends[0];
    assert_eq!(b.acls.len(), 1);
    assert_eq!(b.request_rules.len(), 1);
    assert_eq!(b.response_rules.len(), 1);
    assert!(
        t.toml
            .contains("[backend.app.acl]\napi = \"path_beg /api\"\n"),
        "{}",
        t.toml
    );
}
