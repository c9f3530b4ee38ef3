//! Unit tests of stick tables, trackers and counter fetches in translation.

use super::tests::load;
use super::translate;
use crate::track::KeyKind;

/// A frontend `www` and a backend `app` with the frontend lines `front`.
fn site(front: &str) -> String {
    format!(
        "defaults\n mode http\nfrontend www\n bind :80\n{front}\n default_backend app\n\
         backend app\n server a1 10.0.0.1:80\n"
    )
}

fn whys(cfg: &str) -> Vec<(usize, String)> {
    translate(cfg, "h")
        .skipped
        .into_iter()
        .map(|s| (s.line, s.why))
        .collect()
}

#[test]
fn every_spelling_of_a_counter_fetch_reads_the_one_table() {
    let (t, c) = load(&site(
        " stick-table type ip size 1m expire 30s store http_req_rate(10s),conn_cur\n \
         http-request track-sc0 src\n \
         http-request deny deny_status 429 if { sc_http_req_rate(0) gt 10 }\n \
         http-request deny deny_status 429 if { sc0_conn_cur ge 5 }\n \
         http-request deny deny_status 429 if { src_http_err_rate 3 }\n \
         http-request tarpit if { sc_bytes_in_rate(0) lt 1 }",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let f = &c.frontends[0];
    let track = f.track.as_ref().unwrap();
    assert_eq!((track.size, track.key.clone()), (1024 * 1024, KeyKind::Src));
    assert!(t.toml.contains("{ sc_http_req_rate gt 10 }"), "{}", t.toml);
    assert!(t.toml.contains("{ sc_conn_cur ge 5 }"));
    assert!(t.toml.contains("{ sc_http_err_rate eq 3 }"));
    assert!(t.toml.contains("action = \"tarpit\"\nstatus = 500"));
    assert!(t
        .toml
        .contains("ringlb counts the connection when it opens"));
}

#[test]
fn header_and_cookie_keys_need_a_string_table() {
    let (t, c) = load(&site(
        " stick-table type string len 32 size 10k store http_req_rate(1m)\n \
         http-request track-sc2 req.cook(sid)\n \
         http-request deny if { sc2_http_req_rate gt 600 }",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let track = c.frontends[0].track.as_ref().unwrap();
    assert_eq!(track.key, KeyKind::Cookie("sid".into()));
    let w = whys(&site(
        " stick-table type ip size 10k\n http-request track-sc0 req.hdr(X-Key)",
    ));
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w.iter()
            .any(|(l, r)| *l == 6 && r.contains("type ip does not hold this key")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|(l, r)| *l == 5 && r.contains("no track-sc ringlb translated")),
        "{w:?}"
    );
}

#[test]
fn what_ringlb_cannot_track_is_listed_with_its_reason() {
    let w = whys(&site(
        " stick-table type ip size 10k\n \
         http-request track-sc0 src if { path_beg /api }\n \
         acl fast sc0_http_req_rate gt 5\n \
         http-request deny if { sc_gpc0_rate(0) gt 1 }",
    ));
    let reasons: Vec<&str> = w.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("conditional track-sc")));
    assert!(reasons
        .iter()
        .any(|r| r.contains("no track-sc ringlb translated")));
    assert!(reasons.iter().any(|r| r.contains("no table to read")));
    assert!(reasons.iter().any(|r| r.contains("ringlb tracks conn_cur")));
    // In tcp mode there are no requests to track.
    let tcp = "frontend db\n mode tcp\n bind :5432\n stick-table type ip size 1k\n \
               http-request track-sc0 src\n default_backend pg\n\
               backend pg\n mode tcp\n server p 10.0.0.1:5432\n";
    let w = whys(tcp);
    assert!(
        w.iter()
            .any(|(l, r)| *l == 5 && r.contains("http-request in a tcp-mode section")),
        "{w:?}"
    );
}

#[test]
fn tcp_request_connection_reject_becomes_a_connection_rule() {
    // HAProxy's connection limit in tcp mode.
    let tcp = "frontend db\n mode tcp\n bind :5432\n \
               stick-table type ip size 100k expire 30s store conn_cur,conn_rate(10s)\n \
               tcp-request connection track-sc0 src\n \
               tcp-request connection reject if { sc_conn_cur(0) gt 20 }\n \
               tcp-request connection reject if { sc0_conn_rate gt 100 }\n \
               default_backend pg\n\
               backend pg\n mode tcp\n server p 10.0.0.1:5432\n";
    let (t, c) = load(tcp);
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let f = &c.frontends[0];
    assert_eq!(f.track.as_ref().unwrap().key, KeyKind::Src);
    assert_eq!(f.connection_rules.len(), 2);
    assert!(
        t.toml.contains(
            "[[frontend.db.connection_rule]]\naction = \"reject\"\nif = \"{ sc_conn_cur gt 20 }\""
        ),
        "{}",
        t.toml
    );
    assert!(
        t.toml.contains("if = \"{ sc_conn_rate gt 100 }\""),
        "{}",
        t.toml
    );
    // In http mode too, beside request rules; `unless` and ACLs carry over.
    let (t, c) = load(&site(
        " stick-table type ip size 1m store conn_rate(10s),http_req_rate(10s)\n \
         tcp-request connection track-sc0 src\n \
         acl office src 10.0.0.0/8\n \
         tcp-request connection reject unless office\n \
         http-request deny deny_status 429 if { sc_http_req_rate(0) gt 50 }",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert_eq!(c.frontends[0].connection_rules.len(), 1);
    assert_eq!(c.frontends[0].request_rules.len(), 1);
    assert!(t.toml.contains("unless = \"office\""), "{}", t.toml);
    // Without a translated table there is nowhere to count rejections; other tcp-request
    // rules stay not translated.
    let w = whys(&site(
        " tcp-request connection reject if { src 10.0.0.1 }\n \
         tcp-request connection accept if { src 10.0.0.2 }",
    ));
    assert!(
        w.iter()
            .any(|(l, r)| *l == 5 && r.contains("none was translated")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|(l, r)| *l == 6 && r.contains("tcp-request")),
        "{w:?}"
    );
}

#[test]
fn a_stick_table_keyword_given_twice_is_refused_with_its_line() {
    for line in [
        " stick-table type ip size 100k expire 30s size 1m store http_req_rate(10s)",
        " stick-table type ip size 100k store http_req_rate(10s),http_req_rate(1m)",
        " stick-table type ip expire 30s expire 1m",
    ] {
        let cfg = site(&format!("{line}\n http-request track-sc0 src"));
        let t = translate(&cfg, "h");
        assert!(t.toml.parse::<toml::Table>().is_ok(), "{}", t.toml);
        let w = whys(&cfg);
        assert!(
            w.iter().any(|(n, why)| *n == 6 && why.contains("twice")),
            "{line}: {w:?}"
        );
    }
}
