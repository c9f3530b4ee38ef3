//! Unit tests of TLS translation: `bind … ssl`, `ssl-default-bind-*`, TLS ACL fetches,
//! servers with `ssl`. Every translation is loaded with `crate::config::parse_str`, which
//! checks the TOML structure and every value (cipher names, versions, ALPN, conditions); the
//! certificate files are not read there (`ringlb check` loads them: see
//! `tests/import_haproxy.rs`, which creates real ones with `openssl`).

use super::tests::{be, load};
use super::{tls, translate, Translation};
use crate::config::{Config, Frontend, Mode, Tls, TlsVersion};
use crate::route::{Pairs, RequestView, Router};

fn fe<'c>(c: &'c Config, name: &str) -> &'c Frontend {
    c.frontends
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no frontend {name}"))
}

fn tls_of<'c>(c: &'c Config, name: &str) -> &'c Tls {
    fe(c, name).tls.as_ref().expect("a tls table")
}

/// Why line `line` was (partly) not translated, all reasons joined.
fn why(t: &Translation, line: usize) -> String {
    t.skipped
        .iter()
        .filter(|s| s.line == line)
        .map(|s| s.why.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `global` lines, then frontend `www` (http) with `lines`, and backends `app`, `api`.
fn https(global: &str, lines: &str) -> String {
    format!(
        "global\n{global}\ndefaults\n mode http\n timeout client 30s\n timeout server 30s\n \
         timeout connect 5s\nfrontend www\n{lines}\n default_backend app\n\
         backend app\n server a 10.0.0.1:80\nbackend api\n server p 10.0.0.3:80\n"
    )
}

fn sa(s: &str) -> std::net::SocketAddr {
    s.parse().unwrap()
}

#[test]
fn every_suite_name_of_the_translator_is_one_ringlb_accepts() {
    for name in tls::known_suites(false).chain(tls::known_suites(true)) {
        let cfg = https(
            "",
            &format!(" bind :443 ssl crt /c.pem ciphersuites {name} ciphers {name}"),
        );
        let (t, c) = load(&cfg);
        assert!(
            !tls_of(&c, "www").ciphersuites.is_empty(),
            "{name}\n{}",
            t.toml
        );
    }
}

#[test]
fn ssl_bind_becomes_the_tls_table_and_plain_binds_stay() {
    let (t, c) = load(&https(
        "",
        " bind :80\n bind :443 ssl crt /etc/haproxy/certs/site.pem crt /etc/haproxy/certs/",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let f = fe(&c, "www");
    assert_eq!(f.binds, [sa("0.0.0.0:80")]);
    let tls = tls_of(&c, "www");
    assert_eq!(tls.binds, [sa("0.0.0.0:443")]);
    let certs: Vec<_> = tls.certificates.iter().map(|c| c.path.clone()).collect();
    assert_eq!(
        certs,
        [
            std::path::PathBuf::from("/etc/haproxy/certs/site.pem"),
            "/etc/haproxy/certs/".into()
        ]
    );
    assert_eq!(tls.min_version, TlsVersion::Tls12);
    assert_eq!(tls.alpn, ["http/1.1"], "ringlb's default for http");
    assert!(tls.session_tickets);
}

#[test]
fn a_frontend_with_only_tls_listeners_has_no_plain_bind() {
    let (t, c) = load(&https("", " bind :::443 v4v6 ssl crt /c.pem"));
    assert!(!t.toml.contains("\nbind = \"0.0.0.0"), "{}", t.toml);
    assert!(fe(&c, "www").binds.is_empty());
    assert_eq!(tls_of(&c, "www").binds, [sa("[::]:443")]);
    assert!(why(&t, 9).contains("bind options not translated: v4v6"));
}

#[test]
fn several_ssl_binds_merge_and_the_first_settings_apply() {
    let (t, c) = load(&https(
        "",
        " bind :443 ssl crt /a.pem no-tls-tickets\n bind :8443 ssl crt /b.pem\n \
         bind :9443 ssl crt /a.pem no-tls-tickets",
    ));
    let tls = tls_of(&c, "www");
    assert_eq!(
        tls.binds,
        [sa("0.0.0.0:443"), sa("0.0.0.0:8443"), sa("0.0.0.0:9443")]
    );
    assert_eq!(tls.certificates.len(), 2);
    assert!(!tls.session_tickets);
    assert!(
        why(&t, 10).contains("those of line 9 apply"),
        "{:?}",
        t.skipped
    );
    assert!(why(&t, 11).is_empty(), "same settings: {:?}", t.skipped);
    assert!(t
        .toml
        .contains("# the certificates of every `bind … ssl` line are merged"));
}

#[test]
fn alpn_protocols_ringlb_lacks_are_dropped_and_reported() {
    let (t, c) = load(&https(
        "",
        " bind :443 ssl crt /c.pem alpn h2,spdy/3,http/1.1",
    ));
    assert_eq!(tls_of(&c, "www").alpn, ["h2", "http/1.1"]);
    assert!(why(&t, 9).contains("spdy/3 not offered"));
    assert!(t
        .toml
        .contains("# alpn h2,spdy/3,http/1.1: spdy/3 not offered"));

    let (t, c) = load(&https("", " bind :443 ssl crt /c.pem alpn spdy/3"));
    assert_eq!(tls_of(&c, "www").alpn, ["http/1.1"], "ringlb's default");
    assert!(why(&t, 9).contains("its default ALPN applies"));
}

#[test]
fn old_minimum_versions_become_1_2_with_a_comment() {
    for v in ["TLSv1.0", "TLSv1.1", "SSLv3"] {
        let (t, c) = load(&https(
            "",
            &format!(" bind :443 ssl crt /c.pem ssl-min-ver {v}"),
        ));
        assert_eq!(tls_of(&c, "www").min_version, TlsVersion::Tls12);
        assert!(t.toml.contains(&format!(
            "# ssl-min-ver {v} → \"1.2\": ringlb never offers TLS below 1.2"
        )));
        assert!(t.skipped.is_empty());
    }
    let (_, c) = load(&https("", " bind :443 ssl crt /c.pem ssl-min-ver TLSv1.3"));
    assert_eq!(tls_of(&c, "www").min_version, TlsVersion::Tls13);
    let (t, _) = load(&https("", " bind :443 ssl crt /c.pem ssl-max-ver TLSv1.2"));
    assert!(why(&t, 9).contains("ringlb always offers TLS 1.3"));
}

#[test]
fn cipher_lists_keep_what_ringlb_offers_and_name_the_rest() {
    let (t, c) = load(&https(
        "",
        " bind :443 ssl crt /c.pem ciphers \
         ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:AES128-SHA",
    ));
    let suites = &tls_of(&c, "www").ciphersuites;
    assert!(suites.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned()));
    assert!(
        suites.contains(&"TLS13_AES_128_GCM_SHA256".to_owned()),
        "TLS 1.3 stays on: {suites:?}"
    );
    assert!(!suites.iter().any(|s| s.contains("ECDSA")), "{suites:?}");
    assert!(t
        .toml
        .contains("# ciphers: dropped DHE-RSA-AES128-GCM-SHA256, AES128-SHA"));
    assert!(
        t.skipped.is_empty(),
        "a narrowed list is commented, not listed"
    );

    let (t, c) = load(&https(
        "",
        " bind :443 ssl crt /c.pem ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_SHA256",
    ));
    let suites = &tls_of(&c, "www").ciphersuites;
    assert!(suites.contains(&"TLS13_AES_256_GCM_SHA384".to_owned()));
    assert!(!suites.contains(&"TLS13_AES_128_GCM_SHA256".to_owned()));
    assert!(suites.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned()));
    assert!(t.toml.contains("dropped TLS_AES_128_CCM_SHA256"));
}

#[test]
fn openssl_cipher_strings_leave_ringlb_defaults_and_say_so() {
    let (t, c) = load(&https(
        "",
        " bind :443 ssl crt /c.pem ciphers HIGH:!aNULL:!MD5",
    ));
    assert!(
        tls_of(&c, "www").ciphersuites.is_empty(),
        "ringlb's defaults"
    );
    assert!(why(&t, 9).contains("an OpenSSL cipher string"));
    assert!(t
        .toml
        .contains("# ciphers HIGH:!aNULL:!MD5: an OpenSSL cipher string"));
    let (t, _) = load(&https(
        "",
        " bind :443 ssl crt /c.pem ciphers AES128-SHA:RC4-MD5",
    ));
    assert!(why(&t, 9).contains("ringlb offers none of these TLS 1.2 suites"));
}

#[test]
fn global_ssl_defaults_apply_to_every_tls_frontend_unless_the_bind_says_otherwise() {
    let cfg = format!(
        "{}frontend other\n bind :8443 ssl crt /o.pem ssl-min-ver TLSv1.3\n \
         default_backend app\n",
        https(
            " ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384\n \
             ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256\n \
             ssl-default-bind-options no-sslv3 no-tlsv10 no-tlsv11 no-tls-tickets\n \
             tune.ssl.default-dh-param 2048\n ssl-server-verify none",
            " bind :443 ssl crt /c.pem",
        )
    );
    let (t, c) = load(&cfg);
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    for name in ["www", "other"] {
        let tls = tls_of(&c, name);
        assert_eq!(
            tls.ciphersuites,
            [
                "TLS13_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert!(!tls.session_tickets);
    }
    assert_eq!(tls_of(&c, "www").min_version, TlsVersion::Tls12);
    assert_eq!(tls_of(&c, "other").min_version, TlsVersion::Tls13);
    assert!(t
        .toml
        .contains("# tune.ssl.default-dh-param dropped: ringlb uses ECDHE"));
    assert!(t.toml.contains("dropped DHE-RSA-AES256-GCM-SHA384"));
}

#[test]
fn global_ssl_options_ringlb_lacks_are_listed() {
    let (t, _) = load(&https(
        " ssl-default-bind-options strict-sni no-tlsv13\n \
         ssl-default-server-options no-sslv3",
        " bind :443 ssl crt /c.pem",
    ));
    assert!(why(&t, 2).contains("strict-sni"));
    assert!(why(&t, 2).contains("ringlb always offers TLS 1.3"));
    assert!(why(&t, 3).contains("TLS to servers is not supported yet"));
}

#[test]
fn crt_base_applies_to_relative_paths() {
    let (t, c) = load(&https(
        " crt-base /etc/ssl/private",
        " bind :443 ssl crt site.pem crt /abs.pem",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let certs: Vec<_> = tls_of(&c, "www")
        .certificates
        .iter()
        .map(|c| c.path.display().to_string())
        .collect();
    assert_eq!(certs, ["/etc/ssl/private/site.pem", "/abs.pem"]);
    assert!(!t.toml.contains("relative path"));
    let (t, _) = load(&https("", " bind :443 ssl crt certs/site.pem"));
    assert!(t
        .toml
        .contains("# crt certs/site.pem: a relative path without crt-base"));
}

#[test]
fn client_certificates_and_certificate_lists_are_not_translated() {
    let (t, c) = load(&https(
        "",
        " bind :80\n bind :443 ssl crt /c.pem alpn h2 verify required ca-file /ca.pem",
    ));
    assert!(fe(&c, "www").tls.is_none(), "the listener is left out");
    assert!(why(&t, 10).contains("would change who may connect"));
    assert!(
        !why(&t, 10).contains("alpn"),
        "the whole line is reported, once"
    );

    let (t, c) = load(&https(
        "",
        " bind :443 ssl crt /c.pem ca-file /ca.pem verify none",
    ));
    assert!(fe(&c, "www").tls.is_some());
    assert!(why(&t, 9).contains("ringlb does not verify client certificates"));

    let (t, c) = load(&https(
        "",
        " bind :443 ssl crt /c.pem crt-list /etc/haproxy/crt-list.txt",
    ));
    assert_eq!(tls_of(&c, "www").certificates.len(), 1);
    assert!(why(&t, 9).contains("crt-list /etc/haproxy/crt-list.txt"));

    let t = translate(
        &https("", " bind :443 ssl crt-list /etc/haproxy/crt-list.txt"),
        "haproxy.cfg",
    );
    assert!(why(&t, 9).contains("`ssl` without `crt`"));
    assert!(why(&t, 8).contains("no bind ringlb can listen on"));
}

#[test]
fn tls_acl_fetches_become_ringlb_criteria() {
    let (t, c) = load(&https(
        "",
        " bind :80\n bind :443 ssl crt /c.pem\n acl tls ssl_fc\n \
         acl api ssl_fc_sni -i api.example.com\n acl shop req.ssl_sni shop.example.com\n \
         acl sub ssl_fc_sni -m end .example.org\n acl sub2 ssl_fc_sni_end -i .example.net\n \
         use_backend api if api || shop || sub || sub2\n use_backend api if { ssl_fc_sni x.example.com } tls",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert!(t.toml.contains("tls = \"ssl_fc\""), "{}", t.toml);
    assert!(t.toml.contains("api = \"ssl_fc_sni -i api.example.com\""));
    assert!(t.toml.contains("shop = \"ssl_fc_sni shop.example.com\""));
    assert!(t.toml.contains("sub = \"ssl_fc_sni_end .example.org\""));
    assert!(t.toml.contains("sub2 = \"ssl_fc_sni_end -i .example.net\""));
    assert!(t.toml.contains("req.ssl_sni → ssl_fc_sni"));
    assert!(t.toml.contains("ringlb compares the SNI ignoring case"));
    // ringlb's own router picks the backend by SNI.
    let f = fe(&c, "www");
    let router = Router::new(
        &f.acls,
        f.routes.iter().map(|r| (&r.guard, r.backend.clone())),
    )
    .expect("router");
    let headers: [(&[u8], &[u8]); 0] = [];
    let pick = |sni: Option<&[u8]>| {
        let view = RequestView {
            method: b"GET",
            path: b"/",
            host: Some(b"www.example.com"),
            src: "192.0.2.1".parse().unwrap(),
            headers: &Pairs(&headers),
            sni,
            hello_sni: None,
        };
        router.select(&view).ok().flatten().cloned()
    };
    assert_eq!(pick(Some(b"API.example.com")).as_deref(), Some("api"));
    assert_eq!(pick(Some(b"a.example.org")).as_deref(), Some("api"));
    assert_eq!(pick(Some(b"x.example.com")).as_deref(), Some("api"));
    assert_eq!(pick(Some(b"www.example.com")), None);
    assert_eq!(pick(None), None);
    assert_eq!(be(&c, "api").servers.len(), 1);
}

#[test]
fn sni_fetches_need_a_tls_listener_and_redirects_are_translated() {
    let t = translate(
        &https(
            "",
            " bind :80\n acl api ssl_fc_sni api.example.com\n acl beg ssl_fc_sni -m beg api\n \
             acl tls ssl_fc\n redirect scheme https code 301 if !{ ssl_fc }\n \
             http-request redirect scheme https unless { ssl_fc }\n use_backend api if tls",
        ),
        "haproxy.cfg",
    );
    assert!(why(&t, 10).contains("no TLS listener"), "{:?}", t.skipped);
    assert!(why(&t, 11).contains("ringlb's criteria are"));
    assert!(
        why(&t, 12).is_empty(),
        "ssl_fc is fine without TLS listeners"
    );
    assert!(why(&t, 13).is_empty(), "{:?}", t.skipped);
    assert!(why(&t, 14).is_empty(), "{:?}", t.skipped);
    assert!(t.toml.contains("if = \"tls\""), "{}", t.toml);
    // `http-request redirect` runs before `redirect` in HAProxy, whatever the file says.
    let first = t
        .toml
        .find("unless = \"{ ssl_fc }\"")
        .expect("http-request redirect");
    let second = t.toml.find("if = \"!{ ssl_fc }\"").expect("redirect");
    assert!(first < second, "{}", t.toml);
    assert!(t.toml.contains("code = 301"), "{}", t.toml);
}

#[test]
fn tcp_frontend_terminates_tls_in_front_of_a_tcp_backend() {
    let cfg = "frontend db\n mode tcp\n bind :5433 ssl crt /etc/haproxy/db.pem no-tls-tickets\n \
               acl sni req.ssl_sni db.example.com\n use_backend pg if sni\n default_backend pg\n\
               backend pg\n mode tcp\n server p1 10.0.0.5:5432 check\n";
    let (t, c) = load(cfg);
    let f = fe(&c, "db");
    assert_eq!(f.mode, Mode::Tcp);
    assert!(f.binds.is_empty());
    let tls = tls_of(&c, "db");
    assert_eq!(tls.binds, [sa("0.0.0.0:5433")]);
    assert!(tls.alpn.is_empty(), "no ALPN in tcp mode");
    assert!(!tls.session_tickets);
    assert_eq!(f.default_backend, "pg");
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert!(
        t.toml.contains("sni = \"ssl_fc_sni db.example.com\""),
        "{}",
        t.toml
    );
    assert_eq!(f.routes.len(), 1);
}

#[test]
fn tcp_passthrough_routes_on_the_client_hello() {
    let cfg = "frontend tls_in\n mode tcp\n bind :443\n tcp-request inspect-delay 5s\n \
               tcp-request content accept if { req_ssl_hello_type 1 }\n \
               acl app req_ssl_sni -i app.example.com\n acl end req.ssl_sni -m end .example.org\n \
               use_backend pg if app\n use_backend pg if { req.ssl_sni db.example.com } || { ssl_fc }\n \
               use_backend pg if { ssl_fc_sni x.example.com }\n default_backend pg\n\
               backend pg\n mode tcp\n server p1 10.0.0.5:443\n";
    let (t, c) = load(cfg);
    assert!(
        t.toml.contains("app = \"req.ssl_sni -i app.example.com\""),
        "{}",
        t.toml
    );
    assert!(t
        .toml
        .contains("if = \"{ req.ssl_sni db.example.com } || { ssl_fc }\""));
    assert!(t
        .toml
        .contains("ringlb compares the server name ignoring case"));
    assert!(
        why(&t, 7).contains("compares whole names"),
        "{:?}",
        t.skipped
    );
    assert!(why(&t, 10).contains("no TLS listener"));
    assert_eq!(fe(&c, "tls_in").routes.len(), 2);
    assert!(why(&t, 4).contains("tcp-request"));
}

#[test]
fn servers_with_ssl_get_tls_with_their_verify_ca_file_sni_and_crt() {
    let (t, c) = load(&format!(
        "{}backend secure\n mode http\n server s1 10.0.0.9:443 ssl verify none sni str(x)\n \
         server s2 10.0.0.10:8080 check\nbackend allssl\n mode http\n \
         default-server ssl verify required ca-file /ca.pem\n server t1 10.0.0.11:443 crt c.pem\n \
         server t2 10.0.0.12:443 sni req.hdr(host)\n\
         frontend f2\n mode http\n bind :81\n use_backend secure if {{ path_beg /s }}\n \
         default_backend allssl\n",
        https(" crt-base /etc/haproxy/certs", " bind :80")
    ));
    let secure = be(&c, "secure");
    assert_eq!(secure.servers.len(), 2);
    let s1 = secure.servers[0].tls.as_ref().expect("s1 speaks TLS");
    assert!(!s1.verify);
    assert_eq!(s1.sni.as_deref(), Some("x"));
    assert!(secure.servers[1].tls.is_none());
    let all = be(&c, "allssl");
    let t1 = all.servers[0].tls.as_ref().expect("t1 speaks TLS");
    assert!(t1.verify);
    assert_eq!(t1.ca_file.as_deref(), Some(std::path::Path::new("/ca.pem")));
    assert_eq!(
        t1.cert.as_deref(),
        Some(std::path::Path::new("/etc/haproxy/certs/c.pem")),
        "crt-base applies"
    );
    let t2 = all.servers[1].tls.as_ref().expect("t2 speaks TLS");
    assert_eq!(t2.sni, None, "an expression cannot map: no fixed name");
    assert!(
        why(&t, 23).contains("ringlb sends one fixed name per server"),
        "{:?}",
        t.skipped
    );
    assert_eq!(t.skipped.len(), 1, "{:?}", t.skipped);
}

#[test]
fn ssl_server_verify_is_the_default_of_servers_and_system_roots_are_noted() {
    let (t, c) = load(
        &https(
            " ssl-server-verify none",
            " bind :80\n use_backend api if { path_beg /api }",
        )
        .replace(
            "server p 10.0.0.3:80",
            "server p 10.0.0.3:443 ssl\n server q 10.0.0.4:443 ssl verify required",
        ),
    );
    let api = be(&c, "api");
    assert!(!api.servers[0].tls.as_ref().expect("tls").verify);
    assert!(api.servers[1].tls.as_ref().expect("tls").verify);
    assert!(
        t.toml.contains("# verified against the system CA roots"),
        "{}",
        t.toml
    );
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
}
